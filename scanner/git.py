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
from scanner.finding import CommitInfo
from scanner.lazyre import lazy

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


def require_repo(path: Path | str, what: str) -> Path:
    top = toplevel(path)
    if top is None:
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


def _stream(args: list[str], cwd: Path) -> Iterator[str]:
    """Output lines of a git command, decoded as they arrive."""
    for raw in _output(args, cwd, lines=True):
        yield raw.decode("utf-8", "replace")


def _output(args: list[str], cwd: Path, data: bytes | None = None, lines: bool = False) -> Iterator[bytes]:
    """A git command's output as it arrives: in large blocks (or ``lines``), with ``data`` written to its stdin by a
    thread (so neither side blocks); GitError with git's last message line when it fails."""
    import threading

    if not git_available():
        raise GitError("git is not installed or not on PATH")
    proc = subprocess.Popen([*_BASE, *args], cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
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


def diff_lines(repo: Path, args: list[str]) -> Iterator[str]:
    return _stream(["diff", *_DIFF_OPTS, *args], repo)


def log_patch_lines(repo: Path, revs: list[str]) -> Iterator[str]:
    """``git log -p`` over ``revs``: every commit's added lines, merges as combined diffs (evil merges)."""
    return _stream(["log", "-p", "--cc", *_DIFF_OPTS, LOG_FORMAT, *revs, "--"], repo)


def rev_list(repo: Path, revs: list[str]) -> list[str]:
    """Commit ids of ``revs`` in ``git log``'s default order (40 hex digits each; ~50 bytes per commit held)."""
    return run(["rev-list", *revs, "--"], repo).split()


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


def _commit_blobs(repo: Path, shas: list[str]) -> Iterator[bytes]:
    """Each commit's raw ``git log`` output (marker line first), read in large blocks: no per-line Python here."""
    data = "".join(s + "\n" for s in shas).encode("ascii")
    buf = b""
    sep = b"\n" + _MARK_B
    for block in _output(["log", "--no-walk=unsorted", "--stdin", "-p", "--cc", *_DIFF_OPTS, LOG_FORMAT, "--"],
                         repo, data):
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


def commit_added_texts(repo: Path, shas: list[str]) -> Iterator[tuple[CommitInfo, list[AddedText]]]:
    """Every commit of ``shas`` (in that order) with the added text of each file: the same content
    :func:`parse_patch` gives over :func:`log_patch_lines` for them, parsed a hunk (not a line) at a time."""
    for blob in _commit_blobs(repo, shas):
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
