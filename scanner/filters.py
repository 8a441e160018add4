"""Named false-positive predicates. Each returns True when a candidate should be *dropped*.

Every filter is a pure function of the candidate's context with a one-line docstring; the engine reports which
filter dropped a candidate by name (``--explain``), never by value. Provider rules opt out of filters that make no
sense for them through ``Rule.skip_filters``; the filters below also check the rule family where a predicate only
makes sense for name-based (generic) matches.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from scanner.lazyre import lazy
from scanner.rules import Rule


@dataclass(frozen=True)
class Context:
    rule: Rule
    # The plaintext and the lines around it: never in a repr (tracebacks, logs).
    value: str = field(repr=False)
    line: str = field(repr=False)  # the whole line the value sits on
    prev_line: str = field(repr=False)
    path: str


@dataclass(frozen=True)
class Filter:
    name: str
    doc: str
    drop: Callable[[Context], bool]


# Families whose candidates come from a secret-like *name* rather than a token format: the filters about code,
# types and UI text only apply to them.
NAME_BASED = frozenset({"generic", "detect-secrets", "xml"})


def _name_based(ctx: Context) -> bool:
    return ctx.rule.family in NAME_BASED


def _before(line: str, v: str) -> str:
    """The line up to the first occurrence of ``v`` (the whole line when ``v`` is not on it)."""
    idx = line.find(v)
    return line[:idx] if idx >= 0 else line


ALLOW_MARKERS = ("pragma: allowlist secret", "gitleaks:allow", "unleak:allow")
_NEXTLINE_MARKER = "pragma: allowlist nextline secret"


def allow_comment(ctx: Context) -> bool:
    """An inline allow comment on the line or an allow-nextline comment on the line before."""
    low = ctx.line.lower()
    if any(m in low for m in ALLOW_MARKERS):
        return True
    prev = ctx.prev_line.lower()
    return _NEXTLINE_MARKER in prev or "unleak:allow-next-line" in prev


# ---------------------------------------------------------------------------------------------- placeholders
_PLACEHOLDER_WORDS = lazy(
    r"(?i)(?:changeme|change_me|change-me|placeholder|your[_-]?[a-z_-]{0,30}(?:key|token|secret|password|pass|here|"
    r"id|value|name)|example|dummy|sample|redacted|notasecret|not[_-]?a[_-]?secret|fake|xxxx|\*\*\*|"
    r"replace[_-]?(?:me|this|with)|insert[_-]?(?:here|your)|put[_ -]your|enter[_-]?your|lorem|"
    r"test123|password123|secret123|12345|abc123|abcdef(?:gh)?$|qwerty|letmein|s3cr3t|hunter2|^(?:my)?password$|"
    r"^(?:my)?secret$|^token$|^null$|^none$|^nil$|^true$|^false$|^undefined$|^empty$|^required$|^optional$|"
    r"^string$|^unknown$|^default$|^pass(?:wd)?$|^pwd$|^admin$|^root$|^test$|^secret[_-]?key$|^api[_-]?key$|"
    r"put your unique phrase here|^(?:enabled|disabled|basic|bearer|digest|oauth2?|plain|login|md5|trust|peer|"
    r"scram-sha-256|ident|cert|always|never|auto|manual|on|off|yes|no)$)"
)
_TEMPLATE = lazy(
    r"^(?:\$\{[^}]*\}|\$\([^)]*\)|\$[A-Za-z_][A-Za-z0-9_]*|\{\{.*\}\}|\{%.*%\}|%\([^)]*\)[sd]|<[^<>]+>|\[[^\]]+\]"
    r"|%[sd]|\{[^{}\s]{0,100}\}|#\{[^}]*\}|@[A-Za-z_][A-Za-z0-9_]*@|__[A-Z0-9_]+__|\*+|\.+|-+|_+)$"
)


def placeholder(ctx: Context) -> bool:
    """Template variables and placeholder words (``${VAR}``, ``<your-token>``, ``changeme``, ``xxxx``)."""
    v = ctx.value.strip().strip("\"'").rstrip(",;)")
    if not v or _TEMPLATE.match(v) or "${" in v or "{{" in v or "$(" in v:
        return True
    if re.fullmatch(r"\$[A-Za-z_][A-Za-z0-9_.-]{0,100}", v) or "..." in v or "…" in v or "{}" in v:
        return True  # "$request.header.x-api-key", "eyJ2Ijo..." (elided in documentation), "{}:{}" (a format)
    if v.startswith(("{", "#{", "%{")) and not v.startswith('{"'):
        return True  # an interpolation (f-string, Ruby, Elixir) cut off at a space: code that builds the value
    if re.fullmatch(r"[A-Z][A-Z0-9]*_[A-Z0-9_]+", v):
        return True  # an environment-variable name standing in for the value (DB_PASSWORD, S1_PLACE)
    if ctx.rule.family in NAME_BASED and not any(c.isdigit() for c in v) and len(v) <= 30 and \
            re.search(r"(?i)secret|passw|token|apikey|api_key", v):
        return True  # "ABCSECRETKEY", "mysecretpassword", "supersecrettoken": written to look fake
    if len(set(v.lower())) <= 3:  # "xxxxxxxx", "00000000", "********", "abababab"
        return True
    return bool(_PLACEHOLDER_WORDS.search(v))


# Vendor-documented example credentials (AWS's documentation keys and similar) and values ending in EXAMPLE.
_EXAMPLE_KEYS = frozenset({
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
    "AKIAI44QH8DHBEXAMPLE",
    "ASIAIOSFODNN7EXAMPLE",
})


def example_key(ctx: Context) -> bool:
    """Vendor-documented example keys (``AKIAIOSFODNN7EXAMPLE``) and values that end in EXAMPLE/EXAMPLEKEY."""
    v = ctx.value.strip()
    return v in _EXAMPLE_KEYS or v.upper().endswith(("EXAMPLE", "EXAMPLEKEY"))


# ---------------------------------------------------------------------------------------------- references
_REFERENCE = lazy(
    r"^(?:op|unleak|vault|secret|secrets|aws-sm|gcp-sm|azure-kv|sm|ssm|doppler|infisical|bws|akv|gcpsm|awssm|"
    r"arn:aws:secretsmanager|arn:aws:ssm|projects/[^/]{1,100}/secrets)(?:://|:|/)",
    re.IGNORECASE,
)


def reference(ctx: Context) -> bool:
    """Secret references (``op://``, ``unleak://``, vault paths, secret manager ARNs): safe to commit by design."""
    v = ctx.value.strip()
    if _REFERENCE.match(v):
        return True
    # `password: !vault |` (Ansible vault) and `ENC[...]` (sops) are encrypted, not plaintext.
    return v.startswith(("!vault", "ENC[", "$ANSIBLE_VAULT", "vault:", "AgA")) and ctx.rule.family in NAME_BASED


_ENV_READ = lazy(
    r"(?:os\.environ|os\.getenv|getenv\(|process\.env|ENV\[|ENV\.fetch|System\.getenv|\benv\(|\bconfig\(|"
    r"settings\.|import\.meta\.env|Deno\.env|Environment\.GetEnvironmentVariable|os\.Getenv|os\.LookupEnv|"
    r"viper\.Get|\$_ENV|\$_SERVER|getenv\b|secrets\.[A-Z_]+|vars\.[A-Z_]+|\benv\.[A-Z_]+|"
    r"Rails\.application\.credentials|credentials\.dig|keyring\.get_password|\.get_secret_value\(|"
    r"lookup\(|var\.[a-z_]+|data\.[a-z_]+\.|module\.[a-z_]+\.)"
)


def env_read(ctx: Context) -> bool:
    """The value is code that reads the environment, a config or a secret store, not a literal."""
    return bool(_ENV_READ.search(ctx.value))


# ---------------------------------------------------------------------------------------------- hashes and ids
_LOCKFILES = lazy(
    r"(?:^|/)(?:package-lock\.json|npm-shrinkwrap\.json|yarn\.lock|pnpm-lock\.yaml|bun\.lock|poetry\.lock|"
    r"Pipfile\.lock|uv\.lock|pdm\.lock|Cargo\.lock|go\.sum|composer\.lock|Gemfile\.lock|packages\.lock\.json|"
    r"flake\.lock|requirements[^/]*\.txt|mix\.lock|pubspec\.lock|Podfile\.lock|gradle\.lockfile|\.terraform\.lock\.hcl)$"
)
_INTEGRITY = lazy(r"^(?:sha(?:1|224|256|384|512)|md5|h1|blake2b?)[-:][A-Za-z0-9+/=_-]{16,}$")


def lockfile_hash(ctx: Context) -> bool:
    """Integrity hashes in lockfiles and SRI strings (``sha512-…``, ``h1:…``)."""
    if _INTEGRITY.match(ctx.value.strip()):
        return True
    return bool(_LOCKFILES.search(ctx.path)) and ctx.rule.family in NAME_BASED | {"connection-string"}


_HEX = lazy(r"^[0-9a-f]{7,40}$|^[0-9A-F]{40}$")
_SHA_CONTEXT = lazy(r"(?i)(?:commit|sha|rev|revision|ref|hash|checkout|cherry-pick|merge|tag|git)")


def git_sha(ctx: Context) -> bool:
    """Git object ids (40 hex, or 7–40 hex next to commit/sha/rev words) matched by a name-based rule."""
    v = ctx.value.strip()
    if not _name_based(ctx) or not _HEX.match(v):
        return False
    return len(v) == 40 or bool(_SHA_CONTEXT.search(ctx.line))


_UUID = lazy(r"^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$")


def uuid(ctx: Context) -> bool:
    """UUIDs matched by a name-based rule (ids of things, not secrets; Heroku's UUID keys opt out)."""
    return _name_based(ctx) and bool(_UUID.match(ctx.value.strip()))


_CHECKSUM_NAME = lazy(
    r"(?i)(?:checksum|check_sum|sha1|sha256|sha512|sha-256|md5|digest|integrity|etag|fingerprint|hash(?!ed_pass)"
    r"|crc32|content[_-]?md5|nonce_?hash|commit|revision)[A-Za-z0-9_.-]{0,30}[\"']?\s{0,4}(?:=|:|=>)"
)


def checksum_named(ctx: Context) -> bool:
    """Checksums named as such (``sha256 = "…"``, ``integrity:``, ``etag``) found by a name-based rule."""
    if not _name_based(ctx):
        return False
    v = ctx.value.strip()
    m = _CHECKSUM_NAME.search(_before(ctx.line, v)[-80:])
    return bool(m) and bool(re.fullmatch(r"[0-9a-fA-F]{16,128}|[A-Za-z0-9+/]{20,90}={0,2}", v))


# ---------------------------------------------------------------------------------------------- public material
_PUBLIC_MARKERS = lazy(
    r"(?:-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP )?PUBLIC KEY|-----BEGIN CERTIFICATE|"
    r"^(?:ssh-(?:rsa|ed25519|dss)|ecdsa-sha2-nistp\d+|sk-ssh-ed25519@openssh\.com) AAAA)"
)
_PUBLIC_NAME = lazy(r"(?i)(?:public[_.-]?key|pub[_.-]?key|publishable|(?<![a-z])pk_(?:live|test)_|"
                          r"cert(?:ificate)?s?\b|ca[_.-]?bundle|\.pub\b|[_.-]pub\b|known_hosts|authorized_keys)")


def public_material(ctx: Context) -> bool:
    """Public keys, certificates and publishable keys (``pk_live_``), which are meant to be shared."""
    v = ctx.value.strip()
    if _PUBLIC_MARKERS.search(v) or v.startswith(("pk_live_", "pk_test_", "ssh-rsa AAAA", "ssh-ed25519 AAAA",
                                                   "MIIBCgKCAQEA", "MIIBIjANBgkqhkiG9w0BAQEFAAOC", "MFkwEwYHKoZIzj0CAQ",
                                                   "MCowBQYDK2Vw")):
        return True
    if not _name_based(ctx):
        return False
    return bool(_PUBLIC_NAME.search(_before(ctx.line, v)) or
                re.search(r"(?i)\.pub$|(?:^|/)authorized_keys$", ctx.path))


def data_uri(ctx: Context) -> bool:
    """``data:`` URIs (inline images and fonts) whose base64 looks random but is content."""
    v = ctx.value.strip()
    if v.startswith("data:"):
        return True
    idx = ctx.line.find(v)
    window = ctx.line[max(0, idx - 80):idx]
    return idx > 0 and bool(re.search(r"data:[a-z]{1,20}/[A-Za-z0-9.+-]{1,40};base64,$", window))


# ---------------------------------------------------------------------------------------------- code and UI
_UI_CONTEXT = lazy(
    r"(?i)(?:label|placeholder|title|message|msg|text|hint|prompt|description|tooltip|caption|error|"
    r"i18n|translate|gettext|aria-|help|heading|button|field|input|form|route|url|path|endpoint|uri|href|"
    r"type|kind|column|header|event|action|mode|method|scope|grant_type|response_type|param|validator)"
    r"[A-Za-z0-9_.-]{0,30}[\"']?\s{0,4}(?:=|:|=>)"
)
_WORDY = lazy(r"^[A-Za-z][a-z]+(?:[ _-][A-Za-z][a-z]+){0,6}[.:!?…]?$")
_SECRET_WORD = lazy(r"(?i)pass(?:word|wd|phrase)?|secret|token|credential|api[_-]?key|auth|login|pin")


def ui_string(ctx: Context) -> bool:
    """Labels and messages about passwords (``"Enter your password"``, ``forgot-password``, ``password_reset``)."""
    if not _name_based(ctx):
        return False
    v = ctx.value.strip()
    if " " in v:
        return True  # a value with spaces is prose (generic values never contain whitespace, detect-secrets' may)
    if _SECRET_WORD.search(v) and _WORDY.match(v.replace("/", "-")):
        return True  # "Password:", "forgot-password", "resetToken", "api-key-label"
    if _SECRET_WORD.search(v) and re.fullmatch(r"[a-z][a-z0-9]*(?:[_.-][a-z0-9]+){0,6}", v):
        return True  # i18n keys and routes: "auth.password.invalid", "password_reset_token"
    before = _before(ctx.line, v)
    # Only the name the value is assigned to counts ("label: …", "placeholder=…"), not any word earlier on the line.
    name = re.search(r"([A-Za-z_][A-Za-z0-9_.-]{0,80}[\"']?\]?\s{0,4}(?:=|:|=>))\s{0,8}\\?[\"'`]?$", before)
    if name is None or not _UI_CONTEXT.search(name.group(1)):
        return False
    return bool(_WORDY.match(v) or re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+){0,6}|[a-z]+(?:[_.:/-][a-z0-9]+){1,8}", v))


_CODE_EXT = lazy(
    r"\.(?:py|pyi|js|jsx|mjs|cjs|ts|tsx|rb|php|go|java|kt|kts|scala|groovy|cs|swift|rs|c|cc|cpp|h|hpp|m|dart|"
    r"lua|ex|exs|erl|clj|vue|svelte|pl|pm|r|jl|sh|bash|zsh|ps1|tf|hcl|gradle|sql)$",
    re.IGNORECASE,
)
_TYPE_NAMES = lazy(
    r"^(?:\??(?:str|string|String|bytes|int|bool|boolean|Boolean|Any|any|object|Object|SecretStr|SecretBytes|"
    r"Secret|Optional|Union|Sequence|Mapping|Iterable|Callable|dict|list|tuple|set|Dict|List|Tuple|Set|None|"
    r"null|number|char|byte|Integer|Long|char\[\]|byte\[\]|\[\]byte|\*string|&str|&'static str|Option<[^>]*>|"
    r"Vec<[^>]*>|Buffer|Uint8Array|unknown|never|void|ReadonlyArray<[^>]*>|Record<[^>]*>|Promise<[^>]*>)"
    r"(?:\[[^\]]{0,80}\]|<[^>]{0,80}>)?[,;)]*\??)$"
)


def type_annotation(ctx: Context) -> bool:
    """Type annotations and declarations of parameters named like secrets (``password: str``, ``token?: string``)."""
    if not _name_based(ctx):
        return False
    v = ctx.value.strip().rstrip(",;)")
    if _TYPE_NAMES.match(v) or _TYPE_NAMES.match(v.split("|")[0].strip()):
        return True
    # `secret: Sequence[str] | None`, `password: Optional[str] = None`
    return bool(re.fullmatch(r"[A-Z][A-Za-z0-9_]*(?:\[[^\]]{0,120}\]|<[^>]{0,120}>)[,;)=]*", v))


_SHELL_EXT = lazy(r"\.(?:sh|bash|zsh|ps1)$", re.IGNORECASE)


def _quoted(ctx: Context) -> bool:
    """Whether the value sits in quotes on its line (first occurrence)."""
    idx = ctx.line.find(ctx.value)
    if idx <= 0:
        return False
    return ctx.line[idx - 1] in "\"'`"


def code_expression(ctx: Context) -> bool:
    """An unquoted value in source code that is an identifier, attribute access, call or subscript."""
    if not _name_based(ctx) or _quoted(ctx):
        return False
    v = ctx.value.strip()
    if "(" in v and v.rstrip(",;)").endswith((")", "(")) and re.match(r"^[A-Za-z_$][\w$.]*\(", v):
        return True  # a call, in any file type (YAML/templating too)
    if not _CODE_EXT.search(ctx.path):
        return False
    # Outside shell scripts a literal secret in code is quoted, so an unquoted value is an expression; in shell an
    # unquoted word is a literal (variable reads are $VAR, which the placeholder filter handles).
    return not _SHELL_EXT.search(ctx.path)


def name_as_value(ctx: Context) -> bool:
    """The value repeats the name (``password: password``, ``PASSWORD=PASSWORD``, ``token = "TOKEN"``)."""
    if not _name_based(ctx):
        return False
    v = ctx.value.strip().lower().replace("-", "_")
    idx = ctx.line.rfind(ctx.value)  # the value follows the name, which may contain the same word
    before = ctx.line[:idx].lower().replace("-", "_") if idx > 0 else ""
    m = re.search(r"([a-z0-9_.]{2,80})[\"']?\]?\s{0,8}(?::=|=>|=|:)\s{0,8}\\?[\"']?$", before)
    if m is None:
        return False
    return v == m.group(1) or v == m.group(1).rsplit(".", 1)[-1]


_PATH_OR_URL = lazy(
    r"^(?:(?:[a-z][a-z0-9+.-]{1,20}://[^\s:@/]{1,253}(?:/[^\s]*)?)|(?:\.{0,2}/[A-Za-z0-9_.@%+~-]{1,80}){2,}/?|"
    r"~/[^\s]{1,200}|[A-Za-z]:\\[^\s]{1,200}|[A-Za-z0-9_.-]{1,80}\.(?:pem|key|crt|json|txt|yaml|yml|env|p12|pfx|"
    r"jks|gpg|asc|pub|cfg|conf|ini|toml)|\.?/?[A-Za-z0-9_.-]{1,80}/[A-Za-z0-9_./-]{1,200}\.[a-z]{2,5})$"
)


def path_or_url(ctx: Context) -> bool:
    """A file path, URL without credentials or ARN (``SECRET_FILE=/run/secrets/db``, ``token_url: https://…``)."""
    v = ctx.value.strip()
    return _name_based(ctx) and (bool(_PATH_OR_URL.match(v)) or v.startswith("arn:"))


def same_as_user(ctx: Context) -> bool:
    """A connection URL whose password equals its user (``postgres:postgres@localhost`` local defaults)."""
    if ctx.rule.family != "connection-string":
        return False
    v = ctx.value
    return bool(re.search(r"://" + re.escape(v) + ":" + re.escape(v) + "@", ctx.line))


def test_path(ctx: Context) -> bool:
    """Weak values in test fixtures: name-based matches under tests/ whose value is short or a plain word."""
    if not _name_based(ctx):
        return False
    if not re.search(r"(?i)(?:^|/)(?:tests?|spec|specs|__tests__|fixtures?|testdata|mocks?)/|(?:^|/)test_[^/]*$|"
                     r"_test\.[a-z]{1,4}$|\.(?:spec|test)\.[a-z]{1,4}$", ctx.path):
        return False
    v = ctx.value.strip()
    if len(v) < 12 or re.fullmatch(r"[a-z]+(?:[_-][a-z]+){0,4}[0-9]{0,4}", v) is not None:
        return True
    # Test code that writes a file: the assignment is itself inside a string literal ('DB_PASSWORD = "…"').
    idx = ctx.line.find(v)
    before = ctx.line[:idx] if idx >= 0 else ""
    m = re.search(r"(['\"])[^'\"]{0,80}$", before[: max(0, len(before) - 1)])
    return m is not None and _CODE_EXT.search(ctx.path) is not None and _odd_quotes(before[:m.start() + 1], m.group(1))


def _odd_quotes(text: str, q: str) -> bool:
    """Whether ``text`` ends inside a string opened with quote ``q`` (escapes ignored: a heuristic)."""
    return text.count(q) % 2 == 1


def version_or_number(ctx: Context) -> bool:
    """Numbers, versions, dates, sizes and colours (``token_ttl: 3600``, ``key_version: 1.2.3``, ``#68175A``)."""
    if not _name_based(ctx):
        return False
    v = ctx.value.strip()
    return bool(re.fullmatch(r"[0-9][0-9_.,:/ -]*(?:[smhdkKMG]|ms|px|em|%|KB|MB|GB)?|v?[0-9]+(?:\.[0-9]+){1,3}"
                             r"(?:[-+][A-Za-z0-9.]{1,20})?|#[0-9a-fA-F]{3,8}|#[a-z]{3,30}"
                             r"|[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9:.]{5,15}(?:Z|[+-][0-9:]{4,5})?)?", v))


def character_set(ctx: Context) -> bool:
    """Alphabets and character sets (``"abcdefghjkmnpq…23456789"``): mostly ascending runs, not random."""
    v = ctx.value.strip()
    if len(v) < 10:
        return False
    ascending = sum(1 for a, b in itertools.pairwise(v) if 0 < ord(b) - ord(a) <= 3)
    if ascending >= 0.5 * (len(v) - 1):
        return True
    # 26+ characters without a single repeat is an alphabet (a random string that long almost always repeats one).
    return _name_based(ctx) and len(v) >= 26 and len(set(v)) == len(v)


def plain_words(ctx: Context) -> bool:
    """Short lowercase words joined by - or _ (``storage-user``, ``basic_auth``): names, not random secrets."""
    return _name_based(ctx) and bool(re.fullmatch(r"[a-z]{2,12}(?:[-_.][a-z]{2,12}){0,2}", ctx.value.strip()))


_ENV_LIKE = lazy(r"(?:^|/)\.env(?:\.[A-Za-z0-9_-]+)?$|\.(?:env|ini|cfg|conf|properties|netrc|pgpass)$|"
                       r"(?:^|/)\.?(?:netrc|pgpass|pypirc|npmrc|s3cfg)$")
_WORD_PART = lazy(r"[A-Z]?[a-z]{1,14}|[A-Z]{2,6}(?=[A-Z][a-z]|$|_|-|/)|[AI](?=[A-Z][a-z])")


def identifier_words(ctx: Context) -> bool:
    """CamelCase or snake_case names made of real-looking words (``AWSAccessKeyId``, ``aws_secret_access_key``)."""
    # Not in .env/INI/properties files: there a word-only value is more likely a (weak) literal password.
    if ctx.rule.family not in NAME_BASED | {"framework"} or _ENV_LIKE.search(ctx.path):
        return False
    v = ctx.value.strip()
    if re.fullmatch(r"[A-Z]{2,12}", v) and re.search(r"[AEIOUY]", v):
        return True  # an enum-like constant ("REQUEST", "BASIC")
    return _words_only(v)


def _words_only(v: str) -> bool:
    """Whether ``v`` is CamelCase/snake_case/path-like text made only of word-like parts."""
    if not re.fullmatch(r"[A-Za-z]{1,60}(?:[_./-][A-Za-z]{1,60}){0,6}", v) or len(v) > 120:
        return False
    parts = [w for chunk in re.split(r"[_./-]", v) for w in _WORD_PART.findall(chunk)]
    if "".join(parts).lower() != re.sub(r"[_./-]", "", v).lower() or len(parts) < 2:
        return False
    # Every part must read like a word (a vowel, or a short acronym such as AWS, ID, URL, JITNA).
    return all(re.search(r"[aeiouyAEIOUY]", w) or (w.isupper() and len(w) <= 6) for w in parts)


_REGEX_SOURCE = lazy(r"\\[sdwbSDWB]|\(\?[:=!<P]|\[[^\]]{0,20}\][{*+?]|\.[*+]\??|\{\d{1,4}(?:,\d{0,4})?\}")


def regex_source(ctx: Context) -> bool:
    """Regular-expression source text (``\\s*``, ``(?:``, ``[A-F0-9]{36}``): a pattern about secrets, not one."""
    if ctx.rule.family not in NAME_BASED | {"credential-file", "connection-string", "code-call", "framework"}:
        return False
    # Two pattern constructs, or one unmistakable one (\\s, (?:): a password may well contain ".*" by chance.
    hits = _REGEX_SOURCE.findall(ctx.value)
    strong = re.search(r"\\[sdwbSDWB]|\(\?[:=!<P]|\[[^\]]{0,30}[a-zA-Z0-9]-[a-zA-Z0-9][^\]]{0,30}\][{*+?]",
                       ctx.value) is not None
    return (len(hits) >= 2 or strong) and not _ENV_LIKE.search(ctx.path)


_KEY_HEADER = lazy(r"(?:BEGIN [A-Z0-9 ]{0,30}PRIVATE KEY|PuTTY-User-Key-File-\d)")


def key_header_only(ctx: Context) -> bool:
    """A private-key header without a key body (the UL100/UL101 detectors report real key blocks)."""
    return ctx.rule.family == "detect-secrets" and bool(_KEY_HEADER.search(ctx.value)) and len(ctx.value) < 80


_GITHUB_SHAPE = lazy(r"gh[pousr]_[A-Za-z0-9]{36}")


def invalid_checksum(ctx: Context) -> bool:
    """A name-based match on a GitHub-shaped token whose CRC32 is wrong: a made-up token, not a credential."""
    from scanner.rules._util import github_checksum_ok

    v = ctx.value.strip()
    return _name_based(ctx) and bool(_GITHUB_SHAPE.fullmatch(v)) and not github_checksum_ok(v)


_METADATA_NAME = lazy(
    r"(?i)(?:passw(?:or)?d|pass|pwd|secret|token|key|credentials?|auth)[_.-]?(?:id|ids|name|names|type|types|arn|"
    r"version|url|uri|path|file|dir|length|len|size|count|ttl|expiry|expires(?:_at|_in)?|lifetime|prefix|suffix|"
    r"field|label|header|param|policy|rotation|hint|format|kind|mode|ref|hash|digest|salt_rounds|rounds|endpoint|"
    r"location|provider|store|manager|source|env|var|variable|enabled|required|min|max)[\"']?\]?\s{0,8}"
    r"(?::=|=>|=|:)\s{0,8}\\?[\"']?$"
)


def metadata_name(ctx: Context) -> bool:
    """Names about a secret rather than of it (``password_id``, ``token_type``, ``secret_name``, ``key_url``)."""
    if not _name_based(ctx):
        return False
    idx = ctx.line.find(ctx.value)
    return idx > 0 and bool(_METADATA_NAME.search(ctx.line[max(0, idx - 80):idx]))


_ASSIGNED_NAME = lazy(r"([A-Za-z_][A-Za-z0-9_.-]{0,80})[\"']?\]?\s{0,8}(?::=|=>|=|:)\s{0,8}[\"'`]?$")
_SECRETISH = lazy(r"(?i)pass|pwd|secret|token|key|auth|cred|private|signature|sig\b|bearer|session|cookie")


def unnamed_hex(ctx: Context) -> bool:
    """A bare hex string from the entropy plugins whose name says nothing about secrets (nonces, ids, digests)."""
    if ctx.rule.family != "detect-secrets" or not re.fullmatch(r"[0-9a-fA-F]{8,128}", ctx.value.strip()):
        return False
    idx = ctx.line.find(ctx.value)
    m = _ASSIGNED_NAME.search(ctx.line[max(0, idx - 100):idx]) if idx > 0 else None
    return m is None or not _SECRETISH.search(m.group(1))


_NON_SECRET_NAME = lazy(
    r"(?i)(?:(?:next|prev(?:ious)?|page|continuation|pagination|sync|resume|cursor|input|output|csrf|xsrf|forward|"
    r"backward|client|idempotency|change|verification|purchase|update|work[_-]?unit|copy[a-z]{0,20})"
    r"[A-Za-z_.-]{0,20}(?:token|marker)|(?:shard)?iterator|ciphertext(?:blob)?|serial(?:number)?|(?:^|[_.-]|[a-z])(?:id|ids|arn|guid|uuid|etag|version(?:id)?|digest|nonce|iv|salt|"
    r"fingerprint|thumbprint|hash|checksum|sha\d{0,3}|md5|marker|cursor|modifier|reason|status)|Id|ID|Arn|Name)$"
)


def non_secret_name(ctx: Context) -> bool:
    """Values of names that are never credentials: ids, ARNs, versions, nonces, pagination tokens (``NextToken``)."""
    if not _name_based(ctx):
        return False
    idx = ctx.line.rfind(ctx.value)
    before = ctx.line[max(0, idx - 100):idx] if idx > 0 else ""
    m = _ASSIGNED_NAME.search(before) or re.search(r"--([a-z0-9-]{2,60})[ =][\"']?$", before)
    return m is not None and bool(_NON_SECRET_NAME.search(m.group(1).rstrip(".-_")))


def short_hex(ctx: Context) -> bool:
    """Hex strings of at most 16 characters matched by name-based rules: ids and short hashes, not credentials."""
    return _name_based(ctx) and bool(re.fullmatch(r"[0-9a-fA-F]{6,16}", ctx.value.strip()))


_JWT_SHAPE = lazy(r"eyJ[A-Za-z0-9_-]{2,4000}\.eyJ[A-Za-z0-9_-]{2,8000}\.(?P<sig>[A-Za-z0-9_-]{0,2000})")


def fake_jwt(ctx: Context) -> bool:
    """A JWT with no signature or a readable one (``alg: none``, ``.c2lnbmF0dXJl``): an example, not a credential."""
    import base64
    import binascii

    m = _JWT_SHAPE.fullmatch(ctx.value.strip())
    if m is None:
        return False
    sig = m.group("sig")
    if not sig:
        return True
    try:
        raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    except (binascii.Error, ValueError):
        return False
    return raw.isascii() and all(32 <= b < 127 for b in raw)


def encoded_text(ctx: Context) -> bool:
    """Base64 of an identifier, or (entropy plugins) of prose or markup (``VGhlc2UgYXJlbid0…``, an inline SVG)."""
    if not _name_based(ctx):
        return False
    from scanner.rules._util import b64decode_text

    decoded = b64decode_text(ctx.value.strip())
    if decoded is not None and _words_only(decoded):
        return True  # base64 of an identifier ("MyVerifierString")
    if decoded is None or " " not in decoded or ctx.rule.family != "detect-secrets":
        return False
    return sum(c.isalpha() or c in " <>=/\"'.,-" for c in decoded) >= 0.85 * len(decoded)


def slug(ctx: Context) -> bool:
    """Entropy-plugin hits that are names built from words (``Infra-ECS-Cluster-…-EC2CapacityProvider-3fIp``)."""
    if ctx.rule.family != "detect-secrets":
        return False
    v = ctx.value.strip()
    parts = [x for x in re.split(r"[-_./:]", v) if x]
    if len(parts) < 2:
        return False
    neutral = sum(1 for x in parts if re.fullmatch(r"[A-Z]{2,5}|[0-9]+", x))
    wordy = sum(1 for x in parts if re.fullmatch(r"[A-Za-z]{2,20}|[A-Z][a-z]+(?:[A-Z0-9][a-z0-9]*){0,6}", x)
                and re.search(r"[aeiouAEIOU]{1}[a-z]", x))
    if wordy >= 2 and len(parts) >= 5 and sum(map(len, parts)) / len(parts) <= 6:
        return True  # many short segments, some of them words: a structured name (codec presets, labels)
    if wordy >= 1 and v.count("/") >= 4 and re.search(r"/[a-z]{4,}(?:/|$)", v):
        return True  # a path with word segments (/vaults/…/jobs/…)
    return wordy >= 2 and wordy >= 0.6 * (len(parts) - neutral)


_NOTEBOOK_MEDIA = lazy(r'"(?:image|audio|video|application/pdf|font)[\w./+-]*"\s*:')


# nbformat splits media into a list of 76-character base64 lines: `"iVBORw0KGgo…\n",`
NOTEBOOK_B64_LINE = lazy(r'^\s*"[A-Za-z0-9+/=]{60,}(?:\\n)?",?\s*$')


def notebook_media(ctx: Context) -> bool:
    """Jupyter outputs that are rendered media (base64 images, PDFs), not text a secret could be in."""
    if not ctx.path.endswith(".ipynb"):
        return False
    if _NOTEBOOK_MEDIA.search(ctx.line):
        return True
    # A bare base64 line of a media list; only for entropy guesses, never for a rule that knows a token format.
    return ctx.rule.family == "detect-secrets" and bool(NOTEBOOK_B64_LINE.match(ctx.line))


def config_allowlist(ctx: Context) -> bool:
    """An allowlist of a migrated gitleaks/betterleaks config (its regexes, stopwords or paths) matches."""
    if not ctx.rule.allow:
        return False
    match = ctx.value
    if any(a.target == "match" for a in ctx.rule.allow) and ctx.rule.pattern is not None:
        # The rule's whole match around the value, found again on its line (filters see only the line).
        for m in ctx.rule.regex.finditer(ctx.line):
            if ctx.value in m.group(0):
                match = m.group(0)
                break
    return any(a.drops(ctx.value, match, ctx.line, ctx.path) for a in ctx.rule.allow)


BUILTIN_FILTERS: tuple[Filter, ...] = (
    Filter("config-allowlist", "an allowlist of a migrated gitleaks/betterleaks config", config_allowlist),
    Filter("allow-comment", "inline allow comment (pragma: allowlist secret, gitleaks:allow, unleak:allow)",
           allow_comment),
    Filter("reference", "secret references such as op:// and unleak://", reference),
    Filter("example-key", "vendor-documented example keys such as AKIAIOSFODNN7EXAMPLE", example_key),
    Filter("placeholder", "template variables and placeholder words", placeholder),
    Filter("env-read", "reads from the environment or configuration", env_read),
    Filter("lockfile-hash", "integrity hashes in lockfiles and SRI strings", lockfile_hash),
    Filter("git-sha", "git object ids", git_sha),
    Filter("uuid", "UUIDs (identifiers, not secrets)", uuid),
    Filter("checksum", "checksums and digests named as such", checksum_named),
    Filter("public-material", "public keys, certificates and publishable keys", public_material),
    Filter("data-uri", "data: URIs", data_uri),
    Filter("notebook-media", "base64 media outputs in Jupyter notebooks", notebook_media),
    Filter("ui-string", "labels and messages about passwords", ui_string),
    Filter("type-annotation", "type annotations of parameters named like secrets", type_annotation),
    Filter("code-expression", "identifiers, attribute access and calls in source code", code_expression),
    Filter("name-as-value", "the value repeats the variable name", name_as_value),
    Filter("path-or-url", "file paths and URLs without credentials", path_or_url),
    Filter("same-as-user", "connection URLs whose password equals the user name", same_as_user),
    Filter("test-fixture", "word-like values and file snippets inside test code", test_path),
    Filter("metadata-name", "names about a secret (password_id, token_type, secret_name)", metadata_name),
    Filter("encoded-text", "base64 of identifiers, prose or markup", encoded_text),
    Filter("slug", "names built from words (entropy plugins)", slug),
    Filter("fake-jwt", "JWTs without a real signature", fake_jwt),
    Filter("non-secret-name", "ids, ARNs, versions, nonces and pagination tokens", non_secret_name),
    Filter("short-hex", "hex strings of at most 16 characters", short_hex),
    Filter("identifier-words", "CamelCase/snake_case names made of words", identifier_words),
    Filter("regex-source", "regular-expression source text", regex_source),
    Filter("key-header-only", "private-key headers without a body", key_header_only),
    Filter("plain-words", "short lowercase words joined by - or _", plain_words),
    Filter("invalid-checksum", "GitHub-shaped tokens whose checksum is wrong", invalid_checksum),
    Filter("unnamed-hex", "hex strings without a secret-like name (entropy plugins only)", unnamed_hex),
    Filter("character-set", "alphabets and ascending character runs", character_set),
    Filter("number-or-version", "numbers, versions and durations", version_or_number),
)


def applicable(rule: Rule) -> tuple[Filter, ...]:
    return tuple(f for f in active_filters() if f.name not in rule.skip_filters)


def active_filters() -> tuple[Filter, ...]:
    return BUILTIN_FILTERS
