"""Report renderers. Each takes findings (already redacted records) and returns text; none sees a value."""

from __future__ import annotations

from importlib import import_module

from scanner.result import ScanResult

# Imported on use: the pre-commit path renders text only.
FORMATS = {"text": "text", "json": "json_report", "sarif": "sarif", "github": "github"}


def render(fmt: str, result: ScanResult, *, color: bool = False, root: str | None = None, group: bool = False) -> str:
    module = import_module(f"scanner.report.{FORMATS[fmt]}")
    if fmt == "text":
        return str(module.render(result, color=color, group=group))
    if fmt == "sarif":
        return str(module.render(result, root=root))
    return str(module.render(result))
