"""Every git call unleak makes. Plain ``git`` subprocesses: streaming output is faster and lighter than building
objects per commit, and nothing here needs more than git's own porcelain."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import chain, pairwise
from operator import add
from pathlib import Path

from scanner.errors import GitError, UsageError
from scanner.finding import CommitInfo, Skipped
from scanner.lazyre import lazy

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


def caller_index(repo: Path) -> str | None:
    """The index file the caller's environment names (``GIT_INDEX_FILE``), if that environment designates ``repo``.

    A pre-commit hook of `git commit -a`, of `git commit PATH` and of any commit in a linked worktree is given a
    temporary index (and, in a worktree, GIT_DIR): that index is what is being committed, so a staged scan reads
    it. An index of some other repository (GIT_DIR naming another one) is ignored like every other variable."""
    index = os.environ.get("GIT_INDEX_FILE")
    if not index:
        return None
    caller_dir = os.environ.get("GIT_DIR")
    if caller_dir:  # only then can the caller's repository differ from ``repo``: one git call, in hooks of worktrees
        proc = _call(["rev-parse", "--absolute-git-dir"], repo)
        mine = proc.stdout.decode("utf-8", "replace").strip()
        if proc.returncode != 0 or Path(mine).resolve() != Path(os.path.abspath(caller_dir)).resolve():
            return None
    return os.path.abspath(index)


def git_available() -> bool:
    return shutil.which("git") is not None


def _call(args: list[str], cwd: Path | str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    if not git_available():
        raise GitError("git is not installed or not on PATH; install git or scan files without --staged/--history")
    return subprocess.run([*_BASE, *args], cwd=cwd, env=_env(), input=stdin, capture_output=True, check=False)


def run(args: list[str], cwd: Path | str, check: bool = True, stdin: bytes | None = None) -> str:
    proc = _call(args, cwd, stdin)
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
    proc = _call(["rev-parse", "--show-toplevel"], d)
    if proc.returncode != 0:
        return None
    return Path(proc.stdout.decode().strip())


def history_root(path: Path | str) -> Path | None:
    """Where history commands run: the work tree's root, or for a repository without one (a bare or mirror clone,
    a server-side repository, a CI cache; also from inside a .git directory) its git directory. None outside."""
    top = toplevel(path)
    if top is not None:
        return top
    p = Path(path)
    d = p if p.is_dir() else p.parent
    if not git_available() or not d.exists():
        return None
    proc = _call(["rev-parse", "--absolute-git-dir"], d)
    if proc.returncode != 0:
        return None
    return Path(proc.stdout.decode().strip())


def is_bare(repo: Path) -> bool:
    """True when ``repo`` has no work tree (bare or mirror clone, or a git directory itself)."""
    return run(["rev-parse", "--is-inside-work-tree"], repo, check=False).strip() != "true"


def require_repo(path: Path | str, what: str, bare: bool = False) -> Path:
    """The repository root of ``path``; with ``bare`` (commands that read only history) a repository without a
    work tree is accepted too, and its git directory is returned."""
    top = history_root(path) if bare else toplevel(path)
    if top is None:
        if not bare and history_root(path) is not None:
            raise GitError(f"{what} needs a work tree, and {Path(path).resolve()} is a bare repository; run it in "
                           "a clone with a checkout (history scans, --range and exposure work here)")
        raise GitError(f"{what} needs a git repository, and {Path(path).resolve()} is not inside one; "
                       "run it from a clone, or scan files with plain `unleak scan PATH`")
    return top


def has_head(repo: Path) -> bool:
    return _call(["rev-parse", "--verify", "-q", "HEAD"], repo).returncode == 0


def is_shallow(repo: Path) -> bool:
    return run(["rev-parse", "--is-shallow-repository"], repo).strip() == "true"


def shallow_boundary(repo: Path) -> set[str]:
    """Commits whose parents a shallow clone does not have (``.git/shallow``); empty for a complete clone."""
    path = Path(run(["rev-parse", "--git-path", "shallow"], repo).strip())
    path = path if path.is_absolute() else repo / path
    try:
        return set(path.read_text(encoding="ascii").split())
    except OSError:
        return set()


def merge_base(repo: Path, a: str, b: str) -> str | None:
    out = run(["merge-base", a, b], repo, check=False).strip()
    return out or None


def fetch(repo: Path, remote: str, refspecs: list[str], depth: int | None = None, unshallow: bool = False) -> bool:
    """Fetch commits (ids or refspecs) from ``remote`` without tags or submodules, using the credentials the
    checkout left in the repository's config. False when the remote refuses: callers report partial coverage."""
    if any(r.startswith("-") for r in refspecs) or remote.startswith("-"):
        raise UsageError("a fetch refspec must not start with '-'")
    args = ["fetch", "--quiet", "--no-tags", "--no-recurse-submodules"]
    if unshallow:
        args.append("--unshallow")
    elif depth is not None:
        args.append(f"--depth={depth}")
    return _call([*args, remote, *refspecs], repo).returncode == 0


