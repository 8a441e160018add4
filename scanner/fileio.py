"""Atomic file writes: temp file in the same directory, fsync, rename. A crash leaves the old file or the new one.
(And the one reader of configuration files, :func:`read_setting_text`, which never waits on a FIFO.)

Only regular files are replaced that way. A device (``/dev/null``), a FIFO, ``/dev/stdout`` or a process substitution
(``/dev/fd/63``) is opened and written in place: renaming a regular file over ``/dev/null`` as root would make every
later program on the machine read a JSON report from it. A symlink is written through (its target is replaced, the
link stays).

The temp file is created here with O_EXCL rather than by ``tempfile`` (whose import, with ``random``, is ~1.5 ms of
every pre-commit run, which writes its audit head through this module)."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes, mode: int | None = None) -> None:
    path = Path(path)
    if _in_place(path):
        _write_in_place(path, data)
        return
    if path.is_symlink():
        path = Path(os.path.realpath(path))  # the link stays; its target gets the atomic write
    if mode is None:
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask()
    _replace(path, data, mode)


def _replace(path: Path, data: bytes, mode: int) -> None:
    """``data`` in a temporary file beside ``path`` (O_EXCL, O_NOFOLLOW), fsync()ed, given ``mode``, renamed over
    ``path``: a rename replaces whatever name is there (a symbolic link included), it never writes through it."""
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str, mode: int | None = None) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode)


def _in_place(path: Path) -> bool:
    """True for a target that must not be renamed over: an existing non-regular file (device, FIFO, socket,
    directory: the open then fails with a plain OSError), or a name that goes through /proc (``/dev/stdout``,
    ``/dev/fd/N``), which stands for an open file of this process even when that file is a regular one."""
    try:
        st = os.stat(path)
    except OSError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        return True
    p = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit on symlinks followed in one lookup
        parent = os.path.realpath(os.path.dirname(p))
        if parent == "/proc" or parent.startswith("/proc/"):
            return True
        p = os.path.join(parent, os.path.basename(p))
        if not os.path.islink(p):
            return False
        p = os.path.abspath(os.path.join(parent, os.readlink(p)))
    return False


def _write_in_place(path: Path, data: bytes) -> None:
    # No O_CREAT: the target exists (a device or pipe) or the open fails. O_APPEND: when /dev/stdout is a regular
    # file the shell opened (``> f`` truncated it, ``>> f`` did not), the report follows what is already there
    # instead of overwriting it from offset 0. A FIFO's open waits for its reader, as ``cat > fifo`` does.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _create_temp(path: Path) -> tuple[int, str]:
    for _ in range(100):
        tmp = os.path.join(path.parent, f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name next to {path}")


def _umask() -> int:
    cur = os.umask(0)
    os.umask(cur)
    return cur


# ------------------------------------------------------------------------------------------------ unleak's own state
# Caches, journals and plans under ``<git dir>/unleak``: a coding agent can write there, so a symbolic link it plants
# (the directory itself, a subdirectory, a file) must never send one of unleak's writes, renames or deletions
# elsewhere: into the user's home, another project, a shared folder.


def state_dir(base: Path, *parts: str, create: bool = True) -> Path | None:
    """``base/parts…`` as a directory of unleak's state: every component below ``base`` a real directory (never a
    symbolic link) owned by this user, made 0700 where missing (with ``create``). None when one is not: the caller
    then keeps no state (a cache) or refuses (a plan)."""
    d = Path(base)
    for part in parts:
        d = d / part
        try:
            st = os.lstat(d)
        except FileNotFoundError:
            if not create:
                return None
            try:
                os.mkdir(d, 0o700)
                st = os.lstat(d)
            except FileExistsError:
                st = os.lstat(d)
            except OSError:
                return None
        except OSError:
            return None
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
            return None
    return d


def append_state_file(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Append ``data`` to a state file (created ``mode``), never through a symbolic link, and only to a regular file:
    OSError otherwise. Opening a FIFO to write waits for a reader; non-blocking, it fails at once instead."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_CLOEXEC", 0), mode)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
        os.write(fd, data)
    finally:
        os.close(fd)


def write_state_file(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` (in a directory :func:`state_dir` gave) atomically: a temporary file made with O_EXCL and
    O_NOFOLLOW, renamed over the name (a rename replaces a symbolic link there, it never writes through one)."""
    _replace(Path(path), data, mode)


def write_report(path: Path, text: str) -> None:
    """A report the user asked for (``--output``, ``--html``), written as :func:`atomic_write_text` writes; a path
    that cannot be written (a missing directory, no permission, a full disk) is a usage error naming it, not an
    internal one."""
    from scanner.errors import UsageError

    try:
        atomic_write_text(Path(path), text)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or type(exc).__name__}") from None


def write_project_file(path: Path, text: str, mode: int | None = None) -> None:
    """A file unleak writes into a project (a hook, an agent's settings): as :func:`atomic_write_text`, but never
    through a symbolic link that leads out of the project (the nearest directory above with a ``.git``), which
    whoever edits the project can plant: the write would land on the user's own files."""
    from scanner.errors import UsageError

    path = Path(path).absolute()
    root = next((d for d in path.parents if (d / ".git").exists()), None)
    if root is not None:
        real, base = os.path.realpath(path), os.path.realpath(root)
        if not (real == base or real.startswith(base.rstrip(os.sep) + os.sep)):
            raise UsageError(f"{path} leads to {real} through a symbolic link, outside {root}; remove the link "
                             "and run the command again")
    atomic_write_text(path, text, mode)


def read_setting_bytes(path: str | Path, *, follow: bool = True, limit: int = -1) -> bytes:
    """A configuration or state file's bytes (a config, an extended gitleaks config, a baseline, an ignore file,
    what the replay key hashes, the scan cache's records; at most ``limit`` bytes). A FIFO, socket or device there
    raises OSError instead of being read: opening a FIFO waits for a writer, so one planted where a config is looked
    for (or named by `[extend] path`, or in place of a cache file) would hang every scan. ``follow=False``: a
    symbolic link raises too (state under .git/unleak is never read through one)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags if follow else flags | getattr(os, "O_NOFOLLOW", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(limit)
    finally:
        os.close(fd)


def read_setting_text(path: str | Path) -> str:
    """:func:`read_setting_bytes` as UTF-8 text (UnicodeDecodeError when it is not)."""
    return read_setting_bytes(path).decode("utf-8")
