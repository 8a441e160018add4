"""What `unleak fix --apply` says around the apply, each with a real repository and the real command: uncommitted
changes in a file to rewrite are named before anything is written; `--verify` with nothing moved is a clean no-op;
a failed write reports its rollback once."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import GitRepo, run_cli
from tests.fakes import github_pat


def _names(repo: GitRepo) -> list[str]:
    listed = json.loads(run_cli("secrets", "list", "--json", cwd=repo.path).stdout)
    return [e["name"] for e in listed["secrets"]]


def test_uncommitted_changes_are_named_before_applying(repo: GitRepo) -> None:
    a_tok, b_tok = github_pat(), github_pat()
    repo.commit("init", {"a.py": f'import os\nA_TOKEN = "{a_tok}"\n', "b.py": "import os\n", "c.py": "X = 1\n"})
    repo.write("a.py", f'import os\nA_TOKEN = "{a_tok}"\n# my unfinished edit\n')  # not staged
    repo.write("b.py", f'import os\nB_TOKEN = "{b_tok}"\n')  # staged: the pre-commit hook stopped this commit
    repo.git("add", "b.py")
    repo.write("c.py", "X = 2\n")  # dirty, but nothing to rewrite there: not mentioned

    review = run_cli("fix", cwd=repo.path)
    assert review.returncode == 1
    assert "a.py has changes not staged for commit" in review.stderr
    assert "b.py has staged changes" in review.stderr and "c.py" not in review.stderr
    as_json = json.loads(run_cli("fix", "--json", cwd=repo.path).stdout)
    assert as_json["uncommitted"] == {"staged": ["b.py"], "unstaged": ["a.py"]}

    applied = run_cli("fix", "--apply", cwd=repo.path)
    assert applied.returncode == 0, applied.stderr
    err = applied.stderr
    # said up front: before the line that reports what was stored and written
    assert err.index("a.py has changes not staged") < err.index("stored 2 secrets")
    assert "# my unfinished edit" in (repo.path / "a.py").read_text()
    # the staged edit is in the index, so `git diff` on b.py is the fix alone
    diff = repo.git("diff", "--", "b.py")
    assert [ln for ln in diff.splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")] == [
        f'-B_TOKEN = "{b_tok}"', '+B_TOKEN = os.environ["B_TOKEN"]']
    assert a_tok not in applied.stdout + err and b_tok not in applied.stdout + err


def test_clean_tree_mentions_no_uncommitted_changes(repo: GitRepo) -> None:
    repo.commit("init", {"a.py": f'import os\nA_TOKEN = "{github_pat()}"\n'})
    proc = run_cli("fix", "--apply", cwd=repo.path)
    assert proc.returncode == 0, proc.stderr
    assert "staged" not in proc.stderr and "git diff` will" not in proc.stderr


@pytest.mark.parametrize("manual", [False, True])
def test_verify_with_nothing_moved_is_a_clean_no_op(repo: GitRepo, manual: bool) -> None:
    """Nothing to move and no reference file: `unleak run` would fail for want of one, which is no failure of the
    command to verify."""
    repo.commit("init", {"app.py": "X = 1\n"})
    if manual:  # a secret only a person can move: listed, exit 1, still no verify verdict
        repo.commit("yaml", {"deploy/values.yaml": f"token: {github_pat()}\n"})
    proc = run_cli("fix", "--apply", "--verify", "false", cwd=repo.path)
    assert "FAILED" not in proc.stdout + proc.stderr
    assert "verify not run (nothing was moved)" in proc.stderr
    assert proc.returncode == (1 if manual else 0), proc.stderr
    doc = json.loads(run_cli("fix", "--apply", "--json", "--verify", "false", cwd=repo.path).stdout)
    assert doc["verify"] == {"command": "false", "skipped": "nothing was moved"}
    assert not (repo.path / ".env.unleak").exists() and repo.git("status", "--porcelain") == ""




@pytest.mark.parametrize("as_json", [False, True])
def test_failed_write_reports_the_rollback_once(repo: GitRepo, immutable: list[Path], as_json: bool) -> None:
    """b.py cannot be replaced (chattr +i) after a.py was: a.py is put back, the entries removed, and the whole
    output says so once."""
    toks = [github_pat(), github_pat()]
    repo.commit("init", {"a.py": f'import os\nA_TOKEN = "{toks[0]}"\n', "b.py": f'import os\nB_TOKEN = "{toks[1]}"\n'})
    before = {p: (repo.path / p).read_bytes() for p in ("a.py", "b.py")}
    if subprocess.run(["chattr", "+i", str(repo.path / "b.py")], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not supported here (needs root and ext4/xfs/btrfs)")
    immutable.append(repo.path / "b.py")
    proc = run_cli("fix", "--apply", *(["--json"] if as_json else []), cwd=repo.path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert out.count("could not write b.py") == 1, out
    assert out.count("restored") == 1 and out.count("nothing changed") == 1, out
    assert out.count("vault entries were removed") == 1, out
    assert {p: (repo.path / p).read_bytes() for p in before} == before
    assert _names(repo) == [] and not (repo.path / ".env").exists()
    assert all(t not in out for t in toks)
