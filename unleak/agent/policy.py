"""Grants, approval requests and the user's policy: who may run what with which secrets, for how long.

A coding agent is a tenant, not a vault. It may ask to *run* a command with secrets in the environment; it never
reads a value. Whether a run may happen is decided here, from data the agent cannot write:

* the **policy** lives in the user's config directory (``$XDG_CONFIG_HOME/unleak/policy.toml``);
* **grants** and pending **approval requests** live in the user's state directory
  (``$XDG_STATE_HOME/unleak/grants.json``).

Neither is ever read from the repository: the agent can edit every file there, so nothing there may widen its access.

A grant binds secret names (globs), a command (an argv pattern, or one exact argv when it came from approving a
request), a repository, a branch, an environment tier, an optional task id and an expiry. Commands that run
arbitrary code or dump the environment (``sh -c``, ``python -c``, ``env``, ``printenv``, ``cat .env`` …) are
covered only by a grant a human made with ``allow_dangerous``: a broad pattern like ``*`` never covers them.

This module holds the policy, the grant and request records and the coverage rule; the grant store is
:mod:`unleak.agent.grantstore`, the shell-risk model :mod:`unleak.agent.shellrisk`, what a run really executes
:mod:`unleak.agent.runtarget`, and environment tiers :mod:`unleak.agent.tiers`.
"""

from __future__ import annotations

import fnmatch
import os
import secrets
import shlex
import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scanner.errors import ConfigError, PolicyError, UnleakError, UsageError
from unleak.agent.runtarget import Program, command_matches, env_allowed, identify_program, unsafe_env
from unleak.agent.shellrisk import dangerous_reason
from unleak.agent.tiers import TIER_RANK, TIERS, tier_of_references

# Durations live in unleak.durations (audit reads them too, without importing the policy); re-exported for the
# grant commands and the approval page.
from unleak.durations import format_duration as format_duration
from unleak.durations import parse_duration as parse_duration
from unleak.userenv import config_dir

DEFAULT_TTL = 15 * 60
DEFAULT_MAX_TTL = 8 * 3600
DEFAULT_REQUEST_TTL = 15 * 60
DEFAULT_OUTPUT_CAP = 64 * 1024
DEFAULT_RUN_TIMEOUT = 120
MAX_RUN_TIMEOUT = 3600


def now() -> float:
    return time.time()


# --------------------------------------------------------------------------------------------------- policy


@dataclass(frozen=True)
class Policy:
    """The user's rules, from ``policy.toml`` in the config directory. Defaults are the safe ones."""

    default_ttl: int = DEFAULT_TTL
    max_ttl: int = DEFAULT_MAX_TTL
    request_ttl: int = DEFAULT_REQUEST_TTL
    #: tiers an MCP client may reach at all; prod only when the user adds it here
    mcp_tiers: tuple[str, ...] = ("dev", "staging")
    output_cap: int = DEFAULT_OUTPUT_CAP
    run_timeout: int = DEFAULT_RUN_TIMEOUT
    #: whether the approval page's URL is put in the MCP answer (the model sees it) or only sent to the client
    #: through URL elicitation / written to the server's stderr
    approval_url_in_answer: bool = True
    #: whether any grant may cover a dangerous command (one that can print the secrets or run inline code)
    allow_dangerous: bool = True
    #: send every audit head to the system log (syslog/journald) as well
    audit_syslog: bool = False
    #: which ``unleak run`` invocations need a grant like an MCP ``run``: "agent" (every one not started by the
    #: human at their own terminal, see :mod:`unleak.agent.runguard`), "always", or "never" (a machine no agent uses)
    run_requires_grant: str = "agent"

    def check_ttl(self, seconds: int) -> int:
        if seconds > self.max_ttl:
            raise PolicyError(
                f"duration {format_duration(seconds)} is longer than the policy's maximum "
                f"{format_duration(self.max_ttl)}; ask for less, or raise max_ttl in {policy_path()}"
            )
        return seconds


