"""GitHub Actions workflow commands: one annotation per finding on its exact line."""

from __future__ import annotations

from scanner import archives
from scanner.report.text import summary
from scanner.result import ScanResult
from scanner.words import printable

_LEVEL = {"high": "error", "medium": "error", "low": "warning", "unlikely": "notice"}


def _data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(s: str) -> str:
    return _data(s).replace(":", "%3A").replace(",", "%2C")


def render(result: ScanResult, *, because: str = "") -> str:
    """One annotation per finding, then the summary line. With ``because`` (why these findings are reported apart:
    a configuration change hides them), each message ends with it and there is no summary line."""
    out: list[str] = []
    for f in result.findings:
        msg = f"{f.title} ({f.confidence.value}) {f.preview}"
        verdict = result.verifications.get(f.fingerprint)
        if verdict is not None:
            msg += f" [verified: {verdict.short()}]"
        # Control characters in a path or an author name (ESC, BEL) would reach the log viewer raw: shown as "?".
        path, where = printable(f.path), f"line={f.line},col={f.column},endColumn={f.end_column}"
        if f.source == archives.SOURCE:
            # GitHub can only point at the archive itself: the member and its line go in the message.
            path, member = (printable(x) for x in archives.split(f.path))
            where = "line=1"
            msg += f" in archive member {member} line {f.line}; rebuild the archive without it and rotate the value"
        elif f.commit is not None:
            msg += (f" in commit {f.commit.sha[:12]} by {printable(f.commit.author)}; "
                    "a secret in history stays leaked: rotate it")
        else:
            msg += "; move it to the vault with `unleak fix`"
        if because:
            msg += f" ({because})"
        out.append(
            f"::{_LEVEL[f.confidence.value]} file={_prop(path)},{where},"
            f"title={_prop(f.rule_id + ' ' + f.title)}::{_data(msg)}"
        )
    if not because:
        out.append(summary(result))
    return "\n".join(out) + "\n" if out else ""
