"""Filters about where the value sits and what names it: UI text, type annotations, code expressions, names as
values, paths and URLs, names about a secret, word-built names, plain words and prose.
"""

from __future__ import annotations

import re

from scanner.filters.base import (
    _ASSIGNED_NAME,
    _ENV_LIKE,
    _SECRETISH,
    NAME_BASED,
    Context,
    _before,
    _generated,
    _name_based,
    _name_parts,
    _password_named,
    _pronounceable,
    _words_only,
    assigned_name,
    drop_filter,
)
from scanner.lazyre import lazy

# ---------------------------------------------------------------------------------------------- code and UI
_UI_CONTEXT = lazy(
    r"(?i)(?:label|placeholder|title|message|msg|text|hint|prompt|description|tooltip|caption|error|"
    r"i18n|translate|gettext|aria-|help|heading|button|field|input|form|route|url|path|endpoint|uri|href|"
    r"type|kind|column|header|event|action|mode|method|scope|grant_type|response_type|param|validator)"
    r"[A-Za-z0-9_.-]{0,30}[\"']?\s{0,4}(?:=|:|=>)"
)
# Language codes a resource bundle's name ends with (``messages_de.properties``, ``_text_pt_br.prop``).
_LANGS = ("ar|bg|ca|cs|cy|da|de|el|en|es|et|eu|fa|fi|fr|ga|gl|he|hi|hr|hu|hy|id|in|is|it|iw|ja|ka|kk|ko|lt|lv|mk|"
          "ms|mt|nb|nl|nn|no|pl|pt|ro|ru|sk|sl|sq|sr|sv|ta|th|tr|uk|ur|vi|zh")
_LOCALE_PATH = lazy(r"(?i)(?:^|/)(?:locales?|i18n|l10n|lang|langs|languages|translations?|messages)/|"
                    r"(?:^|/)(?:messages|strings|translations?)[._-][A-Za-z_-]{2,10}\.[a-z]{2,10}$|"
                    r"\.(?:po|pot|xliff|xlf|resx|strings)$|"
                    r"_(?:" + _LANGS + r")(?:_[A-Za-z]{2,4})?\.(?:properties|prop)$")

_WORDY = lazy(r"^[A-Za-z][a-z]+(?:[ _-][A-Za-z][a-z]+){0,6}[.:!?…]?$")
_SECRET_WORD = lazy(r"(?i)pass(?:word|wd|phrase)?|secret|token|credential|api[_-]?key|auth|login|pin")
# A lone lower-case word that names a password field or screen: the secret word, with the words of forms around it.
_UI_WORD = lazy(
    r"(?:(?:forgot|forgotten|reset|new|old|current|confirm|repeat|retype|show|hide|enter|change|update|your|my|user"
    r"|admin|lost|remember|verify|check|set|create|save|invalid|wrong|missing|one|time)*"
    r"(?:pass(?:word|wd|phrase)?|secret|token|credential|apikey|auth|login|logout|signin|signup|pin)s?"
    r"(?:reset|confirm|confirmation|again|repeat|label|hint|field|input|placeholder|text|title|form|page|button"
    r"|link|url|path|route|required|invalid|error|mismatch|strength|length|policy|expired|manager|protected|less"
    r"|change|recovery|forgot|settings|prompt|dialog|modal|screen|view|key|name|type|id|s)*)"
)


# A message or label where a password goes: the words of forms and messages, "password" in a few languages, and what
# stands in for an absent value ("not set", "see vault").
_UI_PHRASE = lazy(
    r"(?i)(?<![a-z])(?:pass(?:word|wd|phrase)?s?|p/w|enter|your|must|least|characters?|confirm|required|invalid"
    r"|incorrect|wrong|new|old|current|repeat|retype|forgot|reset|change|show|hide|field|label|please|type|input"
    r"|min(?:imum)?|max(?:imum)?|length|match(?:es)?|strength|strong|weak|here|example|placeholder|contains?|should"
    r"|cannot|can't|empty|user(?:name)?|log ?in|sign|not|none|null|todo|tbd|see|from|env|vault|same|as|above|below"
    r"|set|given|default|mot de passe|passwort|kennwort|wachtwoord|senha|contrase[nñ]a|parola|has[lł]o|heslo"
    r"|salasana|l[oö]senord|passord|adgangskode|sifre|the|is|are|be|to|for|with|and|or)(?![a-z])"
)
_PHRASE_TEMPLATE = lazy(r"%[-+ #0-9.]*[sdr(]|\{|\}|\$[A-Za-z_{(]|<[^>]*>|\[\[|\]\]")


