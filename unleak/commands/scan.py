"""``unleak scan`` and ``unleak rules``: find secrets, list what is looked for."""

from __future__ import annotations

import sys
from typing import Any

import click


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--staged", is_flag=True,
              help="Only added lines of staged changes (the pre-commit case); with PATHS, those files' staged "
                   "lines, or their contents when nothing is staged (pre-commit run --all-files / --files).")
@click.option("--pre-push", is_flag=True,
              help="Every commit being pushed (pre-commit's PRE_COMMIT_FROM_REF..PRE_COMMIT_TO_REF; without them, "
                   "the whole history).")
@click.option("--changes", is_flag=True, help="Added lines of staged + unstaged changes against HEAD, plus new files.")
@click.option("--range", "range_", metavar="BASE..HEAD", help="Every commit in the range, not only the final diff.")
@click.option("--history", is_flag=True, help="Every commit reachable from any ref, merges included.")
@click.option("--diff", "diff", metavar="FILE|-", help="A unified diff before it is applied: added lines only.")
@click.option("--agent-logs", is_flag=True,
              help="Coding-agent transcripts and shell histories (PATHS, or the default locations).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif", "github"]), default="text",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the report to FILE.")
@click.option("--baseline", "baseline_path", type=click.Path(dir_okay=False),
              help="Baseline of known findings (default: .unleak-baseline.json if present).")
@click.option("--no-baseline", is_flag=True, help="Ignore any baseline.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Config file (.unleak.toml).")
@click.option("--min-confidence", type=click.Choice(["high", "medium", "low", "unlikely"]),
              help="Report only at or above (unlikely: also the weak words and demo passwords that usually stand in "
              "for one).")
@click.option("--max-archive-depth", type=click.IntRange(min=0), metavar="N",
              help="Read zip, jar, wheel and tar archives member by member, nested up to N deep (default 3; 0: "
                   "treat archives as binary).")
@click.option("--explain", is_flag=True, help="Show which filter dropped each candidate (never the value).")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when secrets are found.")
@click.option("--verify/--no-verify", default=None,
              help="Ask each credential's own provider whether it is live (sends it there over HTTPS).")
@click.option("--verify-timeout", type=click.FloatRange(min=0.1), metavar="SECONDS",
              help="Time budget for all verification (default 60); what is not answered is 'unknown'.")
@click.option("--verified-first", is_flag=True, help="Order the report: live credentials first.")
@click.option("--only-verified", is_flag=True, help="Report only credentials their provider accepted.")
@click.option("--strict", is_flag=True,
              help="Exit 2 when some git object could not be read, or a configured rule's pattern was stopped for "
              "running past its time limit (the rest is scanned and reported either way).")
@click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False), default=".",
              help="Run as if started in DIR.")
@click.option("--group/--no-group", default=True, show_default=True,
              help="Text report: one entry per secret found in several places (count, first and last place).")
def scan(**params: Any) -> None:
    """Find secrets. Exit 1 when any are found, 0 when clean."""
    from unleak.scancmd import run_scan

    sys.exit(run_scan(**params))

@click.command("rules")
@click.option("--json", "as_json", is_flag=True)
@click.option("--markdown", "as_markdown", is_flag=True, help="The README's rule tables.")
@click.option("--category", "categories", multiple=True, metavar="NAME",
              help="Only rules of this category (repeatable), e.g. ai, cloud, payment.")
def rules_cmd(as_json: bool, as_markdown: bool, categories: tuple[str, ...]) -> None:
    """List the detection rules by category: id, confidence, what it finds; services per category."""
    import json

    from scanner.rules import all_rules, by_category, providers_of, rules_markdown

    groups = by_category(all_rules())
    if categories:
        unknown = sorted(set(categories) - set(groups))
        if unknown:
            raise click.UsageError(f"unknown category {unknown[0]!r} (known: {', '.join(sorted(groups))})")
        groups = {c: rs for c, rs in groups.items() if c in categories}
    rules = {r.id: r for rs in groups.values() for r in rs}
    if as_markdown:
        click.echo(rules_markdown(rules), nl=False)
        return
    if as_json:
        click.echo(json.dumps([{"id": r.id, "title": r.title, "confidence": r.confidence.value,
                                "family": r.family, "category": c, "providers": list(providers_of(r)),
                                "description": r.description, "revoke": r.revoke, "env_name": r.env_name,
                                "doc": r.doc}
                               for c, rs in groups.items() for r in sorted(rs, key=lambda r: r.id)], indent=2))
        return
    services: set[str] = set()
    for cat, rs in groups.items():
        names = {p.lower() for r in rs for p in providers_of(r)}
        services |= names
        click.echo(f"{cat} — {len(rs)} rules" + (f", {len(names)} services" if names else ""))
        for r in sorted(rs, key=lambda r: r.id):
            click.echo(f"  {r.id}  {r.confidence.value:<6}  {r.title}")
    click.echo(f"{len(rules)} rules, {len(services)} services", err=True)
