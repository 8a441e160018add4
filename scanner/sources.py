"""Sources: iterators of :class:`Chunk`. Each reads one place secrets live and counts what it skipped."""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from scanner import archives, git, postimage
from scanner.chunk import Chunk
from scanner.errors import GitError, UsageError
from scanner.finding import CommitInfo, Skipped
from scanner.result import Stats

DEFAULT_MAX_FILE_SIZE = 25 * 1024 * 1024
_BINARY_SNIFF = 8192


class PathFilter:
    """Config ``exclude`` globs, matched against repository-relative POSIX paths."""

    def __init__(self, globs: Iterable[str] = ()) -> None:
        self.globs = tuple(globs)
        # A history names the same few thousand paths in tens of thousands of commits: answer each path once.
        self._memo: dict[str, bool] = {}

    def excluded(self, rel: str) -> bool:
        hit = self._memo.get(rel)
        if hit is None:
            hit = self._memo[rel] = self._excluded(rel)
            if len(self._memo) > 200_000:
                self._memo.clear()
        return hit

    def _excluded(self, rel: str) -> bool:
        for g in self.globs:
            if fnmatch.fnmatchcase(rel, g) or fnmatch.fnmatchcase(rel, g.rstrip("/") + "/*"):
                return True
            if g.endswith("/**") and (rel == g[:-3] or rel.startswith(g[:-2])):
                return True
        return False