def has_staged_changes(repo: Path) -> bool:
    """Whether the index differs from HEAD (from the empty tree in a repository without commits)."""
    return _call(["diff", "--cached", "--quiet", "--no-ext-diff"], repo).returncode != 0


def current_branch(repo: Path) -> str:
    return run(["rev-parse", "--abbrev-ref", "HEAD"], repo, check=False).strip() or "HEAD"


def verify_commit(repo: Path, rev: str) -> str:
    if rev.startswith("-"):
        raise UsageError(f"revision {rev!r} must not start with '-'")
    proc = _call(["rev-parse", "--verify", "-q", f"{rev}^{{commit}}"], repo)
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


# --------------------------------------------------------------------------------------------- patch parsing
_HUNK = lazy(r"^(@{2,}) (?:-\d+(?:,\d+)? )+\+(\d+)(?:,(\d+))? @{2,}")


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


def _commit_info(marker_line: str) -> CommitInfo:
    """The commit of a :data:`LOG_FORMAT` marker line."""
    parts = marker_line[len(COMMIT_MARK):].split("\x01")
    parts += [""] * (4 - len(parts))
    return CommitInfo(sha=parts[0], author=parts[1], email=parts[2], date=parts[3])


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
            commit = _commit_info(line)
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
                            stdin=subprocess.DEVNULL if data is None else subprocess.PIPE, bufsize=1 << 20)
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


_DIFF_OPTS = ["-U0", "--no-color", "--no-ext-diff", "--no-textconv", "--src-prefix=a/", "--dst-prefix=b/"]
LOG_FORMAT = f"--format={COMMIT_MARK}%H\x01%an\x01%ae\x01%aI"


def diff_lines(repo: Path, args: list[str], index: str | None = None) -> Iterator[str]:
    """``git diff`` output lines; ``index``: an index file to read instead of the repository's own."""
    return _stream(["diff", *_DIFF_OPTS, *args], repo, clean_env({"GIT_INDEX_FILE": index}) if index else None)


def log_patch_lines(repo: Path, revs: list[str]) -> Iterator[str]:
    """``git log -p`` over ``revs``: every commit's added lines, merges as combined diffs (evil merges)."""
    return _stream(["log", "-p", "--cc", *_DIFF_OPTS, LOG_FORMAT, *revs, "--"], repo)


