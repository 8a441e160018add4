"""What actually runs: argv patterns of grants, the program's real identity (path and content, the interpreter of a
script), and plain variables that can change the code that runs."""


from __future__ import annotations

import fnmatch
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scanner.errors import UsageError

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
