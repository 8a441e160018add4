"""detect-secrets' plugins as unleak rules (UL95x), through :mod:`scanner.detect_secrets.adapter`.

One detector runs the adapter once per chunk and emits candidates under the three rule ids (entropy, keyword,
format), so that each can be disabled on its own: the engine runs a detector shared by several rules once and
keeps the candidates of the rules scheduled on the chunk. Their candidates go through every unleak filter and lose
to any specific rule on the same span.
"""

from __future__ import annotations

from collections.abc import Iterator

from scanner.chunk import Chunk
from scanner.finding import Confidence
from scanner.rules.base import Candidate, Rule, register

_ORDER = {"UL950": 0, "UL951": 1, "UL952": 2}


def detect(chunk: Chunk) -> Iterator[Candidate]:
    """A candidate for every detect-secrets result in the chunk, UL950's first, then UL951's, then UL952's (the
    order in which separate detectors per rule yielded them: the overlap resolution keeps the first of equals)."""
    from scanner.detect_secrets import adapter as ds

    hits = list(ds.scan_lines(chunk.path, chunk.text, only=chunk.only_lines))
    if not hits:
        return
    out: list[Candidate] = []
    for hit in hits:
        if hit.type in ds.ENTROPY_TYPES:
            rid = "UL950"
        elif hit.type in ds.KEYWORD_TYPES:
            rid = "UL951"
        else:
            rid = "UL952"
        start = hit.line_start + hit.column
        out.append(Candidate(rid, hit.value, start, start + len(hit.value)))
    out.sort(key=lambda c: _ORDER[c.rule_id])  # stable: each rule's candidates keep the adapter's order
    yield from out


register(
    Rule(
        id="UL950", title="High-entropy string (detect-secrets)", confidence=Confidence.LOW,
        detect=detect, family="detect-secrets", min_entropy=3.0,
        revoke="rotate the credential at its issuer",
        description="detect-secrets' base64 and hex entropy plugins, filtered by unleak's filters",
    ),
    Rule(
        id="UL951", title="Secret keyword (detect-secrets)", confidence=Confidence.LOW,
        detect=detect, family="detect-secrets",
        revoke="rotate the credential at its issuer",
        description="detect-secrets' keyword plugin, filtered by unleak's filters",
    ),
    Rule(
        id="UL952", title="Token format (detect-secrets)", confidence=Confidence.MEDIUM,
        detect=detect, family="detect-secrets",
        revoke="rotate the credential at its issuer",
        description="detect-secrets' provider plugins (formats unleak has no own rule for yield to it)",
    ),
)
