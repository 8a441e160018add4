"""Staged apply (remediate.staging): a real ``unleak fix --apply`` over 24 files is SIGKILLed at many points of its
file operations; the work tree never holds a temp file, every file is its original or its rewrite, and the next
``unleak fix`` finishes what was decided (or finds the tree as it was), with every value readable.

The kill points come from the process itself: an audit hook (PEP 578) in the child counts the file operations it
makes inside the repository (opens for writing, renames, removals, chmod, mkdir) and SIGKILLs itself at the N-th.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from remediate.plan_model import FileChange
from remediate.vault import open_vault
from tests.conftest import GIT_ENV, REPO_ROOT, GitRepo
from tests.fakes import github_pat

FILES = 24  # enough renames for first, middle and last to be distinct kill points

# Run `unleak` with an audit hook that logs (N == 0) or SIGKILLs the process at (N > 0) its N-th file operation
# inside UNLEAK_TEST_ROOT.
_CHILD = r"""
import os, signal, sys
root = os.environ["UNLEAK_TEST_ROOT"].rstrip("/") + "/"
kill_at = int(sys.argv[1]); log = sys.argv[2]; seen = 0
WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT
EVENTS = {"os.rename", "os.remove", "os.rmdir", "os.mkdir", "os.chmod"}
def hook(event, args):
    global seen
    if event == "open":
        path, mode, flags = args
        if not (flags & WRITE) and not (isinstance(mode, str) and any(c in mode for c in "wax+")):
            return
    elif event not in EVENTS:
        return
    path = args[0]
    if not isinstance(path, (str, bytes, os.PathLike)):
        return
    path = os.fsdecode(os.fspath(path))
    if not os.path.abspath(path).startswith(root):
        return
    seen += 1
    if kill_at and seen == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    if not kill_at:
        dst = os.path.relpath(os.fsdecode(os.fspath(args[1])), root) if event == "os.rename" else ""
        with open(log, "a") as fh:  # outside the root: not counted
            fh.write(event + "\t" + os.path.relpath(path, root) + "\t" + dst + "\n")
