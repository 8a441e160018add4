"""The exposure history cache: per commit, the file versions it changes against its first parent, kept under
``.git/unleak/exposure-cache/history`` so a second exposure asks git only for the commits added since.

A commit's changes against a given first parent never change (object ids name their content), so an entry is kept
by commit id and first parent; shallow boundaries and grafts change a commit's parents, and an entry whose parent
is not the one git lists now is read again. Replacement objects (``refs/replace/``) change what a commit id holds:
with any of them, there is no cache. The list of commits, their parents and order comes from git on every run
(``git log`` without diffs, started in the background while the history scan runs), so the cache can only ever
supply a commit's changes, never decide which commits there are.

The file is signed like the scan cache (HMAC-SHA-256 under unleak's key, :func:`scanner.cache.mac_key`): it sits
where a coding agent can write, and a forged entry ("this commit changed nothing") would hide a secret's copies from
the report. A file whose MAC does not hold is ignored, and only then is it unmarshalled. Object ids and paths only;
no value (invariant 1).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import marshal
from collections.abc import Iterable
from pathlib import Path

from scanner import git
from scanner.fileio import state_dir, write_state_file

_VERSION = b"unleak-exposure-history 1"
_Entry = tuple[str, tuple[tuple[str, str, str], ...]]  # (first parent or "", changes as (path, mode, new oid))


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, b"exposure-history\0" + payload, hashlib.sha256).hexdigest().encode()


def _replaced(repo: Path) -> bool:
    return bool(git.run(["for-each-ref", "--count=1", "--format=x", "refs/replace/"], repo, check=False).strip())


class HistoryCache:
    def __init__(self, git_dir: Path, key: bytes) -> None:
        self.git_dir = git_dir
        self.path = git_dir / "unleak" / "exposure-cache" / "history"
        self._key = key
        self.entries: dict[str, _Entry] = {}

    def load(self) -> HistoryCache:
        try:
            data = self.path.read_bytes()
        except OSError:
            return self
        head, _, payload = data.partition(b"\n")
        version, _, mac = head.rpartition(b" ")
        if version != _VERSION or not hmac.compare_digest(mac, _mac(self._key, payload)):
            return self  # another format, torn, or not written by unleak with this user's key
        try:
            entries = marshal.loads(payload)
        except (EOFError, ValueError, TypeError):
            return self
        if isinstance(entries, dict):
            self.entries = entries
        return self

    def save(self, entries: dict[str, _Entry]) -> None:
        """Write ``entries`` atomically; best effort (a read-only .git costs the next run its speed only)."""
        payload = marshal.dumps(entries)
        if state_dir(self.git_dir, "unleak", "exposure-cache") is None:
            return  # a symbolic link (or another user's directory) where unleak's own should be: no cache
        with contextlib.suppress(OSError):
            write_state_file(self.path, _VERSION + b" " + _mac(self._key, payload) + b"\n" + payload)


def cached_history(repo: Path, listing: git.Background) -> list[git.RawCommit] | None:
    """What ``git.raw_history(repo, ["--all"])`` gives, with the changes of commits seen before read from the cache;
    ``listing`` is :func:`git.start_listing` of ``--all``. None when there is no cache to use (no key, replacement
    objects): the caller reads the raw history instead. GitError when git cannot list or diff a commit."""
    from scanner.cache import mac_key

    key = mac_key()
    if key is None or _replaced(repo):
        listing.close()
        return None
    cache = HistoryCache(git.common_git_dir(repo), key).load()
    commits = git.listing_commits(listing)
    known = cache.entries
    need = [rc.sha for rc in commits if (e := known.get(rc.sha)) is None or e[0] != _first(rc.parents)]
    fresh: dict[str, git.RawCommit] = {}
    if need:
        fresh = {rc.sha: rc for rc in git.raw_changes(repo, need)}
        missing = [sha for sha in need if sha not in fresh]
        if missing:
            raise git.GitError(f"git log did not return commit {missing[0][:12]}")
    for rc in commits:
        got = fresh.get(rc.sha)
        rc.changes = got.changes if got is not None else known[rc.sha][1]
    if need or len(known) != len(commits):
        cache.save({rc.sha: (_first(rc.parents), tuple((p, m, o) for p, m, o in rc.changes))
                    for rc in commits})
    return commits


def _first(parents: Iterable[str]) -> str:
    return next(iter(parents), "")
