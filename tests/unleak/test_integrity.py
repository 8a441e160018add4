"""unleak.integrity: the keyed MAC and the heads kept with its key; the audit head's syslog copy."""

from __future__ import annotations

import json
import syslog
from pathlib import Path

import pytest

from scanner.errors import ConfigError
from tests.conftest import GitRepo, run_cli
from unleak import integrity
from unleak.agent.policy import policy_path, state_dir
from unleak.audit import AuditLog


def test_key_is_private_outside_the_state_dir_and_stable(isolated_home: Path) -> None:
    k = integrity.key()
    path = integrity.integrity_dir() / "key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert integrity.integrity_dir().stat().st_mode & 0o777 == 0o700
    assert state_dir() not in path.parents and isolated_home / ".local/share/unleak" in path.parents
    assert integrity.key() == k and len(k) == 32


def test_record_macs_bind_content_and_purpose() -> None:
    rec = integrity.sign_record("grant", {"id": "g-1", "secrets": ["A"]})
    assert integrity.record_valid("grant", rec)
    assert not integrity.record_valid("request", rec)  # a MAC for one file is not one for another
    assert not integrity.record_valid("grant", {**rec, "secrets": ["*"]})
    assert not integrity.record_valid("grant", {k: v for k, v in rec.items() if k != "mac"})


def test_a_head_written_without_the_key_is_refused() -> None:
    integrity.write_head("x", {"seq": 3})
    assert integrity.read_head("x") == {"seq": 3}
    (integrity.integrity_dir() / "x.head").write_text(json.dumps({"seq": 9, "mac": "0" * 64}))
    with pytest.raises(ConfigError, match="valid MAC"):
        integrity.read_head("x")


def test_damaged_key_is_a_clear_error() -> None:
    integrity.key()
    (integrity.integrity_dir() / "key").write_text("short\n")
    with pytest.raises(ConfigError, match="damaged"):
        integrity.key()


def test_audit_head_goes_to_syslog_when_the_signed_policy_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    # The system logger cannot be redirected without root, so the stdlib call is recorded instead of sent.
    sent: list[tuple[int, str]] = []
    monkeypatch.setattr(syslog, "syslog", lambda prio, msg: sent.append((prio, msg)))
    log = AuditLog()
    log.append("scan", actor="user:t")
    assert sent == []  # opt-in
    policy_path().parent.mkdir(parents=True, exist_ok=True)
    policy_path().write_text("audit_syslog = true\n")
    assert run_cli("policy", "sign", "--yes").returncode == 0
    rec = log.append("scan", actor="user:t")
    assert sent and sent[-1][1] == f"audit head seq={rec['seq']} hash={rec['hash']} action=scan"


def test_grants_command_warns_about_records_unleak_did_not_write(repo: GitRepo) -> None:
    assert run_cli("grant", "--secrets", "K", "--command", "pytest *", cwd=repo.path).returncode == 0
    path = state_dir() / "grants.json"
    data = json.loads(path.read_text())
    data["grants"][0]["secrets"] = ["*"]
    path.write_text(json.dumps(data))
    res = run_cli("grants", cwd=repo.path)
    assert "does not carry a valid MAC" in res.stderr
    assert "no grants in force" in res.stderr


def test_a_fresh_key_starts_an_empty_audit_head() -> None:
    integrity.key()
    assert integrity.read_head("audit") == {"seq": -1, "hash": "0" * 64}
    assert AuditLog().verify().ok  # nothing logged yet, nothing missing
    (integrity.integrity_dir() / "audit.head").unlink()
    assert not AuditLog().verify().ok  # a key without its audit head: the head was removed