def policy_path() -> Path:
    return config_dir() / "policy.toml"


_POLICY_KEYS = {
    "default_ttl", "max_ttl", "request_ttl", "mcp_tiers", "output_cap", "run_timeout",
    "approval_url_in_answer", "allow_dangerous", "audit_syslog", "run_requires_grant",
}
RUN_GRANT_MODES = ("agent", "always", "never")


def _policy_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the policy ({exc.strerror}); fix or remove the file") from None


def _policy_digest(content: bytes | None) -> str:
    from unleak import integrity

    # "no policy file" is a state of its own: deleting a signed policy must not read as the signed defaults
    return integrity.mac("policy", b"absent" if content is None else b"file:" + content)


def load_policy(path: Path | None = None, *, verify: bool = True) -> Policy:
    """Read and validate the policy; a missing file means the defaults. Errors name the file and the key.

    The policy decides what agents may reach, so it is only trusted as the human last signed it
    (``unleak policy sign``): a file that changed, appeared or disappeared since raises ConfigError.
    """
    path = path or policy_path()
    content = _policy_bytes(path)
    if verify:
        from unleak import integrity

        head = integrity.read_head("policy")
        if head is None and content is not None:
            raise ConfigError(f"{path} has not been signed: review it and run `unleak policy sign` in your own "
                              "terminal (an agent that can write files could have written it)")
        if head is not None and head.get("digest") != _policy_digest(content):
            raise ConfigError(f"{path} {'was removed' if content is None else 'changed'} since it was last signed: "
                              "review it and run `unleak policy sign` in your own terminal")
    return _parse_policy(content, path)


def _parse_policy(content: bytes | None, path: Path) -> Policy:
    if content is None:
        return Policy()
    try:
        data = tomllib.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the policy ({exc}); fix or remove the file") from None
    if "tiers" in data:
        # Tiers by file or variable name let whoever writes the reference file choose the tier.
        raise ConfigError(f"{path}: [tiers] is no longer read: a tier is a label a human puts on a vault entry, "
                          "`unleak secrets set --tier prod NAME`; remove the [tiers] table")
    unknown = set(data) - _POLICY_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; known: "
                          + ", ".join(sorted(_POLICY_KEYS)))
    kw: dict[str, Any] = {}
    for key in ("default_ttl", "max_ttl", "request_ttl", "run_timeout"):
        if key in data:
            try:
                kw[key] = parse_duration(data[key])
            except UsageError as exc:
                raise ConfigError(f"{path}: {key}: {exc}") from None
    if "output_cap" in data:
        if not isinstance(data["output_cap"], int) or data["output_cap"] < 1024:
            raise ConfigError(f"{path}: output_cap must be a number of bytes, at least 1024")
        kw["output_cap"] = data["output_cap"]
    for key in ("approval_url_in_answer", "allow_dangerous", "audit_syslog"):
        if key in data:
            if not isinstance(data[key], bool):
                raise ConfigError(f"{path}: {key} must be true or false")
            kw[key] = data[key]
    if "run_requires_grant" in data:
        if data["run_requires_grant"] not in RUN_GRANT_MODES:
            raise ConfigError(f"{path}: run_requires_grant must be one of {', '.join(map(repr, RUN_GRANT_MODES))}")
        kw["run_requires_grant"] = data["run_requires_grant"]
    if "mcp_tiers" in data:
        tiers = data["mcp_tiers"]
        if not isinstance(tiers, list) or not all(t in TIERS for t in tiers):
            raise ConfigError(f"{path}: mcp_tiers must be a list of {', '.join(TIERS)}")
        kw["mcp_tiers"] = tuple(tiers)
    pol = Policy(**kw)
    if pol.default_ttl > pol.max_ttl:
        raise ConfigError(f"{path}: default_ttl is longer than max_ttl")
    return pol


