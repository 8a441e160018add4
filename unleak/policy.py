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
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import json
import os
import re
import secrets
import shlex
import time
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from scanner.errors import ConfigError, PolicyError, UsageError
from unleak.userenv import config_dir, data_dir, ensure_private_dir, state_dir

TIERS = ("dev", "staging", "prod")
_TIER_RANK = {t: i for i, t in enumerate(TIERS)}

DEFAULT_TTL = 15 * 60
DEFAULT_MAX_TTL = 8 * 3600
DEFAULT_REQUEST_TTL = 15 * 60
DEFAULT_OUTPUT_CAP = 64 * 1024
DEFAULT_RUN_TIMEOUT = 120
MAX_RUN_TIMEOUT = 3600


def now() -> float:
    return time.time()


# ------------------------------------------------------------------------------------------------ durations

_DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | int) -> int:
    """``30m`` → 1800. Units s, m, h, d (a bare number is seconds)."""
    if isinstance(text, int) and not isinstance(text, bool):
        seconds = text
    else:
        m = _DURATION_RE.match(str(text).lower())
        if not m:
            raise UsageError(f"invalid duration {text!r}: use a number with a unit, e.g. 90s, 15m, 2h, 1d")
        seconds = int(m.group(1)) * _UNITS[m.group(2)]
    if seconds <= 0:
        raise UsageError(f"invalid duration {text!r}: it must be longer than zero")
    return seconds


def format_duration(seconds: float) -> str:
    s = max(0, round(seconds))
    if s >= 3600 and s % 3600 == 0:
        return f"{s // 3600} h"
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60} min"
    if s >= 60:
        return f"{s // 60} min" + (f" {s % 60} s" if s % 60 else "")
    return f"{s} s"


# --------------------------------------------------------------------------------------------------- policy


@dataclass(frozen=True)
class Policy:
    """The user's rules, from ``policy.toml`` in the config directory. Defaults are the safe ones."""

    default_ttl: int = DEFAULT_TTL
    max_ttl: int = DEFAULT_MAX_TTL
    request_ttl: int = DEFAULT_REQUEST_TTL
    #: tiers an MCP client may reach at all; prod only when the user adds it here
    mcp_tiers: tuple[str, ...] = ("dev", "staging")
    #: tier of a run by the reference file's name or by the secret names; first match wins, highest tier wins
    tier_patterns: dict[str, tuple[str, ...]] = field(default_factory=lambda: {
        "prod": (".env.prod", ".env.production", ".env.prod.*", ".env.production.*"),
        "staging": (".env.staging", ".env.stage", ".env.staging.*"),
    })
    output_cap: int = DEFAULT_OUTPUT_CAP
    run_timeout: int = DEFAULT_RUN_TIMEOUT
    #: whether the approval page's URL is put in the MCP answer (the model sees it) or only sent to the client
    #: through URL elicitation / written to the server's stderr
    approval_url_in_answer: bool = True
    #: which ``unleak run`` invocations need a grant like an MCP ``run``: "agent" (every one not started by the
    #: human at their own terminal, see :mod:`unleak.runguard`), "always", or "never" (a machine no agent uses)
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
    "default_ttl", "max_ttl", "request_ttl", "mcp_tiers", "tiers", "output_cap", "run_timeout",
    "approval_url_in_answer", "run_requires_grant",
}
RUN_GRANT_MODES = ("agent", "always", "never")


