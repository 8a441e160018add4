"""``unleak baseline``: create, update and audit the baseline of known findings."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from unleak.commands.common import (
    scan_request,
)
from unleak.errors import EXIT_CLEAN, EXIT_FINDINGS


@click.group()
def baseline() -> None:
    """Create, update and audit the baseline of known findings (.unleak-baseline.json)."""


def _baseline_target(root: Path, file: str | None) -> Path:
    from scanner import git
    from scanner.baseline import DEFAULT_BASELINE

    base = git.toplevel(root) or root
    if file:
        return Path(file)
    target = base / DEFAULT_BASELINE
    real = os.path.realpath(target)
    top = os.path.realpath(base)
    if target.is_symlink() and not (real == top or real.startswith(top.rstrip(os.sep) + os.sep)):
        # The default name is a link out of the repository (anyone who edits the repository can make one): writing
        # through it would write the user's files elsewhere. A path the user names with --file is written as given.
        raise click.UsageError(f"{target} is a symbolic link to {real}, outside {base}; remove it, or name the "
                               "baseline with --file")
    return target


@baseline.command("create")
@click.option("--file", "file", type=click.Path(dir_okay=False), help="Baseline path.")
@click.option("--from-detect-secrets", "ds", type=click.Path(dir_okay=False, exists=True),
              help="Import a detect-secrets .secrets.baseline into the new baseline.")
@click.option("--force", is_flag=True, help="Overwrite an existing baseline.")
@click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False), default=".")
def baseline_create(file: str | None, ds: str | None, force: bool, repo_dir: str) -> None:
    """Record every current finding in the working tree as known."""
    from scanner import baseline as bl
    from scanner.api import scan as do_scan

    root = Path(repo_dir).resolve()
    target = _baseline_target(root, file)
    if target.exists() and not force:
        raise click.UsageError(f"{target} exists; use `unleak baseline update` or --force")
    req, _ = scan_request(root, ("files",), (), use_baseline=False)
    result = do_scan(req)
    previous = bl.load(Path(ds)) if ds else None
    new = bl.Baseline.from_findings(result.findings, previous)
    bl.write(target, new)
    click.echo(f"wrote {target}: {len(new.entries)} entries"
               + (f", {len(new.imported)} imported from detect-secrets" if new.imported else ""), err=True)


@baseline.command("update")
@click.option("--file", "file", type=click.Path(dir_okay=False), help="Baseline path.")
@click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False), default=".")
def baseline_update(file: str | None, repo_dir: str) -> None:
    """Add new findings, drop stale entries, keep audit statuses."""
    from scanner import baseline as bl
    from scanner.api import scan as do_scan

    root = Path(repo_dir).resolve()
    target = _baseline_target(root, file)
    old = bl.load(target)
    req, _ = scan_request(root, ("files",), (), use_baseline=False)
    result = do_scan(req)
    stale = old.stale(result.findings)
    new = bl.Baseline.from_findings(result.findings, old)
    added = len(set(new.entries) - set(old.entries))
    bl.write(target, new)
    click.echo(f"updated {target}: {added} added, {len(stale)} stale removed, {len(new.entries)} entries",
               err=True)


@baseline.command("audit")
@click.option("--file", "file", type=click.Path(dir_okay=False), help="Baseline path.")
@click.option("--mark", "marks", multiple=True, metavar="FINGERPRINT=STATUS",
              help="Set an entry's status: false-positive, accepted-risk, rotated or unaudited.")
@click.option("--json", "as_json", is_flag=True)
@click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False), default=".")
def baseline_audit(file: str | None, marks: tuple[str, ...], as_json: bool, repo_dir: str) -> None:
    """List entries with their status and whether they are still present; exit 1 if any are stale or unaudited."""
    import dataclasses
    import json

    from scanner import baseline as bl
    from scanner.api import scan as do_scan

    root = Path(repo_dir).resolve()
    target = _baseline_target(root, file)
    b = bl.load(target)
    if marks:
        for m in marks:
            fp, _, status = m.partition("=")
            if status not in bl.STATUSES:
                raise click.UsageError(f"--mark {m!r}: status must be one of {', '.join(bl.STATUSES)}")
            hits = [k for k in b.entries if k[2].startswith(fp) and fp]
            if len(hits) != 1:
                raise click.UsageError(f"--mark {m!r}: fingerprint prefix matches {len(hits)} entries")
            b.entries[hits[0]] = dataclasses.replace(b.entries[hits[0]], status=status)
        bl.write(target, b)
    req, _ = scan_request(root, ("files",), (), use_baseline=False)
    result = do_scan(req)
    stale = {getattr(e, "fingerprint", getattr(e, "hashed_secret", "")) for e in b.stale(result.findings)}
    rows: list[dict[str, Any]] = [
        {"path": e.path, "rule_id": e.rule_id, "fingerprint": e.fingerprint, "status": e.status,
         "present": e.fingerprint not in stale} for e in sorted(b.entries.values())]
    rows += [{"path": e.path, "rule_id": f"detect-secrets:{e.type}", "fingerprint": e.hashed_secret[:20],
              "status": e.status, "present": e.hashed_secret not in stale} for e in sorted(b.imported.values())]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        for r in rows:
            state = "present" if r["present"] else "STALE"
            click.echo(f"{str(r['fingerprint'])[:12]}  {r['status']:<14}  {state:<7}  {r['rule_id']}  {r['path']}")
        n_stale = sum(1 for r in rows if not r["present"])
        n_un = sum(1 for r in rows if r["status"] == "unaudited")
        click.echo(f"{len(rows)} entries · {n_un} unaudited · {n_stale} stale"
                   + (" (run `unleak baseline update` to drop stale entries)" if n_stale else ""), err=True)
    sys.exit(EXIT_FINDINGS if any(not r["present"] or r["status"] == "unaudited" for r in rows) else EXIT_CLEAN)
