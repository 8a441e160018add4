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

from scanner.finding import Confidence
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


_ASSIGNED_NAME = lazy(r"([A-Za-z_][A-Za-z0-9_.-]{0,80})[\"']?\]?\s{0,8}(?::=|=>|=|:)\s{0,8}[\"'`]?$")


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
# A placeholder is a whole value ("changeme", "password", "xxxx") or a delimited token of one ("my-example-key",
# "<your-password>", "replace_me_token"); never a substring of a human password ("Acme12345!", "CompanyExample99",
# "s3cr3t-Pa55w0rd!"), which is a weak but real credential (see the weak-password demotion).
_PLACEHOLDER_WHOLE = lazy(
    r"(?i)^(?:my|your|the|some|a|an|new|old|dev|test)?[_-]?(?:changeme|change[_-]?me|change[_-]?it|placeholder|example"
    r"|dummy|sample|redacted|notasecret|not[_-]?a[_-]?secret|fake|lorem(?:[_-]?ipsum)?|password|passwd|pass|pwd"
    r"|secret|token|secret[_-]?key|api[_-]?key|null|none|nil|true|false|undefined|empty|required|optional|string"
    r"|unknown|default|admin|root|test|value|tbd|todo|fixme|n/?a"
    r"|enabled|disabled|basic|bearer|digest|oauth2?|plain|login|md5|trust|peer|scram-sha-256|ident|cert|always"
    r"|never|auto|manual|on|off|yes|no)$"
)
_PLACEHOLDER_TOKEN = lazy(
    r"(?i)(?<![A-Za-z0-9])(?:changeme|change[_-]me|placeholder|example|examples|dummy|sample|redacted|notasecret"
    r"|fake|lorem|x{4,}|X{4,}|\*{3,})(?![A-Za-z0-9])"
    r"|(?<![A-Za-z0-9])your[_-]?[a-z_-]{0,30}(?:key|token|secret|password|pass|here|id|value|name)(?![a-z])"
    r"|(?<![A-Za-z0-9])(?:replace[_-]?(?:me|this|with)|insert[_-]?(?:here|your)|put[_ -]your|enter[_-]?your"
    r"|not[_-]?(?:a[_-]?)?(?:real|valid)[_-]?(?:password|secret|token|key|pass)?)"
    r"|put your unique phrase here"
)
_TEMPLATE = lazy(
    r"^(?:\$\{[^}]*\}|\$\([^)]*\)|\$[A-Za-z_][A-Za-z0-9_]*|\{\{.*\}\}|\{%.*%\}|%\([^)]*\)[sd]|<[^<>]+>|\[[^\]]+\]"
    r"|%[sd]|\{[^{}\s]{0,100}\}|#\{[^}]*\}|@[A-Za-z_][A-Za-z0-9_]*@|__[A-Z0-9_]+__|%[A-Za-z_][A-Za-z0-9_]*%"
    r"|\*+|\.+|-+|_+)$"
)


def placeholder(ctx: Context) -> bool:
    """Template variables and placeholder words (``${VAR}``, ``<your-token>``, ``changeme``, ``xxxx``)."""
    if ctx.rule.family == "private-key":
        # A key block is judged by its body: a word beside the header ("BEGIN RSA PRIVATE KEY----- fake") does not
        # make 2,000 characters of base64 a placeholder.
        body = re.sub(r"-----[A-Z0-9 ]{1,60}-----|[^A-Za-z0-9+/=]", "", ctx.value)
        if len(body) >= 200 and len(set(body)) > 16:
            return False
    v = ctx.value.strip().strip("\"'").rstrip(",;):")
    # In a query string (`client_secret=<SECRET>&email=…`) the value ends at the next parameter.
    if re.fullmatch(r"[\w.~%+<>:/${}-]*(?:&[A-Za-z_][\w.-]{0,40}=[\w.~%+<>:/${}-]*)+", v):
        v = v.split("&", 1)[0]  # (only a value shaped like one: a Django key may hold "&x=" by chance)
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
    return bool(_PLACEHOLDER_WHOLE.match(v) or _PLACEHOLDER_TOKEN.search(v))


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
    if v.startswith(("!vault", "ENC[", "$ANSIBLE_VAULT", "vault:", "AgA")) and ctx.rule.family in NAME_BASED:
        return True
    # Travis CI's `secure: "…"` and values named encrypted…/ciphertext are encrypted for the repository by design
    # (only the CI service holds the key), like sealed secrets; an entropy guess on them is not a plaintext secret.
    if ctx.rule.family != "detect-secrets":
        return False
    parts = _name_parts(assigned_name(ctx))
    return parts == ["secure"] or (bool(parts) and parts[0] in ("encrypted", "ciphertext", "sealed"))


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