def load_policy(path: Path | None = None) -> Policy:
    """Read and validate the policy; a missing file means the defaults. Errors name the file and the key."""
    path = path or policy_path()
    if not path.is_file():
        return Policy()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the policy ({exc}); fix or remove the file") from None
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
    if "approval_url_in_answer" in data:
        if not isinstance(data["approval_url_in_answer"], bool):
            raise ConfigError(f"{path}: approval_url_in_answer must be true or false")
        kw["approval_url_in_answer"] = data["approval_url_in_answer"]
    if "run_requires_grant" in data:
        if data["run_requires_grant"] not in RUN_GRANT_MODES:
            raise ConfigError(f"{path}: run_requires_grant must be one of {', '.join(map(repr, RUN_GRANT_MODES))}")
        kw["run_requires_grant"] = data["run_requires_grant"]
    if "mcp_tiers" in data:
        tiers = data["mcp_tiers"]
        if not isinstance(tiers, list) or not all(t in TIERS for t in tiers):
            raise ConfigError(f"{path}: mcp_tiers must be a list of {', '.join(TIERS)}")
        kw["mcp_tiers"] = tuple(tiers)
    if "tiers" in data:
        table = data["tiers"]
        if not isinstance(table, dict) or not all(
            k in TIERS and isinstance(v, list) and all(isinstance(x, str) for x in v) for k, v in table.items()
        ):
            raise ConfigError(f"{path}: [tiers] maps a tier ({', '.join(TIERS)}) to a list of glob patterns")
        merged = dict(Policy().tier_patterns)
        merged.update({k: tuple(v) for k, v in table.items()})
        kw["tier_patterns"] = merged
    pol = Policy(**kw)
    if pol.default_ttl > pol.max_ttl:
        raise ConfigError(f"{path}: default_ttl is longer than max_ttl")
    return pol


def check_tier(tier: str) -> str:
    if tier not in TIERS:
        raise UsageError(f"unknown tier {tier!r}: choose one of {', '.join(TIERS)}")
    return tier


def tier_of(env_files: Sequence[Path], names: Sequence[str], policy: Policy) -> str:
    """The environment tier of a run: the highest tier whose patterns match a reference file name or a secret
    name (``dev`` when none does)."""
    best = "dev"
    subjects = [p.name for p in env_files] + list(names)
    for tier, patterns in policy.tier_patterns.items():
        if any(fnmatch.fnmatchcase(s, pat) for s in subjects for pat in patterns) and (
            _TIER_RANK[tier] > _TIER_RANK[best]
        ):
            best = tier
    return best


# ------------------------------------------------------------------------------------- dangerous commands

_SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "mksh", "fish", "csh", "tcsh", "busybox", "ash", "pwsh",
           "powershell"}
#: interpreter -> options that take code from the command line
_CODE_FLAGS: dict[str, tuple[str, ...]] = {
    "python": ("-c",), "pypy": ("-c",), "node": ("-e", "--eval", "-p", "--print", "-r", "--require"),
    "deno": ("eval",), "bun": ("-e", "--eval", "-p", "--print"), "ruby": ("-e",), "perl": ("-e", "-E"),
    "php": ("-r",), "lua": ("-e",), "osascript": ("-e",), "awk": (), "gawk": (), "R": ("-e",),
    "Rscript": ("-e",), "julia": ("-e", "--eval", "-E", "--print"), "tclsh": (), "jshell": (),
}
#: print or hand on the whole environment, or run any command given to them
_ENV_DUMPERS = {"env", "printenv", "export", "set", "declare", "typeset", "compgen", "xargs", "sudo", "doas",
                "su", "nohup", "strace", "ltrace", "gdb", "lldb", "script", "expect", "watch", "eval",
                "exec", "command", "builtin", "nice", "timeout", "stdbuf", "setsid", "unbuffer", "time",
                "ionice", "chroot", "flock", "tmux", "screen"}
#: read a file and print it (or copy it somewhere the agent can read)
_FILE_READERS = {"cat", "tac", "nl", "less", "more", "most", "head", "tail", "xxd", "od", "hexdump", "hd",
                 "strings", "base64", "base32", "basenc", "uuencode", "cp", "mv", "dd", "tee", "rsync", "scp",
                 "grep", "egrep", "fgrep", "rg", "ag", "sed", "awk", "gawk", "cut", "sort", "uniq", "paste",
                 "diff", "cmp", "tar", "zip", "gzip", "bzip2", "xz", "zstd", "curl", "wget", "nc", "ncat",
                 "openssl", "gpg", "vi", "vim", "nvim", "nano", "emacs", "view", "jq", "yq", "python", "node",
                 "ruby", "perl", "file", "stat", "ln", "install", "bat", "batcat", "column", "fold", "fmt",
                 "pr", "iconv", "tr", "wc", "sum", "md5sum", "sha1sum", "sha256sum", "cksum", "split", "csplit",
                 "look", "join", "comm", "expand", "unexpand", "rev", "shuf", "sqlite3"}
