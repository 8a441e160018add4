"""Agent access: ``grant``, ``policy``, ``grants``, ``approve``, ``deny``, ``revoke``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from scanner.words import plural
from unleak.commands.common import (
    human_action,
)


def _when(ts: float) -> str:
    import datetime as _dt

    return _dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _describe_request(req: Any) -> str:
    """A request as a human reads it; every field the agent chose goes through the one display escaper."""
    import shlex

    from unleak.agent.display import shown
    from unleak.agent.policy import format_duration

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
        from unleak.agent.policy import show_env_value

        lines.append(f"  environment {name}={show_env_value(value)}")
    if req.env:
        lines.append("  WARNING     these variables from the reference file can change which code runs: approve "
                     "with --allow-env only if you mean it")
    if req.dangerous:
        lines.append(f"  WARNING     {req.dangerous}: this command could reveal the secrets")
    return "\n".join(shown(line) for line in lines)


@click.command("grant")
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
    from unleak.agent.policy import GrantStore, format_duration, parse_command_pattern, parse_duration
    from unleak.audit import AuditLog

    actor = human_action("grant")
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


@click.group("policy")
def policy_group() -> None:
    """The user's policy (limits on every grant): show it, and sign it after editing."""


@policy_group.command("sign")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def policy_sign(yes: bool) -> None:
    """Accept policy.toml as it is now. Until it is signed, an edited policy is refused: an agent that can write
    files could have written it."""
    from unleak.agent.policy import format_duration, load_policy, policy_path, sign_policy
    from unleak.audit import AuditLog

    actor = human_action("policy sign")
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

    from unleak.agent.policy import load_policy

    click.echo(json.dumps(asdict(load_policy()), indent=2, sort_keys=True))


@click.command("grants")
@click.option("--all", "show_all", is_flag=True, help="Also expired and revoked grants.")
@click.option("--pending", is_flag=True, help="Only pending approval requests.")
@click.option("--json", "as_json", is_flag=True)
def grants_cmd(show_all: bool, pending: bool, as_json: bool) -> None:
    """List grants and pending approval requests."""
    import json

    from unleak.agent.policy import GrantStore

    store = GrantStore()
    for problem in store.problems():
        click.echo(f"warning: {store.path}: {problem}", err=True)
    grants = [] if pending else [g for g in store.grants() if show_all or g.active()]
    reqs = [r for r in store.requests() if r.state() == "pending" or (show_all and not pending)]
    if as_json:
        click.echo(json.dumps({"grants": [{**g.to_dict(), "state": g.state()} for g in grants],
                               "requests": [r.public_dict() for r in reqs]}, indent=2))
        return
    from unleak.agent.display import shown

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


@click.command("approve")
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
    from unleak.agent import presence
    from unleak.agent.policy import GrantStore, parse_duration
    from unleak.audit import AuditLog

    actor = human_action("approve")
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

    from unleak.agent import presence
    from unleak.agent.display import shown
    from unleak.audit import AuditLog

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


@click.command("deny")
@click.argument("request_id")
def deny_cmd(request_id: str) -> None:
    """Deny a pending request from a coding agent."""
    from unleak.agent.policy import GrantStore
    from unleak.audit import AuditLog
    from unleak.userenv import human_actor

    actor = human_actor()  # denying only ever narrows access, so it works from anywhere
    req, _ = GrantStore().decide(request_id, approve=False, by=actor)
    AuditLog().append("deny", actor=actor, secrets=req.secrets, task=req.task, request=req.id,
                      process={"argv": list(req.argv), "pid": None, "cwd": req.cwd, "repo": req.repo,
                               "branch": req.branch}, detail={"via": "terminal"})
    click.echo(f"denied {req.id}")


@click.command("revoke")
@click.option("--task", default=None, metavar="ID", help="Every grant for this task.")
@click.option("--grant", "grant_id", default=None, metavar="ID", help="One grant.")
@click.option("--client", default=None, metavar="NAME", help="Every grant made for this MCP client.")
@click.option("--all", "everything", is_flag=True, help="Every grant in force.")
@click.option("--json", "as_json", is_flag=True)
def revoke_cmd(task: str | None, grant_id: str | None, client: str | None, everything: bool,
               as_json: bool) -> None:
    """End grants now and list the secrets they exposed to processes (the credentials to rotate)."""
    import json

    from unleak.agent.policy import GrantStore
    from unleak.audit import AuditLog
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
