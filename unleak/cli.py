"""The command line. The only module that imports click; it maps library results and errors to output and exit codes.

Exit codes (every command): 0 clean, 1 findings or changes needed, 2 usage or configuration error,
3 unexpected internal error, 130 interrupted. ``unleak run`` returns the child's exit code.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from scanner.errors import UnleakError
from scanner.words import plural
from unleak import __version__
from unleak.fastpath import EXIT_INTERNAL, EXIT_INTERRUPTED, internal_error
from unleak.scancmd import EXIT_CLEAN, EXIT_FINDINGS

EXIT_USAGE = 2

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"unleak: {message}", err=True)
    sys.exit(code)


class _Group(click.Group):
    """Maps every error to one line on stderr and a defined exit code; never a traceback.

    Internal errors print only the exception *type*: an exception message could carry a value that a
    library put there by mistake, and stderr is a channel a log or an agent reads (invariant 1).
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UnleakError as exc:
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", EXIT_INTERRUPTED)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except BrokenPipeError:
            sys.exit(EXIT_CLEAN)
        except Exception as exc:
            _fail(internal_error(exc), EXIT_INTERNAL)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="unleak")
def cli() -> None:
    """Keep plaintext secrets out of repositories and out of the hands of coding agents."""


# ---------------------------------------------------------------------------------------------- commands
# Each command group lives in its own section below; keep sections independent.


# --- scan ---


def _scan_request(root: Path, modes: tuple[str, ...], paths: tuple[str, ...], **kw: Any) -> tuple[Any, Any]:
    """Flags beat config beat defaults (see :func:`unleak.config.scan_request`). Returns (ScanRequest, Config)."""
    from unleak.config import scan_request

    return scan_request(root, modes, paths, **kw)


@cli.command()
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
@click.option("--min-confidence", type=click.Choice(["high", "medium", "low"]), help="Report only at or above.")
@click.option("--explain", is_flag=True, help="Show which filter dropped each candidate (never the value).")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when secrets are found.")
@click.option("--verify/--no-verify", default=None,
              help="Ask each credential's own provider whether it is live (sends it there over HTTPS).")
@click.option("--verify-timeout", type=click.FloatRange(min=0.1), metavar="SECONDS",
              help="Time budget for all verification (default 60); what is not answered is 'unknown'.")
@click.option("--verified-first", is_flag=True, help="Order the report: live credentials first.")
@click.option("--only-verified", is_flag=True, help="Report only credentials their provider accepted.")
@click.option("--strict", is_flag=True,
              help="Exit 2 when some git object could not be read (the rest is scanned and reported either way).")
@click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False), default=".",
              help="Run as if started in DIR.")
@click.option("--group/--no-group", default=True, show_default=True,
              help="Text report: one entry per secret found in several places (count, first and last place).")
def scan(**params: Any) -> None:
    """Find secrets. Exit 1 when any are found, 0 when clean."""
    from unleak.scancmd import run_scan

    sys.exit(run_scan(**params))


def _audit(action: str, **fields: Any) -> None:
    """Append a record of a human's command to the audit log (names and counts only; never raises)."""
    from unleak.audit import record

    record(action, **fields)


# --- baseline ---


@cli.group()
def baseline() -> None:
    """Create, update and audit the baseline of known findings (.unleak-baseline.json)."""


def _baseline_target(root: Path, file: str | None) -> Path:
    from scanner import git
    from scanner.baseline import DEFAULT_BASELINE

    base = git.toplevel(root) or root
    return Path(file) if file else base / DEFAULT_BASELINE


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
    req, _ = _scan_request(root, ("files",), (), use_baseline=False)
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
    req, _ = _scan_request(root, ("files",), (), use_baseline=False)
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
    req, _ = _scan_request(root, ("files",), (), use_baseline=False)
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


# --- rules ---


@cli.command("rules")
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

# --- run ---