sys.addaudithook(hook)
import runpy
sys.argv = ["unleak", *sys.argv[3:]]
runpy.run_module("unleak", run_name="__main__", alter_sys=True)
"""


def _env(home: Path, root: Path) -> dict[str, str]:
    env = {**os.environ, **GIT_ENV, "HOME": str(home), "UNLEAK_TEST_ROOT": str(root),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
           "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO_ROOT), os.environ.get("PYTHONPATH"))))}
    for var, sub in (("XDG_DATA_HOME", ".local/share"), ("XDG_CONFIG_HOME", ".config"),
                     ("XDG_STATE_HOME", ".local/state"), ("XDG_CACHE_HOME", ".cache")):
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(home / sub)
    return env


def _child(kill_at: int, log: Path, env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _CHILD, str(kill_at), str(log), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(root).parts}


@dataclass
class Reference:
    template: Path  # the repository before the fix (with .git)
    original: dict[str, bytes]
    fixed: dict[str, bytes]  # the tree after an uninterrupted fix
    values: dict[str, str]  # vault name -> value
    events: list[str]  # "event\tpath" of the uninterrupted run, in order


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    base = tmp_path_factory.mktemp("staging-template")
    template = base / "repo"
    template.mkdir()
    repo = GitRepo(template)
    repo.git("init", "-q", "-b", "main")
    values = {}
    for i in range(FILES):
        values[f"TOKEN_{i}"] = github_pat()
        repo.write(f"pkg/sub{i % 3}/mod{i}.py", f'import os\n\nTOKEN_{i} = "{values[f"TOKEN_{i}"]}"\n')
    repo.commit("init")
    original = _tree(template)
    run = base / "run" / "repo"
    shutil.copytree(template, run, symlinks=True)
    log = base / "events.log"
    # One namespace for every copy of the template: the fixed tree of each run is compared with this one's, and a
    # repository's own namespace depends on where it is.
    proc = _child(0, log, _env(base / "home", run), run, "fix", "--apply", "--namespace", "repo")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fixed = _tree(run)
    assert set(fixed) == set(original) | {".env.unleak"} and all(fixed[p] != original[p] for p in original)
    # The vault names are the fix's own choice (GITHUB_TOKEN, GITHUB_TOKEN_2…): read each from the rewritten line.
    by_name = {}
    for i in range(FILES):
        m = re.search(rb'os\.environ\["(\w+)"\]', fixed[f"pkg/sub{i % 3}/mod{i}.py"])
        assert m, fixed[f"pkg/sub{i % 3}/mod{i}.py"]
        by_name[m.group(1).decode()] = values[f"TOKEN_{i}"]
    assert len(by_name) == FILES
    return Reference(template, original, fixed, by_name, log.read_text().splitlines())


def _renames_into_tree(events: list[str]) -> list[int]:
    """Event numbers of the renames whose destination is in the work tree (not under .git)."""
    return [i + 1 for i, e in enumerate(events)
            if e.startswith("os.rename\t") and not e.split("\t")[2].startswith(".git/")]


def _points(events: list[str]) -> dict[str, int]:
    """Named kill points (1-based event numbers) over the run: spread fractions, and the steps that matter."""
    n = len(events)
    points = {f"at-{f:.2f}": max(1, round(n * f)) for f in (0.02, 0.3, 0.6, 0.99)}
    renames = _renames_into_tree(events)
    journal = [i + 1 for i, e in enumerate(events) if e.startswith("os.rename\t") and e.endswith("journal.json")]
    if renames:
        points |= {"first-rename": renames[0], "mid-rename": renames[len(renames) // 2], "last-rename": renames[-1]}
    if len(journal) >= 2:
        points["commit-point"] = journal[1]  # the journal's state becomes "commit"
        points["just-before-commit"] = journal[1] - 1
    return points


KILL_POINTS = ["at-0.02", "at-0.30", "just-before-commit", "commit-point", "first-rename", "at-0.60", "mid-rename",
               "last-rename", "at-0.99"]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_sigkill_at_any_point_leaves_no_temp_file_and_the_next_run_finishes(reference: Reference, tmp_path: Path,
                                                                            point: str) -> None:
    points = _points(reference.events)
    if point not in points:
        pytest.skip(f"no {point} in this implementation's file operations")
    root = tmp_path / "repo"
    shutil.copytree(reference.template, root, symlinks=True)
    env = _env(Path(os.environ["HOME"]), root)  # this test's own home: the vault read below is the child's
    proc = _child(points[point], tmp_path / "unused.log", env, root, "fix", "--apply", "--namespace", "repo")
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr

    # Right after the kill: nothing in the work tree's view but the files themselves, each whole.
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=root, capture_output=True,
                            text=True, check=True).stdout.splitlines()
    untracked = [line[3:] for line in status if line.startswith("??")]
    assert set(untracked) <= {".env.unleak"}, untracked
    assert not [p for p in root.rglob("*.tmp")]
    tree = _tree(root)
    for path, data in tree.items():
        assert data in (reference.original.get(path), reference.fixed.get(path)), f"{path} is torn"

    # The next run: the interrupted fix is finished (or was never decided, and the tree is as it was).
    nxt = subprocess.run([sys.executable, "-m", "unleak", "fix", "--json", "--namespace", "repo"], cwd=root, env=env,
                         capture_output=True,
                         text=True, timeout=300)
    assert nxt.returncode in (0, 1), nxt.stdout + nxt.stderr
    tree = _tree(root)
    if nxt.returncode == 0:
        assert tree == reference.fixed  # complete: every file rewritten, the reference file written
        vault = open_vault(namespace="repo", repo_path=root)
        assert {name: vault.get(f"unleak://repo/{name}") for name in reference.values} == reference.values
    else:
        assert tree == reference.original  # nothing had been replaced yet: the values are still in their files
    assert not [p for p in (root / ".git" / "unleak").glob("*fix-*")]
    assert all(v not in nxt.stdout + nxt.stderr for v in reference.values.values())
    renames = _renames_into_tree(reference.events)
    if nxt.returncode == 0 and points[point] <= renames[-1]:  # killed before the last file was in place
        notes = json.loads(nxt.stdout)["plan"]["notes"]
        assert any("interrupted `unleak fix` was completed" in n for n in notes), notes


# ------------------------------------------------------------------------------------------------ library


@pytest.fixture
def git_root(repo: GitRepo) -> Path:
    return repo.path


def _staging() -> ModuleType:
    # Imported here so that the kill test above also runs against an unleak without this module (it failed there).
    from remediate import staging

    return staging


def _changes(root: Path, n: int) -> list[FileChange]:
    out = []
    for i in range(n):
        p = root / f"f{i}.txt"
        p.write_text(f"old {i}\n")
        out.append(FileChange(f"f{i}.txt", f"old {i}\n", f"new {i}\n"))
    out.append(FileChange("new/dir/.env", None, "A=unleak://x/A\n", reference_file=True))
    return out


def test_staged_files_live_under_the_git_directory(git_root: Path) -> None:
    changes = _changes(git_root, 3)
    staging = _staging()
    txn = staging.stage(git_root, changes)
    try:
        assert txn.dir.parent == git_root / ".git" / "unleak"
        assert all(Path(e.staged).parent == txn.dir for e in txn.entries)
        assert (git_root / "f0.txt").read_text() == "old 0\n" and not (git_root / "new").exists()
        txn.commit()
        assert [(git_root / c.path).read_text() for c in changes] == ["new 0\n", "new 1\n", "new 2\n",
                                                                       "A=unleak://x/A\n"]
    finally:
        txn.close()
    assert list((git_root / ".git" / "unleak").iterdir()) == []


def test_recover_leaves_a_live_transaction_alone(git_root: Path) -> None:
    staging = _staging()
    txn = staging.stage(git_root, _changes(git_root, 2))
    try:
        assert not staging.recover(git_root).any
        assert txn.dir.exists()
    finally:
        txn.close()


def test_rollback_restores_contents_modes_and_removes_created_dirs(git_root: Path) -> None:
    changes = _changes(git_root, 2)
    os.chmod(git_root / "f1.txt", 0o750)
    staging = _staging()
    txn = staging.stage(git_root, changes)
    txn.commit()
    assert txn.rollback() == []
    txn.close()
    assert (git_root / "f0.txt").read_text() == "old 0\n" and (git_root / "f1.txt").read_text() == "old 1\n"
    assert (git_root / "f1.txt").stat().st_mode & 0o777 == 0o750
    assert not (git_root / "new").exists()


def test_recovery_never_overwrites_a_file_changed_since_it_was_staged(git_root: Path) -> None:
    """Killed after the commit point, before the renames; the user edits a file before the next run."""
    changes = _changes(git_root, 2)
    code = (f"import sys; sys.path.insert(0, {str(REPO_ROOT)!r})\n"
            "import os, signal\nfrom pathlib import Path\nfrom remediate import staging\n"
            "from remediate.plan_model import FileChange\n"
            f"root = Path({str(git_root)!r})\n"
            "cs = [FileChange('f0.txt', 'old 0\\n', 'new 0\\n'), FileChange('f1.txt', 'old 1\\n', 'new 1\\n')]\n"
            "t = staging.stage(root, cs)\nt._save('commit')\nos.kill(os.getpid(), signal.SIGKILL)\n")
    assert subprocess.run([sys.executable, "-c", code], cwd=git_root).returncode == -signal.SIGKILL
    (git_root / "f1.txt").write_text("edited by the user\n")
    got = _staging().recover(git_root)
    assert got.completed == ["f0.txt"] and got.conflicts == ["f1.txt"]
    assert (git_root / "f0.txt").read_text() == "new 0\n"
    assert (git_root / "f1.txt").read_text() == "edited by the user\n"
    assert list((git_root / ".git" / "unleak").iterdir()) == []
    assert len(changes) == 3  # and the new file of _changes was never part of this transaction