def _ui_phrase(v: str) -> bool:
    """A phrase that is a message, a label or a template rather than a passphrase: more than five words, ending
    like a sentence or a label, holding a word of forms and messages or a template slot."""
    return (len(v.split()) > 5 or v.endswith((".", ":", "!", "?", "…")) or _UI_PHRASE.search(v) is not None
            or _PHRASE_TEMPLATE.search(v) is not None)


# The name before a value in UI code (`label: …`, `placeholder="…"`), at the end of what precedes it: at most
# _UI_NAME_MAX characters long, so only that many are searched (as _REPEATED_NAME).
_UI_NAME = lazy(r"([A-Za-z_][A-Za-z0-9_.-]{0,80}[\"']?\]?\s{0,4}(?:=|:|=>))\s{0,8}\\?[\"'`]?$")
_UI_NAME_MAX = 81 + 1 + 1 + 4 + 2 + 8 + 1 + 1


@drop_filter
def ui_string(ctx: Context) -> bool:
    """Labels and messages about passwords (``"Enter your password"``, ``forgot-password``, ``password_reset``)."""
    if not _name_based(ctx):
        return False
    v = ctx.value.strip()
    if ctx.rule.phrase:  # a passphrase rule (UL907): its values hold spaces, so judge the phrase itself
        return _LOCALE_PATH.search(ctx.path) is not None or _ui_phrase(v)
    if " " in v:
        return True  # a value with spaces is prose (generic values never contain whitespace, detect-secrets' may)
    if _LOCALE_PATH.search(ctx.path) and re.fullmatch(r"[#¿¡]?[^\W\d_]+[.:!?]?", v):
        # a translation file: `password: Senha` is the word for the label, in some language (`#Decryption`: a
        # string marked not yet translated)
        return True
    if _SECRET_WORD.search(v) and _WORDY.match(v.replace("/", "-")) and (
            re.search(r"[ _/-]", v) or _UI_WORD.fullmatch(v.rstrip(".:!?…").lower())):
        return True  # "Password:", "forgot-password", "resetToken", "api-key-label" (not the one word "Mongopass")
    if _SECRET_WORD.search(v) and re.fullmatch(r"[a-z]+(?:[_.-][a-z0-9]+){1,6}", v) and not _generated(v):
        # i18n keys and routes: "auth.password.invalid", "password_reset_token" (not "password123", nor
        # "thog-secret-8fbfc1350854…", a key with a readable prefix)
        return True
    before = _before(ctx.line, v)
    # Only the name the value is assigned to counts ("label: …", "placeholder=…"), not any word earlier on the line.
    name = _UI_NAME.search(before, max(0, len(before) - _UI_NAME_MAX))
    if name is None or not _UI_CONTEXT.search(name.group(1)):
        return False
    return bool(_WORDY.match(v) or re.fullmatch(r"[a-z]+(?:[A-Z][a-z]+){0,6}|[a-z]+(?:[_.:/-][a-z0-9]+){1,8}", v)
                or re.fullmatch(r"[^\W\d_]{2,30}:", v))  # a label in any script: 'labelPassword': 'Hasło:'