@cli.command(
    "run",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option(
    "--env-file",
    "env_files",
    multiple=True,
    metavar="FILE",
    help="Reference file (.env whose values are unleak:// or op:// references); repeatable, later files win. "
    "Default: .env here or at the repository root.",
)
@click.option("--no-masking", is_flag=True, help="Do not mask values in the output (the command is exec'd).")
@click.option("--no-override", is_flag=True, help="Variables already set in the environment win.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run_command(
    env_files: tuple[str, ...], no_masking: bool, no_override: bool, command: tuple[str, ...]
) -> None:
    """Run COMMAND with the secrets of a reference file in its environment, masked in its output.

    Every reference is resolved before COMMAND starts; values reach it through its environment only (never its
    command line), and UNLEAK_RUN=1 is set. The exit status is COMMAND's (128+N when killed by signal N).

    \b
    Example:  unleak run -- python manage.py runserver
    """
    from pathlib import Path

    from unleak import run as runner
    from unleak import runguard
    from unleak.policy import load_policy
    from unleak.reaper import protect_process

    # Before any value is read: no core file, no same-user ptrace or /proc/PID/mem of this process.
    protect_process()
    paths = [Path(f) for f in env_files]
    policy = load_policy()
    why = runguard.gate_reason(policy)
    grant = None
    if why is not None:
        # Not the human's own terminal: the same grant rules as an MCP `run`, checked on names before anything
        # is resolved.
        cwd = Path.cwd()
        sources = runner.reference_sources(paths, cwd)
        grant = runguard.check(command, runner.read_reference_files(sources), sources, cwd=cwd, policy=policy,
                               why=why, masking=not no_masking)
    plan = runner.prepare(paths, override=not no_override)
    for name in sorted(plan.plaintext):
        click.echo(
            f"unleak: warning: {name} holds a plaintext value, not a reference; run `unleak fix` to move it "
            "into the vault" + ("" if no_masking else " (it is masked in the output meanwhile)"),
            err=True,
        )
    from unleak.masking import Masker

    # The audit log is a channel too: a value the user typed on the command line is masked there as in the output.
    masker = Masker(plan.masked)

    def scrub(text: str) -> str:
        return masker.mask_all(text.encode("utf-8", "surrogateescape")).decode("utf-8", "replace")

    if no_masking:
        click.echo("unleak: masking is off; the command's output is not filtered", err=True)
        _audit("run.start", secrets=sorted(plan.secrets), argv=list(command), detail={"masking": False},
               scrub=scrub)
        runner.exec_child(command, plan)
    for name in plan.unmasked:
        click.echo(
            f"unleak: warning: {name} is shorter than 4 characters and is not masked in the output", err=True
        )
    who: dict[str, Any] = {} if grant is None else {"grant": grant.id, "actor": runguard.SHELL_CLIENT}
    _audit("run.start", secrets=sorted(plan.secrets), argv=list(command), scrub=scrub, **who)
    # The run owns its process tree: nothing the command starts outlives it. Under a grant it also ends at the
    # policy's time limit, or as soon as the grant is revoked or expires.
    limits = runner.RunLimits(contain=True)
    if grant is not None:
        limits.timeout = policy.run_timeout
        limits.watch = runguard.grant_watch(grant.id)
    code = runner.run_child(command, plan, limits=limits)
    if limits.stopped:
        click.echo(f"unleak: the command was stopped: {limits.stopped}", err=True)
    _audit("run.end", secrets=sorted(plan.secrets), argv=list(command), result=f"exit {code}", scrub=scrub, **who)
    sys.exit(code)


# --- secrets ---

_MAX_STDIN_VALUE = 1 << 20


def _secrets_options(f: F) -> F:
    f = click.option("--op-vault", metavar="VAULT",
                     help="1Password vault for --backend op (default: the namespace).")(f)
    f = click.option("--backend", type=click.Choice(["unleak", "op", "github"]), default="unleak",
                     show_default=True, help="unleak: the local encrypted vault; op: 1Password through the op CLI; "
                     "github: a repository's Actions secrets (write-only; --namespace OWNER/REPO, token in "
                     "UNLEAK_GITHUB_SECRETS_TOKEN).")(f)
    f = click.option("--namespace", metavar="NS",
                     help="Vault namespace (default: this repository's directory name).")(f)
    return f


def _secrets_vault(backend: str, namespace: str | None, op_vault: str | None) -> Any:
    from remediate.vault import open_vault
    from scanner.errors import UsageError

    if op_vault and backend != "op":
        raise UsageError("--op-vault only applies with --backend op")
    opts: dict[str, Any] = {"op_vault": op_vault} if op_vault else {}
    if backend == "github":
        opts = {"token": os.environ.get("UNLEAK_GITHUB_SECRETS_TOKEN", ""),
                "api_url": os.environ.get("GITHUB_API_URL") or "https://api.github.com"}
    return open_vault(backend, namespace=namespace, repo_path=Path.cwd(), **opts)


def _read_secret_value(name: str) -> str:
    """The value from a hidden, confirmed prompt on a terminal, else all of stdin (one trailing newline dropped,
    so `printf '%s\\n' "$V" | unleak secrets set NAME` stores exactly $V). Never from argv (invariant 3)."""
    from scanner.errors import UsageError

    if sys.stdin.isatty():
        try:
            value = str(click.prompt(f"Value for {name}", hide_input=True, confirmation_prompt=True, err=True))
        except click.Abort:  # Ctrl-C / Ctrl-D at the prompt: exit 130 like every interrupted command
            raise KeyboardInterrupt from None
    else:
        raw = sys.stdin.buffer.read(_MAX_STDIN_VALUE + 1)
        if len(raw) > _MAX_STDIN_VALUE:
            raise UsageError(f"the value on stdin is larger than {_MAX_STDIN_VALUE} bytes")
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError("the value on stdin is not UTF-8 text") from None
        value = value[:-2] if value.endswith("\r\n") else value[:-1] if value.endswith("\n") else value
    if not value:
        raise UsageError(f"no value given for {name}: type it at the prompt or pipe it on stdin")
    return value


@cli.group("secrets")
def secrets_group() -> None:
    """Store, list and remove vault entries. Shows names and references only; no command prints a value."""
    from remediate.hardening import no_core_dumps

    no_core_dumps()  # the value passes through this process


@secrets_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_secrets_options
def secrets_list(as_json: bool, namespace: str | None, backend: str, op_vault: str | None) -> None:
    """List the secrets of a namespace: NAME and reference."""
    import json

    vault = _secrets_vault(backend, namespace, op_vault)
    entries = vault.names()
    if as_json:
        click.echo(json.dumps({"backend": backend, "namespace": vault.namespace,
                               "secrets": [{"name": e.name, "reference": e.reference} for e in entries]}, indent=2))
        return
    if not entries:
        click.echo(f"no secrets in namespace {vault.namespace!r} ({backend})", err=True)
        return
    width = max(len(e.name) for e in entries)
    for e in entries:
        click.echo(f"{e.name:<{width}}  {e.reference}")


@secrets_group.command("set")
@click.argument("name")
@click.option("--no-overwrite", is_flag=True, help="Fail if NAME already holds a different value.")
@click.option("--tier", type=click.Choice(["dev", "staging", "prod"]), default=None,
              help="Label the entry with its environment tier (kept; default for a new entry: dev). Agents reach "
                   "a tier only when the policy's mcp_tiers lists it.")
@_secrets_options
def secrets_set(name: str, no_overwrite: bool, tier: str | None, namespace: str | None, backend: str,
                op_vault: str | None) -> None:
    """Store a value under NAME and print its reference.

    The value comes from a hidden prompt on a terminal, otherwise from stdin — never from the command line.

    \b
    Example:  unleak secrets set STRIPE_API_KEY
              pbpaste | unleak secrets set STRIPE_API_KEY
    """
    actor = _human_action("secrets set --tier") if tier else None  # a label decides what agents may reach
    vault = _secrets_vault(backend, namespace, op_vault)
    vault.reference_for(name)  # reject a bad name before asking for the value
    reference = vault.put(name, _read_secret_value(name), overwrite=not no_overwrite)
    if tier:
        from unleak.audit import AuditLog
        from unleak.policy import TierLabels, canonical_reference

        TierLabels().set(canonical_reference(reference), tier)
        AuditLog().append("tier.set", actor=actor or "", secrets=[name], result=tier,
                          detail={"reference": reference})
    click.echo(reference)


@secrets_group.command("tier")
@click.argument("name")
@click.argument("tier", type=click.Choice(["dev", "staging", "prod"]), required=False)
@_secrets_options
def secrets_tier(name: str, tier: str | None, namespace: str | None, backend: str, op_vault: str | None) -> None:
    """Show the tier label of an entry, or label it (what `secrets set --tier` does, without a new value)."""
    from scanner.errors import UsageError
    from unleak.audit import AuditLog
    from unleak.policy import TierLabels, canonical_reference

    vault = _secrets_vault(backend, namespace, op_vault)
    reference = vault.reference_for(name)
    if tier is None:
        click.echo(TierLabels().tier(canonical_reference(reference)))
        return
    actor = _human_action("secrets tier")
    if not any(e.name == name for e in vault.names()):
        raise UsageError(f"no secret named {name!r} in {vault.namespace!r}; store it with `unleak secrets set`")
    TierLabels().set(canonical_reference(reference), tier)
    AuditLog().append("tier.set", actor=actor, secrets=[name], result=tier, detail={"reference": reference})
    click.echo(f"{reference}: {tier}", err=True)


@secrets_group.command("rm")
@click.argument("name")
@_secrets_options
def secrets_rm(name: str, namespace: str | None, backend: str, op_vault: str | None) -> None:
    """Remove NAME from the vault."""
    vault = _secrets_vault(backend, namespace, op_vault)
    reference = vault.reference_for(name)
    vault.delete(name)
    click.echo(f"removed {reference}", err=True)


# --- integrations ---


@cli.command("install-hook")
@click.option("--force", is_flag=True, help="Replace an existing pre-commit hook that unleak did not write.")
@click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False), default=".",
              help="Run as if started in DIR.")
def install_hook(force: bool, repo_dir: str) -> None:
    """Write a plain git pre-commit hook that runs `unleak scan --staged` (no pre-commit framework needed).

    Honours core.hooksPath. Refuses to replace a hook that unleak did not write unless --force.
    """
    from unleak import hooks

    res = hooks.install_git_hook(Path(repo_dir).resolve(), force=force)
    click.echo(f"{'wrote' if res.changed else 'already installed:'} {res.path}", err=True)


