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
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.errors import PolicyError, UnleakError, UsageError
from unleak import __version__
from unleak.agent.display import shown
from unleak.agent.policy import GrantStore, Policy, dangerous_reason, load_policy, run_context
from unleak.agent.runguard import grant_watch
from unleak.audit import AuditLog, process_info

SERVER_NAME = "unleak"
MAX_DIFF = 5 * 1024 * 1024

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

_STR = {"type": "string", "minLength": 1, "maxLength": 4096}
_TASK = {"type": "string", "pattern": r"^[A-Za-z0-9._:/#-]{1,128}$",
         "description": "Your task or ticket id; grants and the audit log are grouped by it."}
_PATHS = {"type": "array", "items": _STR, "maxItems": 1000,
          "description": "Paths relative to the repository root (default: everything)."}


def _schema(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(required), "additionalProperties": False}


def _out(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    # Open (additional properties allowed): a client validates what it relies on, and answers may grow.
    return {"type": "object", "properties": props, "required": list(required)}


_FINDING = {"type": "object", "properties": {
    "rule_id": {"type": "string"}, "title": {"type": "string"}, "confidence": {"type": "string"},
    "path": {"type": "string"}, "line": {"type": "integer"}, "fingerprint": {"type": "string"},
    "preview": {"type": "string"}, "verified": {"type": "object"}},
    "required": ["rule_id", "path", "fingerprint", "preview"]}
_ARRAY = {"type": "array"}

# The structured answers (`outputSchema`) of each tool's successful call; an error answer is {"error", "kind"}.
OUTPUT_SCHEMAS: dict[str, dict[str, Any]] = {
    "scan": _out({"findings": {"type": "array", "items": _FINDING}, "count": {"type": "integer", "minimum": 0},
                  "next": {"type": "string"}}, ("findings", "count")),
    "check_diff": _out({"clean": {"type": "boolean"}, "secret_lines": _ARRAY,
                        "findings": {"type": "array", "items": _FINDING}, "advice": {"type": "string"}},
                       ("clean", "findings")),
    "fix": _out({"namespace": {"type": "string"}, "secrets": _ARRAY, "files": _ARRAY, "patch": {"type": "string"},
                 "manual": _ARRAY, "notes": _ARRAY}, ("secrets", "files")),
    "list_secrets": _out({"namespace": {"type": "string"}, "secrets": _ARRAY}, ("secrets",)),
    "run": _out({"status": {"type": "string"}, "exit_code": {"type": "integer"}, "output": {"type": "string"},
                 "message": {"type": "string"}}),
    "request_secret": _out({"status": {"type": "string"}, "name": {"type": "string"},
                            "reference": {"type": "string"}, "message": {"type": "string"}},
                           ("status", "name", "reference")),
}
# What `unleak mcp --read-only` serves: tools that neither change files, nor touch the vault, nor run anything.
READ_ONLY_TOOLS = ("scan", "check_diff", "list_secrets")

TOOLS: dict[str, dict[str, Any]] = {
    "scan": {
        "title": "Scan for secrets",
        "description": "Find secrets in the repository: working-tree files, staged changes, uncommitted changes or "
                       "every commit of a range. Returns redacted findings (rule, path, line, fingerprint, preview); "
                       "never a value.",
        "schema": _schema({
            "mode": {"type": "string", "enum": ["files", "staged", "changes", "range"], "default": "files"},
            "paths": _PATHS,
            "range": {"type": "string", "pattern": r"^[^\s-][^\s]{0,255}$",
                      "description": "BASE..HEAD, for mode=range"},
            "min_confidence": {"type": "string", "enum": ["high", "medium", "low"]},
            "verify": {"type": "boolean", "default": False,
                       "description": "Ask each credential's own provider whether it is live (valid, invalid or "
                                      "unknown per finding); sends each credential only to its provider, over HTTPS."},
            "task_id": _TASK,
        }),
        "annotations": {"read_only_hint": True, "destructive_hint": False, "idempotent_hint": True,
                        "open_world_hint": True},
    },
    "check_diff": {
        "title": "Check a diff for secrets",
        "description": "Scan a unified diff you are about to apply; says which added lines carry a secret so you "
                       "can use an environment variable instead.",
        "schema": _schema({"diff": {"type": "string", "minLength": 1, "maxLength": MAX_DIFF}, "task_id": _TASK},
                          ("diff",)),
        "annotations": {"read_only_hint": True, "destructive_hint": False, "idempotent_hint": True,
                        "open_world_hint": False},
    },
    "fix": {
        "title": "Move secrets into the vault",
        "description": "Plan (apply=false, the default) or apply `unleak fix` on the given paths: each secret "
                       "moves into the user's vault and the code is rewritten to read a reference. You get the "
                       "redacted patch.",
        "schema": _schema({"paths": _PATHS, "apply": {"type": "boolean", "default": False}, "task_id": _TASK}),
        "annotations": {"read_only_hint": False, "destructive_hint": True, "idempotent_hint": True,
                        "open_world_hint": False},
    },
    "list_secrets": {
        "title": "List secret names",
        "description": "Names and references of the secrets this repository can use (vault entries and the "
                       "references in its .env files). Never values.",
        "schema": _schema({}),
        "annotations": {"read_only_hint": True, "destructive_hint": False, "idempotent_hint": True,
                        "open_world_hint": False},
    },
    "run": {
        "title": "Run a command with secrets",
        "description": "Run an argv (a list, no shell) with the secrets of the repository's reference file "
                       "(.env) in its environment. Allowed only under a grant the human gave; otherwise returns an "
                       "approval request id and what the human must do. Returns the exit code and the masked, "
                       "size-capped output. Commands that print the environment or run inline code (sh -c, "
                       "python -c, env, printenv, cat .env …) are refused unless the human allowed exactly that.",
        "schema": _schema({
            "argv": {"type": "array", "items": {"type": "string", "maxLength": 8192, "pattern": "^[^\\x00]*$"},
                     "minItems": 1, "maxItems": 512},
            "cwd": {"type": "string", "maxLength": 4096,
                    "description": "Directory inside the repository (default: its root)."},
            "env_file": {"type": "string", "maxLength": 4096,
                         "description": "Reference file, relative to cwd (default: .env)."},
            "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": 3600},
            "task_id": _TASK,
        }, ("argv",)),
        "annotations": {"read_only_hint": False, "destructive_hint": True, "idempotent_hint": False,
                        "open_world_hint": True},
    },
    "request_secret": {
        "title": "Ask the human for a new secret",
        "description": "Ask the human to enter a secret you need (e.g. an API key). They type it into a local "
                       "page that stores it in the vault; you get back the reference to put in .env, never the "
                       "value.",
        "schema": _schema({
            "name": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$"},
            "reason": {"type": "string", "maxLength": 500},
            "task_id": _TASK,
        }, ("name",)),
        "annotations": {"read_only_hint": False, "destructive_hint": False, "idempotent_hint": False,
                        "open_world_hint": False},
    },
}


