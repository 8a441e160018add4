"""``unleak mcp``: the Model Context Protocol server a coding agent talks to over stdio.

Capability without possession: the agent can scan, check a diff, fix, list secret *names*, run a command with
secrets injected and ask the human for a new secret, and no answer ever carries a value.

Layers, from the inside out:

1. Library calls return only redacted data (findings carry fingerprints, the vault lists names and references).
2. ``run`` needs a grant from the human (policy, grants and approval requests live outside the repository, see
   :mod:`unleak.agent.policy`); commands that dump the environment or run inline code need an explicit one.
3. A run's output passes through :class:`unleak.masking.Masker` (every value, base64/hex/url/JSON forms) and is
   capped in size.
4. Every answer, whatever the tool, is scrubbed once more against *every* value in the local vault in all those
   forms, and then checked: if any form survives, the answer is replaced by an error. Defence in depth: a bug in
   one tool must not become a leak.
5. Everything is appended to the hash-chained audit log (:mod:`unleak.audit`).

Built on the official ``mcp`` SDK's low-level server so each tool's input schema is exactly what we write
(``additionalProperties: false``) and arguments are validated before any handler runs.

This module holds the tools (:class:`UnleakMCP`); the schemas and argument validation are
:mod:`unleak.agent.mcp_tools`, the answer guard :mod:`unleak.agent.answer_guard`, a granted run's child
:mod:`unleak.agent.masked_exec`, and the SDK glue and ``serve`` :mod:`unleak.agent.mcp_transport`.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.errors import PolicyError, UnleakError, UsageError
from unleak.agent.answer_guard import WITHHELD, AnswerGuard, guard_for_audit, vault_values
from unleak.agent.grantstore import GrantStore
from unleak.agent.masked_exec import execute_masked
from unleak.agent.mcp_scope import agent_request, served_root
from unleak.agent.mcp_tools import validate_arguments, without_arguments
from unleak.agent.policy import Grant, Policy, RunContext, load_policy, run_context
from unleak.agent.runguard import grant_watch
from unleak.agent.shellrisk import dangerous_reason
from unleak.audit import AuditLog, process_info

SERVER_NAME = "unleak"

INSTRUCTIONS = (
    "unleak keeps secrets out of the repository and out of your context. Use `scan` before committing and "
    "`check_diff` before applying a diff; `fix` moves found secrets into the user's vault and rewrites the code to "
    "read them from the environment. `list_secrets` shows names and references, never values. To run a command "
    "that needs secrets (tests, a dev server), call `run` with an argv list; the first time, the human must "
    "approve it in their own terminal (the answer says how). Output is masked: you will see <unleak:NAME> where a "
    "value was. To get a new secret from the human, call `request_secret`: they type it into a local page and "
    "confirm it in their terminal, you get the reference."
)

# ------------------------------------------------------------------------------------------------ schemas


# ------------------------------------------------------------------------------------------- what is echoed

#: an environment variable name as POSIX shells and dotenv write it
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_ENV_FILE = re.compile(r"\.env(?:[.-][A-Za-z0-9_-]{1,32}){0,3}")
_REFERENCE = re.compile(
    r"unleak://[a-z0-9._-]{1,64}/[A-Za-z_][A-Za-z0-9_.-]{0,127}"
    r"|op://[A-Za-z0-9 ._-]{1,64}/[A-Za-z0-9 ._-]{1,64}(?:/[A-Za-z0-9 ._-]{1,64}){1,2}"
)


def _valid_reference(ref: str) -> bool:
    from remediate.vault import parse_reference

    if not _REFERENCE.fullmatch(ref):
        return False
    try:
        parse_reference(ref)
    except UnleakError:
        return False
    return True


# ------------------------------------------------------------------------------------------------- the guard


# ---------------------------------------------------------------------------------------------------- server


@dataclass
class ToolOutcome:
    data: dict[str, Any]
    is_error: bool = False
    #: values this call handled that may not be in the local vault (e.g. resolved op:// references)
    extra_values: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass
class UnleakMCP:
    """The tools, independent of the transport (the stdio server below wires them to the SDK)."""

    root: Path
    policy: Policy = field(default_factory=load_policy)
    store: GrantStore | None = None
    audit: AuditLog = field(default_factory=AuditLog)
    approvals: Any = None  # ApprovalServer, started on first use
    #: secret request id -> entry page, for URL elicitation only (never put in an answer)
    secret_urls: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.root = served_root(self.root)
        if self.store is None:
            self.store = GrantStore(policy=self.policy)
        _refuse_state_in_repo(self.root, [self.store.dir, self.audit.dir])

    # -- helpers

    def _approvals(self) -> Any:
        if self.approvals is None:
            from unleak.agent.approval import ApprovalServer, store_in_local_vault

            self.approvals = ApprovalServer(self._store(), audit=self._audit_from_page,
                                            store_secret=store_in_local_vault)
            from unleak.agent.broker import approval_port

            # Inside `unleak agent`, on a port the agent's sandbox cannot connect to.
            self.approvals.start(port=approval_port())
        return self.approvals

    def _store(self) -> GrantStore:
        assert self.store is not None
        return self.store

    def _audit_from_page(self, action: str, **kw: Any) -> None:
        self.audit.append(action, scrub=guard_for_audit(vault_values()).text, **kw)

    def record(self, action: str, client: str, scrub: AnswerGuard, **kw: Any) -> None:
        self.audit.append(action, actor=f"mcp:{client}", scrub=scrub.text, **kw)

    def _inside(self, rel: str, what: str) -> Path:
        p = (self.root / rel).resolve() if not os.path.isabs(rel) else Path(rel).resolve()
        if p != self.root and self.root not in p.parents:
            raise UsageError(f"{what} is outside the repository {self.root}")
        return p

    def _branch(self) -> str:
        from scanner import git

        return git.current_branch(self.root) if git.has_head(self.root) else "HEAD"

    # -- tools

    def tool_scan(self, args: dict[str, Any], client: str, scrub: AnswerGuard) -> ToolOutcome:
        from scanner.api import scan
        from unleak.config import scan_request

        mode = args.get("mode", "files")
        paths = tuple(str(self._inside(p, "path").relative_to(self.root)) for p in args.get("paths", ()))
        if mode != "files" and paths:
            raise UsageError("paths apply to mode=files only")
        if mode == "range" and not args.get("range"):
            raise UsageError("mode=range needs range, e.g. main..HEAD")
        # The same request `unleak scan` builds: config, baseline and size limit apply as they do for the human,
        # but for the repository's custom rules (see _agent_request).
        req, _cfg = scan_request(self.root, (mode,), paths, range_=args.get("range"),
                                 min_confidence=args.get("min_confidence"))
        req = agent_request(req)
        verifying = bool(args.get("verify"))
        if verifying:
            from dataclasses import replace

            req = replace(req, cache=False)  # cached history records keep no values, and verifying needs them
        result = scan(req)
        findings = [f.to_dict() for f in result.findings]
        if verifying:
            from unleak.scancmd import verify_config, verify_findings

            vcfg = verify_config(_cfg)
            verdicts = verify_findings(result.findings, self.root, budget=vcfg["timeout"], cache_ttl=vcfg["cache-ttl"])
            for f, d in zip(result.findings, findings, strict=True):
                if f.fingerprint in verdicts:
                    d["verified"] = verdicts[f.fingerprint].to_dict()
        self.record("scan", client, scrub, task=args.get("task_id"),
                    process=process_info(cwd=str(self.root), repo=str(self.root), branch=self._branch()),
                    detail={"mode": mode, "findings": len(findings)}, result="findings" if findings else "clean")
        return ToolOutcome({"findings": findings, "count": len(findings),
                            "next": "call fix to move these into the vault" if findings else "clean"})

    def tool_check_diff(self, args: dict[str, Any], client: str, scrub: AnswerGuard) -> ToolOutcome:
        from scanner.api import scan
        from unleak.config import scan_request

        with tempfile.TemporaryDirectory(prefix="unleak-diff-") as tmp:
            path = Path(tmp) / "change.diff"
            path.write_text(args["diff"], encoding="utf-8")
            try:
                # The request `unleak scan --diff` builds: the repository's config and baseline apply.
                req, _cfg = scan_request(self.root, ("diff",), (), diff=str(path))
                result = scan(agent_request(req))
            except UsageError as exc:
                raise UsageError(str(exc).replace(str(path), "diff")) from None
        findings = [f.to_dict() for f in result.findings]
        self.record("check_diff", client, scrub, task=args.get("task_id"),
                    process=process_info(cwd=str(self.root), repo=str(self.root), branch=self._branch()),
                    detail={"findings": len(findings)}, result="findings" if findings else "clean")
        lines = [{"path": f["path"], "line": f["line"], "rule_id": f["rule_id"], "preview": f["preview"]}
                 for f in findings]
        return ToolOutcome({"clean": not findings, "secret_lines": lines, "findings": findings,
                            "advice": "replace each value with an environment variable read; store the value "
                                      "with request_secret" if findings else "no secrets in the added lines"})

    def tool_fix(self, args: dict[str, Any], client: str, scrub: AnswerGuard) -> ToolOutcome:
        try:
            from remediate.fix import apply_fix, plan_fix
            from remediate.patch import unified_diff
        except ImportError:
            raise UsageError("fix is not available in this build of unleak (remediate.fix is missing)") from None
        from remediate.vault import open_vault
        from unleak.config import scan_request

        paths = tuple(str(self._inside(p, "path").relative_to(self.root)) for p in args.get("paths", ()))
        apply = bool(args.get("apply", False))
        # As `unleak fix` does: findings the human accepted in the baseline are not moved.
        req, _ = scan_request(self.root, ("files",), paths)
        req = agent_request(req)
        # The first write registers this repository's namespace; the agent picks where the server runs, so it
        # never takes over the namespace of a repository that was moved away.
        vault = open_vault(repo_path=self.root, takeover=False)
        plan, _ = plan_fix(req, vault)
        data: dict[str, Any] = plan.to_dict()
        # The patch is rendered with every moved value replaced by [REDACTED:NAME]; the final scrub of the answer
        # catches anything the redaction missed.
        data["patch"] = unified_diff(plan.changes, plan.redactions())
        names = sorted(s.name for s in plan.secrets)
        extra = {f"fix/{s.name}": s.value for s in plan.secrets}
        if apply and not plan.empty:
            res = apply_fix(plan, vault)
            data["applied"] = res.to_dict()
        data["status"] = ("nothing to fix" if plan.empty else "applied" if apply else
                          "planned: call fix with apply=true to move the values and rewrite the files")
        self.record("fix", client, scrub, task=args.get("task_id"), secrets=names,
                    process=process_info(cwd=str(self.root), repo=str(self.root), branch=self._branch()),
                    detail={"apply": apply, "files": [c.path for c in plan.changes]},
                    result=data["status"].split(":")[0])
        return ToolOutcome(data, extra_values=extra)

    def tool_list_secrets(self, args: dict[str, Any], client: str, scrub: AnswerGuard) -> ToolOutcome:
        from remediate.vault import default_namespace, open_vault
        from remediate.vault.refs import REFERENCE_PREFIXES
        from unleak.run import read_reference_files

        # Every name, reference and file name here comes from files the agent can write. Each is echoed only when
        # it passes its syntax; anything else is counted, never quoted.
        ns = default_namespace(self.root)
        entries: dict[str, dict[str, Any]] = {}
        invalid = {"names": 0, "references": 0, "files": 0}
        with contextlib.suppress(UnleakError):
            for e in open_vault(namespace=ns, repo_path=self.root).names():
                entries[e.name] = {"name": e.name, "reference": e.reference, "in_vault": True, "used_in": []}
        for env in sorted(self.root.glob(".env*")):
            if not env.is_file():
                continue
            if not _ENV_FILE.fullmatch(env.name):
                invalid["files"] += 1
                continue
            with contextlib.suppress(UnleakError):
                for var, val in read_reference_files([env], interpolate=False).items():
                    if not val.startswith(REFERENCE_PREFIXES):
                        continue
                    if not _NAME.fullmatch(var):
                        invalid["names"] += 1
                        continue
                    ref = val if _valid_reference(val) else None
                    if ref is None:
                        invalid["references"] += 1
                    ent = entries.setdefault(var, {"name": var, "reference": ref or "(invalid reference)",
                                                   "in_vault": False, "used_in": []})
                    ent["used_in"].append(env.name)
                    if ref is not None and ent["reference"] != ref:
                        ent.setdefault("other_references", []).append(ref)
        rows = sorted(entries.values(), key=lambda e: e["name"])
        self.record("list_secrets", client, scrub, secrets=[r["name"] for r in rows],
                    process=process_info(cwd=str(self.root), repo=str(self.root), branch=self._branch()))
        out: dict[str, Any] = {"namespace": ns, "secrets": rows}
        if any(invalid.values()):
            out["invalid"] = {k: v for k, v in invalid.items() if v}
            out["note"] = ("entries whose name, reference or file name is not valid syntax are counted under "
                           "`invalid`, not shown")
        return ToolOutcome(out)

    def tool_run(self, args: dict[str, Any], client: str, scrub: AnswerGuard) -> ToolOutcome:
        """Run under a grant; without one, refuse (policy) or ask the human (approval request)."""
        from unleak import run as runner

        argv = tuple(args["argv"])
        task = args.get("task_id")
        cwd, env_file = self._run_location(args)
        variables = runner.read_reference_files([env_file])
        branch = self._branch()
        # What the grant check sees: names and references (not the agent's variable names alone), the tier
        # labelled on those vault entries, the real program, and plain variables that can change its code.
        ctx, foreign = run_context(argv, variables, repo=self.root, cwd=cwd, branch=branch, task=task,
                                   client=client, env_file=env_file)
        proc = process_info(argv, cwd=str(cwd), repo=str(self.root), branch=branch)
        base = {"secrets": ctx.secrets, "process": proc, "task": task}
        refusal = self._policy_refusal(ctx, foreign)
        grant = None if refusal is not None else self._store().find_grant(ctx)
        if refusal is None and grant is None:
            refusal = self._danger_refusal(ctx)
        if refusal is not None:
            reason, detail = refusal
            self.record("run.refused", client, scrub, result="refused", detail=detail, **base)
            return ToolOutcome({"status": "refused", "reason": reason}, is_error=True)
        if grant is None:
            return self._ask_approval(ctx, client, scrub, base)
        plan = runner.prepare([env_file], cwd=cwd, variables=variables)  # what was checked, not a re-read
        return self._run_granted(args, ctx, grant, plan, cwd, client, scrub, proc)

    def _run_location(self, args: dict[str, Any]) -> tuple[Path, Path]:
        """The run's working directory and its reference file, both inside the repository."""
        from unleak import run as runner

        cwd = self._inside(args.get("cwd", "."), "cwd")
        if not cwd.is_dir():
            raise UsageError("cwd is not a directory")
        if args.get("env_file"):
            env_file: Path | None = self._inside(str(cwd / args["env_file"]), "env_file")
        else:
            env_file = runner.default_env_file(cwd)
            # The default is checked like a named one: a link to another project's .env is not this repository's.
            env_file = self._inside(str(env_file), "the reference file") if env_file is not None else None
        if env_file is None or not env_file.is_file():
            raise UsageError("no reference file: there is no .env.unleak (nor .env) here or at the repository root; "
                             "run fix first or pass env_file")
        return cwd, env_file

    def _policy_refusal(self, ctx: RunContext, foreign: Sequence[str]) -> tuple[str, dict[str, Any]] | None:
        """(the answer's reason, the audit detail) when the user's policy refuses this run whatever the grants."""
        from remediate.vault import default_namespace

        if foreign:
            reason = (f"the reference file points outside this repository's vault namespace "
                      f"{default_namespace(self.root)!r} ({', '.join(foreign)}); an agent's run may only use this "
                      "repository's secrets")
            return reason, {"reason": reason}
        if ctx.tier not in self.policy.mcp_tiers:
            reason = (f"{ctx.tier}-tier secrets are not reachable through MCP under the user's policy "
                      f"(mcp_tiers = {list(self.policy.mcp_tiers)} in the user's policy.toml)")
            return reason, {"reason": reason, "tier": ctx.tier}
        return None

    def _danger_refusal(self, ctx: RunContext) -> tuple[str, dict[str, Any]] | None:
        """A command that could print its secrets is never put to the human as a request (no grant covers it)."""
        danger = dangerous_reason(ctx.argv, program=ctx.program)
        if danger is None:
            return None
        reason = (f"refused: {danger}. Such commands could print the secrets, so they run only under a "
                  "grant a human makes for exactly that command with `unleak grant --allow-dangerous`. "
                  "Run the program itself instead (e.g. the test runner).")
        return reason, {"reason": danger, "tier": ctx.tier}

    def _ask_approval(self, ctx: RunContext, client: str, scrub: AnswerGuard, base: dict[str, Any]) -> ToolOutcome:
        """No grant covers the run: a request the human approves in their own terminal."""
        req = self._store().create_request(ctx)
        url = self._approvals().approval_url(req)
        # The link goes to the human only (this log, URL elicitation): whoever loads the page reads the code
        # that approving needs, so it never enters an answer.
        print(f"unleak: approval needed for request {req.id}: {url}", file=sys.stderr, flush=True)
        self.record("run.request", client, scrub, request=req.id, result="approval_required",
                    detail={"tier": ctx.tier, "ttl": req.ttl}, **base)
        return ToolOutcome({
            "status": "approval_required",
            "request_id": req.id,
            "message": (f"No grant covers this run. Ask the human to approve request {req.id}: they run "
                        f"`unleak approve {req.id}` in their own terminal and type the code shown on its "
                        "approval page (unleak's log has the link). Then call run again with the same "
                        "arguments."),
            "approve_command": f"unleak approve {req.id}",
            "secrets": list(ctx.secrets),
            "expires_in_seconds": int(req.expires - time.time()),
        })

    def _run_granted(self, args: dict[str, Any], ctx: RunContext, grant: Grant, plan: Any, cwd: Path, client: str,
                     scrub: AnswerGuard, proc: dict[str, Any]) -> ToolOutcome:
        """Covered: resolved before the child exists (``plan``), run, masked, capped; start and end audited."""
        from unleak import run as runner

        names, tier, task = ctx.secrets, ctx.tier, ctx.task
        extra = plan.masked  # resolved references and plaintext secret-named values alike
        # The agent may ask for less time than the policy's limit, never more.
        timeout = min(int(args.get("timeout_seconds", self.policy.run_timeout)), self.policy.run_timeout)
        started = time.time()
        pid_box: dict[str, int] = {}

        def on_start(pid: int) -> None:
            pid_box["pid"] = pid
            self.record("run.start", client, scrub, grant=grant.id, result="started",
                        secrets=names, process={**proc, "pid": pid}, task=task,
                        detail={"tier": tier, "grant_expires": grant.expires})

        try:
            res = execute_masked(list(ctx.argv), plan.env, extra, cwd=cwd, timeout=timeout,
                                 cap=self.policy.output_cap, on_start=on_start,
                                 watch=grant_watch(grant.id, self._store()))
        except runner.CommandNotFoundError as exc:
            self.record("run.end", client, scrub, grant=grant.id, secrets=names, process=proc, task=task,
                        result="not-started", detail={"error": str(exc)})
            raise
        self.record("run.end", client, scrub, grant=grant.id, secrets=names,
                    process={**proc, "pid": pid_box.get("pid")}, task=task, result=f"exit {res.exit_code}",
                    detail={"duration_s": round(time.time() - started, 3), "output_bytes": res.total,
                            "timed_out": res.timed_out, "truncated": res.truncated})
        return ToolOutcome({
            "status": "ran", "exit_code": res.exit_code, "output": res.output, "truncated": res.truncated,
            "output_bytes": res.total, "timed_out": res.timed_out, "grant": grant.id,
            "grant_expires_in_seconds": int(grant.expires - time.time()), "secrets": list(names),
        }, extra_values=extra)

    def tool_request_secret(self, args: dict[str, Any], client: str, scrub: AnswerGuard) -> ToolOutcome:
        from remediate.vault import default_namespace, open_vault

        name = args["name"]
        ns = default_namespace(self.root)
        vault = open_vault(namespace=ns, repo_path=self.root)
        if any(e.name == name for e in vault.names()):
            self.record("secret.refused", client, scrub, secrets=[name], task=args.get("task_id"),
                        detail={"reason": "exists"})
            raise PolicyError(f"{name} already exists in the vault ({vault.reference_for(name)}); use that "
                              "reference. Replacing a value is for the human: `unleak secrets set`.")
        sr, url = self._approvals().add_secret_request(
            name, ns, str(self.root), self.policy.request_ttl, reason=args.get("reason", ""), client=client,
            task=args.get("task_id"))
        # The link goes to the human only (this log, URL elicitation), never into the answer.
        print(f"unleak: secret entry page for {name} (request {sr.id}): {url}", file=sys.stderr, flush=True)
        self.secret_urls[sr.id] = url
        self.record("secret.request", client, scrub, secrets=[name], task=args.get("task_id"),
                    detail={"reference": vault.reference_for(name), "request": sr.id})
        return ToolOutcome({
            "status": "waiting_for_human", "name": name, "reference": vault.reference_for(name),
            "request_id": sr.id, "expires_in_seconds": int(sr.expires - time.time()),
            "message": (f"Ask the human to enter the value of {name} on unleak's secret entry page (unleak's "
                        f"log has the link) and to confirm it with `unleak approve {sr.id}` in their own "
                        f"terminal. Meanwhile put {name}={vault.reference_for(name)} in .env.unleak. The value will "
                        "never be shown to you."),
        })

    # -- dispatch

    def call(self, name: str, args: dict[str, Any], client: str) -> tuple[dict[str, Any], bool]:
        """Validate, run and guard one tool call. Returns (answer, is_error)."""
        audit_guard = guard_for_audit(vault_values())
        extra: dict[str, str] = {}
        try:
            validate_arguments(name, args)
            handler: Callable[[dict[str, Any], str, AnswerGuard], ToolOutcome] = getattr(self, f"tool_{name}")
            outcome = handler(args, client, audit_guard)
            data, is_error = outcome.data, outcome.is_error
            extra = outcome.extra_values
        except UnleakError as exc:
            # Library messages may quote what the agent sent (a path, a program name, a range); it gets back only
            # what unleak itself wrote.
            message = without_arguments(str(exc), name, args)
            data, is_error = {"error": message, "kind": type(exc).__name__}, True
            with contextlib.suppress(Exception):
                self.record("tool.error", client, audit_guard, detail={"tool": name, "error": message})
        except Exception as exc:  # never a traceback: it could carry a value
            data, is_error = {"error": f"internal error in {name} ({type(exc).__name__})"}, True
            with contextlib.suppress(Exception):
                self.record("tool.error", client, audit_guard, detail={"tool": name, "error": type(exc).__name__})
        # Values may have entered the vault during the call (fix, request_secret): check with the current set.
        guard = AnswerGuard({**vault_values(), **{f"run/{k}": v for k, v in extra.items()}})
        if guard.answer_leaks(data):
            with contextlib.suppress(Exception):
                self.record("tool.error", client, audit_guard, detail={"tool": name, "error": "answer withheld"})
            return {"error": WITHHELD, "kind": "Withheld"}, True
        return data, is_error


def _refuse_state_in_repo(root: Path, dirs: list[Path]) -> None:
    from unleak.userenv import config_dir

    for d in [*dirs, config_dir()]:
        with contextlib.suppress(OSError):
            r = d.resolve()
            if r == root or root in r.parents:
                raise PolicyError(f"unleak's state directory {r} is inside the repository {root}: the agent could "
                                  "edit its own grants. Point XDG_STATE_HOME/XDG_CONFIG_HOME outside it.")