@cli.group("hook")
def hook_group() -> None:
    """Hooks for coding agents: block secrets before they are written, printed or sent."""


@hook_group.command("claude-code")
@click.option("--json", "as_json", is_flag=True,
              help="Answer with a JSON decision on stdout (exit 0) instead of exit code 2 and a reason on stderr.")
def hook_claude_code(as_json: bool) -> None:
    """Claude Code hook: reads the hook payload (JSON) on stdin.

    \b
    PreToolUse Write/Edit/MultiEdit/NotebookEdit: blocks a call after which the file would hold a new secret
    (the whole resulting file is scanned; allow comments and weakening repository config are ignored).
    PostToolUse Write/Edit/MultiEdit/NotebookEdit: reports a new secret in the file as written.
    PreToolUse Bash/Read: blocks commands and reads that would print secrets (printenv, cat .env, key files).
    UserPromptSubmit: blocks a prompt that contains a secret.
    Blocking exits 2 with the reason on stderr, as Claude Code's hook protocol defines; reasons never carry values.
    """

    from unleak import hooks

    # Bytes, decoded leniently: invalid UTF-8 must still be checked, not crash into a non-blocking error.
    payload = hooks.parse_payload(sys.stdin.buffer.read().decode("utf-8", "replace"))
    try:
        decision = hooks.decide(payload)
    except UnleakError:
        raise
    except Exception as exc:
        # Fail closed: any exit code but 2 lets the tool call through. Only the type is shown (no values).
        click.echo(f"unleak: the secret check failed internally ({type(exc).__name__}), so this was blocked to "
                   "be safe; run `unleak hook check` on the content, or remove the hook to continue", err=True)
        sys.exit(2)
    _hook_answer(decision, as_json)


def _hook_answer(decision: Any, as_json: bool) -> NoReturn:
    """Claude Code's hook protocol (Codex follows it): exit 0 to allow; to block, exit 2 with the reason on stderr
    ("blocking error": the tool call or prompt does not proceed), or with --json a JSON decision on stdout."""
    import json

    if not decision.block:
        sys.exit(EXIT_CLEAN)
    if as_json:
        click.echo(json.dumps(decision.claude_json()))
        sys.exit(EXIT_CLEAN)
    click.echo(decision.reason, err=True)
    sys.exit(2)


def _agent_hook(decide_name: str, as_json: bool, cursor: bool = False) -> NoReturn:
    """The body shared by the Codex and Cursor hooks: read the payload, decide, answer in the agent's form,
    and fail closed on an unexpected error."""
    import json

    from unleak import agent_hooks, hooks

    payload = hooks.parse_payload(sys.stdin.buffer.read().decode("utf-8", "replace"))
    event = str(payload.get("hook_event_name") or "")
    try:
        decision = getattr(agent_hooks, decide_name)(payload)
    except UnleakError:
        raise
    except Exception as exc:
        reason = (f"unleak: the secret check failed internally ({type(exc).__name__}), so this was blocked to be "
                  "safe; run `unleak hook check` on the content, or remove the hook to continue")
        decision = hooks.Decision(True, reason, event)
        if not cursor:
            click.echo(reason, err=True)
            sys.exit(2)
    if cursor:
        click.echo(json.dumps(agent_hooks.cursor_answer(event, decision)))
        sys.exit(EXIT_CLEAN)
    _hook_answer(decision, as_json)


@hook_group.command("codex")
@click.option("--json", "as_json", is_flag=True,
              help="Answer with a JSON decision on stdout (exit 0) instead of exit code 2 and a reason on stderr.")
def hook_codex(as_json: bool) -> None:
    """Codex CLI hook (Claude Code's wire format): PreToolUse Bash, apply_patch and MCP tools; UserPromptSubmit.
    Blocking exits 2 with the reason on stderr; reasons never carry values."""
    _agent_hook("decide_codex", as_json)


@hook_group.command("cursor")
def hook_cursor() -> None:
    """Cursor hook: beforeShellExecution, beforeReadFile, beforeMCPExecution, beforeSubmitPrompt. Answers with
    Cursor's JSON (permission allow/deny; continue for prompts) on stdout; reasons never carry values."""
    _agent_hook("decide_cursor", False, cursor=True)


@hook_group.command("check")
@click.option("--path", "path", default="<stdin>", show_default=True,
              help="File name the content is destined for (path-specific rules use it).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def hook_check(path: str, fmt: str) -> None:
    """Scan content on stdin (for any agent's hook system). Exit 1 with redacted findings when it carries a secret."""
    import json

    from unleak import hooks

    hits = hooks.scan_text(sys.stdin.buffer.read().decode("utf-8", "replace"), path, hooks._root(Path.cwd()))
    if fmt == "json":
        click.echo(json.dumps([{"rule_id": h.rule_id, "title": h.title, "line": h.line, "preview": h.preview}
                               for h in hits], indent=2))
    else:
        for h in hits:
            click.echo(f"{path}:{h.line}: {h.rule_id} {h.title} {h.preview}")
        if hits:
            click.echo(f"unleak: {plural(len(hits), 'secret')} in the content; keep values in the vault "
                       "(`unleak secrets set NAME`) and write references instead", err=True)
    sys.exit(EXIT_FINDINGS if hits else EXIT_CLEAN)


@cli.group("action", hidden=True)
def action_group() -> None:
    """Entry points for CI integrations (called by action.yml)."""


@action_group.command("github")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Config file (.unleak.toml).")
@click.option("--baseline", "baseline_path", type=click.Path(dir_okay=False), help="Baseline file.")
def action_github(config_path: str | None, baseline_path: str | None) -> None:
    """Run the GitHub Action: scan the event's commits; annotations on stdout, SARIF, job summary, step outputs,
    optional review with suggested fixes. Reads the runner's environment (GITHUB_*) and UNLEAK_* inputs."""
    from unleak import action

    settings = action.Settings.from_env(os.environ)
    root = settings.workspace
    req, _ = _scan_request(root, ("range",), (), config_path=config_path or None,
                           baseline_path=baseline_path or None)
    outcome = action.run(settings, req)
    click.echo(outcome.annotations, nl=False)
    for level, text in outcome.messages:
        click.echo(action.workflow_command(level, text))
    sys.exit(EXIT_FINDINGS if outcome.failed else EXIT_CLEAN)


@hook_group.group("install")
def hook_install() -> None:
    """Install unleak's hooks into a coding agent's settings."""


@hook_install.command("claude-code")
@click.option("--scope", type=click.Choice(["project", "local", "user"]), default="project", show_default=True,
              help="project: .claude/settings.json (commit it); local: .claude/settings.local.json; "
                   "user: ~/.claude/settings.json.")
@click.option("--command", "command", default="unleak hook claude-code", show_default=True,
              help="The hook command Claude Code runs.")
@click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False), default=".",
              help="Project directory.")
