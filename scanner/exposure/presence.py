"""The presence walk: per commit, which secrets its tree holds and which its history holds, as bitsets.

One ``git log --raw`` walk of all refs (parents first) gives, per commit, the blobs that changed against the first
parent (for commits an earlier run saw, the history cache does: :mod:`scanner.exposure.histcache`); a changed
blob is opened only where a secret can be: where the scan found one added (that commit, that path), at a path that
held one in a parent, or in a commit that deletes such a path (a file moved and edited at
once, which the scan's rename detection shows without its old lines). Every opened blob is checked once for all
values (:mod:`scanner.exposure.matcher`); a commit's set of secret-bearing paths is its first parent's set updated
by its changes. The blobs are not read one round trip at a time: dry runs of the walk on what is known so far name
the blobs it needs, which are read in one ``cat-file`` stream per round (see :meth:`Presence._prefetch`), and which
secrets each blob holds is kept by object id (:mod:`scanner.exposure.blobcache`), so a second exposure opens only
blobs added since. Reachability (which refs contain a commit that holds the secret) is a bitset per commit, OR-ed
over parents in the same walk, so no ``--contains`` query per secret is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from scanner import git
from scanner.chunk import Chunk
from scanner.errors import GitError
from scanner.exposure.histcache import cached_history
from scanner.exposure.matcher import matcher
from scanner.finding import CommitInfo

# Blobs larger than this are not opened for the presence check (the history scan reads them in diffs anyway).
MAX_BLOB = 25 * 1024 * 1024
_SUBMODULE_MODE = "160000"


class _TooManyReads(Exception):
    """The walk met more unread blobs than it should read one round trip at a time."""


_EAGER_READS = 64  # blobs a walk on cached answers may read one by one before it prefetches instead
_PREFETCH_ROUNDS = 6  # dry runs of the presence walk; each reads what the previous one found missing


class Presence:
    """Per-commit bitsets over the secrets: which trees hold them (``present``), which histories do (``reach``).

    Two passes. The first reads the history (one ``git log --raw``) and, in one streamed ``git cat-file --batch``,
    every file version at a path where the scan found a secret: these are the only blobs the second pass can need
    but for a few (a commit that moves a secret-bearing file, read on demand). The second pass is pure bookkeeping
    over what was read, so what it decides is exactly what a walk opening blob by blob decides."""

    def __init__(self, repo: Path, values: list[bytes], added: set[tuple[str, str]] | None = None,
                 unreadable: set[tuple[str, str]] | None = None,
                 progress: Callable[[Chunk], None] | None = None,
                 phase: Callable[[str, int | None], None] | None = None,
                 known: dict[str, int] | None = None, listing: git.Background | None = None,
                 archive_depth: int = 0) -> None:
        """``added``: (commit, path) pairs where the scan found a secret added (None: open every changed blob).
        ``unreadable``: (commit, path) pairs the scan could not read, (commit, "") for a whole commit; never
        opened here. ``phase`` announces the blob reading (its total in blobs) and ``progress`` ticks once per
        commit walked and once per blob read. ``known``: bits of file versions read by an earlier run (oid ->
        bits over ``values``), not read again. ``listing``: :func:`git.start_listing` of ``--all``, started
        earlier; with it, the changes of commits seen by an earlier run come from the history cache
        (:mod:`scanner.exposure.histcache`). ``archive_depth``: a file version that is an archive holds what its
        members hold, to that depth (a value in a compressed member is not in the archive's bytes)."""
        self.values = values
        self.present: dict[str, int] = {}
        self.reach: dict[str, int] = {}
        self.order: dict[str, int] = {}  # topological position, parents first
        self.info: dict[str, git.RawCommit] = {}
        self.opened = 0  # blobs whose content decided a commit's state
        self.read = 0  # blobs read from git (the prefetch reads a few the walk then does not need)
        self.error = ""
        self._blob_bits: dict[str, int] = {}
        self._prefetched: dict[str, int] = dict(known or {})
        self._unread: set[str] = set()  # objects git could not give
        self._match = matcher(values) if not archive_depth else _with_members(matcher(values), archive_depth)
        self._added = added
        self._unreadable = unreadable or set()
        self._progress = progress
        self._phase = phase
        self._cat: git.CatFile | None = None
        self._budget: int | None = None  # blobs the walk may still read one by one (None: no limit)
        if values:
            commits = self._history(repo, listing)
            try:
                try:
                    # With what an earlier run learnt (``known``), the walk usually needs nothing new: walk at
                    # once, and only if it starts reading blob after blob, prefetch and walk again.
                    self._budget = _EAGER_READS if known else 0
                    self._walk(repo, commits)
                except _TooManyReads:
                    self._reset()
                    self._budget = None
                    self._prefetch(repo, commits)
                    self._walk(repo, commits)
            except GitError as exc:
                self.error = self.error or str(exc)
            finally:
                if self._cat is not None:
                    self._cat.close()

    def _reset(self) -> None:
        self.present.clear()
        self.reach.clear()
        self.order.clear()
        self.info.clear()
        self.opened = 0
        self._blob_bits.clear()

    def _history(self, repo: Path, listing: git.Background | None) -> list[git.RawCommit]:
        cached = None
        if listing is not None:
            try:
                cached = cached_history(repo, listing)
            except GitError:
                cached = None  # read as if there were no cache: the raw history says what git can and cannot give
            finally:
                listing.close()
        if cached is not None:
            if self._progress is not None:
                for rc in cached:
                    self._progress(Chunk(path="", text="", source="commit", commit=rc.info))
            return cached
        commits: list[git.RawCommit] = []
        try:
            for rc in git.raw_history(repo, ["--all"]):
                commits.append(rc)
                if self._progress is not None:
                    self._progress(Chunk(path="", text="", source="commit", commit=rc.info))
        except GitError as exc:  # an unreadable tree or commit: what was walked stands
            self.error = str(exc)
        return commits

    def _readable(self, sha: str, ch: tuple[str, str, str]) -> bool:
        path, mode, oid = ch
        return (oid != git.ZERO_OID and mode != _SUBMODULE_MODE and (sha, "") not in self._unreadable
                and (sha, path) not in self._unreadable)

    def _prefetch(self, repo: Path, commits: list[git.RawCommit]) -> None:
        """Bits of the file versions the walk will open, read in streams instead of one round trip each.

        Which versions the walk opens depends on what the earlier ones hold, so the walk is first run dry on what
        is known, guessing what a version not read yet holds (see below); everything it asked for is read in one
        stream, and again until it asks for nothing new (two or three rounds). Anything still missing is read on
        demand by the real walk, so a wrong guess costs time, never a different answer."""
        if self._added is None:
            todo = {ch[2]: None for rc in commits for ch in rc.changes if self._readable(rc.sha, ch)}
            self._read_all(repo, list(todo))
            return
        for _ in range(_PREFETCH_ROUNDS):
            missing: dict[str, None] = {}
            self._walk(repo, commits, missing)
            if not missing:
                return
            self._read_all(repo, list(missing))

    def answers(self) -> dict[str, int]:
        """Bits of every file version read (this run or an earlier one), for the blob cache."""
        return {oid: bits for oid, bits in {**self._prefetched, **self._blob_bits}.items() if oid not in self._unread}

    def _read_all(self, repo: Path, oids: list[str]) -> None:
        if self._phase is not None:
            self._phase("reading files", len(oids) or None)
        for oid, obj in zip(oids, git.cat_file_stream(repo, oids), strict=True):
            self.read += 1
            # An object git cannot give counts as holding nothing, as when the walk opens it (and is not cached:
            # it may be fetched later).
            if obj is None:
                self._unread.add(oid)
            self._prefetched[oid] = (self._match(obj[1]) if obj is not None and obj[0] == "blob"
                                     and len(obj[1]) <= MAX_BLOB else 0)
            if self._progress is not None:
                # The bar counts distinct ids; a blob's id stands in for a commit's here.
                self._progress(Chunk(path="", text="", source="blob",
                                     commit=CommitInfo(sha=oid, author="", email="", date="")))

    def _bits_of(self, repo: Path, oid: str) -> int:
        bits = self._blob_bits.get(oid)
        if bits is None:
            self.opened += 1
            bits = self._prefetched.get(oid)
            if bits is None:
                if self._budget is not None:
                    if self._budget <= 0:
                        raise _TooManyReads
                    self._budget -= 1
                if self._cat is None:
                    self._cat = git.CatFile(repo)
                self.read += 1
                obj = self._cat.read(oid)
                if obj is None:
                    self._unread.add(oid)
                bits = self._match(obj[1]) if obj is not None and obj[0] == "blob" and len(obj[1]) <= MAX_BLOB else 0
            self._blob_bits[oid] = bits
        return bits

    def _walk(self, repo: Path, commits: list[git.RawCommit], missing: dict[str, None] | None = None) -> None:
        """The presence walk; with ``missing``, a dry run on the prefetched bits that collects the versions it
        would have to read (see :meth:`_prefetch`) and records nothing."""
        # Per commit: {path: bits} of the paths whose blob holds a secret. Shared with the parent when unchanged.
        states: dict[str, dict[str, int]] = {}
        empty: dict[str, int] = {}
        memo = self._blob_bits if missing is None else {}
        added = self._added or set()
        every = self._added is None
        unreadable = self._unreadable
        prefetched = self._prefetched
        zero = git.ZERO_OID
        presents: dict[int, int] = {}  # id(state) -> bits, while that state object lives in ``states``
        for n, rc in enumerate(commits):
            sha = rc.sha
            state = states.get(rc.parents[0], empty) if rc.parents else empty
            new: dict[str, int] | None = None
            # Paths that held a secret in another parent: a merge takes them from there too.
            others = [states.get(q, empty) for q in rc.parents[1:]]
            # A commit that deletes a secret-bearing path may have moved the secret elsewhere (a rename with
            # edits): every blob it adds is opened then.
            moved = every or any(oid == zero and path in state for path, _, oid in rc.changes)
            whole = bool(unreadable) and (sha, "") in unreadable
            for path, mode, oid in rc.changes:
                bits = 0
                if (oid != zero and mode != _SUBMODULE_MODE and not whole
                        and not (unreadable and (sha, path) in unreadable)):
                    known = memo.get(oid)
                    if known is not None:
                        bits = known
                    elif (moved or path in state or (sha, path) in added
                          or any(path in o for o in others)):
                        if missing is None:
                            bits = self._bits_of(repo, oid)
                        else:
                            got = prefetched.get(oid)
                            if got is None:
                                # Not read yet. Guess: an edit keeps what the path held, a version where the scan
                                # found a secret added or that a merge brings holds one (so the versions after it
                                # are asked for now), a file a move adds holds nothing (it is read, and followed
                                # in the next round if it does hold one).
                                missing[oid] = None
                                got = state.get(path, 0) or (
                                    -1 if (sha, path) in added or any(path in o for o in others) else 0)
                            bits = memo[oid] = got
                if bits or path in state:
                    if new is None:
                        new = dict(state)
                    if bits:
                        new[path] = bits
                    else:
                        new.pop(path, None)
            if new is not None:
                state = new
            states[sha] = state
            if missing is not None:
                continue
            self.order[sha] = n
            self.info[sha] = rc
            present = presents.get(id(state)) if new is None and state is not empty else None
            if present is None:
                present = 0
                for bits in state.values():
                    present |= bits
                presents[id(state)] = present
            self.present[sha] = present
            reach = present
            for p in rc.parents:
                reach |= self.reach.get(p, 0)
            self.reach[sha] = reach


def _with_members(match: Callable[[bytes], int], depth: int) -> Callable[[bytes], int]:
    """``match`` over a file version and, when it is an archive, over each of its members to ``depth`` levels."""
    from scanner import archives

    def run(data: bytes) -> int:
        bits = match(data)
        head = data[:archives.HEAD]
        if archives.kind(head) is not None:
            for _name, member in archives.members(data, "", head, MAX_BLOB, depth, archives.Counts()):
                bits |= match(member)
        return bits

    return run