def sign_policy(path: Path | None = None) -> Policy:
    """Accept the policy file as it is now (validated first); for the human, after reviewing it."""
    from unleak import integrity

    path = path or policy_path()
    content = _policy_bytes(path)
    pol = _parse_policy(content, path)
    integrity.write_head("policy", {"digest": _policy_digest(content), "audit_syslog": pol.audit_syslog})
    return pol


# --------------------------------------------------------------------------------------------- grant records


def new_id(prefix: str) -> str:
    # Short enough to type in a terminal; 40 random bits is plenty for ids (they are not secrets).
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(8))


@dataclass(frozen=True)
class Grant:
    id: str
    secrets: tuple[str, ...]
    command: tuple[str, ...]
    created: float
    expires: float
    created_by: str
    exact: bool = False
    repo: str | None = None
    branch: str | None = None
    tier: str = "dev"
    task: str | None = None
    dangerous: bool = False
    client: str | None = None
    request: str | None = None
    revoked: float | None = None
    revoked_by: str | None = None
    #: the program the grant is for (real path + hash); None only for glob program patterns
    program: Program | None = None
    #: the human pinned a program inside the repository by its hash
    pinned: bool = False
    #: plain variables from the reference file a human allowed: NAME (any value) or NAME=value
    allow_env: tuple[str, ...] = ()
    #: pinned grant: the fingerprint of the repository's files and reference file when it was made
    #: (:mod:`unleak.agent.treepin`); any change voids it. None: unpinned, follows the code as it changes.
    tree: str | None = None

    def active(self, at: float | None = None) -> bool:
        t = now() if at is None else at
        return self.revoked is None and t < self.expires

    def state(self, at: float | None = None) -> str:
        if self.revoked is not None:
            return "revoked"
        return "active" if self.active(at) else "expired"

    def command_text(self) -> str:
        return shlex.join(self.command)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["secrets"] = list(self.secrets)
        d["command"] = list(self.command)
        d["allow_env"] = list(self.allow_env)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Grant:
        return cls(**{**d, "secrets": tuple(d["secrets"]), "command": tuple(d["command"]),
                      "program": Program.from_dict(d.get("program")), "allow_env": tuple(d.get("allow_env", ()))})


@dataclass(frozen=True)
class RunContext:
    """What a run would do, as the grant check sees it: names only, never values."""

    argv: tuple[str, ...]
    secrets: tuple[str, ...]
    repo: str
    branch: str
    tier: str = "dev"
    task: str | None = None
    client: str | None = None
    cwd: str = ""
    env_file: str | None = None
    #: what would really run (None: nothing found to run)
    program: Program | None = None
    #: plain variables from the reference file that can change the code that runs (see unsafe_env)
    env: tuple[tuple[str, str], ...] = ()
    #: the fingerprint of the repository and reference file, computed only when a pinned grant needs it
    tree: str | None = None


def _program_reason(grant: Grant, ctx: RunContext) -> str | None:
    prog = ctx.program
    if grant.program is not None:
        if prog != grant.program:
            return "the program is not the one the grant was made for (its real path or content changed)"
    # A glob pattern cannot be bound to one file, but the file that really runs must match it too.
    elif (prog is not None and grant.command and grant.command != ("*",) and not grant.exact
          and not fnmatch.fnmatchcase(os.path.basename(prog.path), os.path.basename(grant.command[0]))):
        return f"the program really is {os.path.basename(prog.path)}, which the pattern does not name"
    if prog is not None and prog.inside(ctx.repo) and not (grant.pinned and grant.program is not None):
        return ("the program is inside the repository, where the agent can change it, and the grant does not pin "
                "it by hash")
    return None


