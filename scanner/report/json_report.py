"""Machine output: one JSON document, stable key order, no values."""

from __future__ import annotations

import json
from typing import Any

from scanner.finding import Finding
from scanner.result import ScanResult


def document(result: ScanResult) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": 1,
        "findings": [_finding(result, f) for f in _ordered(result)],
        "stats": result.stats.to_dict(),
        "baselined": result.baselined,
        "notes": list(result.notes),
        "dropped": dict(sorted(result.dropped.items())),
        # What history holds but git could not read (missing or corrupt objects): the rest was scanned.
        "skipped": len(result.skipped),
        "skipped_objects": [s.to_dict() for s in result.skipped],
    }
    if result.explanations:
        doc["explanations"] = [e.to_dict() for e in result.explanations]
    return doc


def _ordered(result: ScanResult) -> list[Finding]:
    if not result.verified_first:
        return result.findings
    from scanner.verify.model import rank

    return sorted(result.findings, key=lambda f: rank(result.verifications.get(f.fingerprint)))


def _finding(result: ScanResult, f: Finding) -> dict[str, Any]:
    d = f.to_dict()
    verdict = result.verifications.get(f.fingerprint)
    if verdict is not None:
        d["verified"] = verdict.to_dict()
    return d


def render(result: ScanResult) -> str:
    return json.dumps(document(result), indent=2, ensure_ascii=False) + "\n"
