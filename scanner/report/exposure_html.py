"""The exposure report as one self-contained HTML page: the picture a security lead takes to a rotation meeting.

One file, no network and no external asset (inline style and script; a Content-Security-Policy that allows only
those, so even a page opened from a mail attachment fetches nothing). Per secret: a timeline over the history's
time span (introduced, last present, removed from HEAD or still there) and its refs (branches, tags, remote-tracking
refs, other refs; which still hold it in their tip). A summary table sorts by any column. Values are never on the
page: previews and fingerprints, as in every other report, and every name that comes from the repository (paths,
authors, refs) is escaped.
"""

from __future__ import annotations

import base64
import hashlib
import html
from datetime import UTC, datetime

from scanner.exposure.model import Exposure, ExposureReport
from scanner.report.exposure import NO_REVOKE, counted


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _when(iso: str) -> float | None:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function (th, col) {
    th.tabIndex = 0;
    function sort() {
      var asc = th.getAttribute('aria-sort') !== 'ascending';
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
      var numeric = th.dataset.type === 'number';
      var rows = Array.prototype.slice.call(table.tBodies[0].rows);
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.key, y = b.cells[col].dataset.key;
        var r = numeric ? (parseFloat(x) - parseFloat(y)) : x.localeCompare(y);
        return asc ? r : -r;
      });
      rows.forEach(function (row) { table.tBodies[0].appendChild(row); });
    }
    th.addEventListener('click', sort);
    th.addEventListener('keydown', function (e) { if (e.key === 'Enter') { sort(); } });
  });
});
"""

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #1d2127; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
code { font: 12.5px ui-monospace, monospace; background: #f2f4f7; padding: 0 .25em; border-radius: 3px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid #e3e6ea; vertical-align: top; }
th { cursor: pointer; user-select: none; background: #f7f8fa; white-space: nowrap; }
th[aria-sort=ascending]::after { content: " \\25B2"; } th[aria-sort=descending]::after { content: " \\25BC"; }
.yes { color: #b42318; font-weight: 600; } .no { color: #47705b; }
.secret { border: 1px solid #e3e6ea; border-radius: 6px; padding: .8em 1em; margin: 1em 0; }
.secret h3 { margin: 0 0 .4em; font-size: 1em; }
.track { position: relative; height: 14px; background: #eef1f4; border-radius: 7px; margin: .6em 0 .2em; }
.span { position: absolute; top: 0; height: 14px; border-radius: 7px; background: #f59e0b; min-width: 6px; }
.span.head { background: #d92d20; }
.axis { display: flex; justify-content: space-between; color: #667085; font-size: 12px; }
ol.life { margin: .4em 0; padding-left: 1.4em; } ol.life li { margin: .15em 0; }
.refs span { display: inline-block; margin: 0 .3em .2em 0; padding: 0 .4em; border-radius: 3px; background: #eef1f4; }
.refs span.tip { background: #fde2e1; }
.note { color: #667085; }
"""


def _csp() -> str:
    digest = base64.b64encode(hashlib.sha256(_SCRIPT.encode("utf-8")).digest()).decode("ascii")
    return f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{digest}'; base-uri 'none'; " \
           "form-action 'none'"


def _yes(flag: bool, yes: str = "yes", no: str = "no") -> str:
    return f'<span class="{"yes" if flag else "no"}">{yes if flag else no}</span>'


def _commit(c: object) -> str:
    sha, author, date = getattr(c, "sha", ""), getattr(c, "author", ""), getattr(c, "date", "")
    return f"<code>{_esc(sha[:10])}</code> {_esc(author)} {_esc(date)}"


def _refs(e: Exposure) -> str:
    tips = set(e.tips)
    parts = []
    for label, names in (("branches", e.branches), ("tags", e.tags), ("remote-tracking", e.remote_refs),
                         ("other refs", e.other_refs)):
        if names:
            chips = "".join(f'<span class="{"tip" if n in tips else ""}">{_esc(n)}</span>' for n in names)
            parts.append(f"<div>{label}: {chips}</div>")
    return "".join(parts) or "<div>no ref reaches it (unreachable objects only)</div>"


def _timeline(e: Exposure, lo: float, hi: float) -> str:
    start, end = _when(e.first.date), _when(e.last.date)
    if start is None or end is None or hi <= lo:
        left, width = 0.0, 100.0
    else:
        left = (min(start, end) - lo) / (hi - lo) * 100
        width = max(abs(end - start) / (hi - lo) * 100, 0.5)
    cls = "span head" if e.in_head else "span"
    title = f"present from {e.first.date} to {e.last.date}" + (" and still in HEAD" if e.in_head else "")
    return (f'<div class="track" role="img" aria-label="{_esc(title)}"><div class="{cls}" '
            f'style="left:{left:.2f}%;width:{min(width, 100 - left):.2f}%"></div></div>')


def _life(e: Exposure, verdict: str) -> str:
    items = [f"<li>introduced in {_commit(e.first)} at {', '.join(f'<code>{_esc(p)}</code>' for p in e.paths[:1])}"
             "</li>"]
    if len(e.paths) > 1:
        items.append("<li>copied to " + ", ".join(f"<code>{_esc(p)}</code>" for p in e.paths[1:]) + "</li>")
    items.append(f"<li>present in {e.commits} commit(s), last in {_commit(e.last)}</li>")
    items.append("<li>" + ("<strong>still in HEAD</strong>" if e.in_head else "removed from HEAD") + "</li>")
    if e.tips:
        items.append("<li>still in the tip of " + ", ".join(f"<code>{_esc(t)}</code>" for t in e.tips) + "</li>")
    items.append("<li>" + ("<strong>pushed</strong> (a remote-tracking ref has it)" if e.pushed
                           else "not seen on a remote-tracking ref") + "</li>")
    if e.agent_logs:
        items.append("<li>seen in agent logs: " + ", ".join(f"<code>{_esc(p)}</code>" for p in e.agent_logs)
                     + "</li>")
    if verdict:
        items.append(f"<li>verified: {_esc(verdict)}</li>")
    return '<ol class="life">' + "".join(items) + "</ol>"


