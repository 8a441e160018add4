"""detect-secrets' plugins as unleak rules (UL95x), through :mod:`scanner.detect_secrets_adapter`.

The adapter runs once per chunk; the three rules share its result so that each can be disabled on its own.
Their candidates go through every unleak filter and lose to any specific rule on the same span.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

from scanner.chunk import Chunk
from scanner.finding import Confidence
from scanner.rules import Candidate, DetectFn, Rule, register

_CACHE_LOCK = threading.Lock()
_last: tuple[Chunk | None, list[Candidate]] = (None, [])


def _hits(chunk: Chunk) -> list[Candidate]:
    """A candidate for every detect-secrets result in the chunk, computed once per chunk object."""
    global _last
    with _CACHE_LOCK:
        if _last[0] is chunk:
            return _last[1]
    from scanner import detect_secrets_adapter as ds

    out: list[Candidate] = []
    hits = list(ds.scan_lines(chunk.path, chunk.text))
    line_starts = [0]
    if hits:
        line_starts += [m.end() for m in re.finditer("\n", chunk.text)]
    for hit in hits:
        if hit.type in ds.ENTROPY_TYPES:
            rid = "UL950"
        elif hit.type in ds.KEYWORD_TYPES:
            rid = "UL951"
        else:
            rid = "UL952"
        start = line_starts[hit.line_index] + hit.column
        out.append(Candidate(rid, hit.value, start, start + len(hit.value)))
    with _CACHE_LOCK:
        _last = (chunk, out)
    return out


def _detector(rule_id: str) -> DetectFn:
    def detect(chunk: Chunk) -> Iterator[Candidate]:
        for cand in _hits(chunk):
            if cand.rule_id == rule_id:
                yield cand
    return detect


register(
    Rule(
        id="UL950", title="High-entropy string (detect-secrets)", confidence=Confidence.LOW,
        detect=_detector("UL950"), family="detect-secrets", min_entropy=3.0,
        revoke="rotate the credential at its issuer",
        description="detect-secrets' base64 and hex entropy plugins, filtered by unleak's filters",
    ),
    Rule(
        id="UL951", title="Secret keyword (detect-secrets)", confidence=Confidence.LOW,
        detect=_detector("UL951"), family="detect-secrets",
        revoke="rotate the credential at its issuer",
        description="detect-secrets' keyword plugin, filtered by unleak's filters",
    ),
    Rule(
        id="UL952", title="Token format (detect-secrets)", confidence=Confidence.MEDIUM,
        detect=_detector("UL952"), family="detect-secrets",
        revoke="rotate the credential at its issuer",
        description="detect-secrets' provider plugins (formats unleak has no own rule for yield to it)",
    ),
)
