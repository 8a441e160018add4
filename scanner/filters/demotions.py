"""Demotions: a candidate kept at a lower confidence and labelled with the demotion's name."""

from __future__ import annotations

import re

from scanner.filters.base import (
    NAME_BASED,
    TEST_PATH,
    Context,
    _name_parts,
    _password_named,
    assigned_name,
    demotion,
    softens,
)
from scanner.filters.code import _CODE_EXT
from scanner.filters.placeholders import _PLACEHOLDER_TOKEN, ENV_NAME, WEAK_WORDS, looks_made_up
from scanner.finding import Confidence
from scanner.lazyre import lazy

# ---------------------------------------------------------------------------------------------- demotions
# A demotion keeps a candidate but says what it is, at a lower confidence: a credential in a test folder or a weak
# password is still a credential (it is often reused, and CredData-style labels count it), yet it should not
# rank with a live production key. The first demotion that applies names the finding's label.


_WEAK = lazy(
    r"(?i)passw(?:or|0r)d|pa55w(?:or|0r)d|p@ss|secret|s3cr3t|qwerty|letmein|hunter\d|admin|welcome|changeit|"
    r"iloveyou|monkey|dragon|abc123|test123|^[a-z]{1,12}\d{0,6}[!@#$%&*?.]?$|(?:0123|1234|2345|3456|4567|5678|6789)"
)
_WEAK_FAMILIES = NAME_BASED | {"connection-string", "code-call", "credential-file", "framework"}


@demotion(Confidence.LOW)
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


@demotion(Confidence.LOW)
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


@demotion(Confidence.LOW)
def test_fixture(ctx: Context) -> bool:
    """Passwords, URLs, headers and name-based matches in test folders (a token format or a key keeps its rating)."""
    return ctx.rule.family in NAME_BASED | {"connection-string", "code-call"} and bool(TEST_PATH.search(ctx.path))


# ---------------------------------------------------------------------------------------------- stand-ins
# What a filter drops as standing in for a value, yet a reader (and other scanners) would still call a test
# password: `password = "secret"`, `postgres://foo:bar@localhost` in a test. Dropped by default; reported at
# "unlikely", labelled with the dropping filter's name, when a scan asks for that tier (`--min-confidence unlikely`).
# A template, a format string, an environment-variable name or a self-declared placeholder (`changeme`,
# `your-password`, `xxxx`) is never softened: it is not a value at all.

_STAND_IN_WORDS = frozenset(WEAK_WORDS) | {pw for _, pw in DEMO_CREDENTIALS} | {
    "pwd", "foo", "bar", "baz", "tiger", "hunter2", "letmein", "qwerty", "s3cret", "p@ssw0rd", "passw0rd", "secret123",
    "password123",
}
_WORD_VALUE = lazy(r"[A-Za-z][A-Za-z0-9_!@#%+-]{2,40}")  # no dot: `users.c.password` is an attribute
_PHRASE_VALUE = lazy(r"[A-Za-z][A-Za-z0-9_!@#%+-]{0,20}(?:['’ ][A-Za-z0-9_!@#%+-]{1,20}){1,4}")


def _literal(ctx: Context, v: str, *, in_string: bool = False) -> bool:
    """Whether ``v``, where it last sits on its line (after its name: `'password': password`), is a quoted literal;
    with ``in_string``, also the part of a string after `:` or `=` (`"…://user:pass@…"`, `"UID=u;PWD=pass"`)."""
    at = ctx.line.rfind(v)
    if at <= 0:
        return False
    before, after = ctx.line[at - 1], ctx.line[at + len(v):at + len(v) + 1]
    if before in "\"'`" and after in "\"'`\\":  # (a backslash: an escaped quote, JSON inside a string)
        return True
    head = ctx.line[:at]
    return in_string and before in ":=" and (head.count('"') % 2 == 1 or head.count("'") % 2 == 1)


@softens("placeholder")
def stand_in_password(ctx: Context) -> bool:
    """A weak word or demo password in test code (``password = "secret"``, ``user:pass@host``), not a template."""
    # Only in tests: there it logs in to a test server or is the data under test; in documentation the same words
    # show a syntax (`create_engine("…://user:password@hostname/db")`).
    if ctx.rule.family not in _WEAK_FAMILIES or ctx.rule.family == "credential-file" or not TEST_PATH.search(ctx.path):
        return False
    v = ctx.value.strip().strip("\"'").rstrip(",;):")
    if ctx.rule.phrase:  # a phrase (`"Joe's secret"`) where the other rules see one word
        if not _PHRASE_VALUE.fullmatch(v):
            return False
    elif not _WORD_VALUE.fullmatch(v) or _PLACEHOLDER_TOKEN.search(v) or ENV_NAME.fullmatch(v):
        return False
    if _CODE_EXT.search(ctx.path) and not _literal(ctx, v, in_string=True):
        return False  # code reads a variable there (`password = password`, `password=password`)
    low = v.lower()
    # A word that names the field is a stand-in only in _STAND_IN_WORDS; one written to look like a password
    # (`secured_password`, not `ACCESS-TOKEN`) is a value someone typed.
    return low in _STAND_IN_WORDS or (low not in ("password", "passwd", "secret") and looks_made_up(v)
                                      and re.search(r"passw|secret", low) is not None)


@softens("low-entropy")
def stand_in_test_password(ctx: Context) -> bool:
    """A quoted low-entropy value under a password name in test code (``"password": "%F0%9F%92%A9"``, ``"aaaa"``)."""
    if ctx.rule.family not in NAME_BASED or not TEST_PATH.search(ctx.path) or not _password_named(ctx):
        return False
    v = ctx.value.strip()
    return len(v) >= 4 and _literal(ctx, v)


@softens("character-set")
def hand_typed_test_key(ctx: Context) -> bool:
    """A hand-typed key in test code (``abcdef1234567890abcdef1234567890``): a fixture, not an alphabet constant."""
    v = ctx.value.strip()
    # Long enough to be a key, and no regex class (`A-Za-z0-9_-`), which is what a named alphabet holds.
    return len(v) >= 16 and bool(TEST_PATH.search(ctx.path)) and not re.search(r"[A-Za-z0-9]-[A-Za-z0-9]-", v) and \
        re.fullmatch(r"[A-Za-z0-9_/+=-]+", v) is not None and sum(c.isdigit() for c in v) >= 2


@softens("uuid")
def uuid_test_secret(ctx: Context) -> bool:
    """A UUID under a secret or token name in test code (``secret = "9e4635bc-…"``): some services issue UUID keys."""
    if not TEST_PATH.search(ctx.path):
        return False
    # A secret-like name, not any key (`idempotency_key`, `cache_key` hold ids).
    name = "".join(_name_parts(assigned_name(ctx)))
    return any(w in name for w in ("secret", "token", "apikey", "password"))