def grant_covers(grant: Grant, ctx: RunContext, at: float | None = None, *, policy: Policy | None = None) -> str | None:
    """None when ``grant`` covers ``ctx``; otherwise the first reason it does not (for explanations).

    With ``policy``, the grant is also held to the policy's limits whatever its record says: a grant longer than
    ``max_ttl``, a tier agents may not reach, or a dangerous command the policy forbids covers nothing.
    """
    if not grant.active(at):
        return "expired" if grant.revoked is None else "revoked"
    if policy is not None:
        if grant.expires - grant.created > policy.max_ttl + 1:
            return "longer than the policy's max_ttl"
        if ctx.client is not None and ctx.tier not in policy.mcp_tiers:
            return f"tier {ctx.tier} is not reachable by agents under the policy"
        if not policy.allow_dangerous and dangerous_reason(ctx.argv) is not None:
            return "dangerous commands are not allowed by the policy"
    if grant.repo is not None and os.path.realpath(grant.repo) != os.path.realpath(ctx.repo):
        return "other repository"
    if grant.branch is not None and not fnmatch.fnmatchcase(ctx.branch, grant.branch):
        return "other branch"
    if TIER_RANK[ctx.tier] > TIER_RANK[grant.tier]:
        return f"tier {ctx.tier} above the grant's {grant.tier}"
    if grant.task is not None and grant.task != ctx.task:
        return "other task"
    if not all(_secret_covered(n, grant.secrets) for n in ctx.secrets):
        return "secret names not covered"
    if not command_matches(grant.command, ctx.argv, exact=grant.exact):
        return "command not covered"
    reason = _program_reason(grant, ctx)
    if reason is not None:
        return reason
    for pair in ctx.env:
        if not env_allowed(pair, grant.allow_env):
            return f"{pair[0]} from the reference file can change the code that runs and the grant does not allow it"
    if dangerous_reason(ctx.argv, program=ctx.program) is not None and not grant.dangerous:
        return "dangerous command not explicitly allowed"
    if grant.tree is not None:
        from unleak.agent.treepin import fingerprint

        if grant.tree != (ctx.tree or fingerprint(ctx.repo, ctx.env_file)):
            return "the grant is pinned and the repository's files or reference file changed since it was made"
    return None


def _secret_covered(name: str, globs: Sequence[str]) -> bool:
    """A 1Password reference (``op://vault/item/field``) is checked itself, and only against globs written as
    references (``op://dev/stripe/*``): any item the user's session can read must not flow under a variable name
    the agent picked."""
    if name.startswith("op://"):
        return any(g.startswith("op://") and fnmatch.fnmatchcase(name, g) for g in globs)
    return any(fnmatch.fnmatchcase(name, g) for g in globs if not g.startswith("op://"))


def canonical_reference(reference: str) -> str:
    """One spelling per vault entry, for tier labels: 1Password matches vault and item names without regard to
    case, so ``op://Prod/DB/password`` must carry the label of ``op://prod/db/password``."""
    from remediate.vault import UNLEAK_SCHEME, format_reference, parse_reference

    try:
        ref = parse_reference(reference)
    except UnleakError:
        return reference
    if ref.scheme == UNLEAK_SCHEME:
        return format_reference(ref.scheme, ref.namespace, ref.name)
    return reference.lower()