def render_html(report: ExposureReport, title: str = "Secret exposure report") -> str:
    """The whole page. ``title`` is escaped (a repository name is fine)."""
    ex = report.exposures
    times = [t for e in ex for t in (_when(e.first.date), _when(e.last.date)) if t is not None]
    lo, hi = (min(times), max(times)) if times else (0.0, 0.0)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f'<meta http-equiv="Content-Security-Policy" content="{_csp()}">',
           '<meta name="referrer" content="no-referrer">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{_esc(title)}</title><style>{_STYLE}</style></head><body>", f"<h1>{_esc(title)}</h1>"]
    if not ex:
        out.append(f'<p id="summary">No secrets in history ({report.commits_scanned} commits scanned).</p>')
    else:
        out.append(f'<p id="summary">{len(ex)} secret(s) exposed in history ({report.commits_scanned} commits '
                   f"scanned). {_esc(counted(report))}.</p>")
        verified = bool(report.verifications)
        heads = [("Secret", "text"), ("Rule", "text"), ("First commit", "number"), ("Last present", "number"),
                 ("Commits", "number"), ("In HEAD", "text"), ("Pushed", "text"), ("Branches", "number"),
                 ("Tags", "number")] + ([("Verified", "text")] if verified else [])
        out.append('<table class="sortable" id="secrets"><thead><tr>'
                   + "".join(f'<th data-type="{t}">{h}</th>' for h, t in heads) + "</tr></thead><tbody>")
        for e in ex:
            cells = [
                (e.preview, f'<a href="#s-{_esc(e.fingerprint)}"><code>{_esc(e.preview)}</code></a>'),
                (f"{e.rule_id} {e.title}", f"{_esc(e.rule_id)} {_esc(e.title)}"),
                (_when(e.first.date) or 0, f"<code>{_esc(e.first.sha[:10])}</code> {_esc(e.first.date)}"),
                (_when(e.last.date) or 0, f"<code>{_esc(e.last.sha[:10])}</code> {_esc(e.last.date)}"),
                (e.commits, str(e.commits)),
                ("yes" if e.in_head else "no", _yes(e.in_head)),
                ("yes" if e.pushed else "no", _yes(e.pushed)),
                (len(e.branches), str(len(e.branches))),
                (len(e.tags), str(len(e.tags))),
            ]
            if verified:
                v = report.verdict(e.fingerprint)
                cells.append((v, _esc(v or "-")))
            out.append(f'<tr data-fingerprint="{_esc(e.fingerprint)}">'
                       + "".join(f'<td data-key="{_esc(k)}">{v}</td>' for k, v in cells) + "</tr>")
        out.append("</tbody></table>")
        out.append("<h2>Each secret's life</h2>")
        if times:
            first_day = datetime.fromtimestamp(lo, tz=UTC).date().isoformat()
            last_day = datetime.fromtimestamp(hi, tz=UTC).date().isoformat()
            out.append(f'<p class="note">Bars span from the first to the last commit whose tree holds the secret, on '
                       f"the history's time axis ({first_day} to {last_day}); red: still in HEAD.</p>")
        for e in ex:
            out.append(f'<section class="secret" id="s-{_esc(e.fingerprint)}">'
                       f"<h3><code>{_esc(e.preview)}</code> {_esc(e.rule_id)} {_esc(e.title)}</h3>"
                       f'<div class="note">fingerprint <code>{_esc(e.fingerprint)}</code></div>'
                       f"{_timeline(e, lo, hi)}"
                       f'<div class="axis"><span>{_esc(e.first.date)}</span><span>{_esc(e.last.date)}</span></div>'
                       f"{_life(e, report.verdict(e.fingerprint))}"
                       f'<div class="refs">{_refs(e)}</div></section>')
        out.append("<h2>Rotation checklist</h2><p>Rotate first: once pushed, a secret is compromised even if "
                   "history is rewritten.</p><ul id=\"rotation\">")
        for r in report.rotation:
            where = r.revoke or NO_REVOKE
            link = (f'<a href="{_esc(where)}" rel="noreferrer noopener">{_esc(where)}</a>'
                    if where.startswith("https://") else _esc(where))
            live = report.live(r.fingerprints)
            out.append(f"<li><input type=\"checkbox\" aria-label=\"rotated\"> <strong>{_esc(r.rule_id)} "
                       f"{_esc(r.title)}</strong>: {len(r.fingerprints)} secret(s) "
                       f"({', '.join(f'<code>{_esc(p)}</code>' for p in r.previews)})"
                       f"{f' <span class=yes>{live} live</span>' if live else ''}: {link}</li>")
        out.append("</ul>")
    if report.notes:
        out.append("<h2>Notes</h2><ul>" + "".join(f"<li>{_esc(n)}</li>" for n in report.notes) + "</ul>")
    out.append(f"<script>{_SCRIPT}</script></body></html>")
    return "\n".join(out) + "\n"
