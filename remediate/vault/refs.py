"""Secret reference syntax: the strings that stand in for a value in code, ``.env`` files and config.

Two schemes:

* ``unleak://<namespace>/<NAME>`` — the embedded local vault. The namespace defaults to the repository's name.
* ``op://<vault>/<item>/[<section>/]<field>[?<query>]`` — 1Password, written exactly as 1Password's secret reference
  syntax defines it, so ``op run --env-file`` and ``op read`` resolve the same file unleak writes.

1Password's rules, as documented: each of vault, item, section and field is a name or an ID; names may contain
ASCII letters, digits, ``-``, ``_``, ``.`` and the space character (a reference containing a space must be quoted
where it is written); anything else must be referred to by its ID. References are case-insensitive for 1Password.
Query parameters such as ``?attribute=otp`` or ``?ssh-format=openssh`` select what ``op`` returns.

A reference is not a secret, so error messages here quote it to help the user find the typo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scanner.errors import BadReferenceError

UNLEAK_SCHEME = "unleak"
OP_SCHEME = "op"
SCHEMES = (UNLEAK_SCHEME, OP_SCHEME)
#: how a value that means to be a reference starts (it may still fail to parse: that is a broken reference, not a
#: plain value)
REFERENCE_PREFIXES = tuple(f"{scheme}://" for scheme in SCHEMES)

#: Where ``unleak fix`` writes references by default, and the first file ``unleak run`` reads: a file of its own,
#: meant to be committed, that no dotenv loader reads (python-dotenv, compose and the JavaScript loaders read
#: ``.env``), so a program started without ``unleak run`` finds its variables missing, not holding references.
REFERENCE_FILE = ".env.unleak"
#: Read by ``unleak run`` when there is no ``REFERENCE_FILE``: references written before it existed.
LEGACY_REFERENCE_FILE = ".env"

# unleak namespaces become file names in the vault directory, so they are lower-case (no collisions on
# case-insensitive file systems) and cannot be "." / ".." or start with a dot or dash.
NAMESPACE_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
# Names are what the program reads from its environment: keep them shell- and dotenv-friendly.
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,127}")
# 1Password: ASCII alphanumerics, '-', '_', '.', and the space character. No leading/trailing space: op's
# behaviour there is undocumented and a trailing space in a committed .env file is a trap nobody sees.
_OP_PART_RE = re.compile(r"[A-Za-z0-9_.-](?:[A-Za-z0-9_. -]*[A-Za-z0-9_.-])?")
_OP_QUERY_KEY_RE = re.compile(r"[a-z][a-z-]*")
_OP_QUERY_VALUE_RE = re.compile(r"[A-Za-z0-9_.-]+")

_OP_PART_NAMES = ("vault", "item", "section", "field")


@dataclass(frozen=True)
class Reference:
    """A parsed reference. ``parts`` are the path segments after ``scheme://`` in order.

    unleak: (namespace, name). op: (vault, item, field) or (vault, item, section, field).
    ``query`` holds 1Password query parameters in their written order.
    """

    scheme: str
    parts: tuple[str, ...]
    query: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        return format_reference(self.scheme, *self.parts, query=self.query)

    # --- unleak
    @property
    def namespace(self) -> str:
        self._require(UNLEAK_SCHEME)
        return self.parts[0]

    @property
    def name(self) -> str:
        self._require(UNLEAK_SCHEME)
        return self.parts[1]

    # --- op
    @property
    def vault(self) -> str:
        self._require(OP_SCHEME)
        return self.parts[0]

    @property
    def item(self) -> str:
        self._require(OP_SCHEME)
        return self.parts[1]

    @property
    def section(self) -> str | None:
        self._require(OP_SCHEME)
        return self.parts[2] if len(self.parts) == 4 else None

    @property
    def field(self) -> str:
        self._require(OP_SCHEME)
        return self.parts[-1]

    def _require(self, scheme: str) -> None:
        if self.scheme != scheme:
            raise AttributeError(f"a {self.scheme}:// reference has no {scheme}:// components")


def _bad(ref: str, why: str) -> BadReferenceError:
    return BadReferenceError(f"malformed secret reference {ref!r}: {why}")


def parse_reference(s: str) -> Reference:
    """Parse ``s`` into a :class:`Reference` or raise :class:`BadReferenceError` naming it and the problem."""
    if not isinstance(s, str):
        raise BadReferenceError(f"a secret reference must be a string, not {type(s).__name__}")
    scheme, sep, rest = s.partition("://")
    if not sep:
        raise _bad(s, "expected unleak://<namespace>/<NAME> or op://<vault>/<item>/[<section>/]<field>")
    if scheme == UNLEAK_SCHEME:
        return _parse_unleak(s, rest)
    if scheme == OP_SCHEME:
        return _parse_op(s, rest)
    raise _bad(s, f"unknown scheme {scheme!r}; supported: " + ", ".join(f"{x}://" for x in SCHEMES))


def _parse_unleak(s: str, rest: str) -> Reference:
    if "?" in rest or "#" in rest:
        raise _bad(s, "unleak:// references take no query or fragment")
    parts = rest.split("/")
    if len(parts) != 2:
        raise _bad(s, f"expected unleak://<namespace>/<NAME> (2 segments), got {len(parts)}")
    namespace, name = parts
    if not NAMESPACE_RE.fullmatch(namespace):
        raise _bad(s, "the namespace must be 1-64 characters of a-z, 0-9, '.', '_', '-' starting with a letter "
                   "or digit")
    if not NAME_RE.fullmatch(name):
        raise _bad(s, "the NAME must be 1-128 characters of A-Z, a-z, 0-9, '_', '.', '-' starting with a "
                   "letter or '_'")
    return Reference(UNLEAK_SCHEME, (namespace, name))


def _parse_op(s: str, rest: str) -> Reference:
    path, qsep, qs = rest.partition("?")
    parts = path.split("/")
    if len(parts) not in (3, 4):
        raise _bad(s, f"expected op://<vault>/<item>/[<section>/]<field> (3 or 4 segments), got {len(parts)}")
    labels = _OP_PART_NAMES if len(parts) == 4 else ("vault", "item", "field")
    for label, part in zip(labels, parts, strict=True):
        if not part:
            raise _bad(s, f"the {label} is empty")
        if not _OP_PART_RE.fullmatch(part):
            raise _bad(s, f"the {label} {part!r} has characters 1Password references do not support (allowed: "
                       "A-Z a-z 0-9 - _ . and inner spaces); refer to it by its 1Password ID instead")
    query: list[tuple[str, str]] = []
    if qsep:
        if not qs:
            raise _bad(s, "empty query after '?'")
        for pair in qs.split("&"):
            key, eq, value = pair.partition("=")
            if not eq or not _OP_QUERY_KEY_RE.fullmatch(key) or not _OP_QUERY_VALUE_RE.fullmatch(value):
                raise _bad(s, f"query parameter {pair!r} is not of the form key=value (e.g. attribute=otp)")
            query.append((key, value))
    return Reference(OP_SCHEME, tuple(parts), tuple(query))


def is_reference(s: object) -> bool:
    """True if ``s`` is a well-formed reference of a supported scheme (used to skip values that are already
    references, so a second ``fix`` does nothing)."""
    if not isinstance(s, str) or "://" not in s:
        return False
    try:
        parse_reference(s)
    except BadReferenceError:
        return False
    return True


def format_reference(scheme: str, *parts: str, query: tuple[tuple[str, str], ...] | None = None) -> str:
    """Build a reference string from its components, validating it by parsing it back.

    ``format_reference("unleak", "shop-api", "STRIPE_API_KEY")`` → ``unleak://shop-api/STRIPE_API_KEY``;
    ``format_reference("op", "dev", "stripe", "credential")`` → ``op://dev/stripe/credential``.
    """
    text = f"{scheme}://" + "/".join(parts)
    if query:
        text += "?" + "&".join(f"{k}={v}" for k, v in query)
    parsed = parse_reference(text)
    # A part containing '/' or '?' would re-split into a different reference; refuse rather than mis-point.
    if parsed.parts != tuple(parts) or parsed.query != tuple(query or ()):
        raise _bad(text, "a component contains '/', '?' or '&'")
    return text


def needs_quoting(reference: str) -> bool:
    """1Password requires a reference that contains whitespace to be enclosed in quotation marks where it is
    written (an ``.env`` file, a config file)."""
    return any(c.isspace() for c in reference)
