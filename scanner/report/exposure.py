"""The exposure report as text (the terminal), markdown (an issue or a job summary) and JSON. Previews and
fingerprints only, as in every other report."""

from __future__ import annotations

import json

from scanner.errors import UsageError
from scanner.exposure.model import Exposure, ExposureReport
from scanner.finding import CommitInfo

NO_REVOKE = "rotate it where it was issued (the rule names no revoke page)"


_SHOW_REFS = 8  # text and markdown list this many names per kind; JSON lists all


def _names(names: tuple[str, ...]) -> str:
    shown = ", ".join(names[:_SHOW_REFS])
    return shown + (f" (+{len(names) - _SHOW_REFS} more)" if len(names) > _SHOW_REFS else "")


def _refs_line(e: Exposure) -> str:
    kinds = (("branches", e.branches), ("tags", e.tags), ("remote", e.remote_refs), ("other", e.other_refs))
    return "; ".join(f"{label} {_names(names)}" for label, names in kinds if names) or "no ref (unreachable)"


def _short(c: CommitInfo) -> str:
    return f"{c.sha[:10]} {c.author} {c.date}"


def counted(report: ExposureReport) -> str:
    """How the report counts, next to how `scan --history` counts."""
    return (f"distinct secrets by fingerprint; `unleak scan --history` counts {report.findings} finding(s), one per "
            "commit, path and line where a secret was added")


def render_text(report: ExposureReport) -> str:
    if not report.exposures:
        return f"no secrets in history ({report.commits_scanned} commits)\n"
    out = [f"{len(report.exposures)} secret(s) exposed in history ({report.commits_scanned} commits)", counted(report),
           ""]
    for e in report.exposures:
        flags = ["IN HEAD" if e.in_head else "not in HEAD", "PUSHED" if e.pushed else "not pushed"]
        if report.agent_logs_scanned:
            flags.append("IN AGENT LOGS" if e.agent_logs else "not in agent logs")
        out.append(f"{e.preview}  {e.rule_id} {e.title}  [{', '.join(flags)}]")
        out.append(f"  fingerprint  {e.fingerprint}")
        out.append(f"  paths        {', '.join(e.paths)}")
        out.append(f"  first        {_short(e.first)}")
        out.append(f"  last present {_short(e.last)}  ({e.commits} commit(s) hold it)")
        if report.verdict(e.fingerprint):
            out.append(f"  verified     {report.verdict(e.fingerprint)}")
        out.append(f"  reachable    {_refs_line(e)}")
        if e.tips:
            out.append(f"  still in tip {_names(e.tips)}")
        if e.agent_logs:
            out.append(f"  agent logs   {', '.join(e.agent_logs)}")
        out.append("")
    out.append("rotation checklist (rotate before purging history; a purge does not un-leak a pushed secret):")
    for r in report.rotation:
        live = report.live(r.fingerprints)
        out.append(f"  [ ] {r.rule_id} {r.title}: {len(r.fingerprints)} secret(s) "
                   f"({', '.join(r.previews)}){f' — {live} LIVE' if live else ''}")
        out.append(f"      revoke: {r.revoke or NO_REVOKE}")
    out.extend(f"note: {n}" for n in report.notes)
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: ExposureReport) -> str:
    out = ["# Secret exposure report", ""]
    if not report.exposures:
        return "\n".join([*out, f"No secrets in history ({report.commits_scanned} commits scanned).", ""])
    out += [f"{len(report.exposures)} secret(s) exposed in history ({report.commits_scanned} commits scanned).",
            counted(report), "",
            "| secret | rule | first commit | last present | in HEAD | pushed | agent logs | branches | tags |"
            + (" verified |" if report.verifications else ""),
            "|---|---|---|---|---|---|---|---|---|" + ("---|" if report.verifications else "")]
    for e in report.exposures:
        logs = ("yes" if e.agent_logs else "no") if report.agent_logs_scanned else "not scanned"
        out.append("| " + " | ".join(_md(x) for x in (
            f"`{e.preview}`", f"{e.rule_id} {e.title}", f"`{e.first.sha[:10]}` {e.first.author} {e.first.date}",
            f"`{e.last.sha[:10]}` {e.last.date}", "**yes**" if e.in_head else "no", "**yes**" if e.pushed else "no",
            logs, _names(e.branches) or "-", _names(e.tags) or "-",
            *([report.verdict(e.fingerprint) or "-"] if report.verifications else []))) + " |")
    out += ["", "## Rotation checklist", "", "Rotate first: once pushed, a secret is compromised even if history is "
            "rewritten.", ""]
    for r in report.rotation:
        where = f"<{r.revoke}>" if r.revoke.startswith("https://") else (r.revoke or NO_REVOKE)
        live = report.live(r.fingerprints)
        out.append(f"- [ ] **{r.rule_id} {_md(r.title)}** ({', '.join(f'`{p}`' for p in r.previews)})"
                   f"{f' — **{live} live**' if live else ''}: {where}")
    if report.notes:
        out += ["", *[f"> note: {_md(n)}" for n in report.notes]]
    return "\n".join(out) + "\n"


def render(report: ExposureReport, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2) + "\n"
    if fmt == "markdown":
        return render_markdown(report)
    if fmt == "text":
        return render_text(report)
    raise UsageError(f"unknown exposure format {fmt!r}; use text, markdown or json")
