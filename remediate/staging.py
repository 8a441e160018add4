"""Staged apply of a fix: every new content is written first, then all are renamed into place, under a journal.

Why: writing file by file (temp file next to the target, then rename) leaves, when the process is killed, a tree
in which some files are rewritten and others not, and ``.<file>.<rand>.tmp`` files in the work tree that
``git add -A`` would commit (during a rollback such a file holds the original secret).

How, for one transaction:

1. a private directory ``<git dir>/unleak/fix-<id>/`` (outside the work tree's view; for a directory that is not
   a repository, under the user data directory) is created and locked (``flock``) for the life of the process;
2. the journal (``journal.json``, state ``staging``) names every staged file, before any is written;
3. every new content is written there and fsync()ed; nothing in the work tree has changed yet;
4. the journal's state becomes ``commit`` (atomic rename + directory fsync): from here on the fix is decided;
5. each staged file is renamed over its target (a rename is atomic; target directories are fsync()ed);
6. the directory is removed.

A rollback (a check after the renames failed, Ctrl-C) stages the original contents the same way, sets the state to
``rollback`` and renames them back.

:func:`recover`, called at the start of the next ``fix``, finds the directories of killed runs (their lock is free)
and finishes them: ``staging`` → nothing in the work tree changed, the staged files are removed; ``commit`` → the
renames that did not happen are done (every value was already in the vault and read back before step 1, so going
forward loses nothing); ``rollback`` → the originals not yet put back are. A target that changed since it was staged
(its inode, size and modification time differ) is never overwritten: it is reported instead.

The journal sits under the git directory, where whoever edits the work tree (a coding agent) can write too, and
recovery runs at the start of every ``fix``, a plan included. So a journal is acted on only when every path in it is
one a transaction of this work tree can have: targets (resolved) inside the work tree at their recorded relative
path, staged files and originals in the transaction's own directory (or beside their target, under the name
:func:`_entry` gives), created directories inside the work tree. Any other journal is left alone and reported: a
forged one could otherwise delete, or overwrite with the agent's file, any file of the user's.

The journal holds paths, modes and (inode, size, mtime) triples only — nothing derived from a file's contents.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from remediate.plan_model import FileChange
from remediate.vault.privatefs import make_private_dirs
from scanner import git
from scanner.errors import UnleakError
from scanner.fileio import read_setting_bytes

Writer = Callable[[Path, bytes], None]
JOURNAL = "journal.json"
LOCK = "lock"
PREFIX = "fix-"
# A directory being set up (before it is locked and renamed to fix-<id>) older than this was left by a killed run.
_SETUP_GRACE_S = 60.0


class StagingError(UnleakError):
    """A staged apply could not be set up or finished (the message names the file and what to do)."""


@dataclass
class Entry:
    path: str  # relative to the root, '/'-separated (as in the plan)
    target: str  # absolute path the rename goes to (a symlink's target: the link stays)
    staged: str  # absolute path of the new content
    before: list[int] | None  # (inode, size, mtime_ns) of the target when staged; None: it did not exist
    mode: int
    created_dirs: list[str] = field(default_factory=lambda: [])  # made for a new file, nearest last
    new_id: list[int] | None = None  # (inode, size, mtime_ns) of the staged new content (the target after rename)
    old: str | None = None  # staged original, during a rollback


def _ident(st: os.stat_result) -> list[int]:
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def _lident(path: str) -> list[int] | None:
    try:
        return _ident(os.stat(path))
    except FileNotFoundError:
        return None


def _fsync_dir(path: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _umask() -> int:
    cur = os.umask(0)
    os.umask(cur)
    return cur


def _write_file(path: Path, data: bytes) -> None:
    """The default writer of a staged file: created 0600, written, fsync()ed (the mode is set before the rename)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def staging_home(root: Path) -> Path:
    """Where the transactions of ``root`` live: ``<git dir>/unleak`` (the work tree's own git directory, so linked
    worktrees do not share it), or, outside a repository, a per-directory place in the user data directory."""
    gd = git.absolute_git_dir(root) if git.git_available() else None
    if gd is not None:
        return gd / "unleak"
    from remediate.vault.local import user_data_dir

    return user_data_dir() / "fix-staging" / hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:24]


