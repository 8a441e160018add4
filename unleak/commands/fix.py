"""``unleak fix``: move secrets into the vault and rewrite the code to read references."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from scanner.words import plural
from unleak.commands.common import (
    audit_action,
    say_whose,
    scan_request,
)
from unleak.errors import EXIT_CLEAN, EXIT_FINDINGS


def _fix_text(plan: Any, diff: str) -> str:
    """The human-readable plan: what goes to the vault under which name, where it was, what is left by hand."""
    lines: list[str] = []
    if plan.secrets:
        lines.append(f"{plural(len(plan.secrets), 'secret')} to move into the vault ({plan.scheme}, namespace "
                     f"{plan.namespace}):")
        width = max(len(s.name) for s in plan.secrets)
        for s in plan.secrets:
            where = ", ".join(f"{p.path}:{p.line}" for p in s.places)
            note = " (already in the vault)" if s.in_vault else ""
            lines.append(f"  {s.name:<{width}}  {s.reference}  {s.preview}  {where}{note}")
            if s.history is not None:
                lines.append(f"  {'':<{width}}  {s.history.describe()}")
    if plan.changes:
        lines.append("files to rewrite: " + ", ".join(
            c.path + (" (reference file)" if c.reference_file else "") for c in plan.changes))
    for m in plan.manual:
        lines.append(f"manual step: {m.path}:{m.line}  {m.rule_id or '-'}  {m.preview}  {m.reason}")
    for n in plan.notes:
        lines.append(f"note: {n}")
    out = "\n".join(lines) + ("\n" if lines else "")
    if diff:
        out += "\n" + diff
    return out


def _dirty(top: Path, plan: Any) -> tuple[list[str], list[str]]:
    """(staged, unstaged): the files the plan rewrites whose index differs from HEAD, and whose work tree differs
    from the index; nothing outside a git work tree."""
    from scanner import git

    if not plan.changes or git.toplevel(top) is None:
        return [], []
    staged, unstaged = (set(p) for p in git.uncommitted(top))
    return [c.path for c in plan.changes if c.path in staged], [c.path for c in plan.changes if c.path in unstaged]


def _dirty_text(staged: list[str], unstaged: list[str]) -> list[str]:
    """Said before anything is written. Not a refusal (unlike `cargo fix`): the secret to move usually sits in
    changes not yet committed — the pre-commit hook stopped them — and committing them first is what must not
    happen. What the user needs is to know how to review the fix alone."""
    def have(paths: list[str]) -> str:
        return f"{paths[0]} has" if len(paths) == 1 else f"{', '.join(paths)} have"

    out = []
    if unstaged:
        out.append(f"{have(unstaged)} changes not staged for commit: `git diff` will show them mixed with the fix "
                   "(run `git add` on them first to see the fix alone; the patch printed is the fix alone)")
    only_staged = [p for p in staged if p not in unstaged]
    if only_staged:
        out.append(f"{have(only_staged)} staged changes: `git diff` will show the fix alone; `git add` the fix "
                   "before committing, or the commit takes the staged version, value included")
    return out


def _ask_names(plan: Any) -> dict[str, str]:
    """OLD -> NEW as typed at the terminal, one prompt per secret (shown by name, masked preview and places)."""
    from remediate.vault.refs import NAME_RE

    click.echo(f"{plural(len(plan.secrets), 'secret')} to name (Enter keeps the name shown):", err=True)
    out: dict[str, str] = {}
    taken = {s.name for s in plan.secrets}
    for s in plan.secrets:
        where = ", ".join(f"{p.path}:{p.line}" for p in s.places)
        click.echo(f"  {s.preview}  {where}", err=True)
        while True:
            new = str(click.prompt("  name", default=s.name, err=True)).strip()
            if new != s.name and new in taken:
                click.echo(f"  {new} is the name of another secret in this plan", err=True)
            elif NAME_RE.fullmatch(new):
                break
            else:
                click.echo("  a name is letters, digits and _ (for example STRIPE_SECRET_KEY)", err=True)
        if new != s.name:
            out[s.name] = new
            taken = (taken - {s.name}) | {new}
    return out


def _renames(table: object, flags: tuple[str, ...]) -> dict[str, str]:
    """OLD -> NEW from ``[tool.unleak.fix.names]`` and then ``--name OLD=NEW`` (flags beat config)."""
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise click.UsageError("[tool.unleak.fix.names] must map names to names (OLD = \"NEW\")")
    out = {str(k): v for k, v in table.items()}
    for flag in flags:
        old, sep, new = flag.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise click.UsageError(f"--name {flag}: expected OLD=NEW (for example --name KEY=STRIPE_SECRET_KEY)")
        out[old.strip()] = new.strip()
    return out


@click.command("fix")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--apply", "do_apply", is_flag=True, help="Perform the plan (default: show it and the patch).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable plan, patch and result.")
@click.option("--verify", "verify_cmd", metavar="CMD",
              help="After --apply, run CMD (through sh -c) under `unleak run` and report its result.")
@click.option("--env-file", "env_file", metavar="FILE",
              help="Reference file to write (default: .env.unleak at the repository root, or "
                   "[tool.unleak.fix] reference-file).")
@click.option("--backend", type=click.Choice(["unleak", "op"]), default=None,
              help="Vault backend (default: unleak, the local encrypted vault).")
@click.option("--namespace", metavar="NS",
              help="Vault namespace (default: the repository's, registered at the first fix; see `unleak secrets "
                   "list`).")
@click.option("--op-vault", metavar="VAULT", help="1Password vault for --backend op.")
@click.option("--min-confidence", type=click.Choice(["high", "medium", "low"]), default="medium",
              show_default=True, help="Move findings at or above this confidence (low adds entropy guesses).")
@click.option("--no-baseline", is_flag=True, help="Also fix findings recorded in the baseline.")
@click.option("--name", "renames", multiple=True, metavar="OLD=NEW",
              help="Store the secret the plan calls OLD as NEW (repeatable; also [tool.unleak.fix.names]).")
@click.option("-i", "--interactive", is_flag=True,
              help="In a terminal, ask for each secret's name before anything is written (Enter keeps the name "
                   "proposed).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Config file (.unleak.toml).")
@click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False), default=".",
              help="Run as if started in DIR.")
def fix_command(paths: tuple[str, ...], do_apply: bool, as_json: bool, verify_cmd: str | None,
                env_file: str | None, backend: str | None, namespace: str | None, op_vault: str | None,
                min_confidence: str, no_baseline: bool, renames: tuple[str, ...], interactive: bool,
                config_path: str | None, repo_dir: str) -> None:
    """Move secrets into the vault and rewrite the code to read them from the environment.

    Without --apply, prints the plan and a unified diff in which every secret value is redacted (safe to paste
    into a pull request or an agent's context) and exits 1 if there is something to fix. With --apply: stores
    each value and reads it back, rewrites the files atomically, re-scans them, then writes the reference file
    (.env.unleak: references only, to commit). If any step fails, the files are left as they were. Files to
    rewrite that have uncommitted changes are named before anything is written.

    \b
    Example:  unleak fix                 # review
              unleak fix --apply --verify "pytest -q"
    """
    import json
    import subprocess

    from remediate.fix import apply_fix, plan_fix, project_root
    from remediate.hardening import no_core_dumps

    no_core_dumps()  # every value found passes through this process
    from remediate.patch import unified_diff
    from remediate.vault import open_vault
    from remediate.vault.refs import REFERENCE_FILE
    from scanner.errors import UsageError

    root = Path(repo_dir).resolve()
    if not root.is_dir():
        raise click.UsageError(f"{repo_dir}: not a directory")
    if verify_cmd is not None and not do_apply:
        raise click.UsageError("--verify runs after the fix is applied: add --apply")
    if interactive and (as_json or not sys.stdin.isatty()):
        raise click.UsageError("--interactive asks in a terminal: run it with a terminal on stdin and without --json "
                               "(elsewhere, rename with --name OLD=NEW)")
    from scanner.finding import Confidence

    req, cfg = scan_request(root, ("files",), paths, config_path=config_path, use_baseline=not no_baseline,
                             min_confidence="low", named_ignored=True)
    section = cfg.sections.get("fix", {})
    top = project_root(root)
    ref_file = env_file or str(section.get("reference-file", REFERENCE_FILE))
    # normpath, not resolve(): a symlinked reference file must be seen (and refused) as the link it is.
    ref_abs = Path(os.path.normpath((root if env_file else top) / ref_file))
    try:
        ref_rel = ref_abs.relative_to(top).as_posix()
    except ValueError:
        raise UsageError(f"reference file {ref_file}: it must be inside {top}") from None
    scheme = backend or str(section.get("backend", "unleak"))
    opts: dict[str, Any] = {"op_vault": op_vault} if op_vault else {}
    chosen_ns = namespace or section.get("namespace")
    vault = open_vault(scheme, namespace=chosen_ns, repo_path=top, **opts)
    if chosen_ns and scheme == "unleak":
        say_whose(str(chosen_ns), top)
    names = _renames(section.get("names", {}), renames)
    plan, _ = plan_fix(req, vault, reference_file=ref_rel, min_confidence=Confidence.parse(min_confidence),
                       names=names)
    if interactive and plan.secrets:
        asked = _ask_names(plan)
        if asked:
            names.update(asked)
            plan, _ = plan_fix(req, vault, reference_file=ref_rel,
                               min_confidence=Confidence.parse(min_confidence), names=names)
    diff = unified_diff(plan.changes, plan.redactions())
    staged, unstaged = _dirty(top, plan)
    payload: dict[str, Any] = {"plan": plan.to_dict(), "patch": diff, "applied": False,
                               "uncommitted": {"staged": staged, "unstaged": unstaged}}
    if not as_json:
        for line in _dirty_text(staged, unstaged):
            click.echo(f"unleak fix: {line}", err=True)
    if not do_apply:
        if as_json:
            click.echo(json.dumps(payload, indent=2))
        else:
            click.echo(_fix_text(plan, diff), nl=False)
            if plan.empty and not plan.manual:
                click.echo("unleak fix: nothing to fix", err=True)
            elif not plan.empty:
                click.echo("unleak fix: run with --apply to perform this plan", err=True)
        sys.exit(EXIT_FINDINGS if not plan.empty or plan.manual else EXIT_CLEAN)
    if not as_json:
        click.echo(_fix_text(plan, diff), nl=False)
    code = EXIT_FINDINGS if plan.manual else EXIT_CLEAN
    previous: Any = None
    try:
        if not plan.empty:
            result = apply_fix(plan, vault)
            if verify_cmd is None and threading.current_thread() is threading.main_thread():
                # The fix is complete: a Ctrl-C now would report "interrupted" (130) over a fix that was not undone.
                # What is left is printing the result.
                previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            audit_action("fix", secrets=list(result.stored), detail={"files": list(result.written)})
            payload["applied"] = True
            payload["result"] = result.to_dict()
            if not as_json:
                click.echo(f"unleak fix: stored {plural(len(result.stored), 'secret')}, rewrote "
                           f"{plural(len(result.written), 'file')}; "
                           f"reference file {plan.reference_file} (safe to commit). Run your program with "
                           "`unleak run -- <command>`.", err=True)
        elif not as_json:
            click.echo("unleak fix: nothing to fix", err=True)
        if plan.manual and not as_json:
            click.echo(f"unleak fix: {plural(len(plan.manual), 'manual step')} "
                       f"{'remains' if len(plan.manual) == 1 else 'remain'} (listed above)", err=True)
        if verify_cmd is not None and plan.empty:
            # Nothing was moved, so there is no rewrite to verify (and no reference file to run under).
            payload["verify"] = {"command": verify_cmd, "skipped": "nothing was moved"}
            if not as_json:
                click.echo(f"unleak fix: verify not run (nothing was moved): {verify_cmd}", err=True)
        elif verify_cmd is not None:
            # `unleak run` in a child process: the values reach CMD through its environment only, masked output.
            # Every reference file this fix wrote, the main one last (it wins).
            env_files = [c.path for c in plan.changes if c.reference_file and c.path != plan.reference_file]
            env_args = [a for p in [*env_files, plan.reference_file] if (top / p).is_file()
                        for a in ("--env-file", str(top / p))]
            proc = subprocess.run(
                [sys.executable, "-P", "-m", "unleak", "run", *env_args, "--", "sh", "-c", verify_cmd],
                cwd=top, stdout=sys.stderr if as_json else None, check=False)
            payload["verify"] = {"command": verify_cmd, "exit_code": proc.returncode, "passed": proc.returncode == 0}
            if not as_json:
                click.echo(f"unleak fix: verify {'passed' if proc.returncode == 0 else 'FAILED'} "
                           f"(exit {proc.returncode}): {verify_cmd}", err=True)
            if proc.returncode != 0:
                code = EXIT_FINDINGS
        if as_json:
            click.echo(json.dumps(payload, indent=2))
        sys.exit(code)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
