"""unleak front door: CLI, runtime injection, agent server, policy and audit."""

from __future__ import annotations

__version__ = "0.1.0"
