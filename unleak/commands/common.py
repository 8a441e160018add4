"""Helpers shared by several command families (the CLI layer: these may print)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


def scan_request(root: Path, modes: tuple[str, ...], paths: tuple[str, ...], **kw: Any) -> tuple[Any, Any]:
    """Flags beat config beat defaults (see :func:`unleak.config.scan_request`). Returns (ScanRequest, Config)."""
    from unleak.config import scan_request

    return scan_request(root, modes, paths, **kw)



def audit_action(action: str, **fields: Any) -> None:
    """Append a record of a human's command to the audit log (names and counts only; never raises)."""
    from unleak.audit import record

    record(action, **fields)



def project_dir(repo_dir: str) -> Path:
    from scanner import git

    root = Path(repo_dir).resolve()
    return git.toplevel(root) or root


def installed(res: Any, command: str) -> None:
    if res.changed:
        click.echo(f"updated {res.path}: added {', '.join(res.added)}", err=True)
    else:
        click.echo(f"already installed in {res.path}", err=True)
    warn_if_not_on_path(command)




def human_action(action: str) -> str:
    """The acting human, after refusing to act from inside a coding agent's shell (see unleak.agent.policy)."""
    from unleak.agent.policy import refuse_agent_environment
    from unleak.userenv import human_actor

    refuse_agent_environment(action)
    return human_actor()




def warn_if_not_on_path(command: str) -> None:
    """The installed hook fails closed; say now, not at the first blocked call, when its program is missing."""
    import shlex
    import shutil

    prog = shlex.split(command)[0] if command.strip() else "unleak"
    if shutil.which(prog) is None:
        click.echo(f"warning: {prog} is not on PATH here; the hook blocks every call it guards until it is "
                   "(install unleak with pipx, or add its virtualenv's bin directory to PATH)", err=True)


def say_whose(namespace: str, repo: Path) -> None:
    """An explicit namespace registered to another repository than ``repo``: say so before a value goes there, since
    runs in that repository (an agent's under a grant included) can use every entry of its namespace."""
    from remediate.vault import namespace_owner, repository_namespace

    owner = namespace_owner(namespace)
    if owner is not None and repository_namespace(repo).namespace != namespace:
        click.echo(f"unleak: note: namespace {namespace} is registered for the repository {owner}; runs there can "
                   "use these secrets", err=True)