_PASSWORD_HASH = lazy(r"^(?:\$(?:2[abxy]?|5|6|y|gy|7|argon2id?|argon2i|scrypt|pbkdf2[a-z0-9-]{0,10}|apr1|1)\$"
                      r"[./A-Za-z0-9$=,+-]{16,300}|(?:pbkdf2_sha(?:1|256|512)|bcrypt(?:_sha256)?|argon2|scrypt)"
                      r"\$[A-Za-z0-9$=,+./-]{16,300}|\{SSHA?\}[A-Za-z0-9+/]{20,80}={0,2})$")


def password_hash(ctx: Context) -> bool:
    """A password hash under a password name (``"password": "$2a$11$…"``, Django's ``pbkdf2_sha256$…``)."""
    return _name_based(ctx) and bool(_PASSWORD_HASH.match(ctx.value.strip()))


def lockfile_hash(ctx: Context) -> bool:
    """Integrity hashes in lockfiles and SRI strings (``sha512-…``, ``h1:…``)."""
    if _INTEGRITY.match(ctx.value.strip()):
        return True
    return bool(_LOCKFILES.search(ctx.path)) and ctx.rule.family in NAME_BASED | {"connection-string"}


_HEX = lazy(r"^[0-9a-f]{7,40}$|^[0-9A-F]{40}$")
# Commit-ish names (one word part of the assigned name) and commit URLs: where a hex string is a git object id.
_COMMITISH_PART = frozenset({"sha", "sha1", "commit", "commits", "rev", "revision", "ref", "refs", "hash", "checkout",
                             "head", "oid", "parent", "tree", "blob", "tag", "merge", "gitsha", "githash",
                             "changeset"})
_COMMIT_URL = lazy(r"/(?:commits?|tree|blob|compare|-/commit)/[0-9a-fA-F]{7,40}|[?&](?:rev|sha|ref|commit|h)=")
_SECRET_PART = lazy(r"(?i)pass|pwd|secret|token|key|auth|cred|private|signature|bearer|session|cookie")


