"""Filters about what stands in for a value: allow comments, placeholders and templates, vendor example keys.

A placeholder is judged as a whole value or a delimited token, never as a substring of a human password; a lone weak
word is a placeholder except where it is the password in use (:func:`_weak_word_in_use`).
"""

from __future__ import annotations

import re

from scanner.filters.base import (
    NAME_BASED,
    Context,
    _generated,
    drop_filter,
)
from scanner.lazyre import lazy

ALLOW_MARKERS = ("pragma: allowlist secret", "gitleaks:allow", "unleak:allow")
_NEXTLINE_MARKER = "pragma: allowlist nextline secret"


@drop_filter
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
# A printf conversion inside a value (%s, %d, %r, %(name)s), not followed by what would make it text or a URL escape.
_PRINTF = lazy(r"(?<!%)%(?:\([A-Za-z_]\w{0,30}\))?[sdr](?![A-Za-z0-9])")
# The lone words of _PLACEHOLDER_WHOLE that people do use as passwords.
WEAK_WORDS = ("password", "passwd", "pass", "secret", "admin", "root", "test", "login", "default")
_WEAK_WORD = lazy(r"(?i)^(?:" + "|".join(WEAK_WORDS) + r")$")
# An environment variable's name standing in for its value (DB_PASSWORD, S1_PLACE).
ENV_NAME = lazy(r"[A-Z][A-Z0-9]*_[A-Z0-9_]+")
_SELF_WORD = lazy(r"(?i)^(?:password|passwd|pass|secret)$")
_TEMPLATE = lazy(
    r"^(?:\$\{[^}]*\}|\$\([^)]*\)|\$[A-Za-z_][A-Za-z0-9_]*|\{\{.*\}\}|\{%.*%\}|%\([^)]*\)[sd]|<[^<>]+>|\[[^\]]+\]"
    r"|%[sd]|\{[^{}\s]{0,100}\}|#\{[^}]*\}|@[A-Za-z_][A-Za-z0-9_.-]*@|__[A-Z0-9_]+__|%[A-Za-z_][A-Za-z0-9_]*%"
    r"|\$\$?[A-Z_][A-Z0-9_]*\$\$?"
    r"|\*+|\.+|-+|_+)$"
)


_BCRYPT = lazy(r"\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}")


@drop_filter
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
    if ctx.rule.family in NAME_BASED and _PRINTF.search(v):
        return True  # "_AssociationProxy_%s_%s", "user:%s@": a format string the code fills in (a provider's
        # token format can hold "%r-" by chance)
    if re.fullmatch(r"\$[A-Za-z_][A-Za-z0-9_.-]{0,100}", v) or "…" in v or "{}" in v:
        return True  # "$request.header.x-api-key", "{}:{}" (a format)
    if "..." in v and not _BCRYPT.fullmatch(v):
        return True  # "eyJ2Ijo..." (elided in documentation); a bcrypt hash's alphabet holds "." and its fixed
        # length leaves no room to elide (one in 5,000 holds "...")
    if v.startswith(("{", "#{", "%{")) and not v.startswith('{"'):
        return True  # an interpolation (f-string, Ruby, Elixir) cut off at a space: code that builds the value
    if ENV_NAME.fullmatch(v) and not _generated(v):
        return True  # an environment-variable name standing in for the value (not API_KEYN2B1NFN5CP6…, a key)
    if ctx.rule.family in NAME_BASED and looks_made_up(v):
        return True
    if _weak_word_in_use(ctx, v):
        return False
    if len(set(v.lower())) <= 3:  # "xxxxxxxx", "00000000", "********", "abababab"
        return True
    if _PLACEHOLDER_TOKEN.search(v):
        return True
    return bool(_PLACEHOLDER_WHOLE.match(v))


def looks_made_up(v: str) -> bool:
    """Written to look like a secret (``ABCSECRETKEY``, ``mysecretpassword``, ``secured_password``): no digit, short,
    and naming the thing it stands for."""
    return not any(c.isdigit() for c in v) and len(v) <= 30 and \
        re.search(r"(?i)secret|passw|token|apikey|api_key", v) is not None


def _weak_word_in_use(ctx: Context, v: str) -> bool:
    """A lone weak word (``pass``, ``admin``) where it is the password in use rather than a stand-in for one.

    A credential store (.pgpass, .netrc, FileZilla, .git-credentials…) is not a template: it holds the password a
    client logs in with, and `root:password` there is a weak password in use (kept, demoted as weak-password). Nor is
    the configuration a deployed program reads (a `.env`, `wp-config.php` — not their `.example` or `-sample` twins),
    though there the word that names the thing itself (`password`, `secret`) still stands in for a value while
    `admin` or `root` is one. Elsewhere every such lone word stands in for a value — in test code too:
    `http://user:pass@proxy` there shows a URL's syntax far more often than it logs in (CredData labels it so)."""
    if not _WEAK_WORD.match(v):
        return False
    family = ctx.rule.family
    return (family == "credential-file"
            or (bool(_LIVE_CONFIG.search(ctx.path)) and not _SELF_WORD.match(v)))


# Configuration files a deployed program reads as they are; a template of one carries a suffix (.env.example,
# wp-config-sample.php) and does not match.
_LIVE_CONFIG = lazy(r"(?:^|/)(?:\.env(?:\.(?:local|prod|production|staging|dev|development))?|wp-config\.php)$")


# Vendor-documented example credentials (AWS's documentation keys and similar) and values ending in EXAMPLE.
_EXAMPLE_KEYS = frozenset({
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
    "AKIAI44QH8DHBEXAMPLE",
    "ASIAIOSFODNN7EXAMPLE",
})


@drop_filter
def example_key(ctx: Context) -> bool:
    """Vendor-documented example keys (``AKIAIOSFODNN7EXAMPLE``) and values holding the upper-case word EXAMPLE."""
    # AWS documents its session tokens as ``…//////////wEXAMPLEtc764…``; a generated value holds those seven letters
    # by chance about once in 10^12.
    v = ctx.value.strip()
    return v in _EXAMPLE_KEYS or v.upper().endswith(("EXAMPLE", "EXAMPLEKEY")) or "EXAMPLE" in v