_CODE_EXT = lazy(
    r"\.(?:py|pyi|js|jsx|mjs|cjs|ts|tsx|rb|php|go|java|kt|kts|scala|groovy|cs|swift|rs|c|cc|cpp|h|hpp|m|dart|"
    r"lua|ex|exs|erl|clj|vue|svelte|pl|pm|r|jl|sh|bash|zsh|ps1|tf|hcl|gradle|sql|jj|jjt)$",
    re.IGNORECASE,
)
_TYPE_NAMES = lazy(
    r"^(?:\??(?:str|string|String|bytes|int|bool|boolean|Boolean|Any|any|object|Object|SecretStr|SecretBytes|"
    r"Secret|Optional|Union|Sequence|Mapping|Iterable|Callable|dict|list|tuple|set|Dict|List|Tuple|Set|None|"
    r"null|number|char|byte|Integer|Long|char\[\]|byte\[\]|\[\]byte|\*string|&str|&'static str|Option<[^>]*>|"
    r"Vec<[^>]*>|Buffer|Uint8Array|unknown|never|void|ReadonlyArray<[^>]*>|Record<[^>]*>|Promise<[^>]*>)"
    r"(?:\[[^\]]{0,80}\]|<[^>]{0,80}>)?[,;)]*\??)$"
)


@drop_filter
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
    r"^(?:[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+(?:[(\[)}\],;].*)?|[A-Za-z_$][\w$]*[(\[),\]].*|\(.*"
    r"|(?:None|True|False|null|nil|undefined|NULL|nullptr)(?:[<,;)\]].*)?|<[A-Za-z_/].*)$"
)


def _code_call(v: str) -> bool:
    return "(" in v and v.rstrip(",;:").endswith((")", "(")) and re.match(r"^[A-Za-z_$][\w$.]*\(", v) is not None


@drop_filter
def code_expression(ctx: Context) -> bool:
    """An unquoted value in source code or in a documentation code sample that is an identifier, access or call."""
    v = ctx.value.strip()
    if _CONCATENATED.fullmatch(v) and _between_quotes(ctx.line, v):
        return True  # `"…?apikey="+resMatch+"&q=…"`: the value is spliced in from a variable (a base64 token that
        # merely starts and ends with "+", `KEY=+lGC…Pd+`, is not: about one in 15,000 random ones)
    if _quoted(ctx):
        # `private_key = "ssh_private_key" in config`, `token == "…"`: the literal is an operand, not the value
        return _name_based(ctx) and bool(_CODE_EXT.search(ctx.path)) and _operand(ctx, v)
    if ctx.rule.family == "framework":  # `secret_key_base: random_string(64)` generates the key
        return _code_call(v)
    if ctx.rule.family == "connection-string" and _CODE_EXT.search(ctx.path):
        # `def f(user=get_credentials[0], password=get_credentials[1])`: a call or subscript, not a DSN
        return re.match(r"[A-Za-z_$][\w$.]*[(\[]", v) is not None
    if not _name_based(ctx):
        return False
    if v.startswith("=") and "==" + v[1:] in ctx.line:
        return True  # `password==other.password`: a comparison, the "value" is its right-hand side
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
    # unquoted word is a literal (variable reads are $VAR, which the placeholder filter handles). Unless it reads as
    # generated, or the line is no code at all: a line of a multi-line string (a Go raw string, a heredoc, a
    # docstring) holds text, such as a log line or an environment file.
    return not _SHELL_EXT.search(ctx.path) and not _generated(v) and not _text_line(ctx, v)


# A log line (`[DEBUG] Using Key=…`, `2024-01-02 10:00:00 INFO …`, `WARN: …`): no language starts a statement so.
_LOG_LINE = lazy(r"\s*(?:\[(?:DEBUG|INFO|NOTICE|WARN(?:ING)?|ERROR|TRACE|FATAL)\]"
                 r"|(?:DEBUG|INFO|WARN(?:ING)?|ERROR|TRACE):\s|\d{4}-\d\d-\d\d[T ]\d\d:\d\d)")
# `API_KEY=aio_Vx…` at the start of a line, no space around `=`: an environment file's line. Formatted code puts
# spaces there (gofmt, PEP 8, every style guide), and minified code is skipped before it gets here.
_ENV_LINE = lazy(r"\s*(?:export\s+)?[A-Z][A-Z0-9_]{1,60}=")
_TOKEN_LIKE = lazy(r"(?=[A-Za-z0-9_+/=-]{0,200}[0-9])(?=[A-Za-z0-9_+/=-]{0,200}[A-Za-z])[A-Za-z0-9_+/=-]{12,400}")