def _name_parts(name: str) -> list[str]:
    """Lower-cased word parts of an identifier (``HOMEBREW_GITHUB_API_TOKEN``, ``commitSha``, ``git.rev``)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [p.lower() for p in re.split(r"[^A-Za-z0-9]+", spaced) if p]


def assigned_name(ctx: Context) -> str:
    """The name the value is assigned to on its line (``KEY=…``, ``"key": "…"``, ``key: …``), or ""."""
    idx = ctx.line.rfind(ctx.value)
    if idx <= 0:
        return ""
    m = _ASSIGNED_NAME.search(ctx.line[max(0, idx - 100):idx])
    return m.group(1) if m else ""


def git_sha(ctx: Context) -> bool:
    """Git object ids: hex under a commit-ish name (sha, commit, rev, ref) or in a commit URL, never a secret name."""
    v = ctx.value.strip()
    if not _name_based(ctx) or not _HEX.match(v):
        return False
    if _COMMIT_URL.search(ctx.line):
        return True
    parts = _name_parts(assigned_name(ctx))
    if any(p in _COMMITISH_PART for p in parts):
        return True
    if parts and _SECRET_PART.search("".join(parts)):
        return False  # GITHUB_TOKEN=<40 hex>, oauth_token: …, DD_APP_KEY=…: the name says secret, not the shape
    # No name (or a neutral one): a full 40-hex id is a SHA; a shorter one only with git words on the line.
    return len(v) == 40 or bool(re.search(r"(?i)\b(?:commit|sha|rev|revision|checkout|cherry-pick|merge|git)\b",
                                          ctx.line))


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
    if ctx.rule.family == "detect-secrets" and re.fullmatch(r"[OAUNC][A-Z2-7]{55}", v):
        return True  # a NATS public NKey (operator, account, user, server, cluster); its seed starts with S (UL094)
    # Only the name the value is assigned to: `'verify_certs': True, 'basic_auth_password': '…'` is no certificate.
    name = assigned_name(ctx) or _before(ctx.line, v)[-40:]
    return bool(_PUBLIC_NAME.search(name) or re.search(r"(?i)\.pub$|(?:^|/)authorized_keys$", ctx.path))


def data_uri(ctx: Context) -> bool:
    """``data:`` URIs (inline images and fonts) whose base64 looks random but is content."""
    v = ctx.value.strip()
    if v.startswith("data:"):
        return True
    if ctx.rule.family == "detect-secrets" and v.startswith("H4sI"):
        return True  # base64 of gzip data (1f 8b 08): compressed content in a recorded response
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
_LOCALE_PATH = lazy(r"(?i)(?:^|/)(?:locales?|i18n|l10n|lang|langs|languages|translations?|messages)/|"
                    r"(?:^|/)(?:messages|strings|translations?)[._-][A-Za-z_-]{2,10}\.[a-z]{2,10}$|"
                    r"\.(?:po|pot|xliff|xlf|resx|strings)$")
_WORDY = lazy(r"^[A-Za-z][a-z]+(?:[ _-][A-Za-z][a-z]+){0,6}[.:!?…]?$")
_SECRET_WORD = lazy(r"(?i)pass(?:word|wd|phrase)?|secret|token|credential|api[_-]?key|auth|login|pin")


def ui_string(ctx: Context) -> bool:
    """Labels and messages about passwords (``"Enter your password"``, ``forgot-password``, ``password_reset``)."""
    if not _name_based(ctx):
        return False
    v = ctx.value.strip()
    if " " in v:
        return True  # a value with spaces is prose (generic values never contain whitespace, detect-secrets' may)
    if _LOCALE_PATH.search(ctx.path) and re.fullmatch(r"[^\W\d_]+[.:!?]?", v):
        return True  # a translation file: `password: Senha` is the word for the label, in some language
    if _SECRET_WORD.search(v) and _WORDY.match(v.replace("/", "-")):
        return True  # "Password:", "forgot-password", "resetToken", "api-key-label"
    if _SECRET_WORD.search(v) and re.fullmatch(r"[a-z]+(?:[_.-][a-z0-9]+){1,6}|[a-z]+", v):
        return True  # i18n keys and routes: "auth.password.invalid", "password_reset_token" (not "password123")
    before = _before(ctx.line, v)
    # Only the name the value is assigned to counts ("label: …", "placeholder=…"), not any word earlier on the line.
    name = re.search(r"([A-Za-z_][A-Za-z0-9_.-]{0,80}[\"']?\]?\s{0,4}(?:=|:|=>))\s{0,8}\\?[\"'`]?$", before)
    if name is None or not _UI_CONTEXT.search(name.group(1)):
        return False
    return bool(_WORDY.match(v) or re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+){0,6}|[a-z]+(?:[_.:/-][a-z0-9]+){1,8}", v)
                or re.fullmatch(r"[^\W\d_]{2,30}:", v))  # a label in any script: 'labelPassword': 'Hasło:'



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


# Documentation and rendered API docs: their code samples are code, so an unquoted expression there is no literal.
_DOC_EXT = lazy(r"\.(?:md|markdown|mdx|rst|txt|adoc|asciidoc|textile|org|wiki|html?|xhtml|map|ipynb)$|"
                r"(?:^|/)search_index\.json$", re.IGNORECASE)
# An expression, not a literal: attribute access (request.form[…], httpx.BasicAuth(…)), a call or subscript, a
# language constant, or markup of a rendered signature (None</em>, <httpx._client.UseClientDefault …>).
_DOC_EXPRESSION = lazy(
    r"^(?:[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+(?:[(\[].*)?|[A-Za-z_$][\w$]*[(\[),\]].*|\(.*"
    r"|(?:None|True|False|null|nil|undefined|NULL|nullptr)(?:[<,;)\]].*)?|<[A-Za-z_/].*)$"
)


def _code_call(v: str) -> bool:
    return "(" in v and v.rstrip(",;:").endswith((")", "(")) and re.match(r"^[A-Za-z_$][\w$.]*\(", v) is not None


def code_expression(ctx: Context) -> bool:
    """An unquoted value in source code or in a documentation code sample that is an identifier, access or call."""
    if _quoted(ctx):
        return False
    v = ctx.value.strip()
    if ctx.rule.family == "framework":  # `secret_key_base: random_string(64)` generates the key
        return _code_call(v)
    if ctx.rule.family == "connection-string" and _CODE_EXT.search(ctx.path):
        # `def f(user=get_credentials[0], password=get_credentials[1])`: a call or subscript, not a DSN
        return re.match(r"[A-Za-z_$][\w$.]*[(\[]", v) is not None
    if not _name_based(ctx):
        return False
    if _code_call(v):
        return True  # a call, in any file type (YAML/templating too)
    if re.fullmatch(r":[a-z_][a-z0-9_]{1,40}[,)]?", v):
        return True  # a Ruby symbol (`password: :digest`)
    idx = ctx.line.find(v)
    if idx >= 2 and ctx.line[idx - 1] == ":" and ctx.line[idx - 2] in " \t" and re.fullmatch(r"[a-z_]\w{1,40}", v):
        return True  # `reset_password_token :datetime` (schema annotations): a symbol, not `name: value`
    if _DOC_EXT.search(ctx.path):
        # A JWT (eyJ…) is dotted too; a real token is not an expression.
        return not v.startswith("eyJ") and bool(_DOC_EXPRESSION.match(v))
    if not _CODE_EXT.search(ctx.path):
        return False
    if _in_comment_or_string(ctx):
        # `// password: s3cr3t` and `"…?token=…&…"` are text inside code, where a literal is unquoted; commented-out
        # code is still code, judged like a documentation sample.
        return not v.startswith("eyJ") and bool(_DOC_EXPRESSION.match(v))
    # Outside shell scripts a literal secret in code is quoted, so an unquoted value is an expression; in shell an
    # unquoted word is a literal (variable reads are $VAR, which the placeholder filter handles).
    return not _SHELL_EXT.search(ctx.path)


_COMMENT_START = lazy(r"^\s*(?://|#|\*(?!/)|/\*|--|;|>>>|\.\.\.|<!--|%)")


def _in_comment_or_string(ctx: Context) -> bool:
    """Whether the value sits in a line comment or inside a string literal (an odd number of quotes before it)."""
    idx = ctx.line.find(ctx.value)
    if idx < 0 or len(ctx.line) > 400:
        return False
    before = ctx.line[:idx]
    if _COMMENT_START.match(before) or re.search(r"(?:^|\s)(?://|#)\s", before):
        return True
    return any(_odd_quotes(before.replace("\\" + q, ""), q) for q in "\"'`")


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
    name = m.group(1).rsplit(".", 1)[-1]
    # Also qualified: `"AdminResetUserPassword": "cognito-idp:AdminResetUserPassword"` (an IAM action).
    return v == m.group(1) or v == name or (len(name) >= 6 and re.split(r"[:./]", v)[-1] == name)


_PATH_OR_URL = lazy(
    r"^(?:(?:[a-z][a-z0-9+.-]{1,20}://[^\s:@/]{1,253}(?:/[^\s]*)?)|(?:\.{0,2}/[A-Za-z0-9_.@%+~-]{1,80}){2,}/?|"
    r"~/[^\s]{1,200}|[A-Za-z]:\\[^\s]{1,200}|[A-Za-z0-9_.-]{1,80}\.(?:pem|key|crt|json|txt|yaml|yml|env|p12|pfx|"
    r"jks|gpg|asc|pub|cfg|conf|ini|toml)|\.?/?[A-Za-z0-9_.-]{1,80}/[A-Za-z0-9_./-]{1,200}\.[a-z]{2,5}"
    # A page of the documentation, with its anchor (`[credential-helper]: config.md#credential`).
    r"|[A-Za-z0-9_./-]{1,200}\.(?:md|mdx|rst|html?|txt|adoc)#[A-Za-z0-9_.-]{1,100})$"
)


def path_or_url(ctx: Context) -> bool:
    """A file path, URL without credentials or ARN (``SECRET_FILE=/run/secrets/db``, ``token_url: https://…``)."""
    v = ctx.value.strip()
    if not _name_based(ctx):
        return False
    if re.match(r"^\s{0,3}\[[^\]]{1,200}\]:\s", ctx.line):
        return True  # a Markdown link reference definition: `[name]: page.md#anchor`
    return bool(_PATH_OR_URL.match(v)) or v.startswith(("arn:", "urn:"))


def test_path(ctx: Context) -> bool:
    """Passwords, URLs, headers and name-based matches in test folders (a token format or a key keeps its rating)."""
    return ctx.rule.family in NAME_BASED | {"connection-string", "code-call"} and bool(_TEST_PATH.search(ctx.path))


_TEST_PATH = lazy(r"(?i)(?:^|/)(?:tests?|spec|specs|__tests__|fixtures?|testdata|mocks?)/|(?:^|/)test_[^/]*$|"
                  r"_test\.[a-z]{1,4}$|\.(?:spec|test)\.[a-z]{1,4}$")


def _odd_quotes(text: str, q: str) -> bool:
    """Whether ``text`` ends inside a string opened with quote ``q`` (escapes ignored: a heuristic)."""
    return text.count(q) % 2 == 1


def version_or_number(ctx: Context) -> bool:
    """Numbers, versions, dates, sizes and colours (``token_ttl: 3600``, ``key_version: 1.2.3``, ``#68175A``)."""
    if not _name_based(ctx):
        return False
    v = ctx.value.strip()
    if re.fullmatch(r"[0-9]+\.(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?)(?:\.ago)?", v):
        return True  # a Ruby duration (`reset_password_within = 6.hours`)
    if re.fullmatch(r"[0-9]{4,12}", v) and _password_named(ctx):
        return False  # `password: 6412871`: a PIN or numeric password, not a count
    return bool(re.fullmatch(r"[0-9][0-9_.,:/ -]*(?:[smhdkKMG]|ms|px|em|%|KB|MB|GB)?|v?[0-9]+(?:\.[0-9]+){1,3}"
                             r"(?:[-+][A-Za-z0-9.]{1,20})?|#[0-9a-fA-F]{3,8}|#[a-z]{3,30}"
                             r"|[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9:.]{5,15}(?:Z|[+-][0-9:]{4,5})?)?", v))


def character_set(ctx: Context) -> bool:
    """Alphabets and character sets (``"abcdefghjkmnpq…23456789"``): mostly ascending runs, not random."""
    v = ctx.value.strip()
    ranges = re.findall(r"([A-Za-z0-9])-([A-Za-z0-9])", v)
    if len(ranges) >= 2 and all(ord(b) - ord(a) >= 5 for a, b in ranges) and \
            re.fullmatch(r"(?:[A-Za-z0-9]-[A-Za-z0-9]|[_.+/=\\-])+", v):
        return True  # a regex class body held in a constant (`_TOKEN_CHARS = "A-Za-z0-9_-"`)
    if 4 <= len(v) < 10 and v.isalnum():
        # `123456`, `abc123`, `987654321`: a keyboard run, the stand-in value of tutorials and tests (detect-secrets'
        # is_sequential_string); a chosen short password (`6412871`, `Pass1234`) is not mostly steps of one.
        steps = sum(1 for a, b in itertools.pairwise(v.lower()) if abs(ord(b) - ord(a)) == 1)
        return steps >= 0.75 * (len(v) - 1)
    if len(v) < 10:
        return False
    ascending = sum(1 for a, b in itertools.pairwise(v) if 0 < ord(b) - ord(a) <= 3)
    if ascending >= 0.5 * (len(v) - 1):
        return True
    # 26+ characters without a single repeat is an alphabet (a random string that long almost always repeats one).
    return _name_based(ctx) and len(v) >= 26 and len(set(v)) == len(v)


_PASSWORD_PART = frozenset({"pass", "passwd", "password", "passwort", "pwd", "pw", "passphrase", "pword", "senha",
                            "contrasena", "motdepasse", "mdp"})


def _password_named(ctx: Context) -> bool:
    return any(p in _PASSWORD_PART or p.endswith(("password", "passwd")) for p in _name_parts(assigned_name(ctx)))


def plain_words(ctx: Context) -> bool:
    """Short lowercase words joined by - or _ (``storage-user``, ``_sa_default``) under a non-password name."""
    if not _name_based(ctx) and ctx.rule.family != "framework":
        return False
    v = ctx.value.strip()
    if not re.fullmatch(r"_{0,2}[A-Za-z][a-z]{1,11}(?:[-_.][a-z]{2,12}){0,2}_{0,2}", v):
        return False
    if not all(_pronounceable(p) for p in re.split(r"[-_.]+", v.strip("_"))):
        return False  # "wllfccvrzl", "catxhdlhtmw": random letters, not words
    # People choose passwords, and a lowercase word is a (weak) password: reported at low confidence as such.
    # Tokens, keys and secrets are generated, so a word there is a name. A sentinel (_sa_default) never is.
    return v.startswith("_") or "_" in v or not _password_named(ctx)


_MACHINE_PART = frozenset({"token", "tokens", "key", "apikey", "secret", "signature"})


def short_token(ctx: Context) -> bool:
    """A short word-like value (``track1``, ``abc``) under a token/key name: generated credentials are long."""
    if not _name_based(ctx) or _password_named(ctx):
        return False
    v = ctx.value.strip()
    parts = _name_parts(assigned_name(ctx))
    return (bool(parts) and parts[-1] in _MACHINE_PART and len(v) < 10
            and bool(re.fullmatch(r"[A-Za-z]{2,9}[0-9]{0,2}", v)))


_BASIC_BEFORE = lazy(r"(?i)\bbasic[ \t]{1,4}$")


def not_basic_credential(ctx: Context) -> bool:
    """``Authorization: Basic …`` whose value is not base64 of user:password (``login_and_password_removed``)."""
    idx = ctx.line.find(ctx.value)
    if idx <= 0 or not _BASIC_BEFORE.search(ctx.line[max(0, idx - 20):idx]):
        return False
    from scanner.rules._util import b64decode_text

    decoded = b64decode_text(ctx.value.strip().rstrip("="))
    decoded = decoded if decoded is not None else b64decode_text(ctx.value.strip())
    return decoded is None or ":" not in decoded


_B64_FRAGMENT = lazy(r"""^\s*(?:[+.]\s*)?["'][A-Za-z0-9+/=_-]{16,}(?:\\{1,2}[rn])*["']\s*(?:[+.,;)]\s*)*(?:\\)?\s*$""")


def key_body_fragment(ctx: Context) -> bool:
    """Entropy hits on body lines of a PEM key built by string concatenation (the key itself is UL100's)."""
    if ctx.rule.family != "detect-secrets":
        return False
    if not _B64_FRAGMENT.match(ctx.line):
        return False
    return bool(_B64_FRAGMENT.match(ctx.prev_line) or re.search(
        r"BEGIN [A-Z ]{0,30}(?:PRIVATE KEY|PUBLIC KEY|CERTIFICATE)|ssh-(?:rsa|ed25519|dss) AAAA", ctx.prev_line))


def prose(ctx: Context) -> bool:
    """An unquoted word followed by more words (``Confirmar minha conta``) or text in another script: UI text."""
    if not _name_based(ctx):
        return False
    v = ctx.value.strip()
    if not v.isascii() and sum(c.isalpha() and not c.isascii() for c in v) >= 0.5 * len(v):
        return True
    idx = ctx.line.find(v)
    if idx < 0 or _quoted(ctx) or not re.fullmatch(r"[^\W\d_]{2,30}[.,:!?]?", v):
        return False
    return bool(re.match(r"[ \t]+[^\W\d_]{1,30}[ \t]+[^\W\d_]{2,30}", ctx.line[idx + len(v):]))


_ENV_LIKE = lazy(r"(?:^|/)\.env(?:\.[A-Za-z0-9_-]+)?$|\.(?:env|ini|cfg|conf|properties|netrc|pgpass)$|"
                       r"(?:^|/)\.?(?:netrc|pgpass|pypirc|npmrc|s3cfg)$")
_WORD_PART = lazy(r"[A-Z]?[a-z]{1,14}|[A-Z]{2,6}(?=[A-Z][a-z]|$|_|-|/)|[AI](?=[A-Z][a-z])")


def identifier_words(ctx: Context) -> bool:
    """CamelCase or snake_case names made of real-looking words (``AWSAccessKeyId``, ``aws_secret_access_key``)."""
    # Not in .env/INI/properties files: there a word-only value is more likely a (weak) literal password.
    if ctx.rule.family not in NAME_BASED | {"framework"} or _ENV_LIKE.search(ctx.path):
        return False
    v = ctx.value.strip()
    if _password_named(ctx) and not re.fullmatch(r"[a-z_][a-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*){2,}", v):
        # People choose passwords from words; the weak-password demotion rates them. A dotted module path
        # (`allauth.account.forms.ChangePasswordForm`) is code even under a password name.
        return False
    if re.fullmatch(r"[A-Z]{2,12}", v) and re.search(r"[AEIOUY]", v):
        return True  # an enum-like constant ("REQUEST", "BASIC")
    return _words_only(v)


def _pronounceable(word: str) -> bool:
    """A word-like part: has a vowel and no run of five consonants (``strength`` is, ``xdlfjeh`` is not)."""
    return bool(re.search(r"[aeiouyAEIOUY]", word)) and not re.search(r"[^aeiouyAEIOUY\d]{5}", word)


def _words_only(v: str) -> bool:
    """Whether ``v`` is CamelCase/snake_case/path-like text made only of word-like parts."""
    if not re.fullmatch(r"[A-Za-z]{1,60}(?:[_./:-][A-Za-z]{1,60}){0,6}", v) or len(v) > 120:
        return False
    parts = [w for chunk in re.split(r"[_./:-]", v) for w in _WORD_PART.findall(chunk)]
    if "".join(parts).lower() != re.sub(r"[_./:-]", "", v).lower() or len(parts) < 2:
        return False
    # Every part must read like a word (a vowel, or a short acronym such as AWS, ID, URL, JITNA).
    return all(_pronounceable(w) or (w.isupper() and len(w) <= 6) for w in parts)


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
    r"(?i)(?:passw(?:or)?d|pass|pwd|secret|token|key|credentials?|auth|signature)[_.-]?(?:id|ids|name|names|type|types|arn|"
    r"version|url|uri|path|file|dir|length|len|size|count|ttl|expiry|expires(?:_at|_in)?|lifetime|prefix|suffix|"
    r"field|label|header|param|policy|rotation|hint|format|kind|mode|ref|hash|digest|salt_rounds|rounds|endpoint|"
    r"location|provider|store|manager|source|env|var|variable|enabled|required|min|max|method|methods|algorithm|alg|"
    r"algo|scheme|style|strategy|charset|encoding)[\"']?\]?\s{0,8}"
    r"(?::=|=>|=|:)\s{0,8}\\?[\"']?$"
)


