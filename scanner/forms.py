"""Every form a secret value is written in: raw, base64 (any alignment), hex, URL and JSON escaping.

One definition serves the masker of ``unleak run`` (which hides each form in a child's output) and ``unleak fix``
(which searches the tree for every form of each value it moves, so no copy is left behind unmentioned).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.parse

#: values shorter than this are not masked: a 3-character mask would shred ordinary output
MIN_MASK_LENGTH = 4

# PEM armour lines ("-----BEGIN RSA PRIVATE KEY-----") are the same in every key of a kind: not secret, and masking
# them would hide every PEM header in a program's output.
_ARMOUR = re.compile(r"-----(BEGIN|END) [A-Z0-9 ]+-----")


def _b64_forms(raw: bytes) -> set[str]:
    """Base64 (standard and url-safe, padded and not) of the value alone and as it appears inside longer data.

    A value embedded at byte offset 0, 1 or 2 (mod 3) of a larger blob encodes differently each time; the
    characters that depend only on the value's own bits are the same for every surrounding, so each alignment
    contributes the run of characters whose 6 bits lie wholly inside the value.
    """
    forms: set[str] = set()
    std = base64.b64encode(raw).decode("ascii")
    url = base64.urlsafe_b64encode(raw).decode("ascii")
    forms.update({std, std.rstrip("="), url, url.rstrip("=")})
    n = len(raw)
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + raw).decode("ascii")
        first = -(-8 * k // 6)  # first character whose bits start at or after the value's first bit
        last = (8 * (k + n)) // 6  # one past the last character whose bits end at or before the value's end
        core = enc[first:last]
        forms.add(core)
        forms.add(core.replace("+", "-").replace("/", "_"))
    # `base64` (coreutils) wraps at 76 columns and PEM at 64: each full line of a wrapped encoding is masked.
    # Short lines are left out: a 4-character tail such as "Cg==" would mask unrelated output everywhere.
    for width in (64, 76):
        if len(std) > width:
            forms.update(line for i in range(0, len(std), width) if len(line := std[i : i + width]) >= 16)
    return forms


def _encodings(value: str) -> set[str]:
    """base64, hex, URL and JSON forms of one string (see :func:`encoded_forms`)."""
    raw = value.encode("utf-8")
    texts: set[str] = set(_b64_forms(raw))
    hexed = binascii.hexlify(raw).decode("ascii")
    texts.update({hexed, hexed.upper()})
    for quoted in (
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote(value),
        urllib.parse.quote_plus(value),
        urllib.parse.quote(value, safe="-_.!~*'()"),  # JavaScript's encodeURIComponent
    ):
        texts.add(quoted)
        texts.add(re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quoted))
    for ascii_only in (True, False):
        escaped = json.dumps(value, ensure_ascii=ascii_only)[1:-1]
        for variant in (escaped, escaped.replace("/", "\\/")):
            texts.add(variant)
            # Other encoders write \u escapes in upper case (\u00E9).
            texts.add(re.sub(r"\\u[0-9a-f]{4}", lambda m: "\\u" + m.group(0)[2:].upper(), variant))
    return texts


def lines_of(value: str) -> list[str] | None:
    """The lines of a multi-line value (without PEM armour), or None for a one-line value."""
    lines = value.splitlines()
    if len(lines) > 1 or value.endswith(("\n", "\r")):
        return [line.strip() for line in lines if line.strip() and not _ARMOUR.fullmatch(line.strip())]
    return None


def encoded_forms(value: str) -> set[str]:
    """Every whole form of ``value`` to mask, as latin-1 strings of its UTF-8 bytes; none contains a line break.

    Forms: the raw value (or each line of a multi-line value, and each line's own encodings: a program may
    encode a key line by line), base64/base64url (see :func:`_b64_forms`), hex in lower and upper case,
    URL-encoding (``quote`` with and without ``/`` safe, ``quote_plus``, JavaScript's ``encodeURIComponent``,
    lower-case escapes) and JSON string escaping (ASCII-only and not, upper-case ``\\u`` escapes, with and
    without escaped slashes). PEM armour lines are not forms: they are the same in every key.
    """
    texts: set[str] = set()
    lines = lines_of(value)
    if lines is not None:
        texts.update(lines)
        for line in lines:
            if len(line) >= 8:  # a key's last line may be short; shorter ones would mask ordinary text
                texts.update(_encodings(line))
    else:
        texts.add(value)
    texts.update(_encodings(value))
    return _usable(texts)


def _usable(texts: set[str]) -> set[str]:
    out: set[str] = set()
    for text in texts:
        as_bytes = text.encode("utf-8").decode("latin-1")
        if len(as_bytes) >= MIN_MASK_LENGTH and "\n" not in as_bytes and "\r" not in as_bytes:
            out.add(as_bytes)
    return out