def rev_list(repo: Path, revs: list[str], skipped: list[Skipped] | None = None) -> list[str]:
    """Commit ids of ``revs`` in ``git log``'s default order (40 hex digits each; ~50 bytes per commit held).

    With ``skipped``, a walk of ``--all`` that git cannot finish (a ref whose commit is missing, a commit whose
    parent is) is done again from every ref tip on its own; what cannot be walked is listed in ``skipped``."""
    proc = _call(["rev-list", *revs, "--"], repo)
    if proc.returncode == 0 or skipped is None or revs != ["--all"]:
        if proc.returncode != 0:
            raise GitError(f"git rev-list failed in {repo}: {_reason(proc.stderr)}")
        return proc.stdout.decode().split()
    tips: dict[str, list[str]] = {}
    listing = run(["for-each-ref", "--format=%(objectname) %(refname)"], repo, check=False)
    head = run(["rev-parse", "-q", "--verify", "HEAD"], repo, check=False).strip()
    for line in [*listing.splitlines(), *([f"{head} HEAD"] if head else [])]:
        oid, _, name = line.partition(" ")
        tips.setdefault(oid, []).append(name)
    seen: dict[str, None] = {}
    for oid, names in tips.items():
        one = _call(["rev-list", oid, "--"], repo)
        if one.returncode != 0:
            skipped.append(Skipped(oid, "", f"{names[0]}: history cannot be walked ({_reason(one.stderr)})"))
            # The part git could list before it stopped is still worth scanning.
        for sha in one.stdout.decode().split():
            seen.setdefault(sha, None)
    return list(seen)


@dataclass
class AddedText:
    """One file's added lines in one commit, already joined: what a :class:`FilePatch` becomes in a chunk."""

    path: str
    text: str
    line_numbers: tuple[int, ...]
    binary: bool = False