# ------------------------------------------------------------------------------------------- what is echoed

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
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

#: The one answer an agent gets when the guard finds a value form in what a tool produced. It is the same whatever
#: value, name, namespace or tool was involved: anything it varied with would be a channel for the value.
WITHHELD = "the answer was withheld because it contained a secret value"

#: Values shorter than this are not looked for in answers. Withholding is itself a yes/no answer about the text the
#: agent chose; for a short value the agent could plant every candidate and bisect. Long random values cannot be
#: guessed whole, and no partial match is ever reported.
GUARD_MIN_LENGTH = 12


def vault_values(repo: Path | None = None) -> dict[str, str]:
    """Every value in every namespace of the local vault, keyed by ``namespace/NAME``. Only the guard uses
    this; the values never leave this process except into a child's environment."""
    from remediate.vault import open_vault
    from unleak.userenv import data_dir

    out: dict[str, str] = {}
    vaults = data_dir() / "vaults"
    if not vaults.is_dir():
        return out
    for f in sorted(vaults.glob("*.vault")):
        with contextlib.suppress(UnleakError, OSError, ValueError):
            vault = open_vault(namespace=f.stem, repo_path=Path(tempfile.gettempdir()))
            for entry in vault.names():
                with contextlib.suppress(UnleakError, OSError, ValueError):
                    out[f"{f.stem}/{entry.name}"] = vault.get(entry.reference)
    return out


