"""Streaming masks for a child's output: every injected value and its common encodings become
``<unleak:NAME>``.

The masker works on bytes. Internally it decodes them as latin-1 (one character per byte, a fast copy) so
that one Aho-Corasick automaton (pyahocorasick, built for ``str``) finds every form of every secret in one
pass.

Streaming rules (a value may arrive split across any number of writes):

* No pattern contains ``\\n`` or ``\\r`` (a multi-line value is masked line by line), so everything up to
  the last line break seen so far can be decided and written at once: line-buffered programs see no delay.
* After the last line break, bytes that could still be the start of a pattern are held back, at most
  ``longest pattern - 1`` of them. :meth:`Masker.flush_idle` (called by the runner when a stream has been
  quiet for a few milliseconds) writes out everything that is *not* the prefix of a pattern, so a prompt
  without a newline still appears while half a secret stays held until the rest decides it.
* Overlapping matches (of two secrets, or of a value and one of its encodings) are merged and masked as one
  span, so no fragment of either survives.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

import ahocorasick

#: values shorter than this are not masked: a 3-character mask would shred ordinary output
MIN_MASK_LENGTH = 4

# A held tail this long (or longer) at end of stream is masked rather than written: a child that dies halfway
# through printing a secret must not leak its first half. Shorter tails are ordinary text ("http" of a URL).
_EOF_PARTIAL_MASK = 8

#: every window this long of a value is masked, so a value cut short (``reprlib``'s ``'ghp_abc...xyz'``, a log
#: line truncated at a column, half a value at a line wrap) keeps no readable run of this many characters
WINDOW = 12
#: ... for values at least this long: shorter ones are masked whole only (a window of a short value would be
#: most of it anyway, and would mask ordinary text)
WINDOW_MIN_VALUE = 20

# PEM armour lines ("-----BEGIN RSA PRIVATE KEY-----") are the same in every key of a kind: not secret, and masking
# them would hide every PEM header in a program's output.
_ARMOUR = re.compile(r"-----(BEGIN|END) [A-Z0-9 ]+-----")
# In a multi-line value (a PEM key, a JSON service-account file), the runs of token characters are the secret part;
# the rest of a line is structure shared with every value of its kind.
_TOKEN_RUN = re.compile(rf"[A-Za-z0-9+/=_-]{{{WINDOW_MIN_VALUE},}}")

# Past this much held data a chain of overlapping matches is written out anyway, so memory stays bounded
# even for pathological output such as a secret "aaaa" inside an endless run of "a".
_MAX_HOLD = 1 << 20


def mask_for(name: str) -> str:
    """The text that replaces a value of the variable ``name`` (names are not secret; values are)."""
    return f"<unleak:{name}>"


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


def _lines(value: str) -> list[str] | None:
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
    lines = _lines(value)
    if lines is not None:
        texts.update(lines)
        for line in lines:
            if len(line) >= 8:  # a key's last line may be short; shorter ones would mask ordinary text
                texts.update(_encodings(line))
    else:
        texts.add(value)
    texts.update(_encodings(value))
    return _usable(texts)


def windows(value: str) -> set[str]:
    """Every :data:`WINDOW`-character window of a value of :data:`WINDOW_MIN_VALUE`+ characters (of each token run
    of a multi-line value), as latin-1 strings of UTF-8 bytes."""
    lines = _lines(value)
    runs = [value] if lines is None else [r for line in lines for r in _TOKEN_RUN.findall(line)]
    out: set[str] = set()
    for run in runs:
        if len(run) >= WINDOW_MIN_VALUE and "\n" not in run and "\r" not in run:
            b = run.encode("utf-8").decode("latin-1")
            out.update(b[i : i + WINDOW] for i in range(len(b) - WINDOW + 1))
    return out


def _usable(texts: set[str]) -> set[str]:
    out: set[str] = set()
    for text in texts:
        as_bytes = text.encode("utf-8").decode("latin-1")
        if len(as_bytes) >= MIN_MASK_LENGTH and "\n" not in as_bytes and "\r" not in as_bytes:
            out.add(as_bytes)
    return out


@dataclass
class Masker:
    """Replaces every form of every value in a byte stream; feed chunks in order, then call :meth:`close`."""

    secrets: Mapping[str, str]
    _automaton: ahocorasick.Automaton | None = field(init=False, default=None)
    #: whole forms only: what a held tail is checked against when the stream pauses or ends (a window prefix is
    #: any short run of a value's alphabet, and holding those would stall ordinary prompts)
    _whole: ahocorasick.Automaton | None = field(init=False, default=None)
    _maxlen: int = field(init=False, default=0)
    _pending: bytes = field(init=False, default=b"")

    def __post_init__(self) -> None:
        patterns: dict[str, str] = {}
        whole: set[str] = set()
        # Longer values first so that, when two secrets share a form, the mask names the longer one; the
        # union of overlapping spans is masked either way.
        for name, value in sorted(self.secrets.items(), key=lambda kv: -len(kv[1])):
            if len(value) < MIN_MASK_LENGTH:
                continue  # see names_too_short
            forms = encoded_forms(value)
            whole.update(forms)
            for form in forms | windows(value):
                patterns.setdefault(form, mask_for(name))
        if not patterns:
            return
        automaton = ahocorasick.Automaton()
        for form, mask in patterns.items():
            automaton.add_word(form, (len(form), mask.encode("utf-8")))
        automaton.make_automaton()
        self._automaton = automaton
        prefixes = ahocorasick.Automaton()
        for form in whole:
            prefixes.add_word(form, len(form))
        prefixes.make_automaton()
        self._whole = prefixes
        self._maxlen = max(len(p) for p in patterns)

    def __repr__(self) -> str:  # never show values
        return f"Masker(names={sorted(self.secrets)!r})"

    @property
    def skipped(self) -> tuple[str, ...]:
        """Names whose values are too short to mask."""
        return names_too_short(self.secrets)

    @property
    def pending(self) -> int:
        """Number of bytes held back because they might start a value."""
        return len(self._pending)

    def feed(self, data: bytes) -> bytes:
        """Mask one chunk; returns what can be written now (possibly less or more than ``data``)."""
        if self._automaton is None:
            return data
        buf = self._pending + data if self._pending else data
        last_break = max(buf.rfind(b"\n"), buf.rfind(b"\r"))
        hold = max(len(buf) - (self._maxlen - 1), last_break + 1, 0)
        return self._emit(buf, hold)

    def flush_idle(self) -> bytes:
        """Write out whatever cannot be the beginning of a value (called when the stream has gone quiet)."""
        if self._automaton is None or not self._pending:
            return b""
        return self._emit(self._pending, self._prefix_start(self._pending))

    def close(self) -> bytes:
        """End of stream: mask and return everything still held."""
        if self._automaton is None or not self._pending:
            return b""
        buf = self._pending
        start = self._prefix_start(buf)
        if len(buf) - start >= _EOF_PARTIAL_MASK and not self._complete_at_end(buf, start):
            out = self._emit(buf[:start], start) + mask_for("partial").encode("ascii")
        else:
            out = self._emit(buf, len(buf))
        self._pending = b""
        return out

    def _prefix_start(self, buf: bytes) -> int:
        """Start of the longest suffix of ``buf`` that begins some whole form (``len(buf)`` if there is none)."""
        assert self._whole is not None
        match = self._whole.match
        text = buf.decode("latin-1")
        for i in range(len(text)):
            if match(text[i:]):
                return i
        return len(text)

    def _complete_at_end(self, buf: bytes, start: int) -> bool:
        """True when a whole pattern covers ``buf[start:]`` to its end: the held tail is a value that was printed
        in full (and may also begin a longer form), so it is masked by name, not as a partial value."""
        assert self._automaton is not None
        for end, (length, _mask) in self._automaton.iter(buf.decode("latin-1")):
            if end == len(buf) - 1 and end - length + 1 <= start:
                return True
        return False

    def mask_all(self, data: bytes) -> bytes:
        """Mask a complete buffer in one go (the stream API fed once and closed)."""
        return self.feed(data) + self.close()

    def _emit(self, buf: bytes, hold: int) -> bytes:
        """Mask ``buf[:hold]`` and return it; keep the rest pending. Spans that cross ``hold`` wait whole."""
        assert self._automaton is not None
        spans: list[tuple[int, int, bytes]] = []
        # Output is cut from the original bytes; the latin-1 text exists only for the automaton to scan.
        for end, (length, mask) in self._automaton.iter(buf.decode("latin-1")):
            start = end - length + 1
            if start < hold:
                spans.append((start, end + 1, mask))
        if not spans:
            self._pending = buf[hold:]
            return buf[:hold]
        spans.sort()
        merged: list[tuple[int, int, bytes]] = []
        for start, stop, mask in spans:
            if merged and start < merged[-1][1]:
                first, last, first_mask = merged[-1]
                merged[-1] = (first, max(last, stop), first_mask)
            else:
                merged.append((start, stop, mask))
        out: list[bytes] = []
        pos = 0
        emit_to = hold
        for start, stop, mask in merged:
            if stop > hold and len(buf) <= _MAX_HOLD:
                # The span runs past what is decided: a longer or overlapping value may still complete it.
                emit_to = start
                break
            out.append(buf[pos:start])
            out.append(mask)
            pos = stop
            emit_to = max(hold, stop)
        out.append(buf[pos:emit_to])
        self._pending = buf[emit_to:]
        return b"".join(out)


def names_too_short(secrets: Mapping[str, str]) -> tuple[str, ...]:
    """Names whose values are too short to mask (the caller warns about them by name)."""
    return tuple(sorted(name for name, value in secrets.items() if len(value) < MIN_MASK_LENGTH))


def mask_text(secrets: Mapping[str, str], data: bytes) -> bytes:
    """Mask a whole buffer (for callers that hold the complete output, e.g. the captured output of a tool)."""
    return Masker(secrets).mask_all(data)


__all__ = ["MIN_MASK_LENGTH", "WINDOW", "Masker", "encoded_forms", "mask_for", "mask_text", "names_too_short",
           "windows"]
