"""The command line: the click group and a lazy table of commands, nothing else.

Each command family lives in :mod:`unleak.commands` and is imported only when its command runs (or when help lists
every command), as click's "complex" example and pip's ``commands_dict`` do: ``unleak run`` does not pay for the
fix machinery's imports. Errors map to exit codes in one place, :func:`unleak.errors.error_handler`, which the
click-free pre-commit entry (:mod:`unleak.fastpath`) shares. Exit codes: see :mod:`unleak.errors`.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from unleak import __version__
from unleak.errors import EXIT_USAGE, error_handler, fail, interrupted, usage_message

# command name -> "module:attribute" in unleak.commands
COMMANDS: dict[str, str] = {
    "action": "action:action_group",
    "agent": "agent:agent_cmd",
    "approve": "grants:approve_cmd",
    "audit": "audit:audit_group",
    "baseline": "baseline:baseline",
    "deny": "grants:deny_cmd",
    "doctor": "agent:doctor_cmd",
    "exposure": "history:exposure_cmd",
    "fix": "fix:fix_command",
    "fleet": "fleet:fleet",
    "grant": "grants:grant_cmd",
    "grants": "grants:grants_cmd",
    "hook": "hooks:hook_group",
    "install-hook": "hooks:install_hook",
    "mcp": "mcp:mcp_cmd",
    "policy": "grants:policy_group",
    "purge": "history:purge_cmd",
    "purge-plan": "history:purge_plan_cmd",
    "revoke": "grants:revoke_cmd",
    "rules": "scan:rules_cmd",
    "run": "run:run_command",
    "scan": "scan:scan",
    "secrets": "secrets:secrets_group",
}

# Raised (click 8.2+) for a group called without a command; it carries the help text, not a mistake.
_NO_ARGS_IS_HELP: tuple[type[click.UsageError], ...] = tuple(
    filter(None, [getattr(click.exceptions, "NoArgsIsHelpError", None)]))
# click's exceptions travel through the handler untouched: click ends the process for them itself.
_CLICK_PASSTHROUGH = (click.exceptions.Exit, click.exceptions.Abort, click.ClickException)


def load_command(name: str) -> click.Command:
    """The click command registered under ``name`` (imports its family's module)."""
    module, _, attr = COMMANDS[name].partition(":")
    command = getattr(importlib.import_module(f"unleak.commands.{module}"), attr)
    assert isinstance(command, click.Command)
    return command


class _Group(click.Group):
    """Loads commands on demand and maps every error to one line on stderr and a defined exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            return load_command(cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        with error_handler(passthrough=_CLICK_PASSTHROUGH):
            try:
                code = super().invoke(ctx)
            except click.UsageError as exc:
                _usage_error(exc)
        # A command returns its exit code; None is 0.
        if isinstance(code, int) and code:
            ctx.exit(code)
        return code

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            _usage_error(exc)


def _usage_error(exc: click.UsageError) -> NoReturn:
    """A usage error found by click's parser or raised by a command: the same one-line format as
    :class:`scanner.errors.UsageError` (``unleak: ...``, exit 2), naming the command whose help to read."""
    if isinstance(exc, _NO_ARGS_IS_HELP):  # a bare group (``unleak hook``): click shows its help
        raise exc
    where = exc.ctx.command_path if exc.ctx is not None else None
    fail(usage_message(exc.format_message(), where), EXIT_USAGE)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="unleak")
def cli() -> None:
    """Keep plaintext secrets out of repositories and out of the hands of coding agents."""


def main(argv: Sequence[str] | None = None) -> None:
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="unleak", standalone_mode=True)
    except KeyboardInterrupt:
        interrupted()
