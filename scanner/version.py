"""The one version number (pyproject.toml repeats it; a test keeps the two equal).

A constant, not importlib.metadata: that import alone costs ~10 ms on the pre-commit path."""

from __future__ import annotations

VERSION = "0.1.0"
