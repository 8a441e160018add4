"""``unleak agent -- CMD`` (the agent inside a sandbox, a broker outside), ``unleak agent install`` and
``unleak doctor``."""

from __future__ import annotations

import click

from unleak.commands.common import installed, project_dir


@click.command("agent", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--allow-port", "allow_ports", multiple=True, default=("443",), show_default=True, metavar="PORTS",
              help="TCP ports the agent may connect to (repeatable; 22,80 or 8000-8100). Every other port is "
                   "refused, unleak's approval page included.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def agent_cmd(ctx: click.Context, allow_ports: tuple[str, ...], command: tuple[str, ...]) -> int:
    """Run a coding agent (COMMAND) in a sandbox that cannot reach unleak's vault, key, grants, policy, audit log
    or approval page; its `unleak mcp` and `unleak run` are served by a broker outside.

    `unleak agent install claude-code|codex` writes the agent's own settings to match (to run a program named
    install, give its path).

    \b
    Example:  unleak agent -- claude
    """
    if command[0] == "install":
        install = _install_command()
        with install.make_context("unleak agent install", list(command[1:]), parent=ctx) as sub:
            install.invoke(sub)
        return 0
    from unleak.agent import broker

    return broker.session(allow_ports, command, lambda w: click.echo(f"unleak: WARNING: {w}", err=True))


def _install_command() -> click.Command:
    """``unleak agent install``: built when used, as the first word of ``unleak agent``'s command line (the rest
    of that line is the agent's own)."""

    @click.command("install")
    @click.argument("agent", type=click.Choice(["claude-code", "codex"]))
    @click.option("--scope", type=click.Choice(["project", "user"]), default="project", show_default=True,
                  help="project: .claude/settings.json + .mcp.json, or .codex/; user: the same under your home.")
    @click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False), default=".",
                  help="Project directory.")
    def install_cmd(agent: str, scope: str, repo_dir: str) -> None:
        """Write AGENT's sandbox/permission settings, unleak's hooks and the MCP entry, naming unleak by absolute
        path (merging; idempotent)."""
        from unleak.agent import setup

        for res in setup.install(agent, project_dir(repo_dir), scope):
            installed(res, "unleak")

    return install_cmd


@click.command("doctor")
@click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False), default=".", help="Project directory.")
@click.option("--agent", "agents", multiple=True, type=click.Choice(["claude-code", "codex"]),
              help="Check this agent's settings (default: the agents configured in the project).")
def doctor_cmd(repo_dir: str, agents: tuple[str, ...]) -> int:
    """Which guarantees hold on this machine and for this agent configuration, in one table; exit 1 when one
    does not."""
    from unleak.agent import setup

    rows = setup.checks(project_dir(repo_dir), agents)
    click.echo(setup.table(rows))
    if any(r.ok is False for r in rows):
        click.echo("unleak: some guarantees do not hold here (rows marked NO)", err=True)
        return 1
    return 0