def metadata_name(ctx: Context) -> bool:
    """Names about a secret rather than of it (``password_id``, ``token_type``, ``secret_name``, ``key_url``)."""
    if not _name_based(ctx):
        return False
    idx = ctx.line.find(ctx.value)
    return idx > 0 and bool(_METADATA_NAME.search(ctx.line[max(0, idx - 80):idx]))


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
    r"[A-Za-z_.-]{0,20}(?:token|marker)|(?:shard)?iterator|ciphertext(?:blob)?|serial(?:number)?|(?:^|[_.-]|[a-z])(?:id|ids|arn|guid|uuid|etag|version(?:id)?|digest|nonce|opaque|iv|salt|"
    r"fingerprint|thumbprint|hash|checksum|sha\d{0,3}|md5|marker|cursor|modifier|reason|status)|Id|ID|Arn|Name)$"
)


def non_secret_name(ctx: Context) -> bool:
    """Values of names that are never credentials: ids, ARNs, versions, nonces, pagination tokens (``NextToken``)."""
    if not _name_based(ctx):
        return False
    idx = ctx.line.rfind(ctx.value)
    before = ctx.line[max(0, idx - 100):idx] if idx > 0 else ""
    m = _ASSIGNED_NAME.search(before) or re.search(r"--([a-z0-9-]{2,60})[ =][\"']?$", before)
    if m is None:
        # An unnamed entropy hit next to words about nonces or digests (`def get_client_nonce(…): return "…"`).
        near = ctx.prev_line[-200:] + " " + before
        return (ctx.rule.family == "detect-secrets" and not _SECRETISH.search(near)
                and re.search(r"(?i)nonce|opaque|salt|etag|digest|checksum|fingerprint", near) is not None)
    name = m.group(1).rstrip(".-_")
    if re.search(r"(?i)(?:^|[_.-])(?:sid|session[_-]?id|sessid)$", name):
        return False  # a session id is a bearer credential
    if ctx.rule.family == "detect-secrets" and re.search(r"(?i)(?:signature|sig|hmac|sign(?:256|rsa|ed)?)$", name):
        return True  # an entropy guess on a computed signature (`signature = '…'  # expected hash`), not a key
    if ctx.rule.family == "detect-secrets" and name in ("iss", "sub", "aud", "jti", "kid", "account", "issuer"):
        return True  # JWT claims and account names identify a party; they are not its credential
    return bool(_NON_SECRET_NAME.search(name))


