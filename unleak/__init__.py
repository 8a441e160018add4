"""unleak front door: CLI, runtime injection, agent server, policy and audit."""

from __future__ import annotations

import os as _os
import sys as _sys

# `python -m unleak …` puts the working directory first on the module path (sys.argv[0] is "-m" while the package
# is located). That directory is often a repository an agent writes: a `resource.py` or `struct.py` there would run
# inside unleak, outside any sandbox, with the vault key readable. It goes to the end instead (a source checkout run
# in place still finds its own packages), so the standard library and installed packages always win.
if _sys.argv[:1] == ["-m"] and not _sys.flags.safe_path and _sys.path[:1] == [_os.getcwd()]:
    _sys.path.append(_sys.path.pop(0))

from scanner.version import VERSION as __version__  # after the module path is safe

__all__ = ["__version__"]
