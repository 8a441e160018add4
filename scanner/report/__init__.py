"""Report renderers. Each takes findings (already redacted records) and returns text; none sees a value."""

from __future__ import annotations

from collections.abc import Callable

from scanner.engine import ScanResult
from scanner.report import github, json_report, sarif, text

FORMATS: dict[str, Callable[..., str]] = {
    "text": text.render,
    "json": json_report.render,
    "sarif": sarif.render,
    "github": github.render,
}


def render(fmt: str, result: ScanResult, *, color: bool = False, root: str | None = None) -> str:
    if fmt == "text":
        return text.render(result, color=color)
    if fmt == "sarif":
        return sarif.render(result, root=root)
    return FORMATS[fmt](result)