def short_hex(ctx: Context) -> bool:
    """Hex strings of at most 16 characters matched by name-based rules: ids and short hashes, not credentials."""
    # Not under a password name: nine digits there are a chosen password, not an id.
    return _name_based(ctx) and bool(re.fullmatch(r"[0-9a-fA-F]{6,16}", ctx.value.strip())) and \
        not _password_named(ctx)


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
    if decoded is not None and re.fullmatch(r"0\d{1,3}:[A-Z][A-Za-z]{2,60}\d{1,20}", decoded):
        return True  # a GitHub API node id ("019:BaseRefChangedEvent1782915693" in base64)
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
    Filter("password-hash", "password hashes (bcrypt, sha-crypt, PBKDF2) under password names", password_hash),
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
    Filter("metadata-name", "names about a secret (password_id, token_type, secret_name)", metadata_name),
    Filter("encoded-text", "base64 of identifiers, prose or markup", encoded_text),
    Filter("slug", "names built from words (entropy plugins)", slug),
    Filter("fake-jwt", "JWTs without a real signature", fake_jwt),
    Filter("non-secret-name", "ids, ARNs, versions, nonces and pagination tokens", non_secret_name),
    Filter("short-hex", "hex strings of at most 16 characters", short_hex),
    Filter("identifier-words", "CamelCase/snake_case names made of words", identifier_words),
    Filter("regex-source", "regular-expression source text", regex_source),
    Filter("key-header-only", "private-key headers without a body", key_header_only),
    Filter("plain-words", "short lowercase words and sentinels under non-password names", plain_words),
    Filter("short-token", "short word-like values under token or key names", short_token),
    Filter("not-basic-credential", "Basic authorization values that are not base64 of user:password",
           not_basic_credential),
    Filter("key-body-fragment", "entropy hits on concatenated key body lines", key_body_fragment),
    Filter("prose", "words of prose or text in another script", prose),
    Filter("invalid-checksum", "GitHub-shaped tokens whose checksum is wrong", invalid_checksum),
    Filter("unnamed-hex", "hex strings without a secret-like name (entropy plugins only)", unnamed_hex),
    Filter("character-set", "alphabets and ascending character runs", character_set),
    Filter("number-or-version", "numbers, versions and durations", version_or_number),
)


