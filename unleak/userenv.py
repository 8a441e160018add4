"""Where unleak keeps the user's state and config, and who the user is.

Kept apart from :mod:`unleak.agent.policy` so that the audit record every ``unleak scan --staged`` writes does not
import the policy engine, and free of platformdirs on Linux and the BSDs (it pulls in ``tempfile`` and ``random``:
~4 ms of a pre-commit run). The XDG answers below are platformdirs' own (a test checks them against it); other
systems ask platformdirs.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

APP = "unleak"


def _xdg(var: str, default: str) -> Path | None:
    if sys.platform == "darwin" or sys.platform.startswith(("win", "cygwin")):
        return None
    base = os.environ.get(var, "").strip() or os.path.expanduser(default)
    return Path(base) / APP


def state_dir() -> Path:
    """``$XDG_STATE_HOME/unleak`` on Linux: grants, approval requests and the audit log."""
    d = _xdg("XDG_STATE_HOME", "~/.local/state")
    if d is not None:
        return d
    import platformdirs

    return Path(platformdirs.user_state_dir(APP, appauthor=False))


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/unleak`` on Linux: the user's policy."""
    d = _xdg("XDG_CONFIG_HOME", "~/.config")
    if d is not None:
        return d
    import platformdirs

    return Path(platformdirs.user_config_dir(APP, appauthor=False))


def data_dir() -> Path:
    """``$XDG_DATA_HOME/unleak`` on Linux: the embedded vault and its key file (the same directory
    :func:`remediate.vault.local.user_data_dir` names; a test holds them equal)."""
    d = _xdg("XDG_DATA_HOME", "~/.local/share")
    if d is not None:
        return d
    import platformdirs

    return Path(platformdirs.user_data_dir(APP, appauthor=False))


def ensure_private_dir(path: Path) -> Path:
    """``path`` as a 0700 directory; every directory it creates on the way is 0700 too (``mkdir(parents=True)``
    would give the parents the umask's mode, and the vault refuses a data directory others can enter)."""
    missing: list[Path] = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=0o700)
        with contextlib.suppress(OSError):
            os.chmod(d, 0o700)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)
    return path


def human_actor() -> str:
    """The human at the terminal, for the audit log and ``created_by``."""
    import getpass

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"user:{user}"
