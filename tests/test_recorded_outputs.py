"""Same outputs before and after a restructuring: the commands of :mod:`tests.recorded.outputs` (scan in every mode
and format, the fix plan, exposure, MCP answers) against the recording in tests/data/recorded_outputs.json.

The recording was made from the code before the front door was split into unleak/commands and unleak/agent. When a
change of behaviour is intended, re-record and commit the recording with the change (the diff shows what moved)::

    python -m tests.recorded.outputs tests/data/recorded_outputs.json
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest

from tests.recorded.outputs import INTENDED_CHANGES, record

RECORDING = Path(__file__).parent / "data" / "recorded_outputs.json"

pytest.importorskip("mcp")


def test_outputs_match_the_recording() -> None:
    expected: dict[str, str] = json.loads(RECORDING.read_text(encoding="utf-8"))
    actual = record()
    assert sorted(actual) == sorted(expected)
    problems = []
    for key in sorted(expected):
        if key in INTENDED_CHANGES or actual[key] == expected[key]:
            continue
        diff = difflib.unified_diff(expected[key].splitlines(True), actual[key].splitlines(True), "recorded", "now")
        problems.append(f"{key}:\n" + "".join(list(diff)[:40]))
    assert not problems, "\n".join(problems)


def test_the_recording_holds_no_planted_value() -> None:
    from tests.recorded.outputs import _values

    text = RECORDING.read_text(encoding="utf-8")
    assert all(value not in text for value in _values().values())