class Transaction:
    """One staged apply; see the module docstring. Use :func:`stage` to make one."""

    def __init__(self, root: Path, directory: Path, lock_fd: int, entries: list[Entry],
                 originals: dict[str, bytes]) -> None:
        self.root = root
        self.dir = directory
        self._lock_fd = lock_fd
        self.entries = entries
        self._originals = originals  # path -> original bytes, for a rollback (memory only until one is needed)
        self.renamed: list[Entry] = []  # in order
        self.state = "staging"

    # -------------------------------------------------------------------------------------------- journal

    def _save(self, state: str) -> None:
        doc = {"version": 1, "root": str(self.root), "state": state, "entries": [asdict(e) for e in self.entries]}
        tmp = self.dir / (JOURNAL + ".new")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        _write_file(tmp, json.dumps(doc, indent=1).encode("utf-8"))
        os.replace(tmp, self.dir / JOURNAL)
        _fsync_dir(str(self.dir))
        self.state = state

    # -------------------------------------------------------------------------------------------- steps

    def commit(self) -> None:
        """Rename every staged file into place, in order. On a failure :class:`remediate.patch.ApplyError` says
        which file; those already renamed are in :attr:`renamed`, for :meth:`rollback`."""
        from remediate.patch import ApplyError

        try:
            self._save("commit")
        except OSError as exc:
            raise ApplyError(f"could not record the rewrite in {self.dir} ({type(exc).__name__}: "
                             f"{exc.strerror or 'write failed'})", 0) from None
        for e in self.entries:
            try:
                for d in e.created_dirs:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(d)
                os.rename(e.staged, e.target)
            except OSError as exc:
                raise ApplyError(f"could not write {e.path} ({type(exc).__name__}: "
                                 f"{exc.strerror or 'rename failed'})", 0) from None
            self.renamed.append(e)
        for d in sorted({os.path.dirname(e.target) for e in self.entries}):
            _fsync_dir(d)

    def rollback(self, write: Writer | None = None) -> list[str]:
        """Put back every renamed file (originals staged first, then renamed); returns the paths that could not be
        restored (reported, never hidden), in the order they were written."""
        writer = write or _write_file
        restorable: list[Entry] = []
        failed: list[str] = []
        for i, e in enumerate(self.renamed):
            if e.before is None:
                restorable.append(e)
                continue
            old = self.dir / f"o{i}"
            try:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(old)
                writer(old, self._originals[e.path])
                os.chmod(old, e.mode)
                e.old = str(old)
                restorable.append(e)
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(old)
                failed.append(e.path)
        if restorable:
            try:
                self._save("rollback")
            except OSError:
                return [e.path for e in self.renamed]
        for e in reversed(restorable):
            try:
                _undo(e)
            except OSError:
                failed.append(e.path)
        self.renamed = [e for e in self.renamed if e.path in failed]
        return [e.path for e in self.entries if e.path in failed]

    def close(self) -> None:
        """Remove the transaction's directory and every staged file not renamed (also those staged beside their
        targets), and release the lock: the fix is complete, fully undone, or never started."""
        for e in self.entries:
            with contextlib.suppress(OSError):
                os.unlink(e.staged)
        shutil.rmtree(self.dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)


def _undo(e: Entry) -> None:
    """Put one entry's original back (or remove the file it created), if the target is still the staged new one."""
    if _lident(e.target) != e.new_id:
        if e.old:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(e.old)
        return
    if e.before is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(e.target)
        for d in reversed(e.created_dirs):
            with contextlib.suppress(OSError):
                os.rmdir(d)
    elif e.old:
        os.rename(e.old, e.target)
    _fsync_dir(os.path.dirname(e.target))