def hook_install_claude_code(scope: str, command: str, repo_dir: str) -> None:
    """Add unleak's PreToolUse, PostToolUse and UserPromptSubmit hooks to Claude Code's settings (merging;
    idempotent)."""
    from scanner import git
    from unleak import hooks

    root = Path(repo_dir).resolve()
    project = git.toplevel(root) or root
    res = hooks.install_claude_code(hooks.claude_settings_path(scope, project), command=command)
    if res.changed:
        click.echo(f"updated {res.path}: added {', '.join(res.added)} hook(s)", err=True)
    else:
        click.echo(f"already installed in {res.path}", err=True)
    _warn_if_not_on_path(command)


@hook_install.command("codex")
@click.option("--scope", type=click.Choice(["project", "user"]), default="project", show_default=True,
              help="project: .codex/hooks.json (commit it); user: ~/.codex/hooks.json.")
@click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False), default=".", help="Project directory.")
def hook_install_codex(scope: str, repo_dir: str) -> None:
    """Add unleak's PreToolUse (Bash, apply_patch, MCP tools) and UserPromptSubmit hooks to Codex's hooks.json."""
    from unleak import agent_hooks

    path = agent_hooks.agent_config_path("codex", "hooks", scope, _project(repo_dir))
    _installed(agent_hooks.install_codex_hooks(path), agent_hooks.CODEX_COMMAND)


@hook_install.command("cursor")
@click.option("--scope", type=click.Choice(["project", "user"]), default="project", show_default=True,
              help="project: .cursor/hooks.json (commit it); user: ~/.cursor/hooks.json.")
@click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False), default=".", help="Project directory.")
def hook_install_cursor(scope: str, repo_dir: str) -> None:
    """Add unleak's beforeShellExecution, beforeReadFile, beforeMCPExecution and beforeSubmitPrompt hooks to
    Cursor's hooks.json."""
    from unleak import agent_hooks

    path = agent_hooks.agent_config_path("cursor", "hooks", scope, _project(repo_dir))
    _installed(agent_hooks.install_cursor_hooks(path), agent_hooks.CURSOR_COMMAND)


def _project(repo_dir: str) -> Path:
    from scanner import git

    root = Path(repo_dir).resolve()
    return git.toplevel(root) or root


def _installed(res: Any, command: str) -> None:
    if res.changed:
        click.echo(f"updated {res.path}: added {', '.join(res.added)}", err=True)
    else:
        click.echo(f"already installed in {res.path}", err=True)
    _warn_if_not_on_path(command)


def _warn_if_not_on_path(command: str) -> None:
    """The installed hook fails closed; say now, not at the first blocked call, when its program is missing."""
    import shlex
    import shutil

    prog = shlex.split(command)[0] if command.strip() else "unleak"
    if shutil.which(prog) is None:
        click.echo(f"warning: {prog} is not on PATH here; the hook blocks every call it guards until it is "
                   "(install unleak with pipx, or add its virtualenv's bin directory to PATH)", err=True)


# --- exposure ---


@cli.command("exposure")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--agent-logs", "agent_logs", is_flag=False, flag_value="", default=None, metavar="[PATH]",
              help="Also look for each secret in coding-agent transcripts (PATH, or the default locations).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the report to FILE.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Config file (.unleak.toml).")
@click.option("--verify/--no-verify", default=None,
              help="Ask each secret's own provider whether it is still live; live ones come first.")
@click.option("--verify-timeout", type=click.FloatRange(min=0.1), metavar="SECONDS",
              help="Time budget for all verification (default 60).")
@click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False), default=".",
              help="Run as if started in DIR.")
def exposure_cmd(fmt: str, as_json: bool, agent_logs: str | None, output: str | None, config_path: str | None,
                 verify: bool | None, verify_timeout: float | None, repo_dir: str) -> None:
    """Every secret ever committed: since when, where it still is, whether it was pushed, how to rotate it.

    Exit 1 when history holds any secret, 0 when it is clean. Values are never shown.
    """
    from scanner import exposure

    root = Path(repo_dir).resolve()
    req, cfg = _scan_request(root, ("history",), (), config_path=config_path)
    logs = None if agent_logs is None else ([agent_logs] if agent_logs else [])
    if sys.stderr.isatty():
        report = _with_commit_progress(root, lambda tick, phase: exposure.analyze(
            root, req, agent_logs=logs, progress=tick, phase=phase))
    else:
        report = exposure.analyze(root, req, agent_logs=logs)
    from unleak.scancmd import verify_config, verify_findings

    vcfg = verify_config(cfg)
    if vcfg["enabled"] if verify is None else verify:
        verdicts = verify_findings(exposure.as_findings(report), root, budget=verify_timeout or vcfg["timeout"],
                                   cache_ttl=vcfg["cache-ttl"])
        exposure.apply_verification(report, verdicts)
    text = exposure.render(report, "json" if as_json else fmt)
    if output:
        from scanner.fileio import atomic_write_text

        atomic_write_text(Path(output), text)
        click.echo(f"wrote {output}: {plural(len(report.exposures), 'secret')} in history", err=True)
    else:
        click.echo(text, nl=False)
    sys.exit(EXIT_FINDINGS if report.exposures else EXIT_CLEAN)