def _text_line(ctx: Context, v: str) -> bool:
    """Whether the value's line is text rather than code: a log line, or an environment file's `NAME=value` line,
    holding a token-like value (letters and digits mixed, no dot, call or subscript)."""
    if not _TOKEN_LIKE.fullmatch(v):
        return False
    if _LOG_LINE.match(ctx.line):
        return True
    m = _ENV_LINE.match(ctx.line)
    return m is not None and ctx.line.startswith(v, m.end())


_OPERATOR_AFTER = lazy(r"\s{1,4}(?:in|not\s+in|is|==|!=|===|!==)\s")


def _operand(ctx: Context, v: str) -> bool:
    """Whether the quoted value is followed by a membership or comparison operator (`"name" in mapping`)."""
    idx = ctx.line.find(v)
    return idx > 0 and _OPERATOR_AFTER.match(ctx.line, idx + len(v) + 1) is not None


def _between_quotes(line: str, v: str) -> bool:
    """``v`` sits on ``line`` right after a closing quote and before an opening one (`"…"+name+"…"`)."""
    i = line.find(v)
    return i > 0 and line[i - 1] in "\"'`" and line[i + len(v):i + len(v) + 1] in ("\"", "'", "`")


# A variable spliced into a string by concatenation: `+name+`, `+ obj.attr +`, `+get(k)+` (both pluses: a base64
# value may start with one).
_CONCATENATED = lazy(r"\+\s*[A-Za-z_$][\w$.]*(?:\[[^\]]{0,40}\]|\([^)]{0,40}\))?\s*\+")


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


# The name a value is assigned to, at the end of what precedes the value. A match is at most _REPEATED_NAME_MAX
# characters long, so only that many at the end are searched (the same match: a search from every position of a
# long line was a few per cent of a dense files scan).
_REPEATED_NAME = lazy(r"([a-z0-9_.]{2,80})[\"']?\]?\s{0,8}(?::=|=>|=|:)\s{0,8}\\?[\"']?$")
_REPEATED_NAME_MAX = 80 + 1 + 1 + 8 + 2 + 8 + 1 + 1


@drop_filter
def name_as_value(ctx: Context) -> bool:
    """The value repeats the name (``password: password``, ``PASSWORD=PASSWORD``, ``token = "TOKEN"``)."""
    if not _name_based(ctx):
        return False
    v = ctx.value.strip().lower().replace("-", "_")
    idx = ctx.line.rfind(ctx.value)  # the value follows the name, which may contain the same word
    before = ctx.line[:idx].lower().replace("-", "_") if idx > 0 else ""
    m = _REPEATED_NAME.search(before, max(0, len(before) - _REPEATED_NAME_MAX))
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


@drop_filter
def path_or_url(ctx: Context) -> bool:
    """A file path, URL without credentials or ARN (``SECRET_FILE=/run/secrets/db``, ``token_url: https://…``)."""
    v = ctx.value.strip()
    if not _name_based(ctx):
        return False
    if re.match(r"^\s{0,3}\[[^\]]{1,200}\]:\s", ctx.line):
        return True  # a Markdown link reference definition: `[name]: page.md#anchor`
    return bool(_PATH_OR_URL.match(v)) or v.startswith(("arn:", "urn:"))


def _odd_quotes(text: str, q: str) -> bool:
    """Whether ``text`` ends inside a string opened with quote ``q`` (escapes ignored: a heuristic)."""
    return text.count(q) % 2 == 1


_DUNDER = lazy(r"__[a-z][a-z0-9]*(?:_[a-z0-9]+)*__")


