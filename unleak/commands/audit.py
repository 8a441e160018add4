"""``unleak audit``: which process used which credential, approved by whom; the chain check."""

from __future__ import annotations

import sys

import click

from scanner.words import plural
from unleak.errors import EXIT_FINDINGS


@click.group("audit", invoke_without_command=True)
@click.option("--task", default=None, metavar="ID")
@click.option("--secret", default=None, metavar="NAME", help="Secret name (glob).")
@click.option("--since", default=None, metavar="WHEN", help="30m, 2h, 7d ago, or a date/time.")
@click.option("--action", default=None, metavar="GLOB", help="e.g. 'run.*'.")
@click.option("--grant", "grant_id", default=None, metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="JSON lines, as stored.")
@click.pass_context
def audit_group(ctx: click.Context, task: str | None, secret: str | None, since: str | None, action: str | None,
                grant_id: str | None, as_json: bool) -> None:
    """Which process used which credential, approved by whom, for how long, for which task."""
    if ctx.invoked_subcommand is not None:
        return
    import json
    import shlex

    from unleak.audit import AuditLog, parse_since

    recs = AuditLog().query(task=task, secret=secret, since=parse_since(since) if since else None, action=action,
                            grant=grant_id)
    for r in recs:
        if as_json:
            click.echo(json.dumps(r, sort_keys=True))
            continue
        proc = r.get("process") or {}
        argv = proc.get("argv")
        parts = [r.get("time", "?"), r.get("action", "?"), r.get("actor", "?")]
        if r.get("secrets"):
            parts.append("secrets=" + ",".join(r["secrets"]))
        if argv:
            parts.append("cmd=" + shlex.join([str(a) for a in argv]))
        if proc.get("pid"):
            parts.append(f"pid={proc['pid']}")
        for key in ("grant", "task", "request", "result"):
            if r.get(key):
                parts.append(f"{key}={r[key]}")
        click.echo("  ".join(str(p) for p in parts))
    if not recs and not as_json:
        click.echo("no matching audit records", err=True)


@audit_group.command("verify")
def audit_verify() -> None:
    """Check the hash chain: exit 1 if any record was edited, deleted, inserted or reordered."""
    from unleak.audit import AuditLog

    log = AuditLog()
    res = log.verify()
    if res.ok:
        click.echo(f"audit log intact: {res.count} records ({log.path})")
        return
    for p in res.problems:
        click.echo(f"{log.path}: {p}")
    click.echo(f"audit log damaged: {plural(len(res.problems), 'problem')} in {plural(res.count, 'record')}",
               err=True)
    sys.exit(EXIT_FINDINGS)