_SENSITIVE_NAME = re.compile(
    r"(^|/)(\.env(\..*)?|[^/]*\.vault|vault\.key[^/]*|[^/]*\.(key|pem|p12|pfx|jks|keystore|kdbx)|"
    r"id_(rsa|dsa|ecdsa|ed25519)[^/]*|\.netrc|\.npmrc|\.pypirc|\.git-credentials|credentials(\.json)?|"
    r"grants\.json|audit\.jsonl|policy\.toml|environ)$"
)


def _base(cmd: str) -> str:
    name = os.path.basename(cmd)
    known = _SHELLS | _ENV_DUMPERS | _FILE_READERS | set(_CODE_FLAGS)
    if name in known:
        return name
    # python3.11 -> python, node18 -> node (but base64 stays base64, handled above)
    m = re.match(r"^([A-Za-z]+?)(\d+(\.\d+)*)?(\.exe)?$", name)
    return m.group(1) if m else name


def _private_dirs() -> tuple[str, ...]:
    dirs = {str(state_dir()), str(config_dir()), str(data_dir())}
    return tuple(sorted(d.rstrip("/") for d in dirs))


def _touches_sensitive(arg: str, private: tuple[str, ...]) -> bool:
    # A flag's value (--file=.env) or a redirect-looking token counts as well.
    candidates = {arg, arg.split("=", 1)[-1], arg.lstrip("@<")}
    for c in candidates:
        if not c:
            continue
        if _SENSITIVE_NAME.search(c.rstrip("/")):
            return True
        if c.startswith("/proc/") or "/proc/self" in c:
            return True
        with contextlib.suppress(OSError, ValueError):
            resolved = str(Path(c).expanduser().resolve())
            if any(resolved == d or resolved.startswith(d + "/") for d in private):
                return True
        if any(c.startswith(d) for d in private):
            return True
    return False


def dangerous_reason(argv: Sequence[str]) -> str | None:
    """Why ``argv`` could print or exfiltrate the injected values or run arbitrary code, or None.

    This is a tripwire, not a sandbox: a test suite the agent edits runs the agent's code too. The masking of the
    output and the audit log are the other layers; this one stops the commands whose *only* purpose is to show
    the environment or a secret file.
    """
    if not argv:
        return "empty command"
    name = _base(argv[0])
    args = list(argv[1:])
    private = _private_dirs()
    if name in _SHELLS:
        return f"{name} runs arbitrary shell code"
    if name in _ENV_DUMPERS:
        return f"{name} prints the environment or runs another command with it"
    flags = _CODE_FLAGS.get(name)
    if flags is not None:
        if name in {"awk", "gawk", "tclsh", "jshell"}:
            return f"{name} runs code given on its command line"
        for a in args:
            if a in flags or any(a.startswith(f) and len(f) == 2 and not f.startswith("--") for f in flags) or (
                any(a.startswith(f + "=") for f in flags if f.startswith("--"))
            ):
                return f"{name} {a[:2] if not a.startswith('--') else a} runs code given on its command line"
        if name in {"python", "pypy"} and not args:
            return f"{name} without a script reads code from its input"
        if name in {"python", "pypy"} and len(args) >= 2 and args[0] == "-m" and args[1] in {
            "code", "pdb", "IPython", "base64", "json.tool", "http.server", "pydoc",
        }:
            return f"{name} -m {args[1]} can print or serve the environment"
    if name in _FILE_READERS or name in _SHELLS:
        for a in args:
            if _touches_sensitive(a, private):
                return f"{name} would read a secret file ({os.path.basename(a.rstrip('/')) or a})"
    for a in args:
        if a.startswith("/proc/") or "/environ" in a:
            return "reads another process's environment"
        if any(a == d or a.startswith(d + "/") for d in private):
            return "touches unleak's vault, grants or audit log"
    return None


# --------------------------------------------------------------------------------------------- argv patterns


def parse_command_pattern(text: str) -> tuple[str, ...]:
    """``'pytest *'`` → ``("pytest", "*")``. Each token is a glob for one argument; a final ``*`` token matches
    any number of further arguments (including none)."""
    try:
        tokens = tuple(shlex.split(text))
    except ValueError as exc:
        raise UsageError(f"invalid --command {text!r}: {exc}") from None
    if not tokens:
        raise UsageError("--command needs at least the program name, e.g. --command 'pytest *'")
    return tokens


