"""``unleak mcp``: the stdio MCP server for coding agents, and its registration in their configuration."""

from __future__ import annotations

from pathlib import Path

import click

from unleak.commands.common import (
    installed,
    project_dir,
)


@click.group("mcp", invoke_without_command=True)
@click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False, exists=True), default=".",
              help="Repository the agent works in (default: the current directory).")
@click.option("--read-only", is_flag=True, help="Serve only scan, check_diff and list_secrets.")
@click.pass_context
def mcp_cmd(ctx: click.Context, repo_dir: str, read_only: bool) -> int | None:
    """Serve the MCP tools (scan, check_diff, fix, list_secrets, run, request_secret) over stdio.

    `unleak mcp install claude-code|codex|cursor` registers this server in an agent's configuration."""
    if ctx.invoked_subcommand is not None:
        return None
    from unleak.agent import client, sandboxenv

    if sandboxenv.inside():
        # Inside `unleak agent`: the broker serves this stdin/stdout with the real server, outside the sandbox.
        return client.serve_mcp(Path(repo_dir), read_only)
    try:
        import mcp.server.lowlevel  # noqa: F401 - only to give a clear message when the SDK is missing
    except ImportError:
        raise click.UsageError("the MCP server needs the mcp package: pip install 'unleak[mcp]'") from None
    from unleak.agent.mcp_transport import serve

    serve(Path(repo_dir).resolve(), read_only=read_only)
    return None


@mcp_cmd.command("install")
@click.argument("agent", type=click.Choice(["claude-code", "codex", "cursor"]))
@click.option("--scope", type=click.Choice(["project", "user"]), default="project", show_default=True,
              help="project: .mcp.json / .codex/config.toml / .cursor/mcp.json; user: ~/.claude.json / "
                   "~/.codex/config.toml / ~/.cursor/mcp.json.")
@click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False), default=".", help="Project directory.")
def mcp_install(agent: str, scope: str, repo_dir: str) -> None:
    """Register `unleak mcp` (stdio) as the MCP server "unleak" in an agent's configuration (merging; idempotent)."""
    from unleak.agent import agent_hooks

    path = agent_hooks.agent_config_path(agent, "mcp", scope, project_dir(repo_dir))
    installed(agent_hooks.install_mcp(agent, path), "unleak")