@drop_filter
def plain_words(ctx: Context) -> bool:
    """Short lowercase words joined by - or _ (``storage-user``, ``_sa_default``) under a non-password name."""
    if not _name_based(ctx) and ctx.rule.family != "framework":
        return False
    v = ctx.value.strip()
    if _DUNDER.fullmatch(v):
        return True  # a sentinel or a special name (`__ray_testing_never_deduplicate__`), under any name
    # (a numbered one too: `my_name_2`, `test_schema_2`)
    if not re.fullmatch(r"_{0,2}[A-Za-z][a-z]{1,11}(?:[-_.][a-z]{2,12}){0,2}(?:[-_][0-9]{1,3})?_{0,2}", v):
        return False
    if not all(_pronounceable(p) for p in re.split(r"[-_.]+", v.strip("_")) if not p.isdigit()):
        return False  # "wllfccvrzl", "catxhdlhtmw": random letters, not words
    # People choose passwords, and a lowercase word is a (weak) password: reported at low confidence as such.
    # Tokens, keys and secrets are generated, so a word there is a name. A sentinel (_sa_default) never is.
    if re.search(r"[-_][0-9]{1,3}_{0,2}$", v) and _password_named(ctx):
        return False  # `summer_2` as a password: a (weak) password, where `my_name_2` elsewhere is a name
    return v.startswith("_") or "_" in v or not _password_named(ctx)


_MACHINE_PART = frozenset({"token", "tokens", "key", "apikey", "secret", "signature"})


@drop_filter
def short_token(ctx: Context) -> bool:
    """A short word-like value (``track1``, ``Blue-1``) under a token/key name: generated credentials are long."""
    if not _name_based(ctx) or _password_named(ctx):
        return False
    v = ctx.value.strip()
    parts = _name_parts(assigned_name(ctx))
    return (bool(parts) and parts[-1] in _MACHINE_PART and len(v) < 10
            and bool(re.fullmatch(r"[A-Za-z]{2,9}[-_]?[0-9]{0,2}", v)))


@drop_filter
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


@drop_filter
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


_METADATA_NAME = lazy(
    r"(?i)(?:passw(?:or)?d|pass|pwd|secret|token|key|credentials?|auth|signature)[_.-]?(?:id|ids|name|names|type|types|arn|"
    r"version|url|uri|path|file|dir|length|len|size|count|ttl|expiry|expires(?:_at|_in)?|lifetime|prefix|suffix|"
    r"field|label|header|param|policy|rotation|hint|format|kind|mode|ref|hash|digest|salt_rounds|rounds|endpoint|"
    r"location|provider|store|manager|source|env|var|variable|enabled|required|min|max|method|methods|algorithm|alg|"
    r"algo|scheme|style|strategy|charset|encoding)[\"']?\]?\s{0,8}"
    r"(?::=|=>|=|:)\s{0,8}\\?[\"']?$"
)


@drop_filter
def metadata_name(ctx: Context) -> bool:
    """Names about a secret rather than of it (``password_id``, ``token_type``, ``secret_name``, ``key_url``)."""
    if not _name_based(ctx):
        return False
    idx = ctx.line.find(ctx.value)
    return idx > 0 and bool(_METADATA_NAME.search(ctx.line[max(0, idx - 80):idx]))


_NON_SECRET_NAME = lazy(
    r"(?i)(?:(?:next|prev(?:ious)?|page|continuation|pagination|sync|resume|cursor|input|output|csrf|xsrf|forward|"
    r"backward|client|idempotency|change|verification|purchase|update|work[_-]?unit|copy[a-z]{0,20})"
    r"[A-Za-z_.-]{0,20}(?:token|marker)|(?:shard)?iterator|ciphertext(?:blob)?|serial(?:number)?|(?:^|[_.-]|[a-z])(?:id|ids|arn|guid|uuid|etag|version(?:id)?|digest|nonce|opaque|iv|salt|"
    r"fingerprint|thumbprint|hash|checksum|sha\d{0,3}|md5|marker|cursor|modifier|reason|status)|Id|ID|Arn|Name)$"
)


_BUILD_FILE = lazy(r"(?:^|/)(?:pom|build|ivy)\.xml$|\.pom$")


@drop_filter
def non_secret_name(ctx: Context) -> bool:
    """Values of names that are never credentials: ids, ARNs, versions, nonces, pagination tokens (``NextToken``)."""
    if not _name_based(ctx):
        return False
    idx = ctx.line.rfind(ctx.value)
    before = ctx.line[max(0, idx - 100):idx] if idx > 0 else ""
    if _BUILD_FILE.search(ctx.path) and re.search(r"(?:<token>|\btoken\s{0,4}=\s{0,4}[\"'])$", before):
        return True  # Maven and Ant: the text a replace step substitutes (a replacefilter's token attribute)
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
