"""GitHub Actions workflow commands: one annotation per finding on its exact line."""

from __future__ import annotations

from scanner.report.text import summary
from scanner.result import ScanResult

_LEVEL = {"high": "error", "medium": "error", "low": "warning", "unlikely": "notice"}


def _data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(s: str) -> str:
    return _data(s).replace(":", "%3A").replace(",", "%2C")


def render(result: ScanResult) -> str:
    out: list[str] = []
    for f in result.findings:
        msg = f"{f.title} ({f.confidence.value}) {f.preview}"
        verdict = result.verifications.get(f.fingerprint)
        if verdict is not None:
            msg += f" [verified: {verdict.short()}]"
        if f.commit is not None:
            msg += f" in commit {f.commit.sha[:12]} by {f.commit.author}; a secret in history stays leaked: rotate it"
        else:
            msg += "; move it to the vault with `unleak fix`"
        out.append(
            f"::{_LEVEL[f.confidence.value]} file={_prop(f.path)},line={f.line},col={f.column},"
            f"endColumn={f.end_column},title={_prop(f.rule_id + ' ' + f.title)}::{_data(msg)}"
        )
    out.append(summary(result))
    return "\n".join(out) + "\n"