# ---------------------------------------------------------------------------------------------- demotions
# A demotion keeps a candidate but says what it is, at a lower confidence: a credential in a test folder or a weak
# password is still a credential (it is often reused, and CredData-style labels count it), yet it should not
# rank with a live production key. The first demotion that applies names the finding's label.


@dataclass(frozen=True)
class Demotion:
    name: str
    doc: str
    confidence: Confidence
    applies: Callable[[Context], bool]


_WEAK = lazy(
    r"(?i)passw(?:or|0r)d|pa55w(?:or|0r)d|p@ss|secret|s3cr3t|qwerty|letmein|hunter\d|admin|welcome|changeit|"
    r"iloveyou|monkey|dragon|abc123|test123|^[a-z]{1,12}\d{0,6}[!@#$%&*?.]?$|(?:0123|1234|2345|3456|4567|5678|6789)"
)
_WEAK_FAMILIES = NAME_BASED | {"connection-string", "code-call", "credential-file"}


def weak_password(ctx: Context) -> bool:
    """A human-chosen weak password (``Acme12345!``, ``hunter22``, ``AdminPassword123``): real, but guessable."""
    if ctx.rule.family not in _WEAK_FAMILIES or ctx.rule.family == "private-key":
        return False
    v = ctx.value.strip().strip("\"'")
    return len(v) <= 24 and bool(_WEAK.search(v))