def command_matches(pattern: Sequence[str], argv: Sequence[str], *, exact: bool = False) -> bool:
    if exact:
        return list(pattern) == list(argv)
    pat = list(pattern)
    if not argv:
        return False
    if pat == ["*"]:
        return True  # any command (dangerous ones still need allow_dangerous, checked by the caller)
    # The program is matched on its base name unless the pattern names a path.
    prog_pat, prog = pat[0], argv[0]
    if "/" not in prog_pat:
        prog = os.path.basename(prog)
    if not fnmatch.fnmatchcase(prog, prog_pat):
        return False
    rest_pat, rest = pat[1:], list(argv[1:])
    if rest_pat and rest_pat[-1] == "*":
        fixed = rest_pat[:-1]
        if len(rest) < len(fixed):
            return False
        return all(fnmatch.fnmatchcase(a, p) for a, p in zip(rest, fixed, strict=False))
    if len(rest) != len(rest_pat):
        return False
    return all(fnmatch.fnmatchcase(a, p) for a, p in zip(rest, rest_pat, strict=True))


# --------------------------------------------------------------------------------------------- grant records


def _new_id(prefix: str) -> str:
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
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Grant:
        return cls(**{**d, "secrets": tuple(d["secrets"]), "command": tuple(d["command"])})


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