def _with_commit_progress(root: Path, run: Callable[[Callable[[Any], None], Callable[[str, int | None], None]], Any]
                          ) -> Any:
    """Run a history-sized job with a transient progress bar on stderr: one bar per phase the job announces
    (``phase(name, total)``), advanced once per commit."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from scanner import git

    top = git.history_root(root)
    total = (git.count_commits(top, ["--all"]) or None) if top is not None else None
    seen: set[str] = set()
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("history", total=total)

        def tick(chunk: Any) -> None:
            if chunk.commit is not None and chunk.commit.sha not in seen:
                seen.add(chunk.commit.sha)
                bar.advance(task)

        def phase(name: str, count: int | None) -> None:
            seen.clear()
            bar.reset(task, total=count if count is not None else total, description=name)

        return run(tick, phase)


def _echo_plan(p: Any) -> None:
    click.echo(f"{len(p.targets)} secret(s) selected for purging:")
    for e in p.targets:
        click.echo(f"  {e.fingerprint}  {e.preview}  {e.rule_id}  {', '.join(e.paths)}")
    click.echo(f"replacement expressions: {p.replacements_file} (mode 0600; holds the values: never share it)")
    click.echo("warnings:")
    for w in p.warnings:
        click.echo(f"  ! {w}")
    click.echo("commands (run on a fresh mirror clone, never on this working clone):")
    for c in p.commands:
        click.echo(f"  {c}")


@cli.command("purge-plan")
@click.option("--fingerprint", "fingerprints", multiple=True, metavar="FP",
              help="Purge only this secret (fingerprint or a unique prefix of 6+ characters); repeatable. "
              "Default: every secret in history.")
@click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False), default=".",
              help="Run as if started in DIR.")
def purge_plan_cmd(fingerprints: tuple[str, ...], repo_dir: str) -> None:
    """Write git-filter-repo --replace-text expressions into .git/unleak/ and print the commands and warnings."""
    from remediate import purge

    root = Path(repo_dir).resolve()
    req, _ = _scan_request(root, ("history",), ())
    _echo_plan(purge.plan(root, list(fingerprints), request=req))


@cli.command("purge")
@click.option("--execute", is_flag=True, help="Actually rewrite history (on a fresh mirror clone) and prove it.")
@click.option("--fingerprint", "fingerprints", multiple=True, metavar="FP",
              help="Purge only this secret (fingerprint or unique prefix); repeatable. Default: all.")
@click.option("--workdir", type=click.Path(file_okay=False), help="Where to put the mirror (default .git/unleak/).")
@click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False), default=".",
              help="Run as if started in DIR.")
def purge_cmd(execute: bool, fingerprints: tuple[str, ...], workdir: str | None, repo_dir: str) -> None:
    """Remove secrets from all history with git-filter-repo, on a fresh mirror clone, then prove the result.

    Without --execute, only shows the plan (exit 1). Your working clone is never rewritten; you push the mirror.
    """
    from remediate import purge

    root = Path(repo_dir).resolve()
    req, _ = _scan_request(root, ("history",), ())
    if not execute:
        _echo_plan(purge.plan(root, list(fingerprints), request=req))
        click.echo("nothing was changed; add --execute to rewrite a mirror clone", err=True)
        sys.exit(EXIT_FINDINGS)
    res = purge.execute(root, list(fingerprints), Path(workdir) if workdir else None, request=req)
    pr = res.proof
    click.echo(f"rewrote {pr.commits} commit(s) in {res.mirror}: {pr.blobs_changed} file version(s) and "
               f"{pr.messages_changed} message(s) had values replaced; {pr.refs} ref(s)")
    if not pr.ok:
        click.echo("PROOF FAILED, do not push this mirror:", err=True)
        for problem in pr.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(EXIT_FINDINGS)
    click.echo(f"proof: {pr.objects_searched} objects searched, no purged value left; a history scan finds none "
               "of the purged secrets; every other file, commit message, author and parent is unchanged")
    for note in pr.notes:
        click.echo(f"  note: {note}")
    click.echo("warnings:")
    for w in res.plan.warnings:
        click.echo(f"  ! {w}")
    click.echo("to publish the rewritten history:")
    for c in res.push:
        click.echo(f"  {c}")


# --- agent access ---


def _human_action(action: str) -> str:
    """The acting human, after refusing to act from inside a coding agent's shell (see unleak.policy)."""
    from unleak.policy import refuse_agent_environment
    from unleak.userenv import human_actor

    refuse_agent_environment(action)
    return human_actor()


def _when(ts: float) -> str:
    import datetime as _dt

    return _dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _describe_request(req: Any) -> str:
    """A request as a human reads it; every field the agent chose goes through the one display escaper."""
    import shlex

    from unleak.display import shown
    from unleak.policy import format_duration

    lines = [
        f"request {req.id} from {req.client or 'an unknown program'}:",
        f"  command     {shlex.join(list(req.argv))}",
        f"  secrets     {', '.join(req.secrets) or '(none)'}",
        f"  repository  {req.repo}",
        f"  branch      {req.branch}",
        f"  tier        {req.tier} (the highest label on these vault entries)"
        + (f", from {req.env_file}" if req.env_file else ""),
        f"  duration    {format_duration(req.ttl)} after approval",
    ]
    if req.task:
        lines.append(f"  task        {req.task}")
    if req.program is not None:
        lines.append(f"  program     {req.program.describe()}")
    if req.inside_repo:
        lines.append("  WARNING     the program is inside the repository, where the agent can change it: read it, "
                     "then approve with --pin to allow this exact content")
    for name, value in req.env:
        from unleak.policy import show_env_value

        lines.append(f"  environment {name}={show_env_value(value)}")
    if req.env:
        lines.append("  WARNING     these variables from the reference file can change which code runs: approve "
                     "with --allow-env only if you mean it")
    if req.dangerous:
        lines.append(f"  WARNING     {req.dangerous}: this command could reveal the secrets")
    return "\n".join(shown(line) for line in lines)


@cli.group("mcp", invoke_without_command=True)
@click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False, exists=True), default=".",
              help="Repository the agent works in (default: the current directory).")
@click.option("--read-only", is_flag=True, help="Serve only scan, check_diff and list_secrets.")
@click.pass_context
def mcp_cmd(ctx: click.Context, repo_dir: str, read_only: bool) -> None:
    """Serve the MCP tools (scan, check_diff, fix, list_secrets, run, request_secret) over stdio.

    `unleak mcp install claude-code|codex|cursor` registers this server in an agent's configuration."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        import mcp.server.lowlevel  # noqa: F401 - only to give a clear message when the SDK is missing
    except ImportError:
        raise click.UsageError("the MCP server needs the mcp package: pip install 'unleak[mcp]'") from None
    from unleak.mcp_server import serve

    serve(Path(repo_dir).resolve(), read_only=read_only)


@mcp_cmd.command("install")
@click.argument("agent", type=click.Choice(["claude-code", "codex", "cursor"]))
@click.option("--scope", type=click.Choice(["project", "user"]), default="project", show_default=True,
              help="project: .mcp.json / .codex/config.toml / .cursor/mcp.json; user: ~/.claude.json / "
                   "~/.codex/config.toml / ~/.cursor/mcp.json.")
@click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False), default=".", help="Project directory.")
def mcp_install(agent: str, scope: str, repo_dir: str) -> None:
    """Register `unleak mcp` (stdio) as the MCP server "unleak" in an agent's configuration (merging; idempotent)."""
    from unleak import agent_hooks

    path = agent_hooks.agent_config_path(agent, "mcp", scope, _project(repo_dir))
    _installed(agent_hooks.install_mcp(agent, path), "unleak")


@cli.command("grant")
@click.option("--secrets", "secret_globs", required=True, multiple=True, metavar="GLOB",
              help="Secret names the command may receive (globs, repeatable or comma-separated), e.g. 'STRIPE_*'.")
@click.option("--command", "command", required=True, metavar="PATTERN",
              help="Command pattern, one glob per argument; a final * matches any further arguments: 'pytest *'.")
@click.option("--ttl", default=None, metavar="DURATION", help="How long (default 15m; max set by policy).")
@click.option("--repo", "repo", default=None, metavar="DIR|any",
              help="Repository (default: the one you are in; 'any' for every repository).")
@click.option("--branch", default=None, metavar="GLOB", help="Branch (glob; default: any).")
@click.option("--tier", type=click.Choice(["dev", "staging", "prod"]), default="dev", show_default=True,
              help="Highest environment tier covered.")
@click.option("--task", default=None, metavar="ID", help="Only for runs that name this task id.")
@click.option("--allow-dangerous", is_flag=True,
              help="Also cover commands that can print secrets or run inline code (sh -c, python -c, env, ...).")
@click.option("--pin", is_flag=True,
              help="Allow a program inside the repository, bound to its content as it is now (read it first).")
@click.option("--allow-env", "allow_env", multiple=True, metavar="NAME[=VALUE]",
              help="Allow this plain variable from the reference file (PYTHONPATH, NODE_OPTIONS, PATH, ...); "
                   "refused by default because it can change which code runs.")
