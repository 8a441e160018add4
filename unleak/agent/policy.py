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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from scanner.errors import ConfigError, PolicyError, UnleakError, UsageError
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


def check_tier(tier: str) -> str:
    if tier not in TIERS:
        raise UsageError(f"unknown tier {tier!r}: choose one of {', '.join(TIERS)}")
    return tier


def _tiers_path() -> Path:
    return data_dir() / "tiers.json"


class TierLabels:
    """The tier of each vault entry, by reference: metadata a human sets (``unleak secrets set --tier prod``),
    kept beside the vault and signed with unleak's integrity key. Never derived from a file or variable name: the
    agent writes those. An entry without a label is ``dev``; if the labels cannot be trusted (edited, rolled back,
    removed), every reference counts as ``prod``, the tier agents reach only when the policy says so."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or _tiers_path()

    def _load(self) -> tuple[dict[str, str], bool]:
        from unleak import integrity

        try:
            head = integrity.read_head("tiers")
            raw = json.loads(self.path.read_text(encoding="utf-8")) if self.path.is_file() else None
        except (OSError, ValueError, ConfigError):
            return {}, False
        if raw is None:
            return {}, head is None
        if not (isinstance(raw, dict) and isinstance(raw.get("labels"), dict) and integrity.record_valid("tiers", raw)
                and head is not None and head.get("digest") == raw.get("mac")):
            return {}, False
        labels = {k: v for k, v in raw["labels"].items() if isinstance(k, str) and v in TIERS}
        return labels, True

    def tier(self, reference: str) -> str:
        labels, trusted = self._load()
        if not trusted:
            return "prod"
        return labels.get(reference, "dev")

    def trusted(self) -> bool:
        return self._load()[1]

    def set(self, reference: str, tier: str) -> None:
        from scanner.fileio import atomic_write_text
        from unleak import integrity

        check_tier(tier)
        ensure_private_dir(self.path.parent)
        fd = os.open(self.path.with_name("tiers.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            labels, trusted = self._load()
            if not trusted and self.path.exists():
                raise ConfigError(f"{self.path} does not match what unleak last wrote; every secret counts as prod "
                                  "until you remove it and label the entries again")
            labels[reference] = tier
            doc = integrity.sign_record("tiers", {"labels": dict(sorted(labels.items()))})
            atomic_write_text(self.path, json.dumps(doc, indent=1, sort_keys=True) + "\n", mode=0o600)
            integrity.write_head("tiers", {"digest": doc["mac"]})
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def tier_of_references(references: Sequence[str], labels: TierLabels | None = None) -> str:
    """The tier of a run: the highest tier labelled on any of the vault entries it uses (``dev`` when none)."""
    labels = labels or TierLabels()
    best = "dev"
    for ref in references:
        t = labels.tier(ref)
        if _TIER_RANK[t] > _TIER_RANK[best]:
            best = t
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


def dangerous_reason(argv: Sequence[str], *, program: Program | None = None) -> str | None:
    """Why ``argv`` could print or exfiltrate the injected values or run arbitrary code, or None.

    This is a tripwire, not a sandbox: a test suite the agent edits runs the agent's code too. The masking of the
    output and the audit log are the other layers; this one stops the commands whose *only* purpose is to show
    the environment or a secret file. With ``program`` (what argv[0] really resolves to) the check also looks at
    the real file's name: ``./bin/pytest`` that links to bash is bash.
    """
    reason = _dangerous(argv)
    if reason is None and program is not None and argv and os.path.basename(program.path) != os.path.basename(
            argv[0]):
        reason = _dangerous([program.path, *argv[1:]])
    return reason


def _dangerous(argv: Sequence[str]) -> str | None:
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


# ----------------------------------------------------------------------------------------- program identity


@dataclass(frozen=True)
class Program:
    """What would really run: the resolved real path of the executable and a hash of its content, and for a
    ``#!`` script the interpreter's real path and hash. A name like ``pytest`` says nothing: a symlink called
    ``pytest`` can point at bash, and a script can be edited after it was approved."""

    path: str
    sha256: str
    interpreter: str | None = None
    interpreter_sha256: str | None = None

    def inside(self, root: str) -> bool:
        root = os.path.realpath(root)
        return any(p is not None and (p == root or p.startswith(root.rstrip("/") + "/"))
                   for p in (self.path, self.interpreter))

    def describe(self) -> str:
        # Paths are file names the agent may have chosen: escape anything a terminal would interpret.
        text = f"{show_env_value(self.path)} (sha256 {self.sha256[:16]}…)"
        if self.interpreter:
            text += f" run by {show_env_value(self.interpreter)} (sha256 {(self.interpreter_sha256 or '')[:16]}…)"
        return text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: object) -> Program | None:
        return cls(**d) if isinstance(d, dict) else None


def _sha256_file(path: str) -> str | None:
    import hashlib

    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError:
        return None


def _interpreter(path: str, search_path: str | None) -> str | None:
    """The program a ``#!`` line names (through ``/usr/bin/env`` too), or None for a binary."""
    import shutil

    try:
        with open(path, "rb") as fh:
            first = fh.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    tokens = first[2:].decode("utf-8", "replace").split()
    if not tokens:
        return None
    prog, rest = tokens[0], tokens[1:]
    if os.path.basename(prog) == "env":
        names = [t for t in rest if not t.startswith("-") and "=" not in t]
        if not names:
            return None
        found = shutil.which(names[0], path=search_path)
        return os.path.realpath(found) if found else None
    return os.path.realpath(prog)