class AnswerGuard:
    """Defence in depth with a constant outcome: says whether any whole form (raw, base64, hex, url, JSON) of any
    known value occurs in a text. It never rewrites the text: a masked or marked *part* of an answer would tell
    the agent which of the strings it planted resembles a value (a prefix, a window), and that is an oracle."""

    def __init__(self, values: Mapping[str, str], *, min_length: int = GUARD_MIN_LENGTH) -> None:
        from unleak.masking import encoded_forms

        forms: set[str] = set()
        for value in values.values():
            if len(value) >= min_length:
                forms.update(f for f in encoded_forms(value) if len(f) >= min_length)
        self._automaton: Any = None
        if forms:
            import ahocorasick

            automaton = ahocorasick.Automaton()
            for form in forms:
                automaton.add_word(form, len(form))
            automaton.make_automaton()
            self._automaton = automaton

    def __repr__(self) -> str:  # never show values
        return "AnswerGuard()"

    def leaks(self, s: str) -> bool:
        """True when any form of any value occurs in ``s``."""
        if self._automaton is None or not s:
            return False
        text = s.encode("utf-8", errors="surrogatepass").decode("latin-1")
        return next(iter(self._automaton.iter(text)), None) is not None

    def text(self, s: str) -> str:
        """``s``, or the fixed withheld text when it holds a value (for the audit log, field by field)."""
        return WITHHELD if self.leaks(s) else s

    def answer_leaks(self, data: Any) -> bool:
        """Whether an answer leaks in any of the serialisations a client may show (text content, structured)."""
        return any(self.leaks(json.dumps(data, ensure_ascii=a, indent=i)) for a in (True, False) for i in (None, 1))


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
        from scanner import git

        self.root = (git.toplevel(self.root) or self.root).resolve()
        if self.store is None:
            self.store = GrantStore(policy=self.policy)
        _refuse_state_in_repo(self.root, [self.store.dir, self.audit.dir])

    # -- helpers

    def _approvals(self) -> Any:
        if self.approvals is None:
            from unleak.agent.approval import ApprovalServer, store_in_local_vault

            self.approvals = ApprovalServer(self._store(), audit=self._audit_from_page,
                                            store_secret=store_in_local_vault)
            self.approvals.start()
        return self.approvals

    def _store(self) -> GrantStore:
        assert self.store is not None
        return self.store

    def _audit_from_page(self, action: str, **kw: Any) -> None:
        self.audit.append(action, scrub=_audit_guard(vault_values()).text, **kw)

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
        # The same request `unleak scan` builds: config, baseline and size limit apply as they do for the human.
        req, _cfg = scan_request(self.root, (mode,), paths, range_=args.get("range"),
                                 min_confidence=args.get("min_confidence"))
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
        from scanner.api import ScanRequest, scan

        with tempfile.TemporaryDirectory(prefix="unleak-diff-") as tmp:
            path = Path(tmp) / "change.diff"
            path.write_text(args["diff"], encoding="utf-8")
            try:
                result = scan(ScanRequest(root=self.root, modes=("diff",), diff=str(path)))
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
        vault = open_vault(repo_path=self.root)
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
        from unleak.run import REFERENCE_PREFIXES, read_reference_files

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
                for var, val in read_reference_files([env]).items():
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
        from remediate.vault import default_namespace
        from unleak import run as runner

        argv = tuple(args["argv"])
        task = args.get("task_id")
        cwd = self._inside(args.get("cwd", "."), "cwd")
        if not cwd.is_dir():
            raise UsageError("cwd is not a directory")
        if args.get("env_file"):
            env_file: Path | None = self._inside(str(cwd / args["env_file"]), "env_file")
        else:
            env_file = runner.default_env_file(cwd)
        if env_file is None or not env_file.is_file():
            raise UsageError("no reference file: there is no .env here or at the repository root; run fix first "
                             "or pass env_file")
        variables = runner.read_reference_files([env_file])
        branch = self._branch()
        # What the grant check sees: names and references (not the agent's variable names alone), the tier
        # labelled on those vault entries, the real program, and plain variables that can change its code.
        ctx, foreign = run_context(argv, variables, repo=self.root, cwd=cwd, branch=branch, task=task,
                                   client=client, env_file=env_file)
        names, tier, own_ns = ctx.secrets, ctx.tier, default_namespace(self.root)
        proc = process_info(argv, cwd=str(cwd), repo=str(self.root), branch=branch)
        base = {"secrets": names, "process": proc, "task": task}

        if foreign:
            reason = (f"the reference file points outside this repository's vault namespace {own_ns!r} "
                      f"({', '.join(foreign)}); an agent's run may only use this repository's secrets")
            self.record("run.refused", client, scrub, result="refused", detail={"reason": reason}, **base)
            return ToolOutcome({"status": "refused", "reason": reason}, is_error=True)

        if tier not in self.policy.mcp_tiers:
            reason = (f"{tier}-tier secrets are not reachable through MCP under the user's policy "
                      f"(mcp_tiers = {list(self.policy.mcp_tiers)} in the user's policy.toml)")
            self.record("run.refused", client, scrub, result="refused", detail={"reason": reason, "tier": tier},
                        **base)
            return ToolOutcome({"status": "refused", "reason": reason}, is_error=True)

        grant = self._store().find_grant(ctx)
        if grant is None:
            danger = dangerous_reason(argv, program=ctx.program)
            if danger is not None:
                reason = (f"refused: {danger}. Such commands could print the secrets, so they run only under a "
                          "grant a human makes for exactly that command with `unleak grant --allow-dangerous`. "
                          "Run the program itself instead (e.g. the test runner).")
                self.record("run.refused", client, scrub, result="refused",
                            detail={"reason": danger, "tier": tier}, **base)
                return ToolOutcome({"status": "refused", "reason": reason}, is_error=True)
            req = self._store().create_request(ctx)
            url = self._approvals().approval_url(req)
            # The link goes to the human only (this log, URL elicitation): whoever loads the page reads the code
            # that approving needs, so it never enters an answer.
            print(f"unleak: approval needed for request {req.id}: {url}", file=sys.stderr, flush=True)
            self.record("run.request", client, scrub, request=req.id, result="approval_required",
                        detail={"tier": tier, "ttl": req.ttl}, **base)
            out: dict[str, Any] = {
                "status": "approval_required",
                "request_id": req.id,
                "message": (f"No grant covers this run. Ask the human to approve request {req.id}: they run "
                            f"`unleak approve {req.id}` in their own terminal and type the code shown on its "
                            "approval page (unleak's log has the link). Then call run again with the same "
                            "arguments."),
                "approve_command": f"unleak approve {req.id}",
                "secrets": list(names),
                "expires_in_seconds": int(req.expires - time.time()),
            }
            return ToolOutcome(out)

        # Covered: resolve (everything that can fail happens before the child exists), run, mask, cap.
        plan = runner.prepare([env_file], cwd=cwd, variables=variables)  # what was checked, not a re-read
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
            res = execute_masked(list(argv), plan.env, extra, cwd=cwd, timeout=timeout,
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
                        f"terminal. Meanwhile put {name}={vault.reference_for(name)} in .env. The value will "
                        "never be shown to you."),
        })

    # -- dispatch

    def call(self, name: str, args: dict[str, Any], client: str) -> tuple[dict[str, Any], bool]:
        """Validate, run and guard one tool call. Returns (answer, is_error)."""
        audit_guard = _audit_guard(vault_values())
        extra: dict[str, str] = {}
        try:
            _validate(name, args)
            handler: Callable[[dict[str, Any], str, AnswerGuard], ToolOutcome] = getattr(self, f"tool_{name}")
            outcome = handler(args, client, audit_guard)
            data, is_error = outcome.data, outcome.is_error
            extra = outcome.extra_values
        except UnleakError as exc:
            # Library messages may quote what the agent sent (a path, a program name, a range); it gets back only
            # what unleak itself wrote.
            message = _without_arguments(str(exc), name, args)
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