def grant_cmd(secret_globs: tuple[str, ...], command: str, ttl: str | None, repo: str | None, branch: str | None,
              tier: str, task: str | None, allow_dangerous: bool, pin: bool, allow_env: tuple[str, ...]) -> None:
    """Let coding agents run COMMAND with these secrets for a while, without asking each time."""
    from scanner import git
    from unleak.audit import AuditLog
    from unleak.policy import GrantStore, format_duration, parse_command_pattern, parse_duration

    actor = _human_action("grant")
    globs = [g.strip() for s in secret_globs for g in s.split(",") if g.strip()]
    pattern = parse_command_pattern(command)
    if repo is None:
        top = git.toplevel(Path.cwd())
        repo_path: str | None = str(top) if top else None
    elif repo == "any":
        repo_path = None
    else:
        if not Path(repo).is_dir():
            raise click.UsageError(f"--repo {repo}: not a directory")
        repo_path = str(git.toplevel(Path(repo)) or Path(repo).resolve())
    store = GrantStore()
    g = store.add_grant(secrets=globs, command=pattern, created_by=actor,
                        ttl=parse_duration(ttl) if ttl else None, repo=repo_path, branch=branch, tier=tier,
                        task=task, dangerous=allow_dangerous, pin=pin, allow_env=allow_env, cwd=Path.cwd())
    AuditLog().append("grant", actor=actor, secrets=globs, grant=g.id, task=task,
                      process={"argv": list(pattern), "pid": None, "cwd": None, "repo": repo_path, "branch": branch},
                      detail={"ttl": int(g.expires - g.created), "tier": tier, "dangerous": allow_dangerous,
                              "program": g.program.to_dict() if g.program else None, "pinned": pin,
                              "allow_env": [e.split("=", 1)[0] for e in allow_env]})
    click.echo(f"{g.id}: {', '.join(globs)} for `{g.command_text()}` in {repo_path or 'any repository'}"
               f"{f' on {branch}' if branch else ''} until {_when(g.expires)} "
               f"({format_duration(g.expires - g.created)})")
    if g.program is not None:
        click.echo(f"  program {g.program.describe()}{' (pinned)' if pin else ''}", err=True)
    for e in allow_env:
        click.echo(f"  allows {e.split('=', 1)[0]} from the reference file", err=True)


@cli.group("policy")
def policy_group() -> None:
    """The user's policy (limits on every grant): show it, and sign it after editing."""


@policy_group.command("sign")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def policy_sign(yes: bool) -> None:
    """Accept policy.toml as it is now. Until it is signed, an edited policy is refused: an agent that can write
    files could have written it."""
    from unleak.audit import AuditLog
    from unleak.policy import format_duration, load_policy, policy_path, sign_policy

    actor = _human_action("policy sign")
    path = policy_path()
    pol = load_policy(path, verify=False)
    click.echo(f"policy {path}{'' if path.is_file() else ' (no file: the defaults)'}:", err=True)
    click.echo(f"  grants last       {format_duration(pol.default_ttl)} by default, at most "
               f"{format_duration(pol.max_ttl)}", err=True)
    click.echo(f"  agents may reach  tiers {', '.join(pol.mcp_tiers)}", err=True)
    click.echo(f"  dangerous         {'allowed with --allow-dangerous' if pol.allow_dangerous else 'never'}",
               err=True)
    click.echo(f"  audit to syslog   {'yes' if pol.audit_syslog else 'no'}", err=True)
    if not yes and not click.confirm("Sign this policy?", default=False, err=True):
        raise click.Abort()
    sign_policy(path)
    AuditLog().append("policy.sign", actor=actor, result="signed",
                      detail={"max_ttl": pol.max_ttl, "mcp_tiers": list(pol.mcp_tiers),
                              "allow_dangerous": pol.allow_dangerous, "audit_syslog": pol.audit_syslog})
    click.echo(f"signed {path}", err=True)


@policy_group.command("show")
def policy_show() -> None:
    """Print the policy in force (exit 2 when policy.toml changed since it was signed)."""
    import json
    from dataclasses import asdict

    from unleak.policy import load_policy

    click.echo(json.dumps(asdict(load_policy()), indent=2, sort_keys=True))


@cli.command("grants")
@click.option("--all", "show_all", is_flag=True, help="Also expired and revoked grants.")
@click.option("--pending", is_flag=True, help="Only pending approval requests.")
@click.option("--json", "as_json", is_flag=True)
def grants_cmd(show_all: bool, pending: bool, as_json: bool) -> None:
    """List grants and pending approval requests."""
    import json

    from unleak.policy import GrantStore

    store = GrantStore()
    for problem in store.problems():
        click.echo(f"warning: {store.path}: {problem}", err=True)
    grants = [] if pending else [g for g in store.grants() if show_all or g.active()]
    reqs = [r for r in store.requests() if r.state() == "pending" or (show_all and not pending)]
    if as_json:
        click.echo(json.dumps({"grants": [{**g.to_dict(), "state": g.state()} for g in grants],
                               "requests": [r.public_dict() for r in reqs]}, indent=2))
        return
    from unleak.display import shown

    for g in grants:
        click.echo(shown(f"{g.id}  {g.state():<7}  until {_when(g.expires)}  {','.join(g.secrets)}  "
                         f"`{g.command_text()}`  {g.repo or 'any repo'}{'  branch ' + g.branch if g.branch else ''}"
                         f"  tier<={g.tier}{'  task ' + g.task if g.task else ''}"
                         f"{'  DANGEROUS' if g.dangerous else ''}"
                         f"{'  program ' + g.program.path if g.program else ''}{'  PINNED' if g.pinned else ''}"
                         f"{'  env ' + ','.join(e.split('=', 1)[0] for e in g.allow_env) if g.allow_env else ''}"))
    for r in reqs:
        click.echo(_describe_request(r) + f"\n  state       {r.state()} (approve: unleak approve {r.id})")
    if not grants and not reqs:
        click.echo("no grants" + ("" if show_all else " in force") + " and no pending requests", err=True)


@cli.command("approve")
@click.argument("request_id")
@click.option("--ttl", default=None, metavar="DURATION", help="How long the grant lasts (default: as requested).")
@click.option("--allow-dangerous", is_flag=True, help="Approve a command that could reveal the secrets.")
@click.option("--code", default=None, metavar="CODE",
              help="The code shown on the request's approval page (asked for when omitted).")
@click.option("--yes", is_flag=True, help="Do not ask y/N (needed without a terminal, together with --code).")
@click.option("--pin", is_flag=True, help="Approve a program inside the repository, bound to its content now.")
@click.option("--allow-env", "allow_env", is_flag=True,
              help="Approve the plain variables shown (PYTHONPATH, NODE_OPTIONS, ...) with the values shown.")
