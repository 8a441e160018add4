"""The hash-chained audit log: appends, queries, and `unleak audit verify` catching every kind of tampering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from unleak.agent.policy import state_dir
from unleak.audit import AuditLog, parse_since, process_info


def _fill(log: AuditLog, n: int = 5) -> None:
    for i in range(n):
        log.append("run.start" if i % 2 else "scan", actor="mcp:agent 1.0", secrets=[f"KEY_{i}"],
                   process=process_info(["pytest", "-q"], pid=100 + i, cwd="/r", repo="/r", branch="main"),
                   grant=f"g-{i % 2}", task="T-1" if i < 3 else "T-2")


def test_append_and_verify_clean() -> None:
    log = AuditLog()
    _fill(log)
    assert log.path.parent == state_dir()
    assert log.path.stat().st_mode & 0o077 == 0
    recs = list(log.records())
    assert [r["seq"] for r in recs] == [0, 1, 2, 3, 4]
    assert recs[0]["prev"] == "0" * 64
    assert all(recs[i]["prev"] == recs[i - 1]["hash"] for i in range(1, 5))
    assert recs[1]["process"] == {"argv": ["pytest", "-q"], "pid": 101, "cwd": "/r", "repo": "/r", "branch": "main"}
    assert log.verify().ok
    res = run_cli("audit", "verify")
    assert res.returncode == 0 and "5 records" in res.stdout


def _edit(lines: list[str]) -> list[str]:
    rec = json.loads(lines[2])
    rec["actor"] = "user:someone-else"
    lines[2] = json.dumps(rec, sort_keys=True, separators=(",", ":"))
    return lines


def _edit_and_rehash(lines: list[str]) -> list[str]:
    # An attacker who recomputes the edited record's own hash still breaks the link from the next record.
    import hashlib

    rec = json.loads(lines[2])
    rec["secrets"] = []
    body = {k: v for k, v in rec.items() if k != "hash"}
    rec["hash"] = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    lines[2] = json.dumps(rec, sort_keys=True, separators=(",", ":"))
    return lines


@pytest.mark.parametrize("tamper,expect", [
    (_edit, "record edited"),
    (_edit_and_rehash, "chain broken"),
    (lambda lines: lines[:2] + lines[3:], "deleted"),
    (lambda lines: [lines[0], lines[2], lines[1], *lines[3:]], "chain broken"),
    (lambda lines: lines[:-1], "removed from the end"),
    (lambda lines: [*lines, "not json"], "not a JSON record"),
])
def test_verify_detects_tampering(tamper: object, expect: str) -> None:
    log = AuditLog()
    _fill(log)
    lines = log.path.read_text().splitlines()
    log.path.write_text("\n".join(tamper(lines)) + "\n")  # type: ignore[operator]
    res = log.verify()
    assert not res.ok
    assert any(expect in p for p in res.problems), res.problems
    cli = run_cli("audit", "verify")
    assert cli.returncode == 1
    assert "damaged" in cli.stderr


def test_query_filters_and_cli() -> None:
    log = AuditLog()
    _fill(log)
    assert len(log.query(task="T-1")) == 3
    assert [r["secrets"] for r in log.query(secret="KEY_3")] == [["KEY_3"]]
    assert len(log.query(secret="KEY_*", action="run.*")) == 2
    assert len(log.query(since=parse_since("1h"))) == 5
    assert log.query(since=parse_since("2999-01-01")) == []
    assert log.exposed_secrets(["g-1"]) == ["KEY_1", "KEY_3"]
    out = run_cli("audit", "--task", "T-2", "--json")
    assert out.returncode == 0
    recs = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["seq"] for r in recs] == [3, 4]
    text = run_cli("audit", "--secret", "KEY_1").stdout
    assert "run.start" in text and "pid=101" in text and "cmd=pytest -q" in text and "task=T-1" in text


def test_scrubber_applies_to_every_field_but_the_chain() -> None:
    log = AuditLog()
    rec = log.append("run.refused", actor="mcp:x", process=process_info(["echo", "tok-SECRETVALUE"]),
                     detail={"reason": "SECRETVALUE"}, scrub=lambda s: s.replace("SECRETVALUE", "<unleak:X>"))
    assert "SECRETVALUE" not in log.path.read_text()
    assert rec["process"]["argv"] == ["echo", "tok-<unleak:X>"]
    assert log.verify().ok


def test_empty_log_verifies_and_bad_since_is_a_usage_error(isolated_home: Path) -> None:
    assert run_cli("audit", "verify").returncode == 0
    res = run_cli("audit", "--since", "last tuesday")
    assert res.returncode == 2 and "--since" in res.stderr


def test_record_helper_for_cli_commands_never_raises(isolated_home: Path) -> None:
    from unleak.audit import record

    record("run.start", secrets=["DB_URL"], argv=["pytest"], pid=42, cwd="/r", repo="/r", branch="main",
           grant=None, detail={"via": "cli"})
    rec = next(AuditLog().records())
    assert rec["actor"].startswith("user:") and rec["process"]["pid"] == 42 and rec["secrets"] == ["DB_URL"]
    log = state_dir() / "audit.jsonl"
    log.unlink()
    log.mkdir()  # the log cannot be written now (a directory in its place): the helper must swallow the error
    record("scan")
    assert AuditLog().verify().problems  # ... and verify reports the damage
