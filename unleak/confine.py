"""Landlock confinement for the processes unleak starts with secrets: they keep the whole file system except
unleak's own directories (the vault and its key, grants, policy, audit log).

Landlock (Linux ≥ 5.13, unprivileged) only *allows*: a ruleset names what it handles, and every access it handles is
denied unless a rule grants it beneath some directory. "Everything except D" is therefore carved: every entry of
every ancestor of D that is neither D nor another ancestor gets a full-access rule, and the ancestors themselves get
none (a rule on an ancestor would reach D beneath it). What that costs, and what it buys:

- the confined process cannot read, write, list, create or remove anything inside D — the vault key, the vault,
  grants.json, the audit log — nor create, rename or remove entries directly in D's ancestors (``$HOME``,
  ``~/.local``, ``~/.local/share``, …); everything else is as before (subtrees of the ancestors included);
- symbolic links in an ancestor are not given rules (a link could point into D); a path through a link is checked
  at its target;
- a process in a Landlock domain cannot ptrace (read the memory of) a process outside it, and with ABI ≥ 6 cannot
  signal one or connect to its abstract unix sockets, so the unleak process that holds the key is out of reach.

Where Landlock is missing (older kernels, other systems) :func:`available` is False and nothing is confined; callers
say so.
"""

from __future__ import annotations

import ctypes
import os
import platform
import stat
import struct
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

# x86-64 and arm64 (asm-generic) share these syscall numbers.
_SYS = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}
_CREATE_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1
_RULE_NET_PORT = 2
_NET_CONNECT_TCP = 1 << 1
#: the first ABI with TCP port rules
NET_ABI = 4
_PR_SET_NO_NEW_PRIVS = 38

_FS = {  # access right: first ABI that has it
    "execute": (1 << 0, 1), "write_file": (1 << 1, 1), "read_file": (1 << 2, 1), "read_dir": (1 << 3, 1),
    "remove_dir": (1 << 4, 1), "remove_file": (1 << 5, 1), "make_char": (1 << 6, 1), "make_dir": (1 << 7, 1),
    "make_reg": (1 << 8, 1), "make_sock": (1 << 9, 1), "make_fifo": (1 << 10, 1), "make_block": (1 << 11, 1),
    "make_sym": (1 << 12, 1), "refer": (1 << 13, 2), "truncate": (1 << 14, 3), "ioctl_dev": (1 << 15, 5),
}
_FILE_RIGHTS = ("execute", "write_file", "read_file", "truncate", "ioctl_dev")
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1

_libc: ctypes.CDLL | None = None


def _c() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _syscall(nr: int, *args: int | ctypes.c_void_p | None) -> int:
    libc = _c()
    libc.syscall.restype = ctypes.c_long
    return int(libc.syscall(ctypes.c_long(nr), *[ctypes.c_void_p(a) if isinstance(a, int) else a for a in args]))


def abi() -> int:
    """The kernel's Landlock ABI version, or 0 where Landlock cannot be used."""
    nrs = _SYS.get(platform.machine())
    if nrs is None or platform.system() != "Linux":
        return 0
    try:
        v = _syscall(nrs[0], None, 0, _CREATE_VERSION)
    except (OSError, AttributeError):
        return 0
    return v if v > 0 else 0


def available() -> bool:
    return abi() > 0


def _rights(version: int, names: Iterable[str]) -> int:
    return sum(bit for name, (bit, first) in _FS.items() if name in names and version >= first)


@dataclass(frozen=True)
class Plan:
    """The rules of one domain: what to deny, and the (path, is_dir) entries that get full access."""

    deny: tuple[Path, ...]
    allow: tuple[tuple[Path, bool], ...]


def plan(deny: Iterable[Path]) -> Plan:
    """Carve "everything but ``deny``" into allow rules over the existing file system."""
    denied = {Path(os.path.realpath(p)) for p in deny}
    ancestors: set[Path] = set()
    for d in denied:
        ancestors.update(d.parents)
    allow: list[tuple[Path, bool]] = []
    for a in sorted(ancestors):
        try:
            entries = list(os.scandir(a))
        except OSError:
            continue
        for e in entries:
            p = a / e.name
            if p in denied or p in ancestors or any(d.is_relative_to(p) for d in denied):
                continue
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode):
                continue  # a link might lead into a denied directory; its target has its own rule
            allow.append((p, stat.S_ISDIR(st.st_mode)))
    return Plan(tuple(sorted(denied)), tuple(allow))


