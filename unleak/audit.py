"""The audit log: which process used which credential, approved by whom, for how long, for which task.

Append-only JSON lines in the user's state directory (``$XDG_STATE_HOME/unleak/audit.jsonl``), never in the
repository. Every record carries the MAC of the record before it (``prev``) and its own MAC over its canonical JSON
(``hash``), both HMAC-SHA256 under unleak's integrity key (:mod:`unleak.integrity`, kept in the user data dir, not
beside the log), so a process that can write the log but not read the key cannot edit, drop, reorder or re-chain
records. The head (last sequence number and MAC) is kept with the key, so deleting the log or cutting off its tail
fails ``unleak audit verify`` too. With ``audit_syslog = true`` in the signed policy every head also goes to the
system log (syslog/journald), a copy no user process can rewrite.

Records hold secret *names*, never values: the callers only ever pass names, and every string field goes through
the caller's scrubber (the MCP server masks every vault value in every form) before it is written.
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scanner.errors import UnleakError, UsageError

GENESIS = "0" * 64
LOG_NAME = "audit.jsonl"
HEAD = "audit"  # the name of its head in unleak.integrity

Scrubber = Callable[[str], str]

#: every action the log knows, so a typo in a caller is caught by the tests
ACTIONS = (
    "scan", "check_diff", "fix", "list_secrets", "grant", "grant.refused", "grant.invalid", "policy.sign", "tier.set",
    "approve", "deny", "revoke",
    "run.request", "run.refused", "run.start", "run.end", "secret.request", "secret.stored", "secret.refused",
    "tool.error",
)


def default_dir() -> Path:
    from unleak.userenv import state_dir

    return state_dir()


def _canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _digest(record: dict[str, Any], mac: Callable[[bytes], str] | None = None) -> str:
    from unleak import integrity

    body = {k: v for k, v in record.items() if k != "hash"}
    return (mac or integrity.macs("audit"))(_canonical(body))


def _syslog_head(record: dict[str, Any]) -> None:
    """Send the new head to the system log when the signed policy asks for it (opt-in: ``audit_syslog``)."""
    from unleak import integrity

    try:
        policy_head = integrity.read_head("policy")
    except UnleakError:
        policy_head = None
    if not (policy_head and policy_head.get("audit_syslog") is True):
        return
    import syslog

    syslog.openlog("unleak", syslog.LOG_PID, syslog.LOG_AUTHPRIV)
    syslog.syslog(syslog.LOG_INFO, f"audit head seq={record['seq']} hash={record['hash']} "
                                   f"action={record['action']}")


def scrub_nested(value: Any, scrub: Scrubber) -> Any:
    """``value`` (JSON-like data) with ``scrub`` applied to every string in it, dict keys included."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list | tuple):
        return [scrub_nested(v, scrub) for v in value]
    if isinstance(value, dict):
        return {scrub(str(k)): scrub_nested(v, scrub) for k, v in value.items()}
    return value


def process_info(argv: Sequence[str] | None = None, *, pid: int | None = None, cwd: str | None = None,
                 repo: str | None = None, branch: str | None = None) -> dict[str, Any]:
    return {"argv": list(argv) if argv is not None else None, "pid": pid, "cwd": cwd, "repo": repo,
            "branch": branch}