def grant_covers(grant: Grant, ctx: RunContext, at: float | None = None) -> str | None:
    """None when ``grant`` covers ``ctx``; otherwise the first reason it does not (for explanations)."""
    if not grant.active(at):
        return "expired" if grant.revoked is None else "revoked"
    if grant.repo is not None and os.path.realpath(grant.repo) != os.path.realpath(ctx.repo):
        return "other repository"
    if grant.branch is not None and not fnmatch.fnmatchcase(ctx.branch, grant.branch):
        return "other branch"
    if _TIER_RANK[ctx.tier] > _TIER_RANK[grant.tier]:
        return f"tier {ctx.tier} above the grant's {grant.tier}"
    if grant.task is not None and grant.task != ctx.task:
        return "other task"
    if not all(any(fnmatch.fnmatchcase(n, g) for g in grant.secrets) for n in ctx.secrets):
        return "secret names not covered"
    if not command_matches(grant.command, ctx.argv, exact=grant.exact):
        return "command not covered"
    if dangerous_reason(ctx.argv) is not None and not grant.dangerous:
        return "dangerous command not explicitly allowed"
    return None


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

    def state(self, at: float | None = None) -> str:
        if self.status == "pending" and (now() if at is None else at) >= self.expires:
            return "expired"
        return self.status

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["argv"] = list(self.argv)
        d["secrets"] = list(self.secrets)
        return d

    def public_dict(self) -> dict[str, Any]:
        d = self.to_dict()
        del d["token"]
        d["state"] = self.state()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ApprovalRequest:
        return cls(**{**d, "argv": tuple(d["argv"]), "secrets": tuple(d["secrets"])})


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

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        ensure_private_dir(self.dir)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            data = self._read()
            before = json.dumps(data, sort_keys=True)
            yield data
            if json.dumps(data, sort_keys=True) != before:
                from scanner.fileio import atomic_write_text

                atomic_write_text(self.path, json.dumps(data, indent=1, sort_keys=True) + "\n", mode=0o600)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _read(self) -> dict[str, Any]:
        if not self.path.is_file():
            return {"version": 1, "grants": [], "requests": []}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("grants"), list):
                raise ValueError("not a grants file")
            data.setdefault("requests", [])
            return data
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{self.path}: cannot read grants ({type(exc).__name__}); remove the file to "
                              "start over (every grant ends)") from None

    def grants(self) -> list[Grant]:
        return [Grant.from_dict(g) for g in self._read()["grants"]]

    def requests(self) -> list[ApprovalRequest]:
        return [ApprovalRequest.from_dict(r) for r in self._read()["requests"]]

    # -- grants

    def add_grant(
        self, *, secrets: Sequence[str], command: Sequence[str], created_by: str, ttl: int | None = None,
        exact: bool = False, repo: str | None = None, branch: str | None = None, tier: str = "dev",
        task: str | None = None, dangerous: bool = False, client: str | None = None, request: str | None = None,
    ) -> Grant:
        if not secrets or not all(isinstance(s, str) and s for s in secrets):
            raise UsageError("a grant needs at least one secret name or glob, e.g. --secrets 'STRIPE_*'")
        if not command:
            raise UsageError("a grant needs a command pattern, e.g. --command 'pytest *'")
        check_tier(tier)
        seconds = self.policy.check_ttl(ttl if ttl is not None else self.policy.default_ttl)
        t = now()
        grant = Grant(
            id=_new_id("g-"), secrets=tuple(secrets), command=tuple(command), created=t, expires=t + seconds,
            created_by=created_by, exact=exact, repo=os.path.realpath(repo) if repo else None, branch=branch,
            tier=tier, task=task, dangerous=dangerous, client=client, request=request,
        )
        with self._locked() as data:
            data["grants"].append(grant.to_dict())
        return grant

    def find_grant(self, ctx: RunContext) -> Grant | None:
        """The active grant that covers ``ctx`` and expires last, or None."""
        t = now()
        covering = [g for g in self.grants() if grant_covers(g, ctx, t) is None]
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
                                                r.env_file) == (ctx.argv, ctx.secrets, ctx.repo, ctx.branch,
                                                                ctx.tier, ctx.task, ctx.client, ctx.env_file):
                    return r
            req = ApprovalRequest(
                id=_new_id("r-"), token=secrets.token_urlsafe(32), argv=ctx.argv, secrets=ctx.secrets,
                repo=ctx.repo, branch=ctx.branch, tier=ctx.tier, ttl=seconds, created=t,
                expires=t + self.policy.request_ttl, client=ctx.client, task=ctx.task, cwd=ctx.cwd,
                env_file=ctx.env_file, dangerous=dangerous_reason(ctx.argv),
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
               allow_dangerous: bool = False) -> tuple[ApprovalRequest, Grant | None]:
        """Approve (creating a grant for exactly that argv, secrets, repo, branch, tier and task) or deny a
        pending request. A decided or expired request cannot be decided again."""
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
                if r.dangerous and not allow_dangerous:
                    raise PolicyError(
                        f"request {request_id} runs a dangerous command ({r.dangerous}); it could print the "
                        "secrets. Approve it only if you mean it, with --allow-dangerous")
                seconds = self.policy.check_ttl(ttl if ttl is not None else r.ttl)
                grant = Grant(
                    id=_new_id("g-"), secrets=r.secrets, command=r.argv, created=t, expires=t + seconds,
                    created_by=by, exact=True, repo=r.repo, branch=r.branch, tier=r.tier, task=r.task,
                    dangerous=bool(r.dangerous), client=r.client, request=r.id,
                )
                data["grants"].append(grant.to_dict())
                r = replace(r, status="approved", decided=t, decided_by=by, grant=grant.id, ttl=seconds)
            else:
                r = replace(r, status="denied", decided=t, decided_by=by)
            data["requests"][idx] = r.to_dict()
        return r, grant


def _client_name(client: str) -> str:
    """``"claude-code 1.2.3"`` → ``"claude-code"`` (revoke --client takes the name)."""
    return client.split(" ", 1)[0]


#: environment variables coding agents set in the shells they run; a human's approval must not come from there
AGENT_ENV_MARKERS = ("UNLEAK_RUN", "UNLEAK_MCP", "CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT", "CODEX_SANDBOX",
                     "CODEX_SANDBOX_NETWORK_DISABLED", "CURSOR_AGENT", "GEMINI_CLI", "AIDER_MODEL")


def refuse_agent_environment(action: str) -> None:
    """Approving, granting or revoking is for a human: refuse when the command runs inside a coding agent's
    shell or inside ``unleak run``, where the agent itself could be typing it."""
    for var in AGENT_ENV_MARKERS:
        if os.environ.get(var):
            raise PolicyError(
                f"`unleak {action}` refuses to run inside a coding agent's shell or `unleak run` ({var} is set): "
                "a human must do this in their own terminal or on the approval page")
