"""Commits read in blocks the caller takes one at a time, so that worker processes share a history out by taking
the next block whenever they are free (only the first few are dealt in advance, to git processes started while the
engine is still being built: :class:`HeadStart`), and no git process is started per block.

One ``git diff-tree --stdin`` process per reader is handed each block as it is taken, followed by an end line that
is not an object id: diff-tree echoes such a line, and flushes, when it reaches it, so the reader knows where a
block's output ends while git already works on the next one. Its output is ``git log -p --cc``'s for the same
commits (``--always`` prints a commit whose diff is empty, ``--root`` diffs a root commit, ``-M`` detects renames
as ``git log`` does by default); a test holds the two byte-identical.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

from scanner.errors import GitError
from scanner.finding import CommitInfo, Skipped
from scanner.git import proc as _proc
from scanner.git.history import _DIFF_OPTS, LOG_FORMAT, commit_added_texts, texts_of_blob
from scanner.git.parse import AddedText
from scanner.git.proc import _BASE, _reason, clean_env, git_available

ARGS = ["diff-tree", "--stdin", "--always", "--root", "-M", "-p", "--cc", *_DIFF_OPTS, LOG_FORMAT, "--"]
_LEAD = b"\n\x01unleak"  # starts a commit's marker line (LOG_FORMAT) and the end line alike
_END = b"\x01unleak-end\x01\n"
AHEAD = 2  # blocks handed to git before their output is read: git diffs the next while this one is scanned

Block = tuple[int, list[str]]  # (block index, commit ids)
Start = tuple["_Reader", list[Block]]  # a git process already handed these blocks (HeadStart)


class HeadStart:
    r"""git diff-tree processes started, and handed their first blocks, before the scan is ready to read them: they
    diff while the parent builds the engine and forks the workers (~0.1 s that one core spent alone). Reader ``k``
    gets blocks ``k``, ``k + n``, … (:data:`AHEAD` each); the workers take the rest from block :attr:`taken` on.

    A forked worker :meth:`adopt`\ s its reader and lets go of the others' pipes; the parent lets go of every pipe
    once the workers are forked (:meth:`let_go`), so each git sees the end of its input when its worker is done,
    and reaps the processes at the end (:meth:`close`): only the process that started them can."""

    def __init__(self, repo: Path, blocks: list[list[str]], n: int) -> None:
        self.readers: list[Start] = []
        try:
            for k in range(n):
                given = [(i, blocks[i]) for i in range(k, min(len(blocks), n * AHEAD), n)]
                if not given:
                    break
                reader = _Reader(repo)
                self.readers.append((reader, given))
                for _, shas in given:
                    reader.send(shas)
        except (GitError, OSError):
            self.close()
            raise GitError("git diff-tree could not be started") from None
        self.taken = sum(len(given) for _, given in self.readers)

    def adopt(self, k: int) -> Start | None:
        """In worker ``k``: its reader and blocks (None when there are fewer readers than workers); the other
        readers' pipes are closed here."""
        for j, (reader, _) in enumerate(self.readers):
            if j != k:
                reader.let_go()
        if k >= len(self.readers):
            return None
        reader, given = self.readers[k]
        reader.adopted = True
        return reader, given

    def let_go(self) -> None:
        for reader, _ in self.readers:
            reader.let_go()

    def close(self) -> None:
        for reader, _ in self.readers:
            reader.close()
        self.readers = []


def taken_added_texts(repo: Path, take: Callable[[], Block | None], skipped: list[Skipped] | None = None,
                      start: Start | None = None
                      ) -> Iterator[tuple[int, CommitInfo, list[AddedText]]]:
    """Each commit of the blocks ``take`` gives (until it gives None), in order, with its block's index and the added
    text of each file: what :func:`scanner.git.commit_added_texts` gives for the same commits. ``start`` is a reader
    already handed blocks (:class:`HeadStart`): those come first.

    With ``skipped``, a commit git cannot read does not end the walk: the rest of the blocks in flight are read by
    :func:`scanner.git.commit_added_texts` (which lists what it cannot read in ``skipped``), and a new git process
    takes the blocks after them. Without it, git's failure is raised as a GitError."""
    reader: _Reader | None = start[0] if start is not None else None
    sent: deque[Block] = deque(start[1] if start is not None else ())
    more = True
    try:
        while True:
            while more and len(sent) < AHEAD:
                block = take()
                if block is None:
                    more = False
                    break
                if reader is None:
                    reader = _Reader(repo)
                reader.send(block[1])
                sent.append(block)
            if not sent:
                return
            index, shas = sent.popleft()
            assert reader is not None
            done = 0
            try:
                for info, files in _in_order(repo, shas, reader.block(), skipped):
                    yield index, info, files
                    done += 1
            except GitError:
                reader.close()
                reader = None
                if skipped is None:
                    raise
                # The commit git was reading when it ended, and every one handed to it after.
                rest = [(index, s) for s in shas[done:]] + [(i, s) for i, b in sent for s in b]
                sent.clear()
                got = commit_added_texts(repo, [s for _, s in rest], skipped)
                for i, sha in rest:
                    item = next(got, None)
                    if item is None or item[0].sha != sha:
                        raise GitError(f"git log did not return commit {sha[:12]} where it was expected") from None
                    yield i, item[0], item[1]
    finally:
        if reader is not None:
            reader.close()


