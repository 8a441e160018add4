"""unleak front door: CLI, runtime injection, agent server, policy and audit."""

from __future__ import annotations

from scanner.version import VERSION as __version__

__all__ = ["__version__"]