def ruleset(p: Plan, version: int | None = None, *, connect_ports: Collection[int] | None = None) -> int:
    """A Landlock ruleset fd for ``p`` (the caller restricts itself, or a child, with :func:`restrict`).

    ``connect_ports``: TCP connections are allowed to these ports only, on every address (Landlock's port rules do
    not see addresses); None leaves TCP alone. Needs ABI >= 4: an OSError otherwise, so a caller that asked for a
    network boundary never silently runs without one."""
    version = abi() if version is None else version
    if version <= 0:
        raise OSError("Landlock is not available on this system")
    if connect_ports is not None and version < NET_ABI:
        raise OSError(f"Landlock ABI {version} has no TCP rules (needs {NET_ABI}, Linux >= 6.7)")
    create, add, _restrict = _SYS[platform.machine()]
    handled = _rights(version, _FS)
    net = _NET_CONNECT_TCP if connect_ports is not None else 0
    scoped = (_SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL) if version >= 6 else 0
    if version >= 6:
        attr = struct.pack("QQQ", handled, net, scoped)
    elif net:
        attr = struct.pack("QQ", handled, net)
    else:
        attr = struct.pack("Q", handled)
    buf = ctypes.create_string_buffer(attr, len(attr))
    fd = _syscall(create, ctypes.cast(buf, ctypes.c_void_p), len(attr), 0)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    dir_rights, file_rights = handled, _rights(version, _FILE_RIGHTS)
    try:
        for path, is_dir in p.allow:
            try:
                pfd = os.open(path, os.O_PATH | os.O_CLOEXEC | os.O_NOFOLLOW)
            except OSError:
                continue  # gone since planned: nothing to allow
            try:
                rule = struct.pack("=Qi", dir_rights if is_dir else file_rights, pfd)
                rbuf = ctypes.create_string_buffer(rule, len(rule))
                if _syscall(add, fd, _RULE_PATH_BENEATH, ctypes.cast(rbuf, ctypes.c_void_p), 0) < 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"landlock_add_rule failed for {path}")
            finally:
                os.close(pfd)
        for port in sorted(set(connect_ports or ())):
            # struct landlock_net_port_attr is packed: allowed_access (u64), port (u64)
            rule = struct.pack("=QQ", _NET_CONNECT_TCP, port)
            rbuf = ctypes.create_string_buffer(rule, len(rule))
            if _syscall(add, fd, _RULE_NET_PORT, ctypes.cast(rbuf, ctypes.c_void_p), 0) < 0:
                raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for TCP port {port}")
    except BaseException:
        os.close(fd)
        raise
    return fd


def restrict(fd: int) -> None:
    """Enter the domain of ruleset ``fd`` (this process and everything it starts from now on). Async-signal-safe
    enough for a ``preexec_fn``: two syscalls, no allocation beyond ctypes' own."""
    libc = _c()
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if _syscall(_SYS[platform.machine()][2], fd, 0) != 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")


def unleak_dirs() -> tuple[Path, ...]:
    """What a confined process must never reach: unleak's data (vault, key), state (grants, audit) and config
    (policy) directories."""
    from unleak.userenv import config_dir, data_dir, state_dir

    # data_dir() is the vault's directory too (remediate.vault.local.user_data_dir; a test holds them equal): not
    # importing the vault keeps its crypto off the start of `unleak agent`.
    return tuple(dict.fromkeys((data_dir(), state_dir(), config_dir())))


def preexec(deny: Iterable[Path] | None = None, *,
            connect_ports: Collection[int] | None = None) -> tuple[Callable[[], None], int] | None:
    """A ``preexec_fn`` confining the child, and the ruleset fd the parent closes once the child has started; None
    where Landlock is unavailable."""
    if not available():
        return None
    fd = ruleset(plan(unleak_dirs() if deny is None else deny), connect_ports=connect_ports)
    return (lambda: restrict(fd)), fd
