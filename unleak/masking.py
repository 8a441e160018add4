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

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import ahocorasick

# The forms of a value are one concept shared with `fix` (which searches the tree for every form of a moved value).
from scanner.forms import MIN_MASK_LENGTH, encoded_forms, lines_of

__all__ = ["MIN_MASK_LENGTH", "Masker", "encoded_forms", "mask_for", "names_too_short", "windows"]

# A held tail this long (or longer) at end of stream is masked rather than written: a child that dies halfway
# through printing a secret must not leak its first half. Shorter tails are ordinary text ("http" of a URL).
_EOF_PARTIAL_MASK = 8

#: every window this long of a value is masked, so a value cut short (``reprlib``'s ``'ghp_abc...xyz'``, a log
#: line truncated at a column, half a value at a line wrap) keeps no readable run of this many characters
WINDOW = 12
#: ... for values at least this long: shorter ones are masked whole only (a window of a short value would be
#: most of it anyway, and would mask ordinary text)
WINDOW_MIN_VALUE = 20

# In a multi-line value (a PEM key, a JSON service-account file), the runs of token characters are the secret part;
# the rest of a line is structure shared with every value of its kind.
_TOKEN_RUN = re.compile(rf"[A-Za-z0-9+/=_-]{{{WINDOW_MIN_VALUE},}}")

# Past this much held data a chain of overlapping matches is written out anyway, so memory stays bounded
# even for pathological output such as a secret "aaaa" inside an endless run of "a".
_MAX_HOLD = 1 << 20


def mask_for(name: str) -> str:
    """The text that replaces a value of the variable ``name`` (names are not secret; values are)."""
    return f"<unleak:{name}>"


def windows(value: str) -> set[str]:
    """Every :data:`WINDOW`-character window of a value of :data:`WINDOW_MIN_VALUE`+ characters (of each token run
    of a multi-line value), as latin-1 strings of UTF-8 bytes."""
    lines = lines_of(value)
    runs = [value] if lines is None else [r for line in lines for r in _TOKEN_RUN.findall(line)]
    out: set[str] = set()
    for run in runs:
        if len(run) >= WINDOW_MIN_VALUE and "\n" not in run and "\r" not in run:
            b = run.encode("utf-8").decode("latin-1")
            out.update(b[i : i + WINDOW] for i in range(len(b) - WINDOW + 1))
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
