"""The click-free entry for hook-style scans: same parse as click, same output and exit codes, no click import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import GitRepo
from tests.fakes import github_pat
from unleak.commands.agent import agent_cmd
from unleak.commands.run import run_command
from unleak.commands.scan import scan as scan_command
from unleak.fastpath import parse, parse_agent, parse_run

ACCEPTED = [
    ["scan", "--staged"],
    ["scan", "--changes"],
    ["scan", "--staged", "--no-baseline", "--exit-zero"],
    ["scan", "--staged", "--format", "json"],
    ["scan", "--format=sarif", "--staged"],
    ["scan", "--staged", "--min-confidence", "high", "--config", "ci/unleak.toml"],
    ["scan", "--staged", "--baseline=.b.json", "-C", "sub dir"],
    ["scan", "--changes", "--staged", "--repo", "x", "--format", "github"],
    ["scan", "--staged", "path.py"],  # pre-commit passes the file names
    ["scan", "--staged", "a.py", "dir/b c.py", "--no-baseline"],
    ["scan", "--staged", "--", "x", "--not-an-option"],
    ["scan", "--pre-push"],
    ["scan", "--history"],
    ["scan", "--history", "--format", "json", "--no-baseline"],
    ["scan", "--range", "main..HEAD", "--format=sarif", "-o", "r.sarif"],
    ["scan", "--range=a...b", "--output", "out dir/r.json", "--exit-zero"],
    ["scan", "--staged", "-o", "r.json"],
]
REJECTED = [
    [], ["scan"], ["scan", "--history", "--history"], ["scan", "--range"], ["scan", "--range", "--history"],
    ["scan", "--history", "--strict"], ["scan", "--history", "--max-archive-depth", "1"], ["scan", "-o", "r.json"],
    ["scan", "--history", "-o=r.json"], ["fix", "--staged"], ["scan", "--staged", "-h"],
    ["scan", "--staged", "--help"], ["scan", "path.py"], ["scan", "--staged", "--staged"],
    ["scan", "--staged", "--format"], ["scan", "--staged", "--format", "xml"], ["scan", "--staged", "--format="],
    ["scan", "--staged", "--config", "--no-baseline"], ["scan", "--staged", "-o", "-x"],
    ["scan", "--staged", "--explain"], ["scan", "--staged", "-C=x"], ["scan", "--staged", "-Cx"],
    ["scan", "--staged", "--repo", "a", "-C", "b"], ["scan", "--stage"], ["scan", "--pre-push", "--pre-push"],
]


@pytest.mark.parametrize("argv", ACCEPTED, ids=" ".join)
def test_accepted_command_lines_parse_exactly_as_click_does(argv: list[str]) -> None:
    command = scan_command
    defaults = command.make_context("scan", []).params
    fast = parse(argv)
    assert fast is not None
    assert {**defaults, **fast} == command.make_context("scan", argv[1:]).params


@pytest.mark.parametrize("argv", REJECTED, ids=lambda a: " ".join(a) or "<empty>")
def test_everything_else_goes_to_click(argv: list[str]) -> None:
    assert parse(argv) is None


def _both(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """The command by the fast path and by click, each with no scan cache (a commit scan's report says what it read
    from the cache, which the first run would fill for the second)."""
    shutil.rmtree(cwd / ".git" / "unleak", ignore_errors=True)
    fast = subprocess.run([sys.executable, "-m", "unleak", *args], cwd=cwd, capture_output=True, text=True)
    shutil.rmtree(cwd / ".git" / "unleak", ignore_errors=True)
    slow = subprocess.run([sys.executable, "-c", "from unleak.cli import main; main()", *args], cwd=cwd,
                          capture_output=True, text=True)
    return fast, slow


def test_fast_and_click_paths_give_the_same_output_and_exit_codes(repo: GitRepo, tmp_path: Path) -> None:
    repo.commit("init", {"a.txt": "a\n"})
    repo.write("app.py", f"TOKEN = '{github_pat()}'\n")
    repo.git("add", "app.py")
    (tmp_path / "bad.toml").write_text("[tool.unleak\n")
    cases = [["scan", "--staged"], ["scan", "--staged", "--format", "json"], ["scan", "--staged", "--exit-zero"],
             ["scan", "--changes", "--format=sarif"], ["scan", "--staged", "--config", str(tmp_path / "bad.toml")],
             ["scan", "--staged", "-C", str(tmp_path)], ["scan", "--staged", "-C", str(tmp_path / "missing")],
             ["scan", "--history", "--format", "json"], ["scan", "--range", "HEAD..HEAD"],
             ["scan", "--range", "nope..HEAD"], ["scan", "--history", "a.txt"]]
    codes = set()
    for args in cases:
        fast, slow = _both(args, repo.path)
        assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr), args
        assert "Traceback" not in fast.stderr
        codes.add(fast.returncode)
    assert codes == {0, 1, 2}


@pytest.mark.parametrize("mode", [["--staged"], ["--history"], ["--range", "HEAD..HEAD"]])
def test_a_hook_history_or_range_scan_does_not_import_click(repo: GitRepo, mode: list[str]) -> None:
    repo.commit("init", {"a.txt": "a\n"})
    code = (f"import sys\nfrom unleak.fastpath import main\ntry:\n    main(['scan', *{mode!r}])\n"
            "except SystemExit as e:\n    print(e.code, 'click' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=repo.path, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "0 False"


RUN_ACCEPTED = [
    ["run", "--", "true"],
    ["run", "--", "python", "-m", "app", "--flag"],
    ["run", "--no-masking", "--", "sh", "-c", "echo $X"],
    ["run", "--env-file", ".env.ci", "--env-file=prod.env", "--no-override", "--", "make", "--", "x"],
    ["run", "--no-override", "--no-masking", "--env-file", "a b", "--", "-dash-command"],
]
RUN_REJECTED = [
    ["run"], ["run", "--"], ["run", "true"], ["run", "-h", "--", "x"], ["run", "--help"], ["run", "--env-file", "--",
    "x"], ["run", "--env-file", "--", "--", "x"], ["run", "--env-file=", "--", "x"], ["run", "--no-masking",
    "--no-masking", "--", "x"], ["run", "--unknown", "--", "x"], ["run", "--env-file"], ["scan", "--", "x"],
]


@pytest.mark.parametrize("argv", RUN_ACCEPTED, ids=" ".join)
def test_accepted_run_command_lines_parse_exactly_as_click_does(argv: list[str]) -> None:
    fast = parse_run(argv)
    assert fast is not None
    assert fast == run_command.make_context("run", argv[1:]).params


@pytest.mark.parametrize("argv", RUN_REJECTED, ids=" ".join)
def test_other_run_command_lines_go_to_click(argv: list[str]) -> None:
    assert parse_run(argv) is None


@pytest.mark.usefixtures("human_runs")
def test_a_run_does_not_import_click_and_reads_as_the_click_path(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("GREETING=hello-there\n")
    code = ("import sys\nfrom unleak.fastpath import main\n"
            "try:\n    main(['run', '--', 'sh', '-c', 'echo hi; exit 3'])\n"
            "except SystemExit as e:\n    print(e.code, 'click' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines() == ["hi", "3 False"]
    args = ["run", "--no-override", "--", "sh", "-c", "echo out; echo err >&2; exit 4"]
    fast, slow = _both(args, tmp_path)
    assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr)
    assert (fast.returncode, fast.stdout) == (4, "out\n") and fast.stderr.endswith("err\n")


AGENT_ACCEPTED = [
    ["agent", "--", "claude"],
    ["agent", "--", "sh", "-c", "unleak run -- true"],
    ["agent", "--allow-port", "22,80", "--allow-port=8000-8100", "--", "codex", "--full-auto"],
    ["agent", "--", "claude", "install"],
]
AGENT_REJECTED = [
    ["agent"], ["agent", "--"], ["agent", "claude"], ["agent", "--", "install", "claude-code"], ["agent", "--help"],
    ["agent", "-h", "--", "x"], ["agent", "--allow-port", "--", "x"], ["agent", "--allow-port=", "--", "x"],
    ["agent", "--other", "--", "x"], ["run", "--", "x"],
]


@pytest.mark.parametrize("argv", AGENT_ACCEPTED, ids=" ".join)
def test_accepted_agent_command_lines_parse_exactly_as_click_does(argv: list[str]) -> None:
    fast = parse_agent(argv)
    assert fast is not None
    params = agent_cmd.make_context("agent", argv[1:]).params
    assert fast == (params["allow_ports"], params["command"])


@pytest.mark.parametrize("argv", AGENT_REJECTED, ids=" ".join)
def test_other_agent_command_lines_go_to_click(argv: list[str]) -> None:
    assert parse_agent(argv) is None
