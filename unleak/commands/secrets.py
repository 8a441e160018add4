"""``unleak secrets``: vault entries by name; no command prints a value."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from unleak.commands.common import (
    human_action,
    say_whose,
)

F = TypeVar("F", bound=Callable[..., Any])



_MAX_STDIN_VALUE = 1 << 20


def _secrets_options(f: F) -> F:
    f = click.option("--op-vault", metavar="VAULT",
                     help="1Password vault for --backend op (default: the namespace).")(f)
    f = click.option("--backend", type=click.Choice(["unleak", "op", "github"]), default="unleak",
                     show_default=True, help="unleak: the local encrypted vault; op: 1Password through the op CLI; "
                     "github: a repository's Actions secrets (write-only; --namespace OWNER/REPO, token in "
                     "UNLEAK_GITHUB_SECRETS_TOKEN).")(f)
    f = click.option("--namespace", metavar="NS",
                     help="Vault namespace (default: this repository's, as `unleak secrets list` shows it).")(f)
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
    if "\0" in value:
        # No program can receive it: an environment variable ends at the first NUL byte, so `unleak run` could not
        # inject it (binary data goes in base64).
        raise UsageError(f"the value for {name} contains a NUL byte, which no environment variable can carry; "
                         "store binary data base64-encoded")
    return value


@click.group("secrets")
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
    source, about = _namespace_origin(backend, namespace)
    if as_json:
        click.echo(json.dumps({"backend": backend, "namespace": vault.namespace, "namespace_source": source,
                               "namespace_about": about,
                               "secrets": [{"name": e.name, "reference": e.reference} for e in entries]}, indent=2))
        return
    if not entries:
        click.echo(f"no secrets in namespace {vault.namespace!r} ({backend}; {about})", err=True)
        return
    click.echo(f"namespace {vault.namespace} ({about})", err=True)
    width = max(len(e.name) for e in entries)
    for e in entries:
        click.echo(f"{e.name:<{width}}  {e.reference}")


def _namespace_origin(backend: str, namespace: str | None) -> tuple[str, str]:
    """Where the namespace shown comes from: (source, a phrase for people). Read-only: listing registers nothing."""
    if namespace is not None:
        return "option", "--namespace"
    if backend == "github":
        return "environment", "GITHUB_REPOSITORY"
    if backend != "unleak":
        return "directory", "the repository's directory name"
    from remediate.vault import repository_namespace

    choice = repository_namespace(Path.cwd())
    about = choice.describe()
    return choice.source, about if choice.registered else f"{about}; registered at the first write"


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
    actor = human_action("secrets set --tier") if tier else None  # a label decides what agents may reach
    vault = _secrets_vault(backend, namespace, op_vault)
    vault.reference_for(name)  # reject a bad name before asking for the value
    if namespace is not None and backend == "unleak":
        say_whose(namespace, Path.cwd())
    reference = vault.put(name, _read_secret_value(name), overwrite=not no_overwrite)
    if tier:
        from unleak.agent.policy import canonical_reference
        from unleak.agent.tiers import TierLabels
        from unleak.audit import AuditLog

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
    from unleak.agent.policy import canonical_reference
    from unleak.agent.tiers import TierLabels
    from unleak.audit import AuditLog

    vault = _secrets_vault(backend, namespace, op_vault)
    reference = vault.reference_for(name)
    if tier is None:
        click.echo(TierLabels().tier(canonical_reference(reference)))
        return
    actor = human_action("secrets tier")
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


@secrets_group.command("rotate-key")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON (key ids only, never a key).")
def secrets_rotate_key(as_json: bool) -> None:
    """Re-encrypt every namespace of the local vault under a new key, then retire the old key.

    `secrets rm` cannot reach a backup or a synced copy of a vault file: that copy still opens with the key. After a
    rotation no copy made before it opens on this machine. Safe to interrupt: every value stays readable, and
    running it again finishes with the same new key. Back up the new key afterwards.
    """
    import json

    from remediate.vault.rotation import rotate_key

    done = rotate_key()
    if as_json:
        click.echo(json.dumps(done.to_dict(), indent=2))
        return
    verb = "finished the interrupted rotation" if done.resumed else "rotated the vault key"
    click.echo(f"unleak secrets: {verb}: {len(done.namespaces)} namespace(s), {done.entries} entr"
               f"{'y' if done.entries == 1 else 'ies'} re-encrypted under key {done.new_key_id} (retired: "
               f"{', '.join(done.old_key_ids) or 'none'}); back up the new key", err=True)


@secrets_group.command("doctor")
@click.option("--namespace", metavar="NS", help="Check this namespace only (default: every local namespace).")
@click.option("--repair", is_flag=True,
              help="After a failed integrity check or damaged entries: keep the damaged file as "
                   "<ns>.vault.damaged-<time> and rewrite the vault with every entry that still authenticates.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report (names only, never a value).")
def secrets_doctor(namespace: str | None, repair: bool, as_json: bool) -> None:
    """Check the local vault; with --repair, recover every entry that still authenticates.

    Per namespace: whether the file parses, whether this machine has its key, whether its integrity check (MAC)
    holds, and which write (generation) it is; per entry: whether it authenticates. No value is ever printed.
    Repair trusts each entry's own seal: an entry put back from an older copy of the vault authenticates too, so
    check the values it recovered. Exit 0 when every namespace is healthy (or was repaired with nothing lost),
    1 otherwise.

    \b
    Example:  unleak secrets doctor
              unleak secrets doctor --namespace shop --repair
    """
    import json

    from remediate.vault.doctor import doctor

    found = doctor(namespace, repair=repair)
    ok = all(c.healthy or (c.repair is not None and not c.repair.lost) for c in found)
    if as_json:
        click.echo(json.dumps({"namespaces": [c.to_dict() for c in found], "ok": ok}, indent=2))
        sys.exit(0 if ok else 1)
    if not found:
        click.echo("no namespaces in the local vault", err=True)
    for c in found:
        click.echo("\n".join(_checkup_lines(c, repair)))
    sys.exit(0 if ok else 1)


def _checkup_lines(c: Any, repairing: bool) -> list[str]:
    lines = [f"{c.namespace}: {c.path}"]
    if c.problem is not None:
        return [*lines, f"  DAMAGED: {c.problem}; it cannot be repaired (nothing to authenticate against): restore "
                        "it from a backup, or move it aside to start an empty vault"]
    if not c.key_present:
        return [*lines, "  the key it was sealed with is NOT on this machine: nothing can be checked or repaired; "
                        "restore that key"]
    seen = f" (this machine last saw {c.seen_generation})" if c.seen_generation != (c.generation or 0) else ""
    lines.append(f"  file parses; key present; integrity check (MAC) {'holds' if c.mac_ok else 'FAILED'}; "
                 f"generation {c.generation or 0}{seen}")
    good = sum(c.entries.values())
    lines.append(f"  {len(c.entries)} entr{'y' if len(c.entries) == 1 else 'ies'}: {good} authenticate"
                 + (f"; do NOT authenticate: {', '.join(c.damaged)}" if c.damaged else ""))
    if c.rolled_back:
        lines.append("  OLDER COPY: the file is an older write than this machine last saw (put back from a backup or "
                     f"a sync); put the newest copy back (`unleak secrets list --namespace {c.namespace}` says how "
                     "to accept this one instead)")
    if c.repair is not None:
        r = c.repair
        lines.append(f"  repaired: recovered {len(r.recovered)} entr{'y' if len(r.recovered) == 1 else 'ies'}; "
                     "their values are as last sealed, check them (an entry put back from an older copy of the vault "
                     "authenticates too)")
        if r.lost:
            lines.append(f"  could not recover: {', '.join(r.lost)} (store each again with `unleak secrets set`)")
        lines.append(f"  the damaged file is kept as {r.damaged_copy}; the vault is now generation {r.generation}")
    elif c.repairable and not c.recoverable:
        lines.append("  no entry authenticates: there is nothing to recover; restore the file from a backup")
    elif c.repairable:
        lines.append(f"  repair with: unleak secrets doctor --namespace {c.namespace} --repair (keeps the "
                     f"{good} that authenticate{'s' if good == 1 else ''} and a copy of the damaged file)")
    elif c.healthy:
        lines.append("  healthy" + ("; nothing to repair" if repairing else ""))
    return lines
