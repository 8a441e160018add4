"""Machine output: one JSON document, stable key order, no values."""

from __future__ import annotations

import json
from typing import Any

from scanner.engine import ScanResult


def document(result: ScanResult) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "version": 1,
        "findings": [f.to_dict() for f in result.findings],
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


def render(result: ScanResult) -> str:
    return json.dumps(document(result), indent=2, ensure_ascii=False) + "\n"
