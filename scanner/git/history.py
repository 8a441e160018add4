"""History read at scanning speed: streaming ``git log -p`` (a hunk at a time), revision lists that survive
unreadable objects, raw diffs for exposure, and one ``git cat-file --batch`` process for many objects."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

from scanner.errors import GitError
from scanner.finding import CommitInfo, Skipped
from scanner.git.parse import (
    _MARK_B,
    AddedText,
    _commit_info,
    _parse_section,
    _section_fallback,
)
from scanner.git.proc import (
    _BASE,
    COMMIT_MARK,
    Background,
    _call,
    _env,
    _output,
    _reason,
    _stream,
    clean_env,
    git_available,
    run,
)

_DIFF_OPTS = ["-U0", "--no-color", "--no-ext-diff", "--no-textconv", "--src-prefix=a/", "--dst-prefix=b/"]
LOG_FORMAT = f"--format={COMMIT_MARK}%H\x01%an\x01%ae\x01%aI"


def diff_lines(repo: Path, args: list[str], index: str | None = None) -> Iterator[str]:
    """``git diff`` output lines; ``index``: an index file to read instead of the repository's own."""
    return _stream(["diff", *_DIFF_OPTS, *args], repo, clean_env({"GIT_INDEX_FILE": index}) if index else None)


def log_patch_lines(repo: Path, revs: list[str]) -> Iterator[str]:
    """``git log -p`` over ``revs``: every commit's added lines, merges as combined diffs (evil merges)."""
    return _stream(["log", "-p", "--cc", *_DIFF_OPTS, LOG_FORMAT, *revs, "--"], repo)


# (work tree top, revs, child setup) -> a ``git rev-list`` started early.
_EARLY: dict[tuple[str, tuple[str, ...], object], Background] = {}


def start_rev_list(top: str, revs: list[str]) -> None:
    """Start the ``git rev-list`` that :func:`rev_list` will ask for in the work tree ``top``, so the walk runs while
    this process imports and builds the scan (a first history scan's ~0.1 s before any worker starts). :func:`rev_list`
    takes the result when the repository, the revisions and the child setup are the same, and otherwise runs git
    itself. Nothing is reported from here: a failure is git's to tell again."""
    from scanner.git import proc as proc_mod

    try:
        walk = Background(["rev-list", *revs, "--"], Path(top))
    except (GitError, OSError):  # no git, or no temporary file here: rev_list runs git itself
        return
    _EARLY[(os.path.realpath(top), tuple(revs), proc_mod.child_setup)] = walk


def drop_rev_list(top: str, revs: list[str]) -> None:
    """Forget a walk :func:`start_rev_list` started that :func:`rev_list` did not take (a long-lived process must
    never hand a later call a list from before a commit); git is stopped if it still runs."""
    from scanner.git import proc as proc_mod

    walk = _EARLY.pop((os.path.realpath(top), tuple(revs), proc_mod.child_setup), None)
    if walk is not None:
        walk.close()


def _early(repo: Path, revs: list[str]) -> list[str] | None:
    from scanner.git import proc as proc_mod

    walk = _EARLY.pop((os.path.realpath(repo), tuple(revs), proc_mod.child_setup), None)
    if walk is None:
        return None
    try:
        return walk.output().decode().split()
    except GitError:  # a failed early walk is no answer: git runs again and says why
        return None


def rev_list(repo: Path, revs: list[str], skipped: list[Skipped] | None = None) -> list[str]:
    """Commit ids of ``revs`` in ``git log``'s default order (40 hex digits each; ~50 bytes per commit held).

    With ``skipped``, a walk of ``--all`` that git cannot finish (a ref whose commit is missing, a commit whose
    parent is) is done again from every ref tip on its own; what cannot be walked is listed in ``skipped``."""
    early = _early(repo, revs)
    if early is not None:
        return early
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
        got = texts_of_blob(blob)
        if got is not None:
            yield got


def texts_of_blob(blob: bytes) -> tuple[CommitInfo, list[AddedText]] | None:
    """One commit's raw patch output (its marker line first) as the added text of each file; None for output that
    does not start with a marker line."""
    nl = blob.find(b"\n")
    head = (blob if nl < 0 else blob[:nl]).decode("utf-8", "replace").rstrip("\r")
    if not head.startswith(COMMIT_MARK):
        return None
    info = _commit_info(head)
    files: list[AddedText] = []
    if nl < 0:
        return info, files
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
    return info, files


def count_commits(repo: Path, revs: list[str]) -> int:
    out = run(["rev-list", "--count", *revs, "--"], repo, check=False).strip()
    return int(out) if out.isdigit() else 0


# --------------------------------------------------------------------------- exposure and purge (history objects)
# Small helpers for `unleak exposure` / `unleak purge` (the raw-diff walk is in ``rawlog``): the object store, ref
# targets, and a persistent `git cat-file --batch` reader so reading thousands of objects costs one process.

