"""A rollback that cannot restore every file never removes a vault entry that a file now depends on, and says
exactly which file holds what. Failures are real: a file-size limit (RLIMIT_FSIZE, as a quota or a full disk
does it) that the rewritten file fits and the original does not, an immutable file (chattr +i) that cannot be
replaced, and a full tmpfs."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from remediate.fix import FixError, apply_fix, plan_fix
from remediate.vault import open_vault
from scanner.api import ScanRequest
from scanner.fileio import atomic_write_bytes
from tests.conftest import GitRepo, run_cli
from tests.fakes import github_pat

LIMIT = 12 * 1024
SECRETS_PER_FILE = 10


def _secret_lines(prefix: str) -> tuple[str, list[str]]:
    vals = [github_pat() for _ in range(SECRETS_PER_FILE)]
    return "".join(f'{prefix}{i} = "{v}"\n' for i, v in enumerate(vals)), vals


def _shrinking(repo: GitRepo, rel: str, prefix: str) -> list[str]:
    """A file whose original exceeds LIMIT and whose rewrite (shorter references) fits under it."""
    body, vals = _secret_lines(prefix)
    pad = "#" * 79 + "\n"
    text = pad * ((LIMIT - 300) // len(pad)) + body
    repo.write(rel, text)
    assert len(text) > LIMIT
    return vals


def _growing(repo: GitRepo, rel: str, prefix: str) -> list[str]:
    """A file that stays over LIMIT once rewritten: its write fails."""
    body, vals = _secret_lines(prefix)
    repo.write(rel, "#" * 79 + "\n" + ("x = 1\n" * (LIMIT // 6 + 100)) + body)
    return vals


def _limited(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))

    return subprocess.run([sys.executable, "-m", "unleak", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, preexec_fn=limit)




def _make_immutable(path: Path, made: list[Path]) -> None:
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not supported here (needs root and ext4/xfs/btrfs)")
    made.append(path)


@pytest.mark.parametrize("failing", ["second-file", "reference-file"])
def test_unrestorable_file_keeps_its_vault_entries(repo: GitRepo, immutable: list[Path], failing: str) -> None:
    """Every new content is staged and fits the limit; replacing the immutable file fails after a.py (and b.py)
    were replaced; putting a.py back needs its original, which is over the limit: a.py stays rewritten."""
    a_vals = _shrinking(repo, "a.py", "SVC_A")
    other = _shrinking(repo, "b.py", "SVC_B")
    repo.write(".env.unleak", "PAD=1\n")
    repo.commit("init")
    _make_immutable(repo.path / ("b.py" if failing == "second-file" else ".env.unleak"), immutable)
    proc = _limited("fix", "--apply", cwd=repo.path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    for v in a_vals + other:
        assert v not in out
    a_text = (repo.path / "a.py").read_text()
    assert all(v not in a_text for v in a_vals) and "os.environ[\"SVC_A0\"]" in a_text, out  # a.py holds references
    unrestored = ["a.py"] if failing == "second-file" else ["a.py", "b.py"]
    assert f"could NOT restore {', '.join(unrestored)}" in out
    listed = json.loads(run_cli("secrets", "list", "--json", cwd=repo.path).stdout)
    names = {e["name"] for e in (listed if isinstance(listed, list) else listed["secrets"])}
    # every value a.py (and b.py when unrestored) now reads from the vault is still there
    assert {f"SVC_A{i}" for i in range(SECRETS_PER_FILE)} <= names
    assert ("SVC_B0" in names) == (failing == "reference-file")
    ns = listed["namespace"]
    assert f"unleak://{ns}/SVC_A0" in out and "kept in the vault" in out
    # the very values a.py no longer holds are in the vault
    vault = open_vault(namespace=ns, repo_path=repo.path)
    assert [vault.get(f"unleak://{ns}/SVC_A{i}") for i in range(SECRETS_PER_FILE)] == a_vals
    assert not [p for p in repo.path.rglob("*.tmp")]


def test_size_limit_while_staging_changes_nothing(repo: GitRepo) -> None:
    """A rewritten file over the limit fails while it is staged, before any file is replaced."""
    a_vals = _shrinking(repo, "a.py", "A")
    b_vals = _growing(repo, "b.py", "B")
    repo.commit("init")
    snapshot = {p.name: p.read_bytes() for p in repo.path.iterdir() if p.is_file()}
    proc = _limited("fix", "--apply", cwd=repo.path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "could not write b.py" in out and "no file had been written yet, nothing changed" in out
    assert {p.name: p.read_bytes() for p in repo.path.iterdir() if p.is_file()} == snapshot
    assert all(v not in out for v in a_vals + b_vals)
    assert json.loads(run_cli("secrets", "list", "--json", cwd=repo.path).stdout)["secrets"] == []


@pytest.mark.parametrize("unwritable", [("a.py",), ("b.py",), ("a.py", "b.py")])
def test_rollback_failure_keeps_what_unrestored_files_read(repo: GitRepo, unwritable: tuple[str, ...]) -> None:
    """The check after the renames fails, and staging the originals of ``unwritable`` fails (disk full): the entries
    of each file left rewritten stay, the others are removed, the new .env.unleak is removed."""
    vals = {"a.py": github_pat(), "b.py": github_pat()}
    for rel, v in vals.items():
        repo.write(rel, f'TOKEN_{rel[0].upper()} = "{v}"\n')
    vault = open_vault(namespace="app", repo_path=repo.path)
    plan, _ = plan_fix(ScanRequest(root=repo.path), vault)
    assert [c.path for c in plan.changes] == ["a.py", "b.py", ".env.unleak"]
    staged_originals: list[bytes] = []

    def writer(path: Path, data: bytes) -> None:
        if path.name.startswith("o"):  # an original staged for the rollback
            staged_originals.append(data)
            if any(vals[rel].encode() in data for rel in unwritable):
                raise OSError(28, "No space left on device")
        atomic_write_bytes(path, data)

    checks: list[str] = []

    def confirm(plan: object, path: str, text: str) -> bool:
        checks.append(path)
        return len(checks) < 6  # the staged three pass, the last re-read after the renames fails

    with pytest.raises(FixError) as err:
        apply_fix(plan, vault, write=writer, confirm=confirm)
    msg = str(err.value)
    assert len(staged_originals) == 2
    names = {e.name for e in vault.names()}
    assert f"could NOT restore {', '.join(unwritable)}," in msg
    for rel in ("a.py", "b.py"):
        name = f"TOKEN_{rel[0].upper()}"
        if rel in unwritable:
            assert name in names and f"unleak://app/{name}" in msg
            assert vault.get(f"unleak://app/{name}") == vals[rel]
            assert vals[rel] not in (repo.path / rel).read_text()
        else:
            assert name not in names
            assert (repo.path / rel).read_text() == f'{name} = "{vals[rel]}"\n'
    assert not (repo.path / ".env.unleak").exists()
    for v in vals.values():
        assert v not in msg


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0755", "tmpfs",
                                            str(mnt)], capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a tmpfs")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


PAGE = 4096


def _pages(n: int) -> str:
    """About ``n`` pages of Python comments, well clear of a page boundary either way."""
    line = "#" * 63 + "\n"
    return line * ((n * PAGE - PAGE // 2) // len(line))


# Every new content is staged before any file is replaced, in path order: ~3, ~3+7 and ~3+7+11 pages (plus the
# journal's), then the small new reference file.
@pytest.mark.parametrize(("free_pages", "failing"), [(1, ".env"), (6, "a.py"), (15, "b.py")])
def test_full_disk_at_every_write_changes_nothing(small_tmpfs: Path, free_pages: int, failing: str) -> None:
    repo = GitRepo(small_tmpfs / "repo")
    repo.path.mkdir()
    repo.git("init", "-q", "--template=", "-b", "main")
    vals = [github_pat() for _ in range(3)]
    repo.write(".env", _pages(3) + f"C={vals[2]}\n")  # rewrites of ~3, ~7 and ~11 pages
    repo.write("a.py", _pages(7) + f'A = "{vals[0]}"\n')
    repo.write("b.py", _pages(11) + f'B = "{vals[1]}"\n')
    repo.commit("init")
    # The plan looks the values up in history (rotation first) and caches that under .git/unleak; the dry run fills
    # those caches first so the free pages below are the staging's alone.
    assert run_cli("fix", cwd=repo.path).returncode == 1  # a plan to perform
    caches = sorted(p.name for p in (repo.path / ".git" / "unleak").iterdir())
    st = os.statvfs(small_tmpfs)
    filler = small_tmpfs / "filler"
    filler.write_bytes(b"\0" * ((st.f_bavail - free_pages) * st.f_frsize))
    snapshot = {p.name: p.read_bytes() for p in repo.path.iterdir() if p.is_file()}
    proc = run_cli("fix", "--apply", cwd=repo.path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert f"could not write {failing} (OSError: No space left on device)" in out
    assert "no file had been written yet, nothing changed" in out
    assert {p.name: p.read_bytes() for p in repo.path.iterdir() if p.is_file()} == snapshot
    assert not [p for p in repo.path.rglob("*.tmp")]
    assert sorted(p.name for p in (repo.path / ".git" / "unleak").iterdir()) == caches  # no staging left behind
    assert all(v not in out for v in vals)
    listed = run_cli("secrets", "list", "--json", cwd=repo.path)
    assert all(n not in listed.stdout for n in ('"A"', '"B"', '"C"')), listed.stdout
