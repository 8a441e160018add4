"""The local vault's private files: directories created 0700 and files 0600 from the first byte, refused when they
are symbolic links or belong to another user (as ssh's StrictModes does), atomic durable writes and flock()."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from scanner.errors import VaultError
from scanner.fileio import atomic_write_bytes


def user_data_dir() -> Path:
    """unleak's data directory (``$XDG_DATA_HOME/unleak`` on Linux): the vaults, their key and the repository
    registry."""
    import platformdirs

    return Path(platformdirs.user_data_dir("unleak", appauthor=False))


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` and every missing parent 0700, then check it with :func:`check_private_dir`."""
    make_private_dirs(path)
    check_private_dir(path)


def make_private_dirs(path: Path) -> None:
    """Create ``path`` and every missing parent 0700 (mkdir's ``parents=True`` would give the parents the umask's
    mode: 0777 under umask 000). A directory that exists, or that another process makes meanwhile, is left as it
    is: callers that must trust it check it."""
    missing: list[Path] = []
    p = path
    while not os.path.lexists(p) and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            continue  # made by someone else meanwhile
        os.chmod(d, 0o700)  # the umask may have removed bits we need


def check_private_dir(path: Path) -> None:
    """Refuse a directory that is not private to this user, as ssh's StrictModes does: checked with lstat (a
    symbolic link is refused, never followed), owned by the effective uid, no group or other permissions. Another
    user's directory in a shared location could hand us a vault, or delete the key."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise VaultError(f"refusing to use {path}: it is a symbolic link; the vault directory must be a real "
                         "directory owned by you (replace the link by the directory it points to)")
    if not stat.S_ISDIR(st.st_mode):
        raise VaultError(f"refusing to use {path}: it is not a directory")
    if st.st_uid != os.geteuid():
        raise VaultError(f"refusing to use {path}: it is owned by uid {st.st_uid}, not by you (uid {os.geteuid()}), "
                         "so that user could read or delete the vault key; point XDG_DATA_HOME at a directory of "
                         "your own")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise VaultError(f"refusing to use {path}: its mode {mode:04o} lets other users in; run: chmod 700 {path}")


def open_nofollow(path: Path, flags: int, mode: int = 0o600) -> int:
    """os.open that never follows a symbolic link at ``path`` (a link is refused with a clear error)."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise VaultError(f"refusing to use {path}: it is a symbolic link (writing would replace the link and "
                             "leave the target a stale copy); put the file itself there") from None
        raise


def read_private(path: Path) -> bytes | None:
    """The bytes of ``path`` (None if absent), refusing a symbolic link or a file of another user."""
    try:
        fd = open_nofollow(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if st.st_uid != os.geteuid():
            raise VaultError(f"refusing to use {path}: it is owned by uid {st.st_uid}, not by you")
        return fh.read()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new_private(path: Path, data: bytes) -> None:
    """Create ``path`` (must not exist) with mode 0600 from the first byte, write and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask may only have removed bits, but be explicit
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """scanner.fileio's atomic write (0600 temp file, fsync, rename), then the directory is fsync()ed so the
    rename itself survives a crash. A failure (disk full, quota, read-only file system) leaves the old file."""
    try:
        atomic_write_bytes(path, data, mode=0o600)
        fsync_dir(path.parent)
    except OSError as exc:
        raise VaultError(f"could not write the vault file {path} ({exc.strerror or type(exc).__name__}); "
                         "it was left as it was — free space or fix permissions, then try again") from None


@contextlib.contextmanager
def flocked(lock_path: Path) -> Iterator[None]:
    fd = open_nofollow(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