def _open_transaction(home: Path, root: Path) -> tuple[Path, int]:
    from scanner.fileio import state_dir

    make_private_dirs(home.parent)
    if state_dir(home.parent, home.name) is None:
        # .git/unleak is a symbolic link (an agent can plant one) or not this user's: staging there would put the
        # new contents, and later renames, wherever it points.
        raise StagingError(f"{home} is not a directory of this user's (a symbolic link?); remove it and run "
                           "`unleak fix` again")
    txid = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{os.urandom(4).hex()}"
    setup = home / f".{PREFIX}{txid}.new"
    os.mkdir(setup, 0o700)
    fd = os.open(setup / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    final = home / f"{PREFIX}{txid}"
    os.rename(setup, final)
    return final, fd


def stage(root: Path, changes: Sequence[FileChange], write: Writer | None = None) -> Transaction:
    """Write every change's new content into a new transaction directory; the work tree is not touched.

    Raises :class:`remediate.patch.ApplyError` (nothing changed) when a staged file cannot be written."""
    from remediate.patch import ApplyError

    writer = write or _write_file
    home = staging_home(root)
    try:
        directory, lock_fd = _open_transaction(home, root)
    except OSError as exc:
        raise ApplyError(f"could not prepare the rewrite under {home} ({type(exc).__name__}: "
                         f"{exc.strerror or 'failed'})", 0) from None
    txn = Transaction(root, directory, lock_fd, [],
                      {c.path: c.before.encode("utf-8") for c in changes if c.before is not None})
    umask = _umask()
    try:
        for i, c in enumerate(changes):
            txn.entries.append(_entry(root, directory, i, c, umask))
        try:
            txn._save("staging")
        except OSError as exc:
            raise ApplyError(f"could not prepare the rewrite in {directory} ({type(exc).__name__}: "
                             f"{exc.strerror or 'write failed'})", 0) from None
        for c, e in zip(changes, txn.entries, strict=True):
            try:
                writer(Path(e.staged), c.after.encode("utf-8"))
                os.chmod(e.staged, e.mode)
                e.new_id = _lident(e.staged)
            except OSError as exc:
                raise ApplyError(f"could not write {c.path} ({type(exc).__name__}: "
                                 f"{exc.strerror or 'write failed'})", 0) from None
        _fsync_dir(str(directory))
    except BaseException:
        txn.close()
        raise
    return txn


def _entry(root: Path, directory: Path, i: int, c: FileChange, umask: int) -> Entry:
    target = root / c.path
    if target.is_symlink():
        target = Path(os.path.realpath(target))  # the link stays; its target gets the new content
    base = os.path.realpath(root)
    if not _within(os.path.realpath(target), base):
        # A directory on the way is a symbolic link out of the work tree (which whoever edits it can make): the
        # file written would be another directory's.
        raise StagingError(f"{c.path} leads outside {root} through a symbolic link; nothing was written")
    created: list[str] = []
    if c.before is None:
        created = [str(d) for d in reversed((target.parent, *target.parent.parents)) if not d.exists()]
    existing_dir = next(d for d in (target.parent, *target.parent.parents) if d.exists())
    staged = directory / f"n{i}"
    if os.stat(existing_dir).st_dev != os.stat(directory).st_dev:
        # A rename cannot cross file systems (a mount inside the work tree, a git directory elsewhere): this one
        # file is staged beside its target, under a name the journal records so that recovery removes it.
        staged = existing_dir / f".{target.name}.{directory.name}.tmp"
    try:
        st = os.stat(target)
        return Entry(c.path, str(target), str(staged), _ident(st), st.st_mode & 0o7777, created)
    except FileNotFoundError:
        return Entry(c.path, str(target), str(staged), None, 0o666 & ~umask, created)


# ------------------------------------------------------------------------------------------------ recovery


@dataclass
class Recovered:
    """What :func:`recover` did for interrupted runs (paths only)."""

    completed: list[str] = field(default_factory=lambda: [])  # renamed into place now (the fix is complete)
    rolled_back: list[str] = field(default_factory=lambda: [])  # originals put back now
    discarded: int = 0  # interrupted before any file changed: staged files removed
    conflicts: list[str] = field(default_factory=lambda: [])  # changed since staged: left alone, reported
    refused: list[str] = field(default_factory=lambda: [])  # transaction directories whose journal was not unleak's

    @property
    def any(self) -> bool:
        return bool(self.completed or self.rolled_back or self.discarded or self.conflicts or self.refused)

    def notes(self) -> list[str]:
        out = []
        if self.completed:
            out.append(f"an interrupted `unleak fix` was completed: {', '.join(self.completed)} now read references")
        if self.rolled_back:
            out.append(f"an interrupted rollback was completed: {', '.join(self.rolled_back)} restored")
        if self.conflicts:
            out.append(f"an interrupted `unleak fix` left {', '.join(self.conflicts)} alone: changed since it was "
                       "staged; check them with `git diff`")
        for d in self.refused:
            out.append(f"{d} was left alone: its journal names files outside this work tree or outside its own "
                       "directory, which no `unleak fix` writes (someone else wrote it); look at it, then remove it")
        return out


def _load(directory: Path) -> tuple[str, list[Entry]] | None:
    try:
        doc: Any = json.loads(read_setting_bytes(directory / JOURNAL, follow=False))  # a planted FIFO: no wait
        return str(doc["state"]), [Entry(**e) for e in doc["entries"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _confined(root: Path, d: Path, e: Entry) -> bool:
    """Whether every path ``e`` names is one a transaction of the work tree ``root`` in directory ``d`` writes."""
    try:
        base = os.path.realpath(root)
        home = os.path.realpath(d)
        rel = PurePosixPath(e.path)
        if not e.path or rel.is_absolute() or ".." in rel.parts or not isinstance(e.target, str):
            return False
        target = os.path.realpath(e.target)
        if target != os.path.realpath(os.path.join(base, *rel.parts)) or not _within(target, base):
            return False

        def placed(p: str | None) -> bool:
            if p is None:
                return True
            where = os.path.realpath(os.path.dirname(p))
            if where == home:
                return True
            # Staged beside its target (another file system): the name _entry gives, in a directory on its path.
            return (os.path.basename(p) == f".{os.path.basename(target)}.{d.name}.tmp" and _within(where, base)
                    and _within(target, where))

        return (placed(e.staged) and placed(e.old)
                and all(isinstance(c, str) and _within(os.path.realpath(c), base)
                        and _within(target, os.path.realpath(c))
                        for c in e.created_dirs))
    except (TypeError, ValueError, OSError):
        return False


def _within(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip(os.sep) + os.sep)


def _try_lock(directory: Path) -> int | None:
    """The lock of a transaction directory if no live process holds it (then the run was killed), else None."""
    try:
        fd = os.open(directory / LOCK, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return -1  # no lock file: nothing was ever staged there
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def recover(root: Path) -> Recovered:
    """Finish every transaction of ``root`` whose process is gone (see the module docstring). Safe to call when
    another ``fix`` runs: live transactions are locked and left alone."""
    out = Recovered()
    home = staging_home(root)
    if os.path.islink(home):
        out.refused.append(str(home))  # not unleak's directory: nothing in it is a transaction of ours
        return out
    try:
        names = sorted(os.listdir(home))
    except (FileNotFoundError, NotADirectoryError):
        return out
    for name in names:
        d = home / name
        if name.startswith(f".{PREFIX}") and name.endswith(".new"):
            # Killed while setting up (nothing staged yet). Its lock tells a dead setup from a live one; before the
            # lock file exists, only age can.
            fd = _try_lock(d)
            with contextlib.suppress(OSError):
                if (fd is not None and fd >= 0) or time.time() - os.lstat(d).st_mtime > _SETUP_GRACE_S:
                    shutil.rmtree(d)
            if fd is not None and fd >= 0:
                os.close(fd)
            continue
        if not name.startswith(PREFIX) or not d.is_dir():
            continue
        fd = _try_lock(d)
        if fd is None:
            continue
        try:
            _recover_one(root, d, out)
        finally:
            if fd >= 0:
                os.close(fd)
    return out


def _recover_one(root: Path, d: Path, out: Recovered) -> None:
    if os.path.islink(d):
        out.refused.append(str(d))
        return
    loaded = _load(d)
    if loaded is None:
        # Killed before the journal existed: nothing was staged outside this directory.
        shutil.rmtree(d, ignore_errors=True)
        out.discarded += 1
        return
    state, entries = loaded
    if not all(_confined(root, d, e) for e in entries):
        out.refused.append(str(d))
        return
    if state == "staging":
        for e in entries:
            with contextlib.suppress(OSError):
                os.unlink(e.staged)
        out.discarded += 1
    elif state == "commit":
        for e in entries:
            if not os.path.lexists(e.staged):
                continue  # renamed before the kill
            if _lident(e.target) != e.before:
                out.conflicts.append(e.path)
                with contextlib.suppress(OSError):
                    os.unlink(e.staged)
                continue
            for dd in e.created_dirs:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(dd)
            os.rename(e.staged, e.target)
            _fsync_dir(os.path.dirname(e.target))
            out.completed.append(e.path)
    elif state == "rollback":
        for e in reversed(entries):
            if e.old is None and e.before is not None:
                # Its original was never staged (the rollback could not write it): it stays rewritten.
                with contextlib.suppress(OSError):
                    os.unlink(e.staged)
                continue
            if _lident(e.target) == e.new_id:
                _undo(e)
                out.rolled_back.append(e.path)
            elif e.old:
                with contextlib.suppress(OSError):
                    os.unlink(e.old)
            with contextlib.suppress(OSError):
                os.unlink(e.staged)
    shutil.rmtree(d, ignore_errors=True)
