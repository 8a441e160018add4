from __future__ import annotations

from importlib import metadata

try:
    VERSION = metadata.version("unleak")
except metadata.PackageNotFoundError:  # running from a source tree that was not installed
    VERSION = "0.0.0"
