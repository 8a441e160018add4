"""Every git call unleak makes. Plain ``git`` subprocesses: streaming output is faster and lighter than building
objects per commit, and nothing here needs more than git's own porcelain."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from scanner.errors import GitError, UsageError
from scanner.finding import CommitInfo

COMMIT_MARK = "\x01unleak\x01"
# -c options applied to every call: stable, unquoted paths; no pager, no colour, no external diff or textconv.
_BASE = ["git", "-c", "core.quotePath=false", "-c", "diff.noprefix=false", "-c", "color.ui=false"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GIT_TERMINAL_PROMPT", "0")
    env["GIT_PAGER"] = "cat"
    env["LC_ALL"] = "C"
    return env


def git_available() -> bool:
    return shutil.which("git") is not None


def run(args: list[str], cwd: Path | str, check: bool = True) -> str:
    if not git_available():
        raise GitError("git is not installed or not on PATH; install git or scan files without --staged/--history")
    proc = subprocess.run([*_BASE, *args], cwd=cwd, env=_env(), capture_output=True, check=False)
    if check and proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed in {cwd}: {msg[-1] if msg else 'exit ' + str(proc.returncode)}")
    return proc.stdout.decode("utf-8", "replace")


def toplevel(path: Path | str) -> Path | None:
    """The repository root containing ``path``, or None outside a repository."""
    p = Path(path)
    d = p if p.is_dir() else p.parent
    if not git_available() or not d.exists():
        return None
    proc = subprocess.run([*_BASE, "rev-parse", "--show-toplevel"], cwd=d, env=_env(), capture_output=True,
                          check=False)
    if proc.returncode != 0:
        return None
    return Path(proc.stdout.decode().strip())


def require_repo(path: Path | str, what: str) -> Path:
    top = toplevel(path)
    if top is None:
        raise GitError(f"{what} needs a git repository, and {Path(path).resolve()} is not inside one; "
                       "run it from a clone, or scan files with plain `unleak scan PATH`")
    return top


def has_head(repo: Path) -> bool:
    return subprocess.run([*_BASE, "rev-parse", "--verify", "-q", "HEAD"], cwd=repo, env=_env(),
                          capture_output=True, check=False).returncode == 0


def is_shallow(repo: Path) -> bool:
    return run(["rev-parse", "--is-shallow-repository"], repo).strip() == "true"


def current_branch(repo: Path) -> str:
    return run(["rev-parse", "--abbrev-ref", "HEAD"], repo, check=False).strip() or "HEAD"


def verify_commit(repo: Path, rev: str) -> str:
    if rev.startswith("-"):
        raise UsageError(f"revision {rev!r} must not start with '-'")
    proc = subprocess.run([*_BASE, "rev-parse", "--verify", "-q", f"{rev}^{{commit}}"], cwd=repo, env=_env(),
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise GitError(f"unknown revision {rev!r} in {repo}; fetch it first (for a PR: git fetch origin BASE HEAD)")
    return proc.stdout.decode().strip()


def ls_files(repo: Path, paths: list[str]) -> list[str]:
    """Tracked files plus untracked ones that are not ignored, relative to the repository root."""
    out = run(["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--full-name", "--", *paths], repo)
    seen: dict[str, None] = {}
    for p in out.split("\0"):
        if p:
            seen.setdefault(p, None)
    return list(seen)


def submodule_paths(repo: Path) -> set[str]:
    out = run(["ls-files", "-z", "-s"], repo)
    mods: set[str] = set()
    for entry in out.split("\0"):
        if entry.startswith("160000 "):
            mods.add(entry.split("\t", 1)[1])
    return mods


# --------------------------------------------------------------------------------------------- patch parsing
_HUNK = re.compile(r"^(@{2,}) (?:-\d+(?:,\d+)? )+\+(\d+)(?:,(\d+))? @{2,}")


@dataclass
class FilePatch:
    path: str
    added: list[tuple[int, str]] = field(default_factory=list)
    binary: bool = False


def _strip_prefix(p: str) -> str:
    p = p.rstrip("\n").rstrip("\r")
    if p.startswith('"') and p.endswith('"'):
        p = p[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape").encode("latin-1").decode(
            "utf-8", "replace")
    if "\t" in p:  # some diff tools append a timestamp after a tab
        p = p.split("\t", 1)[0]
    return p[2:] if p[:2] in ("a/", "b/") else p


def parse_patch(lines: Iterator[str], on_commit: Callable[[CommitInfo], None] | None = None
                ) -> Iterator[tuple[CommitInfo | None, FilePatch]]:
    """Added lines of a unified (or combined) diff, per file, with their new-file line numbers.

    Accepts ``git diff``/``git log -p`` output (with commit marker lines, see :data:`COMMIT_MARK`) and plain
    unified diffs as coding agents write them. Hunk line counts decide where a hunk ends, so an added line that
    itself starts with ``++`` is never taken for a file header.
    """
    commit: CommitInfo | None = None
    current: FilePatch | None = None
    new_left = 0
    old_left = 0
    parents = 1
    lineno = 0

    def flush() -> Iterator[tuple[CommitInfo | None, FilePatch]]:
        if current is not None and (current.added or current.binary):
            yield commit, current

    for raw in lines:
        line = raw.rstrip("\n")
        if line.endswith("\r"):
            line = line[:-1]
        if new_left > 0 or old_left > 0:
            prefix, body = line[:parents], line[parents:]
            if len(prefix) == parents and set(prefix) <= {"+", "-", " "}:
                if "-" in prefix:
                    old_left -= 1
                    continue
                # In a combined diff only lines new against *every* parent are new content (evil merges).
                if current is not None and prefix == "+" * parents:
                    current.added.append((lineno, body))
                lineno += 1
                new_left -= 1
                if prefix == " " * parents:
                    old_left -= 1
                continue
            if line.startswith("\\"):  # "\ No newline at end of file"
                continue
            new_left = old_left = 0  # malformed counts: fall through to header parsing
        if line.startswith(COMMIT_MARK):
            yield from flush()
            current = None
            parts = line[len(COMMIT_MARK):].split("\x01")
            parts += [""] * (4 - len(parts))
            commit = CommitInfo(sha=parts[0], author=parts[1], email=parts[2], date=parts[3])
            if on_commit is not None:
                on_commit(commit)
            continue
        if line.startswith("diff --git ") or line.startswith("diff --cc ") or line.startswith("diff --combined "):
            yield from flush()
            current = FilePatch(path="")
            if line.startswith("diff --git "):
                # Best guess until "+++ b/…" names it (binary files have no +++ line).
                rest = line[len("diff --git "):]
                half = rest.split(" b/", 1)
                current.path = half[1] if len(half) == 2 else _strip_prefix(rest)
            else:
                current.path = line.split(" ", 2)[2]
            continue
        if line.startswith("--- ") and (current is None or not current.added):
            if current is None:
                current = FilePatch(path=_strip_prefix(line[4:]))
            continue
        if line.startswith("+++ "):
            target = line[4:]
            if current is None:
                current = FilePatch(path="")
            current.path = "" if target.strip() == "/dev/null" else _strip_prefix(target)
            continue
        if line.startswith("Binary files ") or line.startswith("GIT binary patch"):
            if current is not None:
                current.binary = True
            continue
        m = _HUNK.match(line)
        if m:
            parents = len(m.group(1)) - 1
            lineno = int(m.group(2))
            new_left = int(m.group(3)) if m.group(3) is not None else 1
            # Old counts: sum over parents is not needed; a removed line is recognised by its '-' prefix.
            olds = re.findall(r"-\d+(?:,(\d+))?", line.split("+", 1)[0])
            old_left = max((int(o) if o else 1) for o in olds) if olds else 0
            if new_left == 0:
                lineno += 1
            if current is None:
                current = FilePatch(path="")
            continue
    yield from flush()


def _stream(args: list[str], cwd: Path) -> Iterator[str]:
    if not git_available():
        raise GitError("git is not installed or not on PATH")
    proc = subprocess.Popen([*_BASE, *args], cwd=cwd, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, bufsize=1 << 20)
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            yield raw.decode("utf-8", "replace")
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
        rc = proc.wait()
        if proc.stderr:
            proc.stderr.close()
    if rc != 0:
        last = err.strip().splitlines()
        raise GitError(f"git {args[0]} failed: {last[-1] if last else 'exit ' + str(rc)}")


_DIFF_OPTS = ["-U0", "--no-color", "--no-ext-diff", "--no-textconv", "--src-prefix=a/", "--dst-prefix=b/"]
LOG_FORMAT = f"--format={COMMIT_MARK}%H\x01%an\x01%ae\x01%aI"


def diff_lines(repo: Path, args: list[str]) -> Iterator[str]:
    return _stream(["diff", *_DIFF_OPTS, *args], repo)


def log_patch_lines(repo: Path, revs: list[str]) -> Iterator[str]:
    """``git log -p`` over ``revs``: every commit's added lines, merges as combined diffs (evil merges)."""
    return _stream(["log", "-p", "--cc", *_DIFF_OPTS, LOG_FORMAT, *revs, "--"], repo)


def count_commits(repo: Path, revs: list[str]) -> int:
    out = run(["rev-list", "--count", *revs, "--"], repo, check=False).strip()
    return int(out) if out.isdigit() else 0
