"""How unleak starts git: one clean environment (no repository-local variable of the caller), fixed options, and
errors that end in git's last message line. Every git process of the package starts here."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from scanner.errors import GitError

COMMIT_MARK = "\x01unleak\x01"
# -c options applied to every call: stable, unquoted paths; no pager, no colour, no external diff or textconv.
_BASE = ["git", "-c", "core.quotePath=false", "-c", "diff.noprefix=false", "-c", "color.ui=false"]


# What `git rev-parse --local-env-vars` lists (git 2.39; a test keeps this a superset of the installed git's list):
# variables that point git at one particular repository, index, object store or configuration. Git hooks,
# `git rebase -x`, IDEs and CI wrappers set them; inherited, they would make unleak read, clone into or rewrite a
# repository other than the one it was given. Every call names its repository itself (cwd or --git-dir).
LOCAL_ENV_VARS = (
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT",
    "GIT_OBJECT_DIRECTORY", "GIT_DIR", "GIT_WORK_TREE", "GIT_IMPLICIT_WORK_TREE", "GIT_GRAFT_FILE", "GIT_INDEX_FILE",
    "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE", "GIT_PREFIX", "GIT_INTERNAL_SUPER_PREFIX", "GIT_SHALLOW_FILE",
    "GIT_COMMON_DIR",
)


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every git (and git-filter-repo) process: the caller's, without the repository-local
    variables, non-interactive, untranslated; then ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in LOCAL_ENV_VARS and not k.startswith("GIT_CONFIG_KEY_")
           and not k.startswith("GIT_CONFIG_VALUE_")}
    env.setdefault("GIT_TERMINAL_PROMPT", "0")
    env["GIT_PAGER"] = "cat"
    env["LC_ALL"] = "C"
    env.update(extra or {})
    return env


def _env() -> dict[str, str]:
    return clean_env()


def git_available() -> bool:
    return shutil.which("git") is not None


#: Run in every git child between fork and exec when set (read at each call, so set it on this module). A
#: repository's own config names commands git runs (core.fsmonitor, filter drivers); a caller scanning a repository
#: someone else controls (the broker of ``unleak agent``) confines them with this to what that someone may do anyway.
child_setup: Callable[[], None] | None = None


def _call(args: list[str], cwd: Path | str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    if not git_available():
        raise GitError("git is not installed or not on PATH; install git or scan files without --staged/--history")
    return subprocess.run([*_BASE, *args], cwd=cwd, env=_env(), input=stdin, capture_output=True, check=False,
                          preexec_fn=child_setup)


def run(args: list[str], cwd: Path | str, check: bool = True, stdin: bytes | None = None) -> str:
    proc = _call(args, cwd, stdin)
    if check and proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed in {cwd}: {msg[-1] if msg else 'exit ' + str(proc.returncode)}")
    return proc.stdout.decode("utf-8", "replace")


def _stream(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """Output lines of a git command, decoded as they arrive."""
    for raw in _output(args, cwd, lines=True, env=env):
        yield raw.decode("utf-8", "replace")


def _output(args: list[str], cwd: Path, data: bytes | None = None, lines: bool = False,
            env: dict[str, str] | None = None) -> Iterator[bytes]:
    """A git command's output as it arrives: in large blocks (or ``lines``), with ``data`` written to its stdin by a
    thread (so neither side blocks); GitError with git's last message line when it fails."""
    import threading

    if not git_available():
        raise GitError("git is not installed or not on PATH")
    proc = subprocess.Popen([*_BASE, *args], cwd=cwd, env=env or _env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL if data is None else subprocess.PIPE, bufsize=1 << 20,
                            preexec_fn=child_setup)
    assert proc.stdout is not None
    # A 1 MiB pipe instead of 64 KiB: git and the scanning process then rarely wait for each other, which on a
    # busy machine is the difference between using two cores and taking turns on one.
    with contextlib.suppress(OSError, AttributeError):
        import fcntl

        fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)

    def feed() -> None:
        assert proc.stdin is not None and data is not None
        try:
            proc.stdin.write(data)
        except (BrokenPipeError, OSError):
            pass
        finally:
            with contextlib.suppress(OSError):
                proc.stdin.close()

    writer = threading.Thread(target=feed, daemon=True) if data is not None else None
    if writer is not None:
        writer.start()
    try:
        if lines:
            yield from proc.stdout
        else:
            while chunk := proc.stdout.read1(1 << 20):  # type: ignore[attr-defined]
                yield chunk
    finally:
        proc.stdout.close()
        if writer is not None:
            writer.join()
        err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
        rc = proc.wait()
        if proc.stderr:
            proc.stderr.close()
    if rc != 0:
        last = err.strip().splitlines()
        raise GitError(f"git {args[0]} failed: {last[-1] if last else 'exit ' + str(rc)}")


class Background:
    """A git command started now and read later: its output goes to an unnamed temporary file, so git works on
    another core while this process does something else, and never waits on a full pipe."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        import tempfile

        if not git_available():
            raise GitError("git is not installed or not on PATH")
        self.args = args
        self._out = tempfile.TemporaryFile()  # noqa: SIM115 -- held until output() or close()
        self._err = tempfile.TemporaryFile()  # noqa: SIM115
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [*_BASE, *args], cwd=cwd, env=_env(), stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err,
            preexec_fn=child_setup)

    def output(self) -> bytes:
        """Everything git wrote, once it has finished; GitError with git's last message line when it failed."""
        if self._proc is None:
            raise GitError(f"git {self.args[0]} was stopped")
        rc = self._proc.wait()
        self._proc = None
        try:
            if rc != 0:
                self._err.seek(0)
                raise GitError(f"git {self.args[0]} failed: {_reason(self._err.read())}")
            self._out.seek(0)
            return self._out.read()
        finally:
            self.close()

    def close(self) -> None:
        """Stop git if it still runs, and drop its output."""
        if self._proc is not None:
            with contextlib.suppress(OSError):
                self._proc.kill()
            self._proc.wait()
            self._proc = None
        self._out.close()
        self._err.close()


def _call_env(args: list[str], cwd: Path | str, extra: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    if not git_available():
        raise GitError("git is not installed or not on PATH")
    return subprocess.run([*_BASE, *args], cwd=cwd, env={**_env(), **extra}, capture_output=True, check=False,
                          preexec_fn=child_setup, stdin=subprocess.DEVNULL)


def _reason(stderr: bytes) -> str:
    """git's last message line, shortened: it names an object id and never content."""
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    last = lines[-1] if lines else ""
    last = last.split("failed: ", 1)[-1]
    return last.removeprefix("fatal: ").removeprefix("error: ")[:200] or "unreadable"