def _in_order(repo: Path, shas: list[str], blobs: Iterator[bytes], skipped: list[Skipped] | None
              ) -> Iterator[tuple[CommitInfo, list[AddedText]]]:
    """The commits of one block in the order asked for. diff-tree prints nothing for a commit it cannot read (a
    missing commit object): such a commit is read alone, as :func:`scanner.git.commit_added_texts` reads it."""
    pos = 0
    for blob in blobs:
        got = texts_of_blob(blob)
        if got is None:
            continue
        while pos < len(shas) and shas[pos] != got[0].sha:
            yield from _alone(repo, shas[pos], skipped)
            pos += 1
        if pos == len(shas):
            raise GitError(f"git diff-tree returned commit {got[0].sha[:12]}, which was not asked for")
        yield got
        pos += 1
    for sha in shas[pos:]:
        yield from _alone(repo, sha, skipped)


def _alone(repo: Path, sha: str, skipped: list[Skipped] | None) -> Iterator[tuple[CommitInfo, list[AddedText]]]:
    if skipped is None:
        raise GitError(f"git diff-tree could not read commit {sha[:12]}")
    yield from commit_added_texts(repo, [sha], skipped)


def _no_index() -> str:
    """An index file that does not exist, and that nobody can create. With rename detection diff-tree reads the
    index, and where an index entry looks current it takes a file's content from the work tree instead of the
    commit's blob: history would then be read from files anyone with write access to the work tree (or to
    ``.git/index``) controls, and a blob missing from the repository would not be reported as skipped. Nothing
    can be created in /proc (and where there is no /proc, only root can make one)."""
    return "/proc/self/unleak-no-index"


class _Reader:
    """One ``git diff-tree --stdin`` process: :meth:`send` hands it a block, :meth:`block` reads that block's
    output back a commit at a time (blocks are read back in the order they were sent)."""

    def __init__(self, repo: Path) -> None:
        if not git_available():
            raise GitError("git is not installed or not on PATH")
        import tempfile  # (not on the pre-commit path, which imports this module but reads no history)

        # git's messages go to a file: a long run of warnings must never fill a pipe nobody reads until the end.
        self._err = tempfile.TemporaryFile()  # noqa: SIM115  (closed by close())
        self._proc = subprocess.Popen([*_BASE, *ARGS], cwd=repo, env=clean_env({"GIT_INDEX_FILE": _no_index()}),
                                      stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self._err, bufsize=0,
                                      preexec_fn=_proc.child_setup)
        with contextlib.suppress(OSError, AttributeError):
            import fcntl

            for pipe in (self._proc.stdout, self._proc.stdin):
                assert pipe is not None
                fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
        self._buf = b"\n"  # output read past the last block's end line (a line start is kept in front)
        self.adopted = False  # used by a forked worker, not by the process that started git (HeadStart)

    def send(self, shas: list[str]) -> None:
        """Hand git one block. The blocks in flight are a few kB, far below the pipe's size: this never waits for
        git to read (and git never waits for a write that waits for it)."""
        assert self._proc.stdin is not None
        with contextlib.suppress(OSError):  # git has ended: block() says why
            self._proc.stdin.write("".join(s + "\n" for s in shas).encode("ascii") + _END)

    def block(self) -> Iterator[bytes]:
        """The next block's output, one commit's (its marker line first) at a time; GitError with git's last message
        when git ends before the block does."""
        out = self._proc.stdout
        assert out is not None
        buf = self._buf
        cur = -1  # where the current commit's marker line starts (the newline before it)
        pos = 0  # where to look for the next line start of ours
        while True:
            i = buf.find(_LEAD, pos)
            if i >= 0 and len(buf) > i + len(_LEAD):
                if buf[i + len(_LEAD)] == 1:  # "\x01unleak\x01": the next commit
                    if cur >= 0:
                        yield buf[cur + 1:i + 1]
                    cur, pos = i, i + 1
                    continue
                if len(buf) >= i + 1 + len(_END):
                    if buf.startswith(_END, i + 1):
                        if cur >= 0:
                            yield buf[cur + 1:i + 1]
                        self._buf = buf[i + len(_END):]  # from the end line's own newline
                        return
                    pos = i + 1
                    continue
            if cur > 0:  # what is yielded is gone: keep the current commit only
                buf, pos, i, cur = buf[cur:], pos - cur, (i - cur if i >= 0 else i), 0
            pos = i if i >= 0 else max(pos, len(buf) - len(_LEAD) + 1)
            chunk = out.read(1 << 20)
            if not chunk:
                raise GitError(f"git diff-tree failed: {self._reason()}")
            buf += chunk

    def _reason(self) -> str:
        # Its output has ended. Only the process that started git can learn its exit status; an adopted reader goes
        # by what git wrote to its error file.
        rc = 1 if self.adopted else self._proc.wait()
        self._err.seek(0)
        err = self._err.read()
        return _reason(err) if rc and (err.strip() or not self.adopted) else "its output ended early"

    def let_go(self) -> None:
        """Close this process's ends of git's pipes (and error file), leaving git running for whoever reads it."""
        for pipe in (self._proc.stdin, self._proc.stdout, self._err):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def close(self) -> None:
        if self.adopted:  # git ends once its input ends; the process that started it reaps it
            self.let_go()
            return
        if self._proc.poll() is None:
            with contextlib.suppress(OSError):
                assert self._proc.stdin is not None
                self._proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=0.2)
            if self._proc.poll() is None:
                self._proc.kill()
        self._proc.wait()
        for pipe in (self._proc.stdin, self._proc.stdout, self._err):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
