"""What the command line prints around the findings: colour switches, counted nouns, shell completion."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import GitRepo, run_cli
from tests.fakes import github_pat

ANSI = "\x1b["


@pytest.fixture
def leaky(repo: GitRepo) -> GitRepo:
    repo.commit("init", {"README.md": "x\n"})
    repo.commit("token", {"app.py": f"TOKEN = '{github_pat()}'\n"})
    return repo


@pytest.mark.parametrize(("env", "colored"), [
    ({}, False),  # not a terminal
    ({"FORCE_COLOR": "1"}, True),
    ({"FORCE_COLOR": ""}, False),  # empty means unset (force-color.org)
    ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),  # NO_COLOR wins
])
def test_force_color_and_no_color(leaky: GitRepo, env: dict[str, str], colored: bool,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("FORCE_COLOR", "NO_COLOR"):
        monkeypatch.delenv(var, raising=False)
    p = run_cli("scan", "app.py", cwd=leaky.path, env=env)
    assert p.returncode == 1
    assert (ANSI in p.stdout) is colored


def test_counts_use_the_right_number(leaky: GitRepo) -> None:
    p = run_cli("scan", "app.py", cwd=leaky.path)
    assert "1 secret in 1 file (1 high) · scanned 1 file" in p.stdout
    p = run_cli("scan", "--range", "HEAD~1..HEAD", "--no-baseline", cwd=leaky.path)
    assert "scanned 1 commit" in p.stdout and "1 commits" not in p.stdout
    p = run_cli("scan", "--range", "HEAD~1..HEAD", "--no-baseline", cwd=leaky.path)  # from the cache
    assert "1 commits" not in p.stdout + p.stderr
    leaky.commit("more", {"b.py": f"B = '{github_pat()}'\n"})
    p = run_cli("scan", "--history", cwd=leaky.path)
    assert "2 secrets in 2 files" in p.stdout and "scanned 3 commits" in p.stdout


@pytest.mark.parametrize(("shell", "marker"), [("bash", "complete -o"), ("zsh", "compdef"),
                                               ("fish", "complete --no-files --command unleak")])
def test_shell_completion_scripts(shell: str, marker: str) -> None:
    """The commands README gives for each shell print a completion script."""
    p = run_cli(env={"_UNLEAK_COMPLETE": f"{shell}_source"})
    assert p.returncode == 0 and marker in p.stdout, p.stdout + p.stderr


def test_shell_completion_completes_commands() -> None:
    p = run_cli(env={"_UNLEAK_COMPLETE": "bash_complete", "COMP_WORDS": "unleak sc", "COMP_CWORD": "1"})
    assert p.returncode == 0 and "plain,scan" in p.stdout.splitlines()


@pytest.mark.parametrize("args", [["scan", "-o", "{missing}/report.txt"], ["exposure", "-o", "{missing}/x.txt"],
                                  ["exposure", "--html", "{missing}/x.html"], ["scan", "-o", "/dev/full"]])
def test_an_output_that_cannot_be_written_is_a_usage_error(leaky: GitRepo, tmp_path: Path, args: list[str]) -> None:
    """A missing directory or a full disk under --output/--html: exit 2 naming the path, not an internal error."""
    argv = [a.format(missing=tmp_path / "no" / "such" / "dir") for a in args]
    r = run_cli(*argv, cwd=leaky.path)
    assert r.returncode == 2 and "cannot write" in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("case", ["nested-toml", "huge-repetition", "nested-baseline", "nul-value"])
def test_bad_input_is_a_usage_error_not_an_internal_one(leaky: GitRepo, case: str) -> None:
    """Each ended in an internal error (exit 3: RecursionError, OverflowError), or, for a value holding NUL, was
    stored and then broke every `unleak run` that used it."""
    stdin = None
    args = ["scan"]
    if case == "nested-toml":
        leaky.write(".unleak.toml", "exclude = [" + "[" * 3000 + "]" * 3000 + "]\n")
    elif case == "huge-repetition":
        leaky.write(".unleak.toml", '[[rules]]\nid = "xx"\nregex = "a{4294967295}"\n')
    elif case == "nested-baseline":
        leaky.write(".unleak-baseline.json", "[" * 100000 + "]" * 100000 + "\n")
    else:
        args, stdin = ["secrets", "set", "NUL_TEST"], "ab\0cd"
    r = run_cli(*args, cwd=leaky.path, input=stdin)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
