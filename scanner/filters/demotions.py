"""Demotions: a candidate kept at a lower confidence and labelled with the demotion's name."""

from __future__ import annotations

import re

from scanner.filters.base import (
    NAME_BASED,
    TEST_PATH,
    Context,
    demotion,
)
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