def _audit_guard(values: Mapping[str, str]) -> AnswerGuard:
    """The audit log is not an answer: there every value the masker would mask (4+ characters) is looked for,
    and a field holding one is replaced whole."""
    from unleak.masking import MIN_MASK_LENGTH

    return AnswerGuard(values, min_length=MIN_MASK_LENGTH)


def _without_arguments(message: str, tool: str, args: Mapping[str, Any]) -> str:
    """``message`` with every free-text string the agent sent replaced by ``<argument>`` (a choice from an enum
    is the schema's own word and stays)."""
    props = TOOLS.get(tool, {}).get("schema", {}).get("properties", {})
    sent: set[str] = set()

    def collect(v: Any) -> None:
        if isinstance(v, str):
            sent.add(v)
        elif isinstance(v, Mapping):
            for x in v.values():
                collect(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                collect(x)

    collect({k: v for k, v in args.items() if "enum" not in props.get(k, {})})
    for s in sorted((x for x in sent if len(x) >= 2), key=len, reverse=True):
        message = message.replace(repr(s), "<argument>").replace(s, "<argument>")
    return message


class _ExecResult:
    def __init__(self, exit_code: int, output: str, total: int, truncated: bool, timed_out: bool) -> None:
        self.exit_code, self.output, self.total = exit_code, output, total
        self.truncated, self.timed_out = truncated, timed_out


def execute_masked(argv: list[str], env: Mapping[str, str], secrets: Mapping[str, str], *, cwd: Path,
                   timeout: float, cap: int, on_start: Callable[[int], None] | None = None,
                   watch: Callable[[], str | None] | None = None) -> _ExecResult:
    """Run ``argv`` with ``env``; stdout and stderr (merged) pass through the masker, the first ``cap`` masked
    bytes are kept and the rest is counted and dropped. The child runs under the reaper supervisor, with no
    stdin: at its exit, at ``timeout`` or when ``watch`` (asked about once a second) gives a reason, everything
    it started is killed."""
    from unleak.masking import Masker
    from unleak.run import exit_status, spawn_supervised, stop_supervised

    # An agent's run: the child (code the agent may have written) gets no access to the vault, its key, grants,
    # policy or the audit log (Landlock, where the kernel has it).
    proc = spawn_supervised(argv, env, cwd, confine=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    if on_start is not None:
        on_start(proc.pid)
    assert proc.stdout is not None
    masker = Masker(dict(secrets))
    kept = bytearray()
    total = 0
    timed_out = False
    stopped: str | None = None
    deadline = time.monotonic() + timeout
    next_watch = 0.0
    fd = proc.stdout.fileno()
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)

    def keep(data: bytes) -> None:
        room = cap - len(kept)
        if room > 0:
            kept.extend(data[:room])

    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                stop_supervised(proc)
                break
            if watch is not None and time.monotonic() >= next_watch:
                next_watch = time.monotonic() + 1.0
                stopped = watch()
                if stopped is not None:
                    stop_supervised(proc)
                    break
            if not sel.select(timeout=min(left, 0.5)):
                continue
            data = os.read(fd, 1 << 16)
            if not data:
                break
            # Lengths are counted after masking: the unmasked length would tell the agent how long a value is.
            masked = masker.feed(data)
            total += len(masked)
            keep(masked)
        masked = masker.close()
        total += len(masked)
        keep(masked)
    finally:
        sel.close()
        proc.stdout.close()
    try:
        code = proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        stop_supervised(proc)
        code = proc.wait()
    text = kept.decode("utf-8", errors="replace")
    truncated = total > len(kept) and len(kept) >= cap
    if truncated:
        text += f"\n[unleak: output cut at {cap} bytes of {total}]"
    if timed_out:
        text += f"\n[unleak: killed after {timeout:g} s]"
    if stopped is not None:
        text += f"\n[unleak: stopped: {stopped}]"
    return _ExecResult(exit_status(code), text, total, truncated, timed_out)


def _validate(name: str, args: dict[str, Any]) -> None:
    import jsonschema  # type: ignore[import-untyped, unused-ignore]

    spec = TOOLS.get(name)
    if spec is None:
        raise UsageError(f"unknown tool {_ident(name)}; tools: {', '.join(TOOLS)}")
    validator = jsonschema.Draft202012Validator(spec["schema"])
    errors = sorted(validator.iter_errors(args), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.path) or "arguments"
        allowed = ", ".join(spec["schema"]["properties"]) or "none"
        # The message names the rule, not the offending value (an argument could hold anything).
        if e.validator == "additionalProperties":
            extra = sorted(set(e.instance) - set(spec["schema"]["properties"])) if isinstance(e.instance, dict) else []
            hint = f"unexpected argument(s) {', '.join(_ident(x) for x in extra)}; allowed: {allowed}"
        elif e.validator == "required":
            hint = f"missing required argument(s) {', '.join(_short(x) for x in e.validator_value)}"
        elif e.validator == "type":
            hint = f"must be of type {_short(e.validator_value)}"
        else:
            hint = f"fails {e.validator} {_short(e.validator_value)}"
        raise UsageError(f"invalid arguments for {name}: {where}: {hint}")


def _ident(v: str) -> str:
    """An identifier the agent sent, echoed only when it is one; anything else could be any text at all."""
    return v if _IDENT.fullmatch(v) else "(invalid name)"


def _short(v: Any) -> str:
    s = json.dumps(v) if not isinstance(v, str) else v
    return s if len(s) <= 80 else s[:77] + "..."


def _refuse_state_in_repo(root: Path, dirs: list[Path]) -> None:
    from unleak.userenv import config_dir

    for d in [*dirs, config_dir()]:
        with contextlib.suppress(OSError):
            r = d.resolve()
            if r == root or root in r.parents:
                raise PolicyError(f"unleak's state directory {r} is inside the repository {root}: the agent could "
                                  "edit its own grants. Point XDG_STATE_HOME/XDG_CONFIG_HOME outside it.")


def _client_label(ctx: Any) -> str:
    params = getattr(getattr(ctx, "session", None), "client_params", None)
    info = getattr(params, "client_info", None)
    if info is None:
        return "unknown-client"
    name = "".join(ch if ch.isalnum() or ch in "-_.@/" else "-" for ch in str(info.name))[:64] or "client"
    version = "".join(ch for ch in str(info.version) if ch.isalnum() or ch in "-_.+")[:32]
    return f"{name} {version}".strip()


def _supports_url_elicitation(ctx: Any) -> bool:
    caps = getattr(getattr(ctx, "session", None), "client_capabilities", None)
    elicitation = getattr(caps, "elicitation", None)
    return getattr(elicitation, "url", None) is not None


async def _approve_through_client(app: UnleakMCP, ctx: Any, args: dict[str, Any], client: str,
                                  data: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """URL-mode elicitation for a run that needs approval: the client shows the human the approval page (the
    model never needs the link), then we wait a while for the decision; once approved, the run happens in this
    same call."""
    import anyio

    request_id = str(data["request_id"])
    try:
        req = app._store().get_request(request_id)
        url = app._approvals().approval_url(req)
        elicitation_id = base64.urlsafe_b64encode(os.urandom(12)).decode().rstrip("=")
        res = await ctx.session.elicit_url(
            shown(f"A coding agent asks to run `{' '.join(req.argv)}` with {', '.join(req.secrets) or 'no secrets'}. "
                  f"Open the page to see the request and its code; approve with `unleak approve {req.id}` in your "
                  "terminal."), url, elicitation_id, related_request_id=ctx.request_id)
    except Exception:
        return data, False  # the client could not show it: the answer already says how to approve
    action = str(getattr(res, "action", ""))
    data["elicitation"] = action
    if action != "accept":
        return data, False
    # Clients time tool calls out; after two minutes the answer says how to approve later instead.
    deadline = time.monotonic() + min(app.policy.request_ttl, 120)
    state = "pending"
    while time.monotonic() < deadline:
        state = (await anyio.to_thread.run_sync(app._store().get_request, request_id)).state()
        if state != "pending":
            break
        await anyio.sleep(0.25)
    if state == "approved":
        return await anyio.to_thread.run_sync(app.call, "run", args, client)
    data["status"] = "denied" if state == "denied" else "approval_required"
    data["message"] = ("The human denied this run." if state == "denied" else data["message"])
    return data, state == "denied"


def build_server(app: UnleakMCP, read_only: bool = False) -> Any:
    import anyio
    import mcp.types as types
    from mcp.server.lowlevel import Server

    tools = [
        types.Tool(name=name, title=spec["title"], description=spec["description"], input_schema=spec["schema"],
                   output_schema=OUTPUT_SCHEMAS[name],
                   annotations=types.ToolAnnotations(title=spec["title"], **spec["annotations"]))
        for name, spec in TOOLS.items() if not read_only or name in READ_ONLY_TOOLS
    ]

    async def list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: Any) -> Any:
        client = _client_label(ctx)
        args = dict(params.arguments or {})
        if read_only and params.name not in READ_ONLY_TOOLS:
            refused = {"error": f"{params.name} is not served: this unleak MCP server is read-only "
                                f"({', '.join(READ_ONLY_TOOLS)})", "kind": "UsageError"}
            return types.CallToolResult(content=[types.TextContent(type="text", text=json.dumps(refused))],
                                        structured_content=refused, is_error=True)
        data, is_error = await anyio.to_thread.run_sync(app.call, params.name, args, client)
        secret_url = app.secret_urls.get(str(data.get("request_id", "")))
        if params.name == "request_secret" and not is_error and secret_url and _supports_url_elicitation(ctx):
            # URL-mode elicitation: the client shows the link to the human; the model never gets it.
            with contextlib.suppress(Exception):
                elicitation_id = base64.urlsafe_b64encode(os.urandom(12)).decode().rstrip("=")
                res = await ctx.session.elicit_url(
                    shown(f"Enter the value of {data['name']} for unleak, then confirm it with `unleak approve "
                          f"{data['request_id']}` in your terminal (stored in your vault, never shown to the "
                          "agent)."), secret_url, elicitation_id, related_request_id=ctx.request_id)
                data["elicitation"] = str(getattr(res, "action", "sent"))
        if (params.name == "run" and not is_error and data.get("status") == "approval_required"
                and _supports_url_elicitation(ctx)):
            data, is_error = await _approve_through_client(app, ctx, args, client, data)
        text = json.dumps(data, indent=1, ensure_ascii=False)
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)],
                                    structured_content=data, is_error=is_error)

    return Server(SERVER_NAME, version=__version__, instructions=INSTRUCTIONS, on_list_tools=list_tools,
                  on_call_tool=call_tool)


def serve(root: Path, read_only: bool = False) -> None:
    """Serve over stdio until the client closes stdin; ``read_only`` serves only :data:`READ_ONLY_TOOLS`."""
    import anyio
    from mcp.server.stdio import stdio_server

    # Children of this server (runs) inherit this; `unleak approve`/`grant` refuse to work from inside them.
    os.environ["UNLEAK_MCP"] = "1"
    # This process reads vault values (to run and to scrub answers): no core file, no same-user ptrace.
    from unleak.reaper import protect_process

    protect_process()
    app = UnleakMCP(root=root)
    server = build_server(app, read_only=read_only)

    async def main() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    try:
        anyio.run(main)
    finally:
        if app.approvals is not None:
            app.approvals.stop()