class AuditLog:
    def __init__(self, directory: Path | None = None) -> None:
        self.dir = directory or default_dir()
        self.path = self.dir / LOG_NAME
        from unleak.integrity import integrity_dir

        #: kept with the integrity key, out of the log's directory
        self.head_path = integrity_dir() / f"{HEAD}.head"
        self.lock_path = self.dir / "audit.lock"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        from unleak.userenv import ensure_private_dir

        ensure_private_dir(self.dir)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _last(self) -> tuple[int, str]:
        """(sequence number, MAC) of the last record: from the head kept with the key, so a log that was deleted
        or cut short goes on from where it really was (and keeps failing verification); else from the file."""
        from unleak import integrity

        with contextlib.suppress(UnleakError):
            head = integrity.read_head(HEAD)
            if head is not None and isinstance(head.get("seq"), int) and isinstance(head.get("hash"), str):
                return head["seq"], head["hash"]
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return -1, GENESIS
        with open(self.path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            block = min(size, 1 << 16)
            while True:
                fh.seek(size - block)
                tail = fh.read(block)
                lines = tail.rstrip(b"\n").split(b"\n")
                if len(lines) > 1 or block == size:
                    break
                block = min(size, block * 4)
        try:
            last = json.loads(lines[-1])
            return int(last["seq"]), str(last["hash"])
        except (ValueError, KeyError, TypeError):
            raise UsageError(f"{self.path}: the last record is damaged; run `unleak audit verify`") from None

    def append(
        self, action: str, *, actor: str, secrets: Sequence[str] = (), process: dict[str, Any] | None = None,
        grant: str | None = None, task: str | None = None, request: str | None = None, result: str | None = None,
        detail: dict[str, Any] | None = None, scrub: Scrubber | None = None,
    ) -> dict[str, Any]:
        """Write one record and return it. Never raises for a value: it is handed names, and scrubbed anyway."""
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        with self._locked():
            seq, prev = self._last()
            record: dict[str, Any] = {
                "seq": seq + 1,
                "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "actor": actor,
                "action": action,
                "secrets": sorted(set(secrets)),
                "process": process,
                "grant": grant,
                "task": task,
                "request": request,
                "result": result,
                "detail": detail or {},
                "prev": prev,
            }
            record = scrub_nested(record, scrub) if scrub is not None else record
            record["prev"] = prev  # never let a scrubber touch the chain
            record["seq"] = seq + 1
            record["hash"] = _digest(record)
            line = _canonical(record) + b"\n"
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
            from unleak import integrity

            integrity.write_head(HEAD, {"seq": record["seq"], "hash": record["hash"]})
            with contextlib.suppress(OSError):
                _syslog_head(record)
        return record

    def records(self) -> Iterator[dict[str, Any]]:
        if not self.path.is_file():
            return
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict):
                    yield rec

    def verify(self) -> VerifyResult:
        from unleak import integrity

        res = VerifyResult()
        prev = GENESIS
        expected_seq = 0
        mac = integrity.macs("audit")
        try:
            head = integrity.read_head(HEAD)
        except UnleakError as exc:
            res.problems.append(f"the audit head is damaged: {exc}")
            head = None
        else:
            if head is None and self.head_path.parent.joinpath("key").is_file():
                # Every command that uses the key also writes the log; a key without a head means it was removed.
                res.problems.append(f"the audit head ({self.head_path}) is missing: the log was reset or removed")
        if not self.path.is_file():
            if head is not None and head.get("seq") != -1:
                res.problems.append(f"{self.path} is missing but the head kept with the key records "
                                    f"{int(head.get('seq', -1)) + 1} entries")
            return res
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for lineno, raw in enumerate(fh, 1):
                raw = raw.rstrip("\n")
                if not raw:
                    res.problems.append(f"line {lineno}: empty line")
                    continue
                try:
                    rec = json.loads(raw)
                    if not isinstance(rec, dict):
                        raise ValueError
                except ValueError:
                    res.problems.append(f"line {lineno}: not a JSON record")
                    continue
                res.count += 1
                if rec.get("seq") != expected_seq:
                    res.problems.append(f"line {lineno}: sequence {rec.get('seq')} where {expected_seq} was "
                                        "expected (a record was deleted, inserted or moved)")
                if rec.get("prev") != prev:
                    res.problems.append(f"line {lineno}: does not follow the record before it (chain broken)")
                if rec.get("hash") != _digest(rec, mac):
                    res.problems.append(f"line {lineno}: content does not match its MAC (record edited, or "
                                        "written without unleak's key)")
                prev = str(rec.get("hash"))
                expected_seq = (rec["seq"] if isinstance(rec.get("seq"), int) else expected_seq) + 1
        if head is not None:
            if head.get("hash") != prev or head.get("seq") != expected_seq - 1:
                res.problems.append(f"the log ends at record {expected_seq - 1} but the head kept with the key "
                                    f"says {head.get('seq')} (records were removed from the end, or the log was "
                                    "replaced)")
        elif res.count:
            res.problems.append("the head kept with the key is missing")
        return res

    def query(self, *, task: str | None = None, secret: str | None = None, since: float | None = None,
              action: str | None = None, grant: str | None = None) -> list[dict[str, Any]]:
        out = []
        for rec in self.records():
            if task is not None and rec.get("task") != task:
                continue
            if grant is not None and rec.get("grant") != grant:
                continue
            if action is not None and not fnmatch.fnmatchcase(str(rec.get("action")), action):
                continue
            if secret is not None and not any(fnmatch.fnmatchcase(str(s), secret) for s in rec.get("secrets") or ()):
                continue
            if since is not None and _parse_time(str(rec.get("time", ""))) < since:
                continue
            out.append(rec)
        return out

    def exposed_secrets(self, grant_ids: Sequence[str]) -> list[str]:
        """Secret names that processes started under these grants received: the credentials to rotate."""
        ids = set(grant_ids)
        names: set[str] = set()
        for rec in self.records():
            if rec.get("action") == "run.start" and rec.get("grant") in ids:
                names.update(str(s) for s in rec.get("secrets") or ())
        return sorted(names)


@dataclass
class VerifyResult:
    count: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _parse_time(text: str) -> float:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def parse_since(text: str) -> float:
    """``2h`` (ago), ``2026-01-31`` or an ISO timestamp → epoch seconds."""
    from unleak.agent.policy import parse_duration

    with contextlib.suppress(UsageError):
        return time.time() - parse_duration(text)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--since {text!r}: use a duration ago (30m, 2h, 7d) or a date (2026-01-31)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def record(action: str, *, actor: str | None = None, secrets: Sequence[str] = (), argv: Sequence[str] | None = None,
           pid: int | None = None, cwd: str | None = None, repo: str | None = None, branch: str | None = None,
           **kw: Any) -> None:
    """One audit record from a CLI command (``scan``, ``fix``, ``run``): the human at the terminal is the actor.

    Never raises: a full disk or a damaged log must not stop the user's command; ``unleak audit verify`` reports
    the damage. Pass names only; never a value.
    """
    from scanner.errors import UnleakError
    from unleak.userenv import human_actor

    with contextlib.suppress(OSError, UnleakError, ValueError):
        AuditLog().append(action, actor=actor or human_actor(), secrets=secrets,
                          process=process_info(argv, pid=pid, cwd=cwd, repo=repo, branch=branch), **kw)
