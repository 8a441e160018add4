"""One error handler for every entry point: the same one-line message and the exit code the contract names."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import remediate
import scanner
import unleak
from scanner.errors import UnleakError
from tests.conftest import GitRepo, run_cli
from unleak.cli import COMMANDS, cli, load_command


@pytest.mark.parametrize("args", [
    ("scan", "--bogus"),  # click's parser
    ("scan", "--format", "xml"),  # click's choice check
    ("nope",),  # no such command
    ("fix", "--verify", "true"),  # a command body raising click.UsageError
    ("scan", "--staged", "-C", "missing-dir"),  # scanner.errors.UsageError (the fast path)
    ("scan", "-C", "missing-dir"),  # scanner.errors.UsageError (the click path)
    ("scan", "a" * 5000),  # a name too long for the file system: was an internal error (OSError), exit 3
    ("scan", "--staged", "a" * 5000),
    ("fix", "a" * 5000),
    ("scan", "a.txt/below-a-file"),  # a path through a file
    ("scan", "--agent-logs", "no-such-transcript.jsonl"),  # was "skipped 1 unreadable", exit 0
    ("scan", "--config", "/dev/null"),  # not a regular file: said so, not "does not exist"
])
def test_every_usage_error_is_one_line_and_exit_2(repo: GitRepo, args: tuple[str, ...]) -> None:
    repo.commit("init", {"a.txt": "a\n"})
    p = run_cli(*args, cwd=repo.path)
    assert p.returncode == 2, p.stderr
    assert p.stderr.startswith("unleak: ") and p.stderr.count("\n") == 1, p.stderr
    assert "Usage:" not in p.stderr and "Traceback" not in p.stderr


def _classes(cls: type[UnleakError]) -> list[type[UnleakError]]:
    return [cls, *(c for sub in cls.__subclasses__() for c in _classes(sub))]


def test_no_error_exits_with_the_findings_code() -> None:
    """Exit 1 means "findings or changes needed"; an error that exits 1 reads as findings to CI (PurgeError did)."""
    for pkg in (scanner, remediate, unleak):
        for mod in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            if mod.name.split(".")[-1] in {"__main__", "fleet", "fleet_report"}:
                continue
            importlib.import_module(mod.name)
    classes = _classes(UnleakError)
    assert any(c.__name__ == "PurgeError" for c in classes)
    assert {c.__name__: c.exit_code for c in classes if c.exit_code in (0, 1)} == {}


def test_the_command_table_names_every_command() -> None:
    """Every top-level command a family module defines is in the table, under its own name."""
    import click

    import unleak.commands

    for name in COMMANDS:
        assert load_command(name).name == name
    def below(cmd: click.Command) -> list[click.Command]:
        subs = list(cmd.commands.values()) if isinstance(cmd, click.Group) else []
        return [c for sub in subs for c in (sub, *below(sub))]

    nested = {id(sub) for name in COMMANDS for sub in below(load_command(name))}
    defined = set()
    for mod in pkgutil.iter_modules(unleak.commands.__path__):
        module = importlib.import_module(f"unleak.commands.{mod.name}")
        defined |= {obj.name for obj in vars(module).values()
                    if isinstance(obj, click.Command) and id(obj) not in nested}
    assert defined == set(COMMANDS)
    assert cli.list_commands(None) == sorted(COMMANDS)  # type: ignore[arg-type]


def test_internal_errors_name_the_type_only(tmp_path: Path) -> None:
    code = ("import sys\nfrom unleak.errors import error_handler\nwith error_handler():\n"
            "    raise RuntimeError('the value sk_live_xyz')\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 3 and "RuntimeError" in p.stderr and "sk_live" not in p.stderr


@pytest.mark.parametrize("args", [("hook",), ("secrets",)])
def test_a_group_without_a_command_shows_its_help(args: tuple[str, ...]) -> None:
    p = run_cli(*args)
    assert p.returncode == 2 and p.stderr.startswith("Usage: unleak ") and "Commands:" in p.stderr


def test_an_interrupt_that_passed_through_exec_still_exits_130(tmp_path: Path) -> None:
    # CPython marks a KeyboardInterrupt that left an exec'd string (dataclasses build methods that way during an
    # import) and, handled or not, ends the process by SIGINT instead of the exit code. Seen as exit -2 when Ctrl-C
    # landed while `unleak fix` was importing.
    (tmp_path / "probe.py").write_text(
        "from unleak.errors import error_handler\n"
        "with error_handler():\n"
        "    exec('raise KeyboardInterrupt')\n")
    proc = subprocess.run([sys.executable, "-m", "probe"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr) == (130, "unleak: interrupted\n")


def test_a_config_that_is_not_a_regular_file_is_named_as_such(repo: GitRepo) -> None:
    p = run_cli("scan", "--config", "/dev/null", cwd=repo.path)
    assert p.returncode == 2 and "config file /dev/null is not a regular file" in p.stderr
    p = run_cli("scan", "--config", "missing.toml", cwd=repo.path)
    assert p.returncode == 2 and "config file missing.toml does not exist" in p.stderr