def approve_cmd(request_id: str, ttl: str | None, allow_dangerous: bool, code: str | None, yes: bool, pin: bool,
                allow_env: bool) -> None:
    """Approve a pending request from a coding agent: that exact command may run with those secrets.

    You type the code shown on the request's approval page, then confirm: the agent can start a request and
    read its own answers, but it cannot type into your terminal."""
    from unleak import presence
    from unleak.audit import AuditLog
    from unleak.policy import GrantStore, parse_duration

    actor = _human_action("approve")
    store = GrantStore()
    if request_id.startswith("s-"):
        return _confirm_secret(store.dir, request_id, actor, code, yes)
    req = store.get_request(request_id)
    click.echo(_describe_request(req), err=True)
    if req.state() != "pending":
        raise click.UsageError(f"request {req.id} is {req.state()}; the agent must ask again")
    if req.dangerous and not allow_dangerous:
        raise click.UsageError(f"request {req.id} runs a dangerous command ({req.dangerous}); it could print the "
                               "secrets. Approve it only if you mean it, with --allow-dangerous")
    # What the approval also needs is said before the code is asked for (a code is used up once accepted).
    if req.inside_repo and not pin:
        raise click.UsageError(f"request {req.id} runs a program inside the repository, which the agent can change: "
                               "read it, then approve with --pin (this exact content)")
    if req.env and not allow_env:
        raise click.UsageError(f"request {req.id} sets {', '.join(n for n, _ in req.env)} from the reference file, "
                               "which can change the code that runs. Approve it only if you mean it, with "
                               "--allow-env")
    interactive = sys.stdin.isatty()
    if (code is None or not yes) and not interactive:
        raise click.UsageError("approving asks for the page's code and a y/N in a terminal; without one, pass "
                               "--code CODE --yes")
    if code is None:
        page = presence.page_url(store.dir, req.id)
        click.echo(f"The code is on the request's approval page{': ' + page if page else ''}", err=True)
        code = click.prompt("Code from the approval page", err=True)
    presence.verify(store.dir, req.id, code)
    if not yes and not click.confirm(f"Approve {req.id}?", default=False, err=True):
        click.echo("not approved (the request is still pending)", err=True)
        raise SystemExit(1)
    req, g = store.decide(request_id, approve=True, by=actor, ttl=parse_duration(ttl) if ttl else None,
                          allow_dangerous=allow_dangerous, pin=pin, allow_env=allow_env)
    assert g is not None
    AuditLog().append("approve", actor=actor, secrets=req.secrets, grant=g.id, task=req.task, request=req.id,
                      process={"argv": list(req.argv), "pid": None, "cwd": req.cwd, "repo": req.repo,
                               "branch": req.branch},
                      detail={"ttl": req.ttl, "via": "terminal", "dangerous": bool(req.dangerous),
                              "pinned": req.inside_repo, "allow_env": [n for n, _ in req.env]})
    click.echo(f"approved {req.id}: grant {g.id} until {_when(g.expires)}")


def _confirm_secret(store_dir: Path, request_id: str, actor: str, code: str | None, yes: bool) -> None:
    """Confirm the value entered on a ``request_secret`` page (the server holding it stores it on confirmation)."""
    import time

    from unleak import presence
    from unleak.audit import AuditLog
    from unleak.display import shown

    about = presence.about(store_dir, request_id)
    if about is None or about.get("kind") != "secret":
        raise click.UsageError(f"no value waits for confirmation under {request_id}; enter it on the secret page "
                               "first (it then shows the code)")
    lines = [f"secret request {request_id} from {about.get('client') or 'an unknown program'}:",
             f"  name        {about.get('name')}", f"  namespace   {about.get('namespace')}",
             f"  repository  {about.get('repo')}"]
    if about.get("reason"):
        lines.append(f"  reason      (written by the agent, unverified) \"{about.get('reason')}\"")
    click.echo("\n".join(shown(line) for line in lines), err=True)
    click.echo("Confirm only if you typed the value on the page yourself and read the code there (not from the "
               "agent).", err=True)
    if time.time() >= float(about.get("expires") or 0):
        raise click.UsageError(f"secret request {request_id} has expired; the agent must ask again")
    if (code is None or not yes) and not sys.stdin.isatty():
        raise click.UsageError("confirming asks for the page's code and a y/N in a terminal; without one, pass "
                               "--code CODE --yes")
    if code is None:
        code = click.prompt("Code from the secret page", err=True)
    presence.verify(store_dir, request_id, code)
    if not yes and not click.confirm(f"Store the value entered for {shown(str(about.get('name')))}?",
                                     default=False, err=True):
        click.echo("not stored", err=True)
        raise SystemExit(1)
    presence.confirm(store_dir, request_id)
    AuditLog().append("approve", actor=actor, secrets=[str(about.get("name"))], task=about.get("task"),
                      request=request_id, detail={"kind": "secret", "via": "terminal"})
    click.echo(f"confirmed {request_id}: the server stores {shown(str(about.get('name')))} in the vault")


@cli.command("deny")
@click.argument("request_id")
def deny_cmd(request_id: str) -> None:
    """Deny a pending request from a coding agent."""
    from unleak.audit import AuditLog
    from unleak.policy import GrantStore
    from unleak.userenv import human_actor

    actor = human_actor()  # denying only ever narrows access, so it works from anywhere
    req, _ = GrantStore().decide(request_id, approve=False, by=actor)
    AuditLog().append("deny", actor=actor, secrets=req.secrets, task=req.task, request=req.id,
                      process={"argv": list(req.argv), "pid": None, "cwd": req.cwd, "repo": req.repo,
                               "branch": req.branch}, detail={"via": "terminal"})
    click.echo(f"denied {req.id}")


@cli.command("revoke")
@click.option("--task", default=None, metavar="ID", help="Every grant for this task.")
@click.option("--grant", "grant_id", default=None, metavar="ID", help="One grant.")
@click.option("--client", default=None, metavar="NAME", help="Every grant made for this MCP client.")
@click.option("--all", "everything", is_flag=True, help="Every grant in force.")
@click.option("--json", "as_json", is_flag=True)
def revoke_cmd(task: str | None, grant_id: str | None, client: str | None, everything: bool,
               as_json: bool) -> None:
    """End grants now and list the secrets they exposed to processes (the credentials to rotate)."""
    import json

    from unleak.audit import AuditLog
    from unleak.policy import GrantStore
    from unleak.userenv import human_actor

    if sum(x is not None for x in (task, grant_id, client)) + everything != 1:
        raise click.UsageError("give exactly one of --task ID, --grant ID, --client NAME, --all")
    actor = human_actor()  # revoking only narrows access, so it works from anywhere
    ended = GrantStore().revoke(by=actor, grant=grant_id, task=task, client=client, everything=everything)
    log = AuditLog()
    exposed = log.exposed_secrets([g.id for g in ended])
    log.append("revoke", actor=actor, secrets=exposed, task=task, grant=grant_id,
               detail={"grants": [g.id for g in ended], "client": client, "all": everything})
    if as_json:
        click.echo(json.dumps({"revoked": [g.id for g in ended], "exposed": exposed}, indent=2))
        return
    click.echo(f"revoked {plural(len(ended), 'grant')}{': ' + ', '.join(g.id for g in ended) if ended else ''}",
               err=True)
    if exposed:
        click.echo("secrets these grants exposed to processes (rotate them):", err=True)
        for name in exposed:
            click.echo(name)
    else:
        click.echo("no process received a secret under these grants", err=True)


@cli.group("audit", invoke_without_command=True)
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


# --- fix ---


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


@cli.command("fix")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--apply", "do_apply", is_flag=True, help="Perform the plan (default: show it and the patch).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable plan, patch and result.")
@click.option("--verify", "verify_cmd", metavar="CMD",
              help="After --apply, run CMD (through sh -c) under `unleak run` and report its result.")
