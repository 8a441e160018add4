"""Exposure on a generated history (branches, tags, merges, pushes, renames, copies, removals, secrets put back)
equals the report recorded before exposure was rebuilt on the scan cache and one pass over history: same secrets,
same first and last commits, same counts, same refs. Record again (only after checking a change is right) with
``UNLEAK_RECORD_EXPOSURE_ORACLE=1 python -m pytest tests/scanner/test_exposure_oracle.py``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from scanner.api import ScanRequest
from scanner.exposure.analysis import analyze
from scanner.report.exposure import render
from tests.scanner.exposure_history import History, build, normalized

ORACLE = Path(__file__).parent.parent / "data" / "exposure_oracle.json"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return build(tmp_path_factory.mktemp("exposure-oracle"))


@pytest.mark.parametrize("cache", [False, True])
def test_exposure_matches_the_recorded_report(history: History, cache: bool) -> None:
    """With the caches: once as they fill (scan, history and blob caches), once read back."""
    for _ in range(2 if cache else 1):
        report = analyze(history.path, ScanRequest(root=history.path, cache=cache))
        doc = json.loads(render(report, "json"))
        got = normalized(doc, {e.fingerprint: e.secret.reveal() for e in report.exposures}, history)
        got["notes"] = [n for n in got["notes"] if "read from the cache" not in n]
        if os.environ.get("UNLEAK_RECORD_EXPOSURE_ORACLE") == "1" and not cache:
            ORACLE.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        want = json.loads(ORACLE.read_text())
        assert got == want
        for v in history.values:
            assert v not in json.dumps(doc)


def test_the_generated_history_covers_every_case() -> None:
    """The recorded report is only an oracle if the history holds each kind of life a secret can have."""
    want = json.loads(ORACLE.read_text())
    ex = want["exposures"]
    assert len(ex) >= 15
    assert any(e["in_head"] for e in ex) and any(not e["in_head"] for e in ex)
    assert any(e["tags"] for e in ex) and any(e["pushed"] for e in ex) and any(not e["pushed"] for e in ex)
    assert any(e["commits"] > 5 for e in ex) and any(e["commits"] == 1 for e in ex)
    assert any(len(e["paths"]) > 1 for e in ex)  # copied
    assert any(len(e["branches"]) > 2 for e in ex) and any(not e["tips"] for e in ex)
    assert any(p.startswith("moved/") for e in ex for p in e["tips"] + e["paths"]) or any(
        e["commits"] > 1 for e in ex)
    assert any(e["rule_id"] for e in ex if e["rule_id"] != ex[0]["rule_id"])  # more than one rule
