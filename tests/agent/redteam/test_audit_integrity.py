"""Item 10 of the agent boundary: a process running as the same user hides what it did from `unleak audit
verify` by deleting the log, or by rewriting the hash chain without the records that show the exfiltration."""

from __future__ import annotations

import hashlib
import json

from tests.conftest import run_cli
from unleak.audit import AuditLog, process_info


def _fill(log: AuditLog) -> None:
    for i in range(6):
        log.append("run.start" if i in (2, 4) else "scan", actor="mcp:agent 1.0", secrets=[f"KEY_{i}"],
                   process=process_info(["pytest", "-q"], pid=100 + i, cwd="/r", repo="/r", branch="main"),
                   grant="g-1")


def test_deleting_the_log_and_its_head_fails_verification() -> None:
    log = AuditLog()
    _fill(log)
    log.path.unlink()
    log.head_path.unlink(missing_ok=True)
    res = run_cli("audit", "verify")
    assert res.returncode == 1, res.stdout
    assert "missing" in res.stdout


def test_recomputing_the_chain_without_the_exfiltration_records_fails_verification() -> None:
    log = AuditLog()
    _fill(log)
    kept = [json.loads(line) for line in log.path.read_text().splitlines()]
    kept = [r for r in kept if r["action"] != "run.start"]
    prev = "0" * 64
    out = []
    # The chain as the log format describes it: sha256 over the canonical JSON of every field but "hash".
    for seq, rec in enumerate(kept):
        rec["seq"], rec["prev"] = seq, prev
        body = {k: v for k, v in rec.items() if k != "hash"}
        rec["hash"] = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"),
                                                ensure_ascii=False).encode()).hexdigest()
        prev = rec["hash"]
        out.append(json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
    log.path.write_text("\n".join(out) + "\n")
    log.head_path.write_text(json.dumps({"seq": len(kept) - 1, "hash": prev}) + "\n")
    res = run_cli("audit", "verify")
    assert res.returncode == 1, res.stdout


def test_cutting_off_the_tail_and_its_head_fails_verification() -> None:
    log = AuditLog()
    _fill(log)
    lines = log.path.read_text().splitlines()[:3]
    log.path.write_text("\n".join(lines) + "\n")
    last = json.loads(lines[-1])
    log.head_path.write_text(json.dumps({"seq": last["seq"], "hash": last["hash"]}) + "\n")
    assert run_cli("audit", "verify").returncode == 1