ZERO_OID = "0" * 40


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
        from scanner.git import proc

        self._proc = subprocess.Popen([*_BASE, "cat-file", "--batch"], cwd=repo, env=_env(),
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      preexec_fn=proc.child_setup)

    def read(self, oid: str) -> tuple[str, bytes] | None:
        """(type, content) of ``oid``, or None if the object is missing."""
        got = self.read_within(oid, None)
        return None if got is None else (got[0], got[1] or b"")

    def read_within(self, oid: str, limit: int | None) -> tuple[str, bytes | None] | None:
        """(type, content) of ``oid``, the content None when it is larger than ``limit`` bytes (passed over a piece
        at a time, never held whole); None if the object is missing."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(oid.encode() + b"\n")
        self._proc.stdin.flush()
        header = self._proc.stdout.readline().decode().split()
        if len(header) != 3:
            return None  # "<oid> missing"
        size = int(header[2])
        data: bytes | None
        if limit is not None and size > limit:
            data, left = None, size
            while left > 0:
                piece = self._proc.stdout.read(min(left, 1 << 20))
                if not piece:  # git has ended
                    break
                left -= len(piece)
        else:
            data = self._proc.stdout.read(size)
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


def blob_at(repo: Path, rev: str, path: str, limit: int = 1 << 20) -> bytes | None:
    """A file's content at ``rev`` (at most ``limit`` bytes), or None when it cannot be read."""
    proc = _call(["cat-file", "blob", f"{rev}:{path}"], repo)
    return proc.stdout[:limit] if proc.returncode == 0 else None


def commit_messages(repo: Path, revs: list[str], shas: list[str] | None = None) -> Iterator[tuple[CommitInfo, str]]:
    """The full message of every commit of ``revs`` (a secret pasted into a message is in history too), or of
    exactly the commits ``shas``, in that order."""
    fmt = "--format=%H%x01%an%x01%ae%x01%aI%x01%B"
    if shas is not None:
        if not shas:
            return
        out = run(["log", "--no-walk=unsorted", "--stdin", "-z", fmt, "--"], repo,
                  stdin="".join(s + "\n" for s in shas).encode("ascii"))
    else:
        out = run(["log", "-z", fmt, *revs, "--"], repo)
    for record in out.split("\0"):
        parts = record.split("\x01", 4)
        if len(parts) == 5 and parts[4].strip():
            yield CommitInfo(sha=parts[0].strip(), author=parts[1], email=parts[2], date=parts[3]), parts[4]


def tag_messages(repo: Path) -> Iterator[tuple[str, CommitInfo, str]]:
    """(tag name, the tag object as a CommitInfo with the tagger, message) of every annotated tag."""
    fmt = ("%(objecttype)%01%(objectname)%01%(refname:lstrip=2)%01%(taggername)%01%(taggeremail:trim)%01"
           "%(taggerdate:iso-strict)%01%(contents)%00")
    out = run(["for-each-ref", f"--format={fmt}", "refs/tags"], repo)
    for record in out.split("\0"):
        parts = record.lstrip("\n").split("\x01", 6)
        if len(parts) == 7 and parts[0] == "tag" and parts[6].strip():
            yield parts[2], CommitInfo(sha=parts[1], author=parts[3], email=parts[4], date=parts[5]), parts[6]


def cat_file_stream(repo: Path, names: list[str]) -> Iterator[tuple[str, bytes] | None]:
    """(type, content) of each object name in ``names`` (an oid or ``<commit>:<path>``), in order; None for one git
    cannot find or read. All names are written to one ``git cat-file --batch`` by a thread while the answers are
    read: no round trip per object (on a busy machine each one waits for a scheduler slot)."""
    import threading

    if not git_available():
        raise GitError("git is not installed or not on PATH")
    proc = subprocess.Popen([*_BASE, "cat-file", "--batch"], cwd=repo, env=_env(), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=1 << 20)
    assert proc.stdin is not None and proc.stdout is not None
    with contextlib.suppress(OSError, AttributeError):
        import fcntl

        fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
    # A name holding a newline cannot be asked for in the batch protocol; it is answered None without asking.
    asked = [n for n in names if "\n" not in n]
    data = "".join(n + "\n" for n in asked).encode("utf-8", "surrogateescape")

    def feed() -> None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(data)
        except (BrokenPipeError, OSError):
            pass
        finally:
            with contextlib.suppress(OSError):
                proc.stdin.close()

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    out = proc.stdout
    alive = True
    try:
        for name in names:
            if "\n" in name or not alive:
                yield None
                continue
            header = out.readline().split()
            if not header:  # git ended (a corrupt object is fatal to cat-file): nothing more can be read
                alive = False
                yield None
                continue
            if len(header) != 3:
                yield None  # "<name> missing", "ambiguous"
                continue
            body = out.read(int(header[2]))
            out.read(1)  # the newline after the content
            yield header[1].decode("ascii", "replace"), body
    finally:
        out.close()
        writer.join()
        proc.wait()