# Literal-led ("\n@@", "\n+"), run over b"\n" + text: a leading literal lets the regex engine jump between
# occurrences, where a "^" anchor with re.M would try every position of a history's worth of bytes.
_HUNK_B = lazy(rb"\n@@ -\d+(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_MARK_B = COMMIT_MARK.encode()
_ADDED_B = lazy(rb"\n\+([^\n]*)")


def _commit_blobs(repo: Path, shas: list[str], pathspec: list[str] | None = None) -> Iterator[bytes]:
    """Each commit's raw ``git log`` output (marker line first), read in large blocks: no per-line Python here."""
    data = "".join(s + "\n" for s in shas).encode("ascii")
    buf = b""
    sep = b"\n" + _MARK_B
    for block in _output(["log", "--no-walk=unsorted", "--stdin", "-p", "--cc", *_DIFF_OPTS, LOG_FORMAT,
                          *(pathspec or ["--"])], repo, data):
        # Search only the new bytes (plus an overlap for a separator cut in two): a commit larger than a block
        # must not be searched again with every block.
        look = max(1, len(buf) - len(sep))
        buf += block
        start = 0
        while True:
            i = buf.find(sep, max(start + 1, look))
            if i < 0:
                break
            yield buf[start:i + 1]
            start = i + 1
        buf = buf[start:]
    if buf:
        yield buf


def _section_fallback(section: bytes) -> Iterator[FilePatch]:
    for _, fp in parse_patch(iter(section.decode("utf-8", "replace").split("\n"))):
        yield fp


def _parse_section(buf: bytes, start: int, end: int) -> AddedText | None:
    """The ``diff --git`` section ``buf[start:end]`` of ``-U0`` output without per-line work and without copying
    it: hunk headers by regex, the added lines by regex. Anything unusual returns None and the caller uses
    :func:`parse_patch` for the section."""
    hunk = buf.find(b"\n@@ ", start, end)
    head_end = hunk + 1 if hunk >= 0 else end
    header = buf[start:head_end]
    # The same path rules as parse_patch: "diff --git a/x b/x" guesses, a "+++ " line decides.
    plus = header.find(b"\n+++ ")
    if plus >= 0:
        stop = header.find(b"\n", plus + 1)
        line = header[plus + 1:stop if stop >= 0 else len(header)].decode("utf-8", "replace")
        if line.endswith("\r"):
            line = line[:-1]
        target = line[4:]
        path = "" if target.strip() == "/dev/null" else _strip_prefix(target)
    else:
        stop = header.find(b"\n")
        line = header[:stop if stop >= 0 else len(header)].decode("utf-8", "replace")
        if line.endswith("\r"):
            line = line[:-1]
        rest = line[len("diff --git "):]
        half = rest.split(" b/", 1)
        path = half[1] if len(half) == 2 else _strip_prefix(rest)
    binary = (b"\nBinary files " in header or b"\nGIT binary patch" in header)
    if binary:
        return AddedText(path, "", (), binary=True) if hunk < 0 else None
    if hunk < 0:  # no hunks (mode change, rename, empty file)
        return AddedText(path, "", ())
    # From the "\n" before the first "@@": the patterns are literal-led ("\n@@", "\n+").
    if buf.find(b"\n\\", hunk, end) >= 0:
        return None  # "\ No newline at end of file": the careful parser knows which side it belongs to
    heads = _HUNK_B.findall(buf, hunk, end)
    olds = sum(int(o) if o else 1 for o, _, _ in heads)
    news = [int(n) if n else 1 for _, _, n in heads]
    added = _ADDED_B.findall(buf, hunk, end)
    # With -U0 a hunk is its header, its removed lines, then its added lines. If the line count and the "+"
    # count add up, the "+" lines are exactly the added lines; otherwise let the careful parser decide.
    lines = buf.count(b"\n", hunk, end) - (buf[end - 1:end] == b"\n")
    if len(added) != sum(news) or lines != len(heads) + olds + sum(news):
        return None
    firsts = [int(first) for _, first, _ in heads]
    numbers = tuple(chain.from_iterable(map(range, firsts, map(add, firsts, news))))
    if not numbers:  # only removed lines
        return AddedText(path, "", ())
    text = b"\n".join(added).replace(b"\r\n", b"\n")
    if text.endswith(b"\r"):
        text = text[:-1]
    return AddedText(path, text.decode("utf-8", "replace"), numbers)


def commit_added_texts(repo: Path, shas: list[str], skipped: list[Skipped] | None = None
                       ) -> Iterator[tuple[CommitInfo, list[AddedText]]]:
    """Every commit of ``shas`` (in that order) with the added text of each file: the same content
    :func:`parse_patch` gives over :func:`log_patch_lines` for them, parsed a hunk (not a line) at a time.

    With ``skipped`` (a list), an object git cannot read does not end the walk: the commit being read is read
    again without the paths whose objects are unreadable, those are appended to ``skipped`` (before the commit is
    yielded), and the walk goes on with the next commit. Without it, git's failure is raised as a GitError."""
    if skipped is None:
        yield from _commit_added_texts(repo, shas)
        return
    pos = 0
    while pos < len(shas):
        # git's output for the commit it was reading when it failed may be cut short: hold each commit back until
        # the next one has started (or git has ended well).
        held: tuple[CommitInfo, list[AddedText]] | None = None
        try:
            for item in _commit_added_texts(repo, shas[pos:]):
                if held is not None:
                    yield held
                    pos += 1
                held = item
            if held is not None:
                yield held
                pos += 1
            return
        except GitError as exc:
            # The failing commit is the held one, or the next when git died before printing its header.
            suspect = shas[pos]
            if held is not None and held[0].sha != suspect:
                raise GitError(f"git log returned commit {held[0].sha[:12]} where {suspect[:12]} was "
                               "expected") from None
            yield _salvage_commit(repo, suspect, str(exc), skipped)
            pos += 1


def _salvage_commit(repo: Path, sha: str, error: str, skipped: list[Skipped]
                    ) -> tuple[CommitInfo, list[AddedText]]:
    """One commit whose patch git could not produce: its readable files, with the unreadable ones in ``skipped``.
    A commit whose own object or tree is unreadable yields no files and is skipped whole."""
    try:
        return next(_commit_added_texts(repo, [sha]))  # it was the commit after the one git died in
    except (GitError, StopIteration):
        pass
    info = CommitInfo(sha=sha, author="", email="", date="")
    head = _call(["log", "-1", "--no-walk", LOG_FORMAT, sha, "--"], repo)
    if head.returncode == 0 and head.stdout.startswith(COMMIT_MARK.encode()):
        info = _commit_info(head.stdout.decode("utf-8", "replace").splitlines()[0])
    raw = _call(["diff-tree", "-r", "-m", "--root", "--raw", "--no-abbrev", "--no-renames", "-z", sha], repo)
    if head.returncode != 0 or raw.returncode != 0:
        skipped.append(Skipped(sha, "", _reason(head.stderr + raw.stderr) or _reason(error.encode())))
        return info, []
    paths: dict[str, set[str]] = {}
    fields = raw.stdout.split(b"\0")
    i = 0
    while i < len(fields):
        meta = fields[i].decode("ascii", "replace")
        if not meta.startswith(":"):
            i += 1  # the commit id diff-tree prints before each parent's changes
            continue
        path = fields[i + 1].decode("utf-8", "surrogateescape") if i + 1 < len(fields) else ""
        parts = meta[1:].split()
        if len(parts) >= 4:
            modes, oids = parts[:2], parts[2:4]
            paths.setdefault(path, set()).update(o for m, o in zip(modes, oids, strict=True)
                                                 if o != ZERO_OID and m != "160000")  # gitlinks: not here
        i += 2
    bad = unreadable_objects(repo, sorted({o for oids in paths.values() for o in oids}))
    excluded = sorted(p for p, oids in paths.items() if oids & bad)
    for p in excluded:
        skipped.append(Skipped(sha, p, "object missing or unreadable"))
    # Every path but the unreadable ones, taken literally (no glob, no magic).
    spec = ["--", ".", *(f":(exclude,literal){p}" for p in excluded)] if excluded else None
    files: list[AddedText] = []
    try:
        for got, texts in _commit_added_texts(repo, [sha], spec):  # none when only excluded paths changed
            info, files = got, texts
    except GitError as exc:
        skipped.append(Skipped(sha, "", _reason(str(exc).encode())))
        return info, []
    return info, files


def _reason(stderr: bytes) -> str:
    """git's last message line, shortened: it names an object id and never content."""
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    last = lines[-1] if lines else ""
    last = last.split("failed: ", 1)[-1]
    return last.removeprefix("fatal: ").removeprefix("error: ")[:200] or "unreadable"


def _intact(oid: str, otype: bytes, body: bytes) -> bool:
    """``body`` hashes to ``oid``: git itself prints a truncated loose object's short body and exits 0."""
    import hashlib

    h = hashlib.sha1() if len(oid) == 40 else hashlib.sha256()
    h.update(otype + b" " + str(len(body)).encode() + b"\0")
    h.update(body)
    return h.hexdigest() == oid


def unreadable_objects(repo: Path, oids: list[str]) -> set[str]:
    """The objects of ``oids`` git cannot read in full: missing, or whose content does not hash to their id
    (truncated, corrupt). One ``cat-file --batch`` reads them all; where its output stops making sense (a corrupt
    object may announce more bytes than it prints), that object and the one before it are read alone."""
    bad: set[str] = set()
    rest = list(oids)
    while rest:
        proc = _call(["cat-file", "--batch"], repo, stdin="".join(o + "\n" for o in rest).encode())
        out = proc.stdout
        pos = done = 0
        for oid in rest:
            nl = out.find(b"\n", pos)
            header = out[pos:nl].split() if nl >= 0 else []
            if len(header) == 2 and header[0] == oid.encode() and header[1] == b"missing":
                bad.add(oid)
                pos = nl + 1
            elif len(header) == 3 and header[0] == oid.encode() and header[2].isdigit():
                end = nl + 1 + int(header[2])
                if out[end:end + 1] != b"\n":
                    break
                if not _intact(oid, header[1], out[nl + 1:end]):
                    bad.add(oid)
                pos = end + 1
            else:
                break
            done += 1
        if done == len(rest):
            break
        for oid in rest[max(0, done - 1):done + 1]:
            if oid not in bad:
                typ = _call(["cat-file", "-t", oid], repo)
                body = _call(["cat-file", typ.stdout.strip().decode() or "blob", oid], repo)
                if typ.returncode or body.returncode or not _intact(oid, typ.stdout.strip(), body.stdout):
                    bad.add(oid)
        rest = rest[done + 1:]
    return bad


def _commit_added_texts(repo: Path, shas: list[str], pathspec: list[str] | None = None
                        ) -> Iterator[tuple[CommitInfo, list[AddedText]]]:
    for blob in _commit_blobs(repo, shas, pathspec):
        nl = blob.find(b"\n")
        head = (blob if nl < 0 else blob[:nl]).decode("utf-8", "replace").rstrip("\r")
        if not head.startswith(COMMIT_MARK):
            continue
        info = _commit_info(head)
        files: list[AddedText] = []
        if nl < 0:
            yield info, files
            continue
        # Sections start at "diff --" at the start of a line; an added line always starts with "+" or " ".
        cuts = [nl + 1] if blob.startswith(b"diff --", nl + 1) else []
        i = blob.find(b"\ndiff --", nl + 1)
        while i >= 0:
            cuts.append(i + 1)
            i = blob.find(b"\ndiff --", i + 1)
        cuts.append(len(blob))
        for c, stop in pairwise(cuts):
            fast = _parse_section(blob, c, stop) if blob.startswith(b"diff --git ", c) else None
            if fast is not None:
                if fast.binary or fast.text or fast.line_numbers:
                    files.append(fast)
                continue
            for fp in _section_fallback(blob[c:stop]):
                if fp.binary:
                    files.append(AddedText(fp.path, "", (), binary=True))
                elif fp.added:
                    files.append(AddedText(fp.path, "\n".join(t for _, t in fp.added),
                                           tuple(n for n, _ in fp.added)))
        yield info, files


def count_commits(repo: Path, revs: list[str]) -> int:
    out = run(["rev-list", "--count", *revs, "--"], repo, check=False).strip()
    return int(out) if out.isdigit() else 0


# --------------------------------------------------------------------------- exposure and purge (history objects)
# Small helpers for `unleak exposure` / `unleak purge`: a raw-diff walk of history (which blob sits at which path in
# every commit), ref targets, and a persistent `git cat-file --batch` reader so reading thousands of objects costs
# one process, not thousands.

ZERO_OID = "0" * 40


@dataclass
class RawChange:
    path: str
    new_mode: str
    new_oid: str  # ZERO_OID when the path was deleted


@dataclass
class RawCommit:
    sha: str
    parents: list[str]
    info: CommitInfo
    timestamp: int  # committer time, for ordering across branches
    changes: list[RawChange] = field(default_factory=list)


def raw_history(repo: Path, revs: list[str]) -> Iterator[RawCommit]:
    """Every commit of ``revs``, parents before children, with its changes against its *first* parent (root
    commits against the empty tree). Renames are off so a moved file is a delete plus an add of the same blob."""
    fmt = f"--format={COMMIT_MARK}%H\x01%P\x01%an\x01%ae\x01%aI\x01%ct"
    current: RawCommit | None = None
    for raw in _stream(["log", "--topo-order", "--reverse", "--raw", "--no-abbrev", "--no-renames", "--root",
                        "--diff-merges=first-parent", fmt, *revs, "--"], repo):
        line = raw.rstrip("\n")
        if line.startswith(COMMIT_MARK):
            if current is not None:
                yield current
            parts = line[len(COMMIT_MARK):].split("\x01")
            parts += [""] * (6 - len(parts))
            current = RawCommit(sha=parts[0], parents=parts[1].split(), timestamp=int(parts[5] or 0),
                                info=CommitInfo(sha=parts[0], author=parts[2], email=parts[3], date=parts[4]))
        elif line.startswith(":") and current is not None and "\t" in line:
            meta, path = line[1:].split("\t", 1)
            fields = meta.split()
            if len(fields) >= 5:
                current.changes.append(RawChange(path=path, new_mode=fields[1], new_oid=fields[3]))
    if current is not None:
        yield current


def ref_targets(repo: Path, patterns: tuple[str, ...] = ("refs/heads", "refs/remotes", "refs/tags")
                ) -> list[tuple[str, str]]:
    """(refname, commit sha) for every ref under ``patterns``; annotated tags peeled; non-commit targets skipped."""
    out = run(["for-each-ref", "--format=%(refname)\x01%(objecttype)\x01%(objectname)\x01%(*objecttype)\x01"
               "%(*objectname)", *patterns], repo)
    refs: list[tuple[str, str]] = []
    for line in out.splitlines():
        name, otype, oid, ptype, poid = (line.split("\x01") + [""] * 5)[:5]
        if name.endswith("/HEAD") and name.startswith("refs/remotes/"):
            continue  # origin/HEAD is an alias of a real remote-tracking ref
        if otype == "commit":
            refs.append((name, oid))
        elif otype == "tag" and ptype == "commit":
            refs.append((name, poid))
    return refs


def head_sha(repo: Path) -> str | None:
    out = run(["rev-parse", "--verify", "-q", "HEAD^{commit}"], repo, check=False).strip()
    return out or None


def common_git_dir(repo: Path) -> Path:
    """The repository's .git directory (shared by all worktrees), absolute."""
    out = run(["rev-parse", "--git-common-dir"], repo).strip()
    p = Path(out)
    return (p if p.is_absolute() else repo / p).resolve()


def dirty_tracked(repo: Path) -> list[str]:
    """Tracked files with uncommitted changes (staged or not); untracked files do not count."""
    out = run(["status", "--porcelain", "-z", "--untracked-files=no"], repo)
    return [e[3:] for e in out.split("\0") if len(e) > 3]


def clone_mirror(src: Path, dest: Path) -> None:
    """A fresh, fully packed mirror clone (every ref of ``src``), so history can be rewritten away from it."""
    run(["clone", "--quiet", "--mirror", "--no-local", "--", str(src), str(dest)], src.parent)


def remote_names(repo: Path) -> list[str]:
    return run(["remote"], repo, check=False).split()


def all_object_ids(repo: Path) -> Iterator[tuple[str, str, int]]:
    """(oid, type, size) of every object in the repository's object store, reachable or not."""
    out = run(["cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype) %(objectsize)"], repo)
    for line in out.splitlines():
        oid, otype, size = line.split()
        yield oid, otype, int(size)


class CatFile:
    """One ``git cat-file --batch`` process answering object reads in order. Close it (or use ``with``)."""

    def __init__(self, repo: Path) -> None:
        if not git_available():
            raise GitError("git is not installed or not on PATH")
        self._proc = subprocess.Popen([*_BASE, "cat-file", "--batch"], cwd=repo, env=_env(),
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def read(self, oid: str) -> tuple[str, bytes] | None:
        """(type, content) of ``oid``, or None if the object is missing."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(oid.encode() + b"\n")
        self._proc.stdin.flush()
        header = self._proc.stdout.readline().decode().split()
        if len(header) != 3:
            return None  # "<oid> missing"
        data = self._proc.stdout.read(int(header[2]))
        self._proc.stdout.read(1)  # the newline after the content
        return header[1], data

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._proc.wait()

    def __enter__(self) -> CatFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def move_refs(repo: Path, old_prefix: str, new_prefix: str) -> int:
    """Rename every ref under ``old_prefix`` to ``new_prefix`` in one transaction; returns how many moved."""
    out = run(["for-each-ref", "--format=%(refname) %(objectname) %(symref)", old_prefix], repo)
    lines: list[str] = []
    for row in out.splitlines():
        name, oid, symref = [*row.split(" "), "", ""][:3]
        if symref:  # origin/HEAD: an alias, dropped
            lines.append(f"delete {name}")
            continue
        lines.append(f"create {new_prefix}{name[len(old_prefix):]} {oid}")
        lines.append(f"delete {name} {oid}")
    if lines:
        run(["update-ref", "--no-deref", "--stdin"], repo, stdin="\n".join(lines).encode() + b"\n")
    return sum(1 for x in lines if x.startswith("create "))


# ----------------------------------------------------------------------------------- fleet: clones of other repos

def split_credentials(url: str) -> tuple[str, dict[str, str]]:
    """A clone URL without its ``user:password@`` part, and the git config (as GIT_CONFIG_* environment variables)
    that presents those credentials: a credential never goes on git's command line (``ps`` shows it) nor into the
    clone's ``.git/config``."""
    from base64 import b64encode
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return url, {}
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    header = "Authorization: Basic " + b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode("ascii")
    env = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader", "GIT_CONFIG_VALUE_0": header}
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)), env