@click.option("--env-file", "env_file", metavar="FILE",
              help="Reference file to write (default: .env at the repository root, or [tool.unleak.fix] "
                   "reference-file).")
@click.option("--backend", type=click.Choice(["unleak", "op"]), default=None,
              help="Vault backend (default: unleak, the local encrypted vault).")
@click.option("--namespace", metavar="NS", help="Vault namespace (default: the repository's directory name).")
@click.option("--op-vault", metavar="VAULT", help="1Password vault for --backend op.")
@click.option("--min-confidence", type=click.Choice(["high", "medium", "low"]), default="medium",
              show_default=True, help="Move findings at or above this confidence (low adds entropy guesses).")
@click.option("--no-baseline", is_flag=True, help="Also fix findings recorded in the baseline.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Config file (.unleak.toml).")
@click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False), default=".",
              help="Run as if started in DIR.")
def fix_command(paths: tuple[str, ...], do_apply: bool, as_json: bool, verify_cmd: str | None,
                env_file: str | None, backend: str | None, namespace: str | None, op_vault: str | None,
                min_confidence: str, no_baseline: bool, config_path: str | None, repo_dir: str) -> None:
    """Move secrets into the vault and rewrite the code to read them from the environment.

    Without --apply, prints the plan and a unified diff in which every secret value is redacted (safe to paste
    into a pull request or an agent's context) and exits 1 if there is something to fix. With --apply: stores
    each value and reads it back, rewrites the files atomically, re-scans them, then writes the reference file
    (a .env of references, safe to commit). If any step fails, the files are left as they were.

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
    from scanner.errors import UsageError

    root = Path(repo_dir).resolve()
    if not root.is_dir():
        raise click.UsageError(f"{repo_dir}: not a directory")
    if verify_cmd is not None and not do_apply:
        raise click.UsageError("--verify runs after the fix is applied: add --apply")
    from scanner.finding import Confidence

    req, cfg = _scan_request(root, ("files",), paths, config_path=config_path, use_baseline=not no_baseline,
                             min_confidence="low")
    section = cfg.sections.get("fix", {})
    top = project_root(root)
    ref_file = env_file or str(section.get("reference-file", ".env"))
    # normpath, not resolve(): a symlinked reference file must be seen (and refused) as the link it is.
    ref_abs = Path(os.path.normpath((root if env_file else top) / ref_file))
    try:
        ref_rel = ref_abs.relative_to(top).as_posix()
    except ValueError:
        raise UsageError(f"reference file {ref_file}: it must be inside {top}") from None
    scheme = backend or str(section.get("backend", "unleak"))
    opts: dict[str, Any] = {"op_vault": op_vault} if op_vault else {}
    vault = open_vault(scheme, namespace=namespace or section.get("namespace"), repo_path=top, **opts)
    plan, _ = plan_fix(req, vault, reference_file=ref_rel, min_confidence=Confidence.parse(min_confidence))
    diff = unified_diff(plan.changes, plan.redactions())
    payload: dict[str, Any] = {"plan": plan.to_dict(), "patch": diff, "applied": False}
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
    if not plan.empty:
        result = apply_fix(plan, vault)
        _audit("fix", secrets=list(result.stored), detail={"files": list(result.written)})
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
    if verify_cmd is not None:
        # `unleak run` in a child process: the values reach CMD through its environment only, masked output.
        from remediate.dotenv import is_dotenv_path

        # Every .env this fix turned into references, the reference file last (it wins).
        env_files = [c.path for c in plan.changes if is_dotenv_path(c.path) and not c.reference_file]
        env_args = [a for p in [*env_files, plan.reference_file] if (top / p).is_file()
                    for a in ("--env-file", str(top / p))]
        proc = subprocess.run(
            [sys.executable, "-m", "unleak", "run", *env_args, "--", "sh", "-c", verify_cmd],
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


# --- fleet ---


@cli.group()
def fleet() -> None:
    """Scan many repositories at once on Ray (pip install 'unleak[fleet]')."""


@fleet.command("scan")
@click.argument("targets", nargs=-1, required=True)
@click.option("--address", help="Join a running Ray cluster (ray://… or HOST:PORT); default: a local Ray for this run.")
@click.option("--workers", type=click.IntRange(min=0), default=0, help="CPUs of the local Ray (0: all).")
@click.option("-o", "--output-dir", type=click.Path(file_okay=False), default="unleak-fleet-report",
              show_default=True, help="fleet.json, sarif/<repository>.sarif and index.html go here.")
@click.option("--cache-dir", type=click.Path(file_okay=False),
              help="Clones and scan caches on each node (default: $XDG_CACHE_HOME/unleak/fleet).")
@click.option("--split-commits", type=click.IntRange(min=1), default=50_000, show_default=True,
              help="Split a history larger than this into blocks scanned as separate tasks.")
@click.option("--block-commits", type=click.IntRange(min=1), default=10_000, show_default=True)
@click.option("--timeout", type=click.FloatRange(min=1), default=3600, show_default=True,
              help="Seconds per task; a task past it is cancelled and reported.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def fleet_scan(targets: tuple[str, ...], address: str | None, workers: int, output_dir: str, cache_dir: str | None,
               split_commits: int, block_commits: int, timeout: float, fmt: str) -> None:
    """Scan the history of every TARGET: a local repository, a clone URL, or a file listing them one a line.

    Findings are merged by fingerprint across repositories. Exit 1 when any secret is found, 2 when none is found
    but a repository could not be scanned, 0 when every repository is clean."""
    from unleak import fleet as fl
    from unleak import fleet_report

    found = fl.read_targets(list(targets))
    opts = fl.FleetOptions(address=address, workers=workers, split_commits=split_commits,
                           block_commits=block_commits, timeout=timeout,
                           cache_root=str(Path(cache_dir).resolve()) if cache_dir else None)
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description}"), TimeElapsedColumn(), console=Console(stderr=True),
                      transient=True) as bar:
            task = bar.add_task("starting Ray…")

            def tick(_event: str, repos: int, commits: int) -> None:
                bar.update(task, description=f"{repos}/{len(found)} repositories, {commits} commits scanned")

            results = fl.run(found, opts, tick)
    else:
        results = fl.run(found, opts)
    merged = fl.merge(results)
    written = fleet_report.write(Path(output_dir), results, merged)
    if fmt == "json":
        import json

        click.echo(json.dumps(fleet_report.document(results, merged), indent=2))
    else:
        click.echo(fleet_report.text_summary(results, merged), nl=False)
        click.echo(f"report: {written['html']} · {written['json']} · {len(results)} SARIF files in "
                   f"{Path(output_dir) / 'sarif'}")
    _audit("fleet-scan", result=f"{len(merged)} secrets",
           detail={"repositories": len(results), "failed": sum(1 for r in results if not r.ok)})
    if merged:
        sys.exit(EXIT_FINDINGS)
    sys.exit(EXIT_USAGE if any(not r.ok for r in results) else EXIT_CLEAN)


def main(argv: Sequence[str] | None = None) -> None:
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="unleak", standalone_mode=True)
    except KeyboardInterrupt:
        _fail("interrupted", EXIT_INTERRUPTED)