# Public demo credentials of databases, tutorials and images (user, password), documented by their vendors.
DEMO_CREDENTIALS = frozenset({
    ("scott", "tiger"), ("admin", "admin"), ("postgres", "postgres"), ("root", "root"), ("guest", "guest"),
    ("user", "pass"), ("user", "password"), ("username", "password"), ("test", "test"), ("foo", "bar"),
    ("admin", "password"), ("root", "password"), ("sa", "sa"), ("demo", "demo"), ("mysql", "mysql"),
    ("oracle", "oracle"), ("system", "manager"), ("sys", "change_on_install"), ("rabbitmq", "rabbitmq"),
    ("elastic", "changeme"), ("minioadmin", "minioadmin"), ("user", "secret"), ("admin", "secret"),
})


_URL_USER = lazy(r"://(?P<user>[^\s:@/?#'\"<>`]{0,128})$")


def demo_credential(ctx: Context) -> bool:
    """Well-known public demo credentials (``scott:tiger``, ``postgres:postgres``, ``guest:guest``)."""
    v = ctx.value.strip()
    # A string search, not a pattern built from the value: thousands of distinct values would each compile one.
    at = ctx.line.find(":" + v + "@") if v else -1
    m = _URL_USER.search(ctx.line, max(0, at - 140), at) if at >= 0 else None
    if m is not None:
        user = m.group("user").lower()
        return user == v.lower() or (user, v.lower()) in DEMO_CREDENTIALS
    if ctx.rule.family not in NAME_BASED | {"code-call"}:
        return False
    return any(v.lower() == pw and re.search(rf"(?i)(?<![A-Za-z0-9]){re.escape(u)}(?![A-Za-z0-9])", ctx.line)
               for u, pw in DEMO_CREDENTIALS)


BUILTIN_DEMOTIONS: tuple[Demotion, ...] = (
    Demotion("demo-credential", "well-known public demo credentials such as scott/tiger", Confidence.LOW,
             demo_credential),
    Demotion("test-fixture", "credentials in test folders other than token formats and keys", Confidence.LOW,
             test_path),
    Demotion("weak-password", "human-chosen weak passwords", Confidence.LOW, weak_password),
)


def applicable_demotions(rule: Rule) -> tuple[Demotion, ...]:
    return tuple(d for d in BUILTIN_DEMOTIONS if d.name not in rule.skip_filters)


def applicable(rule: Rule) -> tuple[Filter, ...]:
    return tuple(f for f in active_filters() if f.name not in rule.skip_filters)


def active_filters() -> tuple[Filter, ...]:
    return BUILTIN_FILTERS
