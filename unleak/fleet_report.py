"""The fleet report: one JSON document, one SARIF file per repository, one self-contained HTML page, and the text
summary. Everything here is built from redacted records; no value is ever at hand."""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from scanner.words import printable
from unleak.fleet import RepoResult


def document(results: list[RepoResult], merged: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "version": 1,
        "repositories": [{"name": r.name, "ok": r.ok, "error": r.error, "commits": r.commits, "units": r.units,
                          "findings": len(r.findings), "secrets": len({f["fingerprint"] for f in r.findings}),
                          "seconds": round(r.seconds, 2), "notes": r.notes} for r in results],
        "secrets": merged,
        "findings": {r.name: r.findings for r in results},
    }


def _slug(name: str, used: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", name.removesuffix(".git").rstrip("/").split("://")[-1])[-80:] or "repo"
    slug, n = base, 2
    while slug in used:
        slug, n = f"{base}-{n}", n + 1
    used.add(slug)
    return slug


def write(out_dir: Path, results: list[RepoResult], merged: list[dict[str, Any]]) -> dict[str, Path]:
    """fleet.json, sarif/<repository>.sarif, index.html under ``out_dir``; returns what was written."""
    from scanner.fileio import atomic_write_text
    from scanner.finding import Finding
    from scanner.report import sarif
    from scanner.result import ScanResult

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "sarif").mkdir(exist_ok=True)
    written = {"json": out_dir / "fleet.json", "html": out_dir / "index.html"}
    atomic_write_text(written["json"], json.dumps(document(results, merged), indent=2, ensure_ascii=False) + "\n")
    used: set[str] = set()
    for r in results:
        res = ScanResult(findings=[Finding.from_dict(f) for f in r.findings])
        path = out_dir / "sarif" / f"{_slug(r.name, used)}.sarif"
        atomic_write_text(path, json.dumps(sarif.document(res), indent=2, ensure_ascii=False) + "\n")
        written[f"sarif:{r.name}"] = path
    atomic_write_text(written["html"], page(results, merged))
    return written


def text_summary(results: list[RepoResult], merged: list[dict[str, Any]]) -> str:
    ok = [r for r in results if r.ok]
    lines = [f"{len(results)} repositories ({len(results) - len(ok)} failed), "
             f"{sum(r.commits for r in ok)} commits, {sum(len(r.findings) for r in results)} findings of "
             f"{len(merged)} distinct secrets"]
    spread = [e for e in merged if e["repository_count"] > 1]
    if spread:
        lines.append("secrets in more than one repository:")
        for e in spread[:20]:
            lines.append(f"  {e['rule_id']}  {e['preview']}  in {e['repository_count']} repositories, "
                         f"{e['places']} places, first seen {(e['first_seen'] or '?')[:10]}")
    failed = [r for r in results if not r.ok]
    if failed:
        lines.append("failures:")
        lines += [f"  {printable(r.name)}: {printable(r.error)}" for r in failed]
    return "\n".join(lines) + "\n"


_CSS = """body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f3f3f3;cursor:pointer}
.bar{background:#c33;height:10px;display:inline-block}.fail{color:#a00}code{font-size:12px}"""
_JS = """document.querySelectorAll('th').forEach(function(th){th.addEventListener('click',function(){
var t=th.closest('table'),i=Array.prototype.indexOf.call(th.parentNode.children,th),b=t.tBodies[0],
r=Array.prototype.slice.call(b.rows),d=th.dataset.d==='1'?-1:1;th.dataset.d=d===1?'1':'0';
r.sort(function(x,y){var a=x.cells[i].dataset.v||x.cells[i].textContent,c=y.cells[i].dataset.v||y.cells[i].textContent;
var n=parseFloat(a),m=parseFloat(c);return (isNaN(n)||isNaN(m)?a.localeCompare(c):n-m)*d;});
r.forEach(function(x){b.appendChild(x);});});});"""


def _table(tid: str, head: list[str], rows: list[list[Any]]) -> str:
    e = html.escape
    out = [f'<table id="{tid}"><thead><tr>' + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>")
    return "".join(out) + "</tbody></table>"


def page(results: list[RepoResult], merged: list[dict[str, Any]]) -> str:
    """A self-contained page (no network, no external assets): secrets, repositories, rules, findings over time."""
    e = html.escape
    repos = _table("repositories", ["repository", "status", "commits", "findings", "distinct secrets"],
                   [[r.name, "ok" if r.ok else f"failed: {r.error}", r.commits, len(r.findings),
                     len({f['fingerprint'] for f in r.findings})] for r in results])
    secrets = _table("secrets", ["rule", "preview", "repositories", "places", "first seen", "where"],
                     [[m["rule_id"], m["preview"], m["repository_count"], m["places"], (m["first_seen"] or "")[:10],
                       ", ".join(m["repositories"])] for m in merged])
    rules = Counter(m["rule_id"] for m in merged)
    by_rule = _table("rules", ["rule", "distinct secrets"], [[k, v] for k, v in rules.most_common()])
    months: Counter[str] = Counter()
    for r in results:
        for f in r.findings:
            date = (f.get("commit") or {}).get("date") or ""
            if date:
                months[date[:7]] += 1
    peak = max(months.values(), default=1)
    timeline = "".join(f'<tr><td>{e(m)}</td><td data-v="{n}"><span class="bar" style="width:{int(300 * n / peak)}px">'
                       f"</span> {n}</td></tr>" for m, n in sorted(months.items()))
    failed = sum(1 for r in results if not r.ok)
    return (f"<!doctype html><html><head><meta charset=utf-8><title>unleak fleet report</title><style>{_CSS}</style>"
            f"</head><body><h1>unleak fleet report</h1><p>{len(results)} repositories ({failed} failed), "
            f"{sum(len(r.findings) for r in results)} findings of {len(merged)} distinct secrets. Values are never "
            f"shown: each secret is its rule, a redacted preview and a fingerprint.</p>"
            f"<h2>Secrets</h2>{secrets}<h2>Repositories</h2>{repos}<h2>By rule</h2>{by_rule}"
            f'<h2>Findings over time (by commit month)</h2><table id="timeline"><thead><tr><th>month</th>'
            f"<th>findings</th></tr></thead><tbody>{timeline}</tbody></table><script>{_JS}</script></body></html>\n")
