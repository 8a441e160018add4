"""unleak's scanner: finds secrets, never writes to the repository."""

from __future__ import annotations

from scanner.errors import UnleakError

__all__ = ["UnleakError"]
