from __future__ import annotations

import pytest

from remediate.vault.refs import (
    Reference,
    format_reference,
    is_reference,
    needs_quoting,
    parse_reference,
)
from scanner.errors import BadReferenceError

VALID = [
    # (reference, scheme, parts, query)
    ("unleak://shop-api/STRIPE_API_KEY", "unleak", ("shop-api", "STRIPE_API_KEY"), ()),
    ("unleak://a/_X", "unleak", ("a", "_X"), ()),
    ("unleak://my.app_2/db.password-1", "unleak", ("my.app_2", "db.password-1"), ()),
    ("op://dev/stripe/credential", "op", ("dev", "stripe", "credential"), ()),
    ("op://dev/Stripe/publishable-key", "op", ("dev", "Stripe", "publishable-key"), ()),
    ("op://Management/PagerDuty/Admin/email", "op", ("Management", "PagerDuty", "Admin", "email"), ()),
    ("op://development/aws/Access Keys/access_key_id", "op",
     ("development", "aws", "Access Keys", "access_key_id"), ()),
    ("op://Private/ssh keys/ssh key/private key?ssh-format=openssh", "op",
     ("Private", "ssh keys", "ssh key", "private key"), (("ssh-format", "openssh"),)),
    ("op://development/GitHub/Security/one-time password?attribute=otp", "op",
     ("development", "GitHub", "Security", "one-time password"), (("attribute", "otp"),)),
    ("op://prod/yj3jfj2vzsbiwqabprflnl27lm/password", "op", ("prod", "yj3jfj2vzsbiwqabprflnl27lm", "password"), ()),
    ("op://app-prod/db/key.pem", "op", ("app-prod", "db", "key.pem"), ()),
]


@pytest.mark.parametrize(("text", "scheme", "parts", "query"), VALID)
def test_valid_references_parse_and_roundtrip(text: str, scheme: str, parts: tuple[str, ...],
                                              query: tuple[tuple[str, str], ...]) -> None:
    ref = parse_reference(text)
    assert ref == Reference(scheme, parts, query)
    assert str(ref) == text
    assert format_reference(scheme, *parts, query=query or None) == text
    assert is_reference(text)


INVALID = [
    # (reference, fragment of the message)
    ("", "expected unleak://"),
    ("STRIPE_API_KEY", "expected unleak://"),
    ("vault://x/y", "unknown scheme"),
    ("OP://dev/item/field", "unknown scheme"),
    ("unleak://shop-api", "2 segments"),
    ("unleak://shop-api/A/B", "2 segments"),
    ("unleak://Shop-API/KEY", "namespace"),  # namespaces are lower-case file names
    ("unleak://../KEY", "namespace"),
    ("unleak://.hidden/KEY", "namespace"),
    ("unleak://shop-api/1KEY", "NAME"),
    ("unleak://shop-api/KEY WITH SPACE", "NAME"),
    ("unleak://shop-api/KEY?x=1", "no query"),
    ("unleak://shop-api/", "NAME"),
    ("op://dev/item", "3 or 4 segments"),
    ("op://a/b/c/d/e", "3 or 4 segments"),
    ("op://dev//field", "item is empty"),
    ("op:///item/field", "vault is empty"),
    ("op://dev/item/", "field is empty"),
    ("op://dev/item/sec/", "field is empty"),
    ("op://dév/item/field", "by its 1Password ID"),  # non-ASCII: 1Password says use the ID
    ("op://dev/ítem/field", "by its 1Password ID"),
    ("op://dev/item/fïeld", "by its 1Password ID"),
    ("op://dev/it@m/field", "by its 1Password ID"),
    ("op://dev/item/ field", "by its 1Password ID"),  # leading/trailing whitespace is ambiguous
    ("op://dev/item/field ", "by its 1Password ID"),
    ("op://dev/item/fi\teld", "by its 1Password ID"),
    ("op://dev/item/field?", "empty query"),
    ("op://dev/item/field?attribute", "key=value"),
    ("op://dev/item/field?attribute=o p", "key=value"),
]


@pytest.mark.parametrize(("text", "why"), INVALID)
def test_invalid_references_raise_naming_the_reference(text: str, why: str) -> None:
    with pytest.raises(BadReferenceError) as info:
        parse_reference(text)
    msg = str(info.value)
    assert why in msg
    if text:
        assert repr(text) in msg  # a reference is not a secret: showing it helps find the typo
    assert not is_reference(text)


@pytest.mark.parametrize("value", [None, 42, b"unleak://a/B"])
def test_non_strings_are_not_references(value: object) -> None:
    assert not is_reference(value)
    with pytest.raises(BadReferenceError):
        parse_reference(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(("scheme", "parts"), [
    ("op", ("dev", "a/b", "field")),
    ("unleak", ("ns", "A/B")),
    ("op", ("dev", "item", "field?attribute=otp")),
])
def test_format_refuses_components_that_would_resplit(scheme: str, parts: tuple[str, ...]) -> None:
    with pytest.raises(BadReferenceError):
        format_reference(scheme, *parts)


def test_accessors_by_scheme() -> None:
    u = parse_reference("unleak://shop-api/STRIPE_API_KEY")
    assert (u.namespace, u.name) == ("shop-api", "STRIPE_API_KEY")
    o = parse_reference("op://Management/PagerDuty/Admin/email")
    assert (o.vault, o.item, o.section, o.field) == ("Management", "PagerDuty", "Admin", "email")
    assert parse_reference("op://dev/stripe/credential").section is None
    with pytest.raises(AttributeError):
        _ = u.vault
    with pytest.raises(AttributeError):
        _ = o.namespace


@pytest.mark.parametrize(("text", "expected"), [
    ("op://development/aws/Access Keys/access_key_id", True),
    ("op://dev/stripe/credential", False),
    ("unleak://a/B", False),
])
def test_needs_quoting(text: str, expected: bool) -> None:
    assert needs_quoting(text) is expected


def test_references_are_hashable_values() -> None:
    a = parse_reference("op://dev/stripe/credential")
    b = parse_reference("op://dev/stripe/credential")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
