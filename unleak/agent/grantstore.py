"""The grant store: grants and approval requests in the user's state directory, each record MAC'd (the file is agent-
writable), under a lock."""


from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from scanner.errors import ConfigError, PolicyError, UsageError
from unleak.agent.policy import (
    ApprovalRequest,
    Grant,
    Policy,
    RunContext,
    grant_covers,
    load_policy,
    new_id,
    now,
    policy_path,
)
from unleak.agent.runtarget import Program, identify_program
from unleak.agent.shellrisk import dangerous_reason
from unleak.agent.tiers import check_tier
from unleak.userenv import ensure_private_dir, state_dir

# ------------------------------------------------------------------------------------------------- the store


class GrantStore:
    """Grants and approval requests in one JSON file in the state directory, changed under an flock so the MCP
    server, the approval page and terminal commands never lose each other's writes."""

    def __init__(self, directory: Path | None = None, policy: Policy | None = None) -> None:
        self.dir = directory or state_dir()
        self.path = self.dir / "grants.json"
        self.lock_path = self.dir / "grants.lock"
        self.policy = policy or load_policy()

    # -- storage
    #
    # Every grant and request carries a MAC under unleak's integrity key, and the head kept with the key holds a
    # MAC over the whole set unleak last wrote. A record without a valid MAC was not written by unleak: it is
    # ignored (and audited). A set that does not match the head was rolled back or cut: every grant in it is
    # treated as revoked until a human grants again (a revocation must never be undone by restoring a copy).

    @contextlib.contextmanager
    def _flock(self, mode: int) -> Iterator[None]:
        ensure_private_dir(self.dir)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        with self._flock(fcntl.LOCK_EX):
            data, problems = self._load()
            before = json.dumps(data, sort_keys=True)
            yield data
            if problems or json.dumps(data, sort_keys=True) != before:
                self._write(data)
            if problems:
                self._audit_problems(problems, dropped=True)

    @staticmethod
    def _set_digest(data: dict[str, Any]) -> str:
        from unleak import integrity

        return integrity.mac("grants-file", integrity.canonical({"grants": data["grants"],
                                                                  "requests": data["requests"]}))

    def _write(self, data: dict[str, Any]) -> None:
        from scanner.fileio import atomic_write_text
        from unleak import integrity

        doc = {"version": 2, "grants": [integrity.sign_record("grant", g) for g in data["grants"]],
               "requests": [integrity.sign_record("request", r) for r in data["requests"]]}
        atomic_write_text(self.path, json.dumps(doc, indent=1, sort_keys=True) + "\n", mode=0o600)
        integrity.write_head("grants", {"digest": self._set_digest(data)})

    def _read(self) -> dict[str, Any]:
        if not self.path.is_file():
            return {"version": 2, "grants": [], "requests": []}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("grants"), list):
                raise ValueError("not a grants file")
            if not isinstance(data.setdefault("requests", []), list):
                raise ValueError("not a grants file")
            return data
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{self.path}: cannot read grants ({type(exc).__name__}); remove the file to "
                              "start over (every grant ends)") from None

    def _load(self) -> tuple[dict[str, Any], list[str]]:
        """The records unleak wrote (MACs removed) and what was wrong with the file, if anything."""
        from unleak import integrity

        raw = self._read()
        problems: list[str] = []
        data: dict[str, Any] = {"version": 2, "grants": [], "requests": []}
        for key, purpose, cls in (("grants", "grant", Grant), ("requests", "request", ApprovalRequest)):
            for rec in raw[key]:
                if not integrity.record_valid(purpose, rec):
                    problems.append(f"{purpose} {_safe_id(rec)} does not carry a valid MAC (not written by unleak)")
                    continue
                body = {k: v for k, v in rec.items() if k != "mac"}
                try:
                    cls.from_dict(body)
                except (TypeError, KeyError, ValueError):  # pragma: no cover - signed by an older/newer unleak
                    problems.append(f"{purpose} {_safe_id(rec)} has an unknown layout")
                    continue
                data[key].append(body)
        head = integrity.read_head("grants")
        expected = head.get("digest") if head is not None else None
        if (data["grants"] or data["requests"]) and expected != self._set_digest(data):
            problems.append("the grants file does not match the state unleak last wrote (restored from a copy, "
                            "or records removed): every grant in it is treated as revoked")
            t = now()
            for g in data["grants"]:
                if g.get("revoked") is None:
                    g.update(revoked=t, revoked_by="unleak:integrity")
            for r in data["requests"]:
                if r.get("status") == "pending":
                    r.update(status="denied", decided=t, decided_by="unleak:integrity")
        return data, problems

    def _audit_problems(self, problems: Sequence[str], *, dropped: bool = False) -> None:
        from unleak.audit import AuditLog

        with contextlib.suppress(OSError, ValueError, UsageError, ConfigError):
            AuditLog().append("grant.invalid", actor="unleak:integrity", result="ignored",
                              detail={"problems": list(problems), "file": str(self.path), "rewritten": dropped})

    def _checked(self) -> dict[str, Any]:
        with self._flock(fcntl.LOCK_SH):
            data, problems = self._load()
        if problems:
            self._audit_problems(problems)
        return data

    def problems(self) -> list[str]:
        """What is wrong with the grants file (records not written by unleak, a rolled-back file); [] if nothing."""
        with self._flock(fcntl.LOCK_SH):
            return self._load()[1]

    def grants(self) -> list[Grant]:
        return [Grant.from_dict(g) for g in self._checked()["grants"]]

    def requests(self) -> list[ApprovalRequest]:
        return [ApprovalRequest.from_dict(r) for r in self._checked()["requests"]]

    # -- grants

    def add_grant(
        self, *, secrets: Sequence[str], command: Sequence[str], created_by: str, ttl: int | None = None,
        exact: bool = False, repo: str | None = None, branch: str | None = None, tier: str = "dev",
        task: str | None = None, dangerous: bool = False, client: str | None = None, request: str | None = None,
        pin: bool = False, allow_env: Sequence[str] = (), cwd: Path | None = None, tree: str | None = None,
    ) -> Grant:
        """A grant from a human. A literal program name is bound to what it resolves to now (real path and
        content hash, on this process's PATH, relative paths from ``cwd``): a program inside the repository only
        with ``pin``, since the agent can rewrite it."""
        if not secrets or not all(isinstance(s, str) and s for s in secrets):
            raise UsageError("a grant needs at least one secret name or glob, e.g. --secrets 'STRIPE_*'")
        if not command:
            raise UsageError("a grant needs a command pattern, e.g. --command 'pytest *'")
        check_tier(tier)
        program: Program | None = None
        if not any(c in command[0] for c in "*?["):
            program = identify_program(command[0], cwd=cwd or Path(repo or "."), search_path=os.environ.get("PATH"))
            if program is None:
                raise UsageError(f"cannot find {command[0]!r} to run (on PATH, or as a path from "
                                 f"{cwd or repo or '.'}); a grant is bound to the program it names")
            if repo and program.inside(repo) and not pin:
                raise UsageError(f"{command[0]} is inside the repository, where the agent can change it: pass --pin "
                                 f"to bind this exact content ({program.describe()})")
        elif pin:
            raise UsageError("--pin binds one program: give its name or path, not a glob")
        if dangerous and not self.policy.allow_dangerous:
            raise PolicyError(f"the policy forbids grants for dangerous commands (allow_dangerous = false in "
                              f"{policy_path()})")
        seconds = self.policy.check_ttl(ttl if ttl is not None else self.policy.default_ttl)
        t = now()
        grant = Grant(
            id=new_id("g-"), secrets=tuple(secrets), command=tuple(command), created=t, expires=t + seconds,
            created_by=created_by, exact=exact, repo=os.path.realpath(repo) if repo else None, branch=branch,
            tier=tier, task=task, dangerous=dangerous, client=client, request=request, program=program,
            pinned=pin, allow_env=tuple(allow_env), tree=tree,
        )
        with self._locked() as data:
            data["grants"].append(grant.to_dict())
        return grant

    def find_grant(self, ctx: RunContext) -> Grant | None:
        """The active grant that covers ``ctx`` and expires last, or None."""
        t = now()
        grants = self.grants()
        if ctx.tree is None and any(g.tree is not None and g.active(t) for g in grants):
            from unleak.agent.treepin import fingerprint

            ctx = replace(ctx, tree=fingerprint(ctx.repo, ctx.env_file))  # once, not per pinned grant
        covering = [g for g in grants if grant_covers(g, ctx, t, policy=self.policy) is None]
        return max(covering, key=lambda g: g.expires) if covering else None

    def revoke(self, *, by: str, grant: str | None = None, task: str | None = None, client: str | None = None,
               everything: bool = False) -> list[Grant]:
        """End matching active grants now; returns them (revoked). Pending requests that match are denied too."""
        if not (grant or task or client or everything):
            raise UsageError("say what to revoke: --grant ID, --task ID, --client NAME or --all")
        t = now()
        ended: list[Grant] = []
        with self._locked() as data:
            for i, raw in enumerate(data["grants"]):
                g = Grant.from_dict(raw)
                if not g.active(t):
                    continue
                hit = everything or (grant is not None and g.id == grant) or (
                    task is not None and g.task == task) or (client is not None and g.client is not None
                                                             and _client_name(g.client) == client)
                if hit:
                    g = replace(g, revoked=t, revoked_by=by)
                    data["grants"][i] = g.to_dict()
                    ended.append(g)
            for i, raw in enumerate(data["requests"]):
                r = ApprovalRequest.from_dict(raw)
                if r.state(t) != "pending":
                    continue
                if everything or (task is not None and r.task == task) or (
                        client is not None and r.client is not None and _client_name(r.client) == client):
                    data["requests"][i] = replace(r, status="denied", decided=t, decided_by=by).to_dict()
        if grant and not ended and not any(g.id == grant for g in self.grants()):
            raise UsageError(f"no grant {grant!r}; list them with `unleak grants --all`")
        return ended

    # -- approval requests

    def create_request(self, ctx: RunContext, *, ttl: int | None = None) -> ApprovalRequest:
        """A pending request for ``ctx``; an identical pending one is reused so a retrying agent does not pile
        up requests."""
        t = now()
        seconds = self.policy.check_ttl(ttl if ttl is not None else self.policy.default_ttl)
        with self._locked() as data:
            for raw in data["requests"]:
                r = ApprovalRequest.from_dict(raw)
                if r.state(t) == "pending" and (r.argv, r.secrets, r.repo, r.branch, r.tier, r.task, r.client,
                                                r.env_file, r.program, r.env) == (
                        ctx.argv, ctx.secrets, ctx.repo, ctx.branch, ctx.tier, ctx.task, ctx.client, ctx.env_file,
                        ctx.program, ctx.env):
                    return r
            req = ApprovalRequest(
                id=new_id("r-"), token=secrets.token_urlsafe(32), argv=ctx.argv, secrets=ctx.secrets,
                repo=ctx.repo, branch=ctx.branch, tier=ctx.tier, ttl=seconds, created=t,
                expires=t + self.policy.request_ttl, client=ctx.client, task=ctx.task, cwd=ctx.cwd,
                env_file=ctx.env_file, dangerous=dangerous_reason(ctx.argv, program=ctx.program),
                program=ctx.program, inside_repo=bool(ctx.program and ctx.program.inside(ctx.repo)), env=ctx.env,
            )
            # Drop requests decided or expired more than a day ago: the audit log keeps their history.
            data["requests"] = [x for x in data["requests"]
                                if (x["status"] == "pending" and x["expires"] > t - 86400)
                                or (x.get("decided") or 0) > t - 86400]
            data["requests"].append(req.to_dict())
        return req

    def get_request(self, request_id: str) -> ApprovalRequest:
        for r in self.requests():
            if r.id == request_id:
                return r
        raise UsageError(f"no approval request {request_id!r}; list pending ones with `unleak grants --pending`")

    def request_by_token(self, token: str) -> ApprovalRequest | None:
        import hmac

        for r in self.requests():
            if hmac.compare_digest(r.token.encode(), token.encode()):
                return r
        return None

    def decide(self, request_id: str, *, approve: bool, by: str, ttl: int | None = None,
               allow_dangerous: bool = False, pin: bool = False, allow_env: bool = False,
               pinned: bool = False) -> tuple[ApprovalRequest, Grant | None]:
        """Approve (creating a grant for exactly that argv, program, secrets, repo, branch, tier and task) or deny
        a pending request. A decided or expired request cannot be decided again. A program inside the repository
        needs ``pin`` and plain variables that can change the code that runs need ``allow_env``: the human says
        so explicitly, as for a dangerous command."""
        t = now()
        grant: Grant | None = None
        with self._locked() as data:
            idx = next((i for i, raw in enumerate(data["requests"]) if raw["id"] == request_id), None)
            if idx is None:
                raise UsageError(f"no approval request {request_id!r}; list pending ones with "
                                 "`unleak grants --pending`")
            r = ApprovalRequest.from_dict(data["requests"][idx])
            state = r.state(t)
            if state != "pending":
                raise PolicyError(f"request {request_id} is {state}; the agent must ask again")
            if approve:
                if r.dangerous and not self.policy.allow_dangerous:
                    raise PolicyError(f"request {request_id} runs a dangerous command ({r.dangerous}) and the "
                                      f"policy forbids that (allow_dangerous = false in {policy_path()})")
                if r.dangerous and not allow_dangerous:
                    raise PolicyError(
                        f"request {request_id} runs a dangerous command ({r.dangerous}); it could print the "
                        "secrets. Approve it only if you mean it, with --allow-dangerous")
                if r.inside_repo and not pin:
                    raise PolicyError(
                        f"request {request_id} runs a program inside the repository, which the agent can change "
                        f"({r.program.describe() if r.program else '?'}). Approve it only after reading it, with "
                        "--pin (this exact content)")
                if r.env and not allow_env:
                    raise PolicyError(
                        f"request {request_id} sets {', '.join(n for n, _ in r.env)} from the reference file, which "
                        "can change the code that runs. Approve it only if you mean it, with --allow-env")
                if r.tier != "dev" and not pinned:
                    raise PolicyError(
                        f"request {request_id} uses {r.tier}-tier secrets: approve it pinned to the repository as it "
                        "is now, with --pinned (editing any file voids the grant); unpinned grants are for dev-tier "
                        "secrets only")
                tree = None
                if pinned:
                    from unleak.agent.treepin import fingerprint

                    tree = fingerprint(r.repo, r.env_file)
                seconds = self.policy.check_ttl(ttl if ttl is not None else r.ttl)
                grant = Grant(
                    id=new_id("g-"), secrets=r.secrets, command=r.argv, created=t, expires=t + seconds,
                    created_by=by, exact=True, repo=r.repo, branch=r.branch, tier=r.tier, task=r.task,
                    dangerous=bool(r.dangerous), client=r.client, request=r.id, program=r.program,
                    pinned=r.inside_repo, allow_env=tuple(f"{n}={v}" for n, v in r.env), tree=tree,
                )
                data["grants"].append(grant.to_dict())
                r = replace(r, status="approved", decided=t, decided_by=by, grant=grant.id, ttl=seconds)
            else:
                r = replace(r, status="denied", decided=t, decided_by=by)
            data["requests"][idx] = r.to_dict()
        return r, grant


_ID_RE = re.compile(r"^[gr]-[a-z0-9]{1,16}$")


def _safe_id(rec: object) -> str:
    """A record's id for messages, only when it looks like one unleak makes (the file is agent-writable)."""
    rid = rec.get("id") if isinstance(rec, dict) else None
    return rid if isinstance(rid, str) and _ID_RE.match(rid) else "(unnamed)"


def _client_name(client: str) -> str:
    """``"claude-code 1.2.3"`` → ``"claude-code"`` (revoke --client takes the name)."""
    return client.split(" ", 1)[0]