def identify_program(argv0: str, *, cwd: Path, search_path: str | None) -> Program | None:
    """Resolve ``argv0`` the way the child's exec will (relative to ``cwd`` when it has a slash, else on
    ``search_path``) and hash what is there; None when there is nothing to run."""
    import shutil

    if not argv0:
        return None
    if "/" in argv0:
        cand: str | None = str(cwd / argv0) if not os.path.isabs(argv0) else argv0
        if cand is not None and not (os.path.isfile(cand) and os.access(cand, os.X_OK)):
            cand = None
    else:
        cand = shutil.which(argv0, path=search_path)
    if cand is None:
        return None
    real = os.path.realpath(cand)
    digest = _sha256_file(real)
    if digest is None:
        return None
    interp = _interpreter(real, search_path)
    return Program(path=real, sha256=digest, interpreter=interp,
                   interpreter_sha256=_sha256_file(interp) if interp else None)


# ------------------------------------------------------------------------------------- environment injection

#: Plain variables that change which code a program runs, where it loads it from, or where its traffic goes. Set
#: from a reference file the agent can edit, any of them turns an approved ``python -m app`` into agent code.
_UNSAFE_ENV = re.compile(
    r"^(PATH|PYTHON\w*|LD_\w*|DYLD_\w*|NODE_OPTIONS|NODE_PATH|BASH_ENV|ENV|BASH_FUNC_.*|SHELLOPTS|BASHOPTS|PS4|"
    r"PROMPT_COMMAND|IFS|CDPATH|ZDOTDIR|SHELL|\w*_OPTIONS|\w*_OPTS|PERL5OPT|PERL5LIB|PERLLIB|RUBYOPT|RUBYLIB|"
    r"GEM_PATH|GEM_HOME|GIT_\w*|LUA_\w*|GCONV_PATH|MALLOC_\w*|GLIBC_TUNABLES|HOME|XDG_\w*|TMPDIR|EDITOR|VISUAL|"
    r"PAGER|BROWSER|\w*_PROXY|SSL_CERT_\w*|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE|NODE_EXTRA_CA_CERTS|"
    r"DOTNET_STARTUP_HOOKS|CORECLR_\w*|COMPLUS_\w*|PHPRC|PHP_INI_SCAN_DIR|R_PROFILE\w*|R_ENVIRON\w*|JULIA_\w*|"
    r"NPM_CONFIG_\w*|PIP_\w*|UV_\w*|CARGO_\w*|RUSTC_WRAPPER|RUSTFLAGS|CC|CXX|CPP|LD|AR|MAKEFLAGS|MAKE|"
    r"\w*ASKPASS|UNLEAK_\w*)$",
    re.IGNORECASE,
)
#: PYTHON* settings that change no code path, common in .env files
_HARMLESS_ENV = {"PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED", "PYTHONIOENCODING", "PYTHONUTF8",
                 "PYTHONFAULTHANDLER", "PYTHONOPTIMIZE"}


def unsafe_env(plain: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The variables of a reference file that a run under a grant refuses unless a human allowed them: (name,
    value-as-written) pairs, sorted. For a reference the value is the reference, never what it resolves to."""
    return tuple(sorted((k, v) for k, v in plain.items() if _UNSAFE_ENV.match(k) and k not in _HARMLESS_ENV))


def env_allowed(pair: tuple[str, str], allowed: Sequence[str]) -> bool:
    """``NAME`` allows any value, ``NAME=value`` that value only."""
    name, value = pair
    return any(a == name or a == f"{name}={value}" for a in allowed)


def show_env_value(value: str) -> str:
    """A plain value for a human's eyes: URL passwords hidden, control characters escaped."""
    shown = re.sub(r"(?<=://)([^/@:\s]*):[^/@\s]*@", r"\1:***@", value)
    return shown if shown.isprintable() else ascii(shown)


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
    #: the program the grant is for (real path + hash); None only for glob program patterns
    program: Program | None = None
    #: the human pinned a program inside the repository by its hash
    pinned: bool = False
    #: plain variables from the reference file a human allowed: NAME (any value) or NAME=value
    allow_env: tuple[str, ...] = ()

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
    if _TIER_RANK[ctx.tier] > _TIER_RANK[grant.tier]:
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
    from unleak.run import REFERENCE_PREFIXES

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
        pin: bool = False, allow_env: Sequence[str] = (), cwd: Path | None = None,
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
            id=_new_id("g-"), secrets=tuple(secrets), command=tuple(command), created=t, expires=t + seconds,
            created_by=created_by, exact=exact, repo=os.path.realpath(repo) if repo else None, branch=branch,
            tier=tier, task=task, dangerous=dangerous, client=client, request=request, program=program,
            pinned=pin, allow_env=tuple(allow_env),
        )
        with self._locked() as data:
            data["grants"].append(grant.to_dict())
        return grant

    def find_grant(self, ctx: RunContext) -> Grant | None:
        """The active grant that covers ``ctx`` and expires last, or None."""
        t = now()
        covering = [g for g in self.grants() if grant_covers(g, ctx, t, policy=self.policy) is None]
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
                id=_new_id("r-"), token=secrets.token_urlsafe(32), argv=ctx.argv, secrets=ctx.secrets,
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
               allow_dangerous: bool = False, pin: bool = False,
               allow_env: bool = False) -> tuple[ApprovalRequest, Grant | None]:
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
                seconds = self.policy.check_ttl(ttl if ttl is not None else r.ttl)
                grant = Grant(
                    id=_new_id("g-"), secrets=r.secrets, command=r.argv, created=t, expires=t + seconds,
                    created_by=by, exact=True, repo=r.repo, branch=r.branch, tier=r.tier, task=r.task,
                    dangerous=bool(r.dangerous), client=r.client, request=r.id, program=r.program,
                    pinned=r.inside_repo, allow_env=tuple(f"{n}={v}" for n, v in r.env),
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