def run_context(
    argv: Sequence[str], variables: Mapping[str, str], *, repo: Path, cwd: Path, branch: str,
    task: str | None = None, client: str | None = None, env_file: Path | None = None,
) -> tuple[RunContext, list[str]]:
    """What a run with these reference-file ``variables`` would do, as a grant check must see it, and the
    ``NAME=reference`` entries that point outside the repository's own unleak namespace.

    The agent can edit the reference file, so nothing in it may widen a grant: the secrets checked are the
    variable names *and* what they point to (the vault entry's name for ``unleak://``, the whole reference for
    ``op://``); the tier is the highest label a human put on those entries; the program is what argv[0] really
    resolves to; plain variables that can change the code that runs are listed for the grant to allow or not.
    """
    from remediate.vault import UNLEAK_SCHEME, default_namespace, parse_reference
    from remediate.vault.refs import REFERENCE_PREFIXES

    refs = {k: v for k, v in variables.items() if v.startswith(REFERENCE_PREFIXES)}
    plain = {k: v for k, v in variables.items() if k not in refs}
    names: set[str] = set(refs)
    foreign: list[str] = []
    own_ns = default_namespace(repo)
    for var, ref in refs.items():
        try:
            parsed = parse_reference(ref)
        except UnleakError:
            continue
        if parsed.scheme == UNLEAK_SCHEME:
            names.add(parsed.parts[-1])
            if parsed.namespace != own_ns:
                foreign.append(f"{var}={ref}")
        else:
            names.add(ref)
    search_path = plain.get("PATH", os.environ.get("PATH"))
    ctx = RunContext(
        argv=tuple(argv), secrets=tuple(sorted(names)), repo=str(repo), branch=branch,
        tier=tier_of_references([canonical_reference(r) for r in refs.values()]), task=task, client=client,
        cwd=str(cwd), env_file=str(env_file) if env_file is not None else None,
        program=identify_program(argv[0], cwd=cwd, search_path=search_path) if argv else None,
        # References count too: a vault value in LD_PRELOAD changes the code that runs as much as a plain one.
        env=unsafe_env(variables),
    )
    return ctx, foreign


@dataclass(frozen=True)
class ApprovalRequest:
    """A run an agent asked for and no grant covered; a human approves or denies it."""

    id: str
    token: str  # the one-time approval page's URL token; never shown by `unleak grants`
    argv: tuple[str, ...]
    secrets: tuple[str, ...]
    repo: str
    branch: str
    tier: str
    ttl: int  # how long the grant would last once approved
    created: float
    expires: float
    client: str | None = None
    task: str | None = None
    cwd: str = ""
    env_file: str | None = None
    dangerous: str | None = None  # the reason, when the command is a dangerous one
    status: str = "pending"  # pending | approved | denied
    decided: float | None = None
    decided_by: str | None = None
    grant: str | None = None
    program: Program | None = None
    inside_repo: bool = False  # the program is inside the repository: approving pins it by hash
    env: tuple[tuple[str, str], ...] = ()  # plain variables that can change the code that runs

    def state(self, at: float | None = None) -> str:
        if self.status == "pending" and (now() if at is None else at) >= self.expires:
            return "expired"
        return self.status

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["argv"] = list(self.argv)
        d["secrets"] = list(self.secrets)
        d["env"] = [list(p) for p in self.env]
        return d

    def public_dict(self) -> dict[str, Any]:
        d = self.to_dict()
        del d["token"]
        d["state"] = self.state()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ApprovalRequest:
        return cls(**{**d, "argv": tuple(d["argv"]), "secrets": tuple(d["secrets"]),
                      "program": Program.from_dict(d.get("program")),
                      "env": tuple((str(p[0]), str(p[1])) for p in d.get("env", ()))})


#: environment variables coding agents set in the shells they run; a human's approval must not come from there
AGENT_ENV_MARKERS = ("UNLEAK_RUN", "UNLEAK_MCP", "UNLEAK_AGENT", "CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT",
                     "CODEX_SANDBOX",
                     "CODEX_SANDBOX_NETWORK_DISABLED", "CURSOR_AGENT", "GEMINI_CLI", "AIDER_MODEL")


def refuse_agent_environment(action: str) -> None:
    """Approving, granting or revoking is for a human: refuse when the command runs inside a coding agent's
    shell or inside ``unleak run``, where the agent itself could be typing it."""
    for var in AGENT_ENV_MARKERS:
        if os.environ.get(var):
            raise PolicyError(
                f"`unleak {action}` refuses to run inside a coding agent's shell or `unleak run` ({var} is set): "
                "a human must do this in their own terminal or on the approval page")