def decode(data: bytes) -> str:
    """Text as far as it decodes: undecodable bytes become U+FFFD, so offsets and lines stay meaningful."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    return data.decode("utf-8", "replace")


def is_binary(data: bytes) -> bool:
    head = data[:_BINARY_SNIFF]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    return b"\0" in head


def _read_file(path: Path, rel: str, stats: Stats, max_size: int, archive_depth: int = 0,
               exclude: PathFilter | None = None) -> list[Chunk]:
    """The file as one chunk; with ``archive_depth``, an archive's text members as one chunk each
    (:mod:`scanner.archives`). Nothing (counted in ``stats``) for a binary file, one too large, a link or what
    cannot be read."""
    try:
        st = path.lstat()
    except OSError:
        stats.unreadable += 1
        return []
    if stat.S_ISLNK(st.st_mode):
        # Never followed: a link may point outside the repository (the target is scanned on its own if inside).
        stats.symlinks_skipped += 1
        return []
    if stat.S_ISDIR(st.st_mode):
        stats.submodules_skipped += 1
        return []
    if not stat.S_ISREG(st.st_mode):
        stats.special_skipped += 1
        return []
    if st.st_size > max_size:
        stats.too_large += 1
        return []
    try:
        with open(path, "rb") as fh:
            # Decided from the first bytes: a binary file (an image, a model) is never read whole, an archive only
            # member by member.
            data = fh.read(_BINARY_SNIFF)
            if archive_depth > 0 and archives.kind(data) is not None:
                return _member_chunks(path, rel, data, stats, max_size, archive_depth, exclude)
            if is_binary(data):
                stats.binary_skipped += 1
                return []
            if len(data) == _BINARY_SNIFF:
                data += fh.read()
    except OSError:
        stats.unreadable += 1
        return []
    stats.files += 1
    stats.bytes += len(data)
    return [Chunk(path=rel, text=decode(data), source="file")]


def _member_chunks(source: Path | bytes, rel: str, head: bytes, stats: Stats, max_size: int, depth: int,
                   exclude: PathFilter | None) -> list[Chunk]:
    """An archive (a file, or a blob's bytes) named ``rel`` as one chunk per text member (``rel!/member``)."""
    counts = archives.Counts()
    chunks: list[Chunk] = []
    for member, data in archives.members(source, posixpath.basename(rel), head, max_size, depth, counts):
        shown = rel + archives.SEPARATOR + member
        if is_binary(data) or (exclude is not None and exclude.excluded(shown)):
            continue  # classes, images: a jar is mostly them
        stats.archive_members += 1
        stats.bytes += len(data)
        chunks.append(Chunk(path=shown, text=decode(data), source=archives.SOURCE))
    stats.files += 1
    stats.unreadable += counts.unreadable
    stats.too_large += counts.too_large
    return chunks


def working_tree(paths: list[str], cwd: Path, stats: Stats, exclude: PathFilter,
                 max_size: int = DEFAULT_MAX_FILE_SIZE, archive_depth: int = archives.DEFAULT_DEPTH, *,
                 named_ignored: bool = False) -> Iterator[Chunk]:
    """Files of the working tree: tracked plus untracked-not-ignored inside a repository (with ``named_ignored``,
    also a file named in ``paths`` that git ignores), every file elsewhere; archives member by member."""
    for full, shown in working_tree_files(paths, cwd, stats, exclude, named_ignored=named_ignored):
        yield from file_chunks(full, shown, stats, max_size, archive_depth, exclude)


def read_file(path: Path, shown: str, stats: Stats, max_size: int = DEFAULT_MAX_FILE_SIZE) -> Chunk | None:
    """One file as a chunk named ``shown``, or None (counted in ``stats``: binary, too large, link, unreadable)."""
    got = _read_file(path, shown, stats, max_size)
    return got[0] if got else None


def file_chunks(path: Path, shown: str, stats: Stats, max_size: int = DEFAULT_MAX_FILE_SIZE,
                archive_depth: int = archives.DEFAULT_DEPTH, exclude: PathFilter | None = None) -> list[Chunk]:
    """One file as a chunk named ``shown``, or an archive's text members (``shown!/member``, those ``exclude``
    leaves) to ``archive_depth`` levels; nothing when it is skipped (counted in ``stats``: binary, too large,
    link, unreadable)."""
    return _read_file(path, shown, stats, max_size, archive_depth, exclude)


def check_named(target: Path, shown: str) -> None:
    """UsageError unless a path the user named is there (a link counts, even a broken one)."""
    try:
        os.lstat(target)
    except FileNotFoundError:
        raise UsageError(f"{shown}: no such file or directory") from None
    except OSError as exc:  # a name too long, a component that is a file
        raise UsageError(f"{shown[:200]}: {exc.strerror or 'cannot be read'}") from None


def working_tree_files(paths: list[str], cwd: Path, stats: Stats, exclude: PathFilter, *,
                       named_ignored: bool = False) -> Iterator[tuple[Path, str]]:
    """(file, name shown) of :func:`working_tree`, in its order, without reading them: the parallel files scan
    deals them out to worker processes."""
    targets = [Path(p) for p in paths] or [cwd]
    for t in targets:
        check_named(t if t.is_absolute() else cwd / t, str(t))
    for t in targets:
        target = t if t.is_absolute() else cwd / t
        top = git.toplevel(target)
        if top is not None:
            top = top.resolve()
            rel_target = os.path.relpath(target.resolve() if not target.is_symlink() else target.absolute(), top)
            if target.is_symlink():
                stats.symlinks_skipped += 1
                continue
            files = git.ls_files(top, [] if rel_target == "." else [rel_target])
            if named_ignored and not files and not target.is_dir() and rel_target != "." \
                    and not rel_target.startswith(".." + os.sep) and ".git" not in Path(rel_target).parts:
                # A file git does not list (ignored, or a FIFO or device git leaves out), named by the user: read
                # as named, so `unleak scan .env` never answers "no secrets" for a file it did not open.
                files = [Path(rel_target).as_posix()]
            inside: dict[str, bool] = {}  # a file's directory -> it is in the work tree (no link leads out)
            for rel in files:
                if exclude.excluded(rel):
                    continue
                parent = os.path.dirname(rel)
                ok = inside.get(parent)
                if ok is None:
                    real = os.path.realpath(top / parent)
                    ok = inside[parent] = real == str(top) or real.startswith(str(top) + os.sep)
                if not ok:
                    # A directory git lists that is now a symbolic link: its files are another directory's.
                    stats.symlinks_skipped += 1
                    continue
                yield top / rel, rel
            continue
        base = target if target.is_dir() else target.parent
        if not target.is_dir():  # a file, a link, or a FIFO, socket or device named itself: that one path only
            rel = target.name if not t.is_absolute() else str(t)
            if not exclude.excluded(rel):
                yield target, str(t)
            continue
        for root, dirs, names in os.walk(base, followlinks=False):
            dirs[:] = sorted(d for d in dirs if d != ".git")
            for name in sorted(names):
                full = Path(root) / name
                rel = full.relative_to(base).as_posix()
                if exclude.excluded(rel):
                    continue
                shown = rel if not paths else (Path(t) / rel).as_posix()
                yield full, shown


class _PostImages:
    """Reads the post-image of a changed file (``<commit>:<path>``, or ``:<path>`` for the index) for
    :func:`postimage.widen`, through one ``git cat-file --batch`` started on first use."""

    def __init__(self, repo: Path | None) -> None:
        self._repo = repo
        self._cat: git.CatFile | None = None

    def widen(self, rev: str, path: str, text: str, numbers: tuple[int, ...]) -> tuple[str, tuple[int, ...]]:
        if self._repo is None or "\n" in path:
            return text, numbers

        def read() -> bytes | None:
            if self._cat is None:
                self._cat = git.CatFile(self._repo)  # type: ignore[arg-type]
            got = self._cat.read(f"{rev}:{path}")
            return got[1] if got is not None and got[0] == "blob" else None

        try:
            return postimage.widen(path, text, numbers, read)
        except (OSError, GitError):
            return text, numbers

    def archive(self, rev: str, path: str, stats: Stats, max_size: int, depth: int,
                exclude: PathFilter | None = None) -> list[Chunk] | None:
        """The text members of the blob at ``rev:path`` (``:path``, the index, when ``rev`` is empty) when it is named
        like an archive and is one (those ``exclude`` leaves; nothing, counted too large, over ``max_size``); else None
        (a binary file, to be counted as one)."""
        if self._repo is None or depth <= 0 or "\n" in path or not archives.named_like_one(path):
            return None  # (an image or a model is not read whole to learn it is not an archive)
        try:
            if self._cat is None:
                self._cat = git.CatFile(self._repo)
            got = self._cat.read_within(f"{rev}:{path}", max_size)
        except (OSError, GitError):
            return None
        if got is None or got[0] != "blob":
            return None
        data = got[1]
        if data is None:
            stats.too_large += 1  # as a file of the work tree over the limit
            return []
        if archives.kind(data[:_BINARY_SNIFF]) is None:
            return None
        return _member_chunks(data, path, data[:_BINARY_SNIFF], stats, max_size, depth, exclude)

    def close(self) -> None:
        if self._cat is not None:
            self._cat.close()
            self._cat = None


def _patch_chunks(lines: Iterator[str], source: str, stats: Stats, exclude: PathFilter,
                  count_commits: bool = False, repo: Path | None = None, archive_depth: int = 0,
                  max_size: int = DEFAULT_MAX_FILE_SIZE) -> Iterator[Chunk]:
    """Chunks of a diff's added lines; with ``repo``, widened by the post-image lines multi-line rules need, and
    (with ``archive_depth``) an added or changed archive read member by member from its blob."""
    def on_commit(_: CommitInfo) -> None:
        stats.commits += 1

    images = _PostImages(repo)
    try:
        for _commit, fp in git.parse_patch(lines, on_commit if count_commits else None):
            commit = _commit
            if fp.binary:
                members = _commit_archive(images, commit, fp.path, stats, exclude, max_size, archive_depth)
                if members is None:
                    stats.binary_skipped += 1
                    continue
                yield from members
                continue
            if not fp.path or exclude.excluded(fp.path):
                continue
            text = "\n".join(t for _, t in fp.added)
            numbers = tuple(n for n, _ in fp.added)
            text, numbers = images.widen(commit.sha if commit is not None else "", fp.path, text, numbers)
            stats.bytes += len(text)
            yield Chunk(path=fp.path, text=text, source=source, line_numbers=numbers, commit=commit)
    finally:
        images.close()


def staged(repo: Path, stats: Stats, exclude: PathFilter, paths: tuple[str, ...] = (),
           archive_depth: int = archives.DEFAULT_DEPTH, max_size: int = DEFAULT_MAX_FILE_SIZE) -> Iterator[Chunk]:
    """Added lines of ``git diff --cached`` (in ``paths`` when given): what the next commit would add; a staged
    archive member by member."""
    # git diff works from any directory of a work tree and prints root-relative paths, so the pre-commit path
    # skips a `rev-parse --show-toplevel` (a git process is ~3 ms); when it fails, require_repo says why.
    d = Path(repo)
    if not d.is_dir() or not git.git_available():
        git.require_repo(repo, "--staged")
    try:
        lines = git.diff_lines(d, ["--cached", "--no-relative", "--diff-filter=d",
                                   *(["--", *(f":(literal){p}" for p in paths)] if paths else [])],
                               index=git.caller_index(d))
        yield from _patch_chunks(lines, "staged", stats, exclude, repo=d, archive_depth=archive_depth,
                                 max_size=max_size)
    except GitError:
        git.require_repo(repo, "--staged")
        raise


def changes(repo: Path, stats: Stats, exclude: PathFilter, max_size: int = DEFAULT_MAX_FILE_SIZE,
            archive_depth: int = archives.DEFAULT_DEPTH) -> Iterator[Chunk]:
    """Added lines of staged and unstaged changes against HEAD, plus new untracked files: what an agent wrote."""
    top = git.require_repo(repo, "--changes")
    head = git.has_head(top)
    yield from _patch_chunks(git.diff_lines(top, ["HEAD" if head else "--cached", "--diff-filter=d"]), "changes",
                             stats, exclude)
    if not head:
        yield from _patch_chunks(git.diff_lines(top, ["--diff-filter=d"]), "changes", stats, exclude)
    untracked = git.run(["ls-files", "-z", "--others", "--exclude-standard", "--full-name"], top)
    for rel in filter(None, untracked.split("\0")):
        if exclude.excluded(rel):
            continue
        for chunk in _read_file(top / rel, rel, stats, max_size, archive_depth, exclude):
            yield Chunk(path=chunk.path, text=chunk.text, source="changes" if chunk.source == "file" else chunk.source)


def commits(repo: Path, revs: list[str], stats: Stats, exclude: PathFilter, source: str = "commit",
            archive_depth: int = 0, max_size: int = DEFAULT_MAX_FILE_SIZE) -> Iterator[Chunk]:
    """Every commit in ``revs`` (e.g. ``["--all"]`` or ``["BASE..HEAD"]``), each commit's added lines (and, with
    ``archive_depth``, the text members of each archive it adds or changes)."""
    top = git.require_repo(repo, "--history" if revs == ["--all"] else "--range", bare=True)
    if revs == ["--all"] and not git.has_commits(top):
        return
    yield from _patch_chunks(git.log_patch_lines(top, revs), source, stats, exclude, count_commits=True, repo=top,
                             archive_depth=archive_depth, max_size=max_size)


_TOKEN_RUN = re.compile(r"\S{12,}")
MESSAGE_PATHS = {"commit-message": "COMMIT_EDITMSG", "tag-message": "TAG_EDITMSG"}  # git's own names for them


def messages(repo: Path, revs: list[str], stats: Stats, tags: bool, notes: list[str] | None = None,
             commits: list[str] | None = None, strict: bool = False) -> Iterator[Chunk]:
    """Commit messages of ``revs`` (or of exactly the commits ``commits``; none with an empty list) and (with
    ``tags``) annotated tag messages: a value pasted there is in history as surely as one in a file. Findings
    carry the source ``commit-message`` / ``tag-message``. A history git cannot list (a missing commit object)
    leaves the messages unscanned, said in ``notes`` (and raised with ``strict``); the walk of the files reports
    the unreadable objects themselves."""
    if revs == ["--all"] and not git.has_commits(repo):
        return
    try:
        found = [("commit-message", info, text) for info, text in git.commit_messages(repo, revs, commits)]
        if tags:
            found += [("tag-message", info, text) for _name, info, text in git.tag_messages(repo)]
    except GitError as exc:
        if notes is not None:
            notes.append(f"commit and tag messages were not scanned ({exc})")
        if strict:
            raise
        return
    for source, info, text in found:
        if not _TOKEN_RUN.search(text):
            continue  # "fix typo": no run of 12 non-space characters, no value to find (and no prefilter to build)
        stats.bytes += len(text)
        yield Chunk(path=MESSAGE_PATHS[source], text=text, source=source, commit=info)


def commit_groups(repo: Path, take: Callable[[], git.Block | None], stats: Stats, exclude: PathFilter,
                  source: str = "commit", skipped: list[Skipped] | None = None, archive_depth: int = 0,
                  max_size: int = DEFAULT_MAX_FILE_SIZE, start: git.Start | None = None
                  ) -> Iterator[tuple[int, CommitInfo, list[Chunk], int]]:
    """The commits of the blocks ``take`` gives (until None), in order, each with its block's index, its chunks
    and how many binary files it skipped: the same chunks :func:`commits` yields for them, grouped so a caller can
    cache and report per commit. With ``skipped``, unreadable objects are listed there (before their commit is
    yielded) instead of ending the walk. With ``archive_depth``, an archive a commit adds or changes is read member
    by member from its blob, as a tree scan of that commit reads it. ``start``: a git process already handed the
    first blocks (:class:`scanner.git.HeadStart`), whose blocks come first."""
    images = _PostImages(repo)
    try:
        for index, info, files in git.taken_added_texts(repo, take, skipped, start):
            stats.commits += 1
            chunks: list[Chunk] = []
            binary = 0
            for f in files:
                if f.binary:
                    members = _commit_archive(images, info, f.path, stats, exclude, max_size, archive_depth)
                    if members is None:
                        stats.binary_skipped += 1
                        binary += 1
                    else:
                        chunks.extend(members)
                    continue
                if not f.path or exclude.excluded(f.path):
                    continue
                text, numbers = images.widen(info.sha, f.path, f.text, f.line_numbers)
                stats.bytes += len(text)
                chunks.append(Chunk(path=f.path, text=text, source=source, line_numbers=numbers, commit=info))
            yield index, info, chunks, binary
    finally:
        images.close()


def _commit_archive(images: _PostImages, commit: CommitInfo | None, path: str, stats: Stats, exclude: PathFilter,
                    max_size: int, depth: int) -> list[Chunk] | None:
    """The text members of the archive ``path`` that ``commit`` adds or changes (those ``exclude`` leaves), as chunks
    of that commit; None when it is not an archive (or archives are not read): a binary file."""
    if not depth or not path or exclude.excluded(path):
        return None
    members = images.archive(commit.sha if commit is not None else "", path, stats, max_size, depth, exclude)
    return None if members is None else [replace(c, commit=commit) for c in members]


def parse_range(repo: Path, spec: str) -> list[str]:
    """``BASE..HEAD`` (or ``BASE...HEAD``) checked against the repository; returns git log arguments."""
    top = git.require_repo(repo, "--range", bare=True)
    sep = "..." if "..." in spec else ".."
    if sep not in spec:
        raise UsageError(f"--range expects BASE..HEAD, got {spec!r}")
    base, head = spec.split(sep, 1)
    git.verify_commit(top, base or "HEAD")
    git.verify_commit(top, head or "HEAD")
    return [f"{base}{sep}{head}"]


def unified_diff(path: str, stats: Stats, exclude: PathFilter) -> Iterator[Chunk]:
    """A unified diff from a file or ``-`` (stdin), before it is applied: only its added lines."""
    if path == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read diff {path}: {exc.strerror}") from None
    text = decode(data)
    if text.strip() and "@@" not in text:
        raise UsageError(f"{path}: not a unified diff (no @@ hunk headers found)")
    yield from _patch_chunks(iter(text.splitlines(keepends=True)), "diff", stats, exclude)


__all__ = ["CommitInfo", "PathFilter", "changes", "check_named", "commits", "parse_range", "staged", "unified_diff",
           "working_tree"]