def _call_env(args: list[str], cwd: Path | str, extra: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    if not git_available():
        raise GitError("git is not installed or not on PATH")
    return subprocess.run([*_BASE, *args], cwd=cwd, env={**_env(), **extra}, capture_output=True, check=False,
                          stdin=subprocess.DEVNULL)


def clone_or_update(url: str, dest: Path) -> Path:
    """A clone of ``url`` at ``dest`` (no checkout: only history is scanned), fetched again if it exists.

    Branches and tags only (``--no-checkout`` clone, then ``fetch --prune --tags``), not a host's pull-request refs.
    Errors name the repository by its URL without credentials."""
    bare_url, extra = split_credentials(url)
    if (dest / ".git").is_dir():
        proc = _call_env(["fetch", "--quiet", "--prune", "--tags", "--force", "origin"], dest, extra)
        what = "fetch"
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + f".partial-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        proc = _call_env(["clone", "--quiet", "--no-checkout", "--", bare_url, str(tmp)], dest.parent, extra)
        if proc.returncode == 0:
            shutil.rmtree(dest, ignore_errors=True)
            os.replace(tmp, dest)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        what = "clone"
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        fatal = [m for m in msg if m.startswith(("fatal:", "error:"))] or msg
        first = fatal[0] if fatal else f"exit {proc.returncode}"
        from urllib.parse import unquote, urlsplit

        password = unquote(urlsplit(url).password or "")
        for secret in filter(None, (url, extra.get("GIT_CONFIG_VALUE_0"), password)):
            first = first.replace(secret, "<redacted>")
        raise GitError(f"git {what} of {bare_url} failed: {first}")
    return dest


def ref_tips(repo: Path) -> list[str]:
    """The commit of every branch, remote-tracking branch and tag (what ``--all`` walks), deduplicated."""
    out = run(["for-each-ref", "--format=%(objecttype) %(objectname) %(*objecttype) %(*objectname)"], repo)
    tips: dict[str, None] = {}
    for line in out.splitlines():
        kind, oid, peeled_kind, peeled = [*line.split(" "), "", "", ""][:4]
        if kind == "commit":
            tips.setdefault(oid, None)
        elif kind == "tag" and peeled_kind == "commit":  # a tag of a tree or blob has no history
            tips.setdefault(peeled, None)
    return list(tips)


def blob_at(repo: Path, rev: str, path: str, limit: int = 1 << 20) -> bytes | None:
    """A file's content at ``rev`` (at most ``limit`` bytes), or None when it cannot be read."""
    proc = _call(["cat-file", "blob", f"{rev}:{path}"], repo)
    return proc.stdout[:limit] if proc.returncode == 0 else None
