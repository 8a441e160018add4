"""The vault's data directory and files are trusted only when private to this user (checked with lstat, as ssh's
StrictModes does); an older copy of a vault file put back is detected; a missing key is never replaced silently."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from remediate.vault.local import LocalVault, user_data_dir
from scanner.errors import VaultError
from tests.conftest import run_cli
from tests.fakes import github_pat

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture
def shared_xdg(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A world-writable sticky directory used as XDG_DATA_HOME (a shared machine's misconfigured location)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv for a second OS user")
    d = Path(tempfile.mkdtemp(prefix="unleak-shared-"))
    os.chmod(d, 0o1777)
    monkeypatch.setenv("XDG_DATA_HOME", str(d))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_data_dir_made_by_another_user_is_refused(shared_xdg: Path, canary: str) -> None:
    subprocess.run([*NOBODY, "mkdir", "-m", "777", str(shared_xdg / "unleak")], check=True)
    proc = run_cli("secrets", "set", "TOKEN", "--namespace", "app", input=canary + "\n", cwd=shared_xdg)
    assert proc.returncode == 2, proc.stderr
    assert "owned by uid 65534" in proc.stderr and canary not in proc.stdout + proc.stderr
    assert list((shared_xdg / "unleak").iterdir()) == []  # no key, no vault was put where the other user rules
    # ... and the other user cannot delete a key that was never written there
    with pytest.raises(VaultError, match="owned by uid 65534"):
        LocalVault("app", data_dir=shared_xdg / "unleak").put("TOKEN", github_pat())


@pytest.mark.parametrize("case", ["group-writable", "symlink"])
def test_data_dir_with_loose_mode_or_symlink_is_refused(tmp_path: Path, case: str) -> None:
    data = tmp_path / "data"
    if case == "group-writable":
        data.mkdir()
        os.chmod(data, 0o770)
    else:
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        data.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(VaultError, match=r"mode 0770|symbolic link") as err:
        LocalVault("app", data_dir=data).put("TOKEN", github_pat())
    assert str(data) in str(err.value)
    assert not any((tmp_path / "elsewhere").iterdir()) if case == "symlink" else True


def test_parents_are_created_private_under_umask_000(tmp_path: Path) -> None:
    base = tmp_path / "a"
    code = ("import os, sys; os.umask(0); from remediate.vault.local import LocalVault; "
            f"LocalVault('app', data_dir={str(base / 'b' / 'unleak')!r}).put('T', sys.argv[1])")
    subprocess.run([sys.executable, "-c", code, github_pat()], check=True, cwd=tmp_path)
    for d in (base, base / "b", base / "b" / "unleak", base / "b" / "unleak" / "vaults"):
        assert stat.S_IMODE(d.lstat().st_mode) == 0o700, d


def test_symlinked_vault_file_is_refused_not_replaced(tmp_path: Path) -> None:
    data = tmp_path / "unleak"
    v = LocalVault("app", data_dir=data)
    v.put("A", github_pat())
    target = tmp_path / "real.vault"
    v.path.rename(target)
    v.path.symlink_to(target)
    before = target.read_bytes()
    with pytest.raises(VaultError, match="symbolic link"):
        v.put("B", github_pat())
    with pytest.raises(VaultError, match="symbolic link"):
        v.names()
    assert v.path.is_symlink() and target.read_bytes() == before


def test_rolled_back_vault_file_is_detected(tmp_path: Path) -> None:
    data = tmp_path / "unleak"
    v = LocalVault("app", data_dir=data)
    old, new = github_pat(), github_pat()
    v.put("TOKEN", old)
    v.put("GONE", github_pat())
    backup = v.path.read_bytes()  # an older copy: a restored backup, a sync conflict
    v.put("TOKEN", new)  # rotated
    v.delete("GONE")  # removed
    v.path.write_bytes(backup)
    fresh = LocalVault("app", data_dir=data)
    for call in (fresh.names, lambda: fresh.get("unleak://app/TOKEN"), lambda: fresh.put("X", github_pat())):
        with pytest.raises(VaultError, match="older copy"):
            call()


def test_missing_key_is_never_replaced_by_a_new_one(tmp_path: Path) -> None:
    data = tmp_path / "unleak"
    LocalVault("app", data_dir=data).put("TOKEN", github_pat())
    (data / "vault.key").rename(tmp_path / "key-backup")
    for ns in ("app", "other"):  # the namespace sealed with it, and a brand new namespace
        with pytest.raises(VaultError, match=r"key.*missing|does not have") as err:
            LocalVault(ns, data_dir=data).put("NEW", github_pat())
        assert "restore" in str(err.value)
    assert not (data / "vault.key").exists()
    assert not (data / "vaults" / "other.vault").exists()
    (tmp_path / "key-backup").rename(data / "vault.key")
    LocalVault("other", data_dir=data).put("NEW", github_pat())  # with the key back, all is well


def test_default_data_dir_is_checked_too(isolated_home: Path) -> None:
    d = user_data_dir()
    d.mkdir(parents=True)
    os.chmod(d, 0o755)
    proc = run_cli("secrets", "set", "TOKEN", "--namespace", "app", input=github_pat() + "\n")
    assert proc.returncode == 2 and "mode 0755" in proc.stderr and "chmod 700" in proc.stderr, proc.stderr
