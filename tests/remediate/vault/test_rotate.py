"""``rotate_key`` (``unleak secrets rotate-key``): every namespace re-encrypted under a new key, crash-safe at every
file operation, and the answer to "``secrets rm`` cannot reach a backup of the vault file"."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from remediate.vault.envelope import key_id
from remediate.vault.local import LocalVault, user_data_dir
from remediate.vault.rotation import rotate_key
from scanner.errors import VaultError
from tests.fakes import github_pat
from tests.remediate.vault.test_local import memory_keyring  # noqa: F401  (fixture)

NAMESPACES = {"shop": 3, "billing": 2, "ops": 1}


def _fill() -> dict[str, dict[str, str]]:
    values: dict[str, dict[str, str]] = {}
    for ns, n in NAMESPACES.items():
        v = LocalVault(ns)
        values[ns] = {f"K{i}": github_pat() for i in range(n)}
        for name, value in values[ns].items():
            v.put(name, value)
    return values


def _read_all(values: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    return {ns: {n: LocalVault(ns).get(f"unleak://{ns}/{n}") for n in names} for ns, names in values.items()}


def _file_key_ids() -> set[str]:
    return {json.loads(p.read_text())["key_id"] for p in (user_data_dir() / "vaults").glob("*.vault")}


def test_rotation_reseals_every_namespace_under_one_new_key() -> None:
    values = _fill()
    old = {key_id(k) for k in LocalVault("shop").keys.available().values()}
    key_before = (user_data_dir() / "vault.key").read_bytes()
    got = rotate_key()
    assert got.namespaces == sorted(NAMESPACES) and got.entries == sum(NAMESPACES.values())
    assert got.old_key_ids == sorted(old) and got.new_key_id not in old and not got.resumed
    assert _file_key_ids() == {got.new_key_id}
    assert (user_data_dir() / "vault.key").read_bytes() != key_before
    assert {key_id(k) for k in LocalVault("shop").keys.available().values()} == {got.new_key_id}
    assert _read_all(values) == values
    assert sorted(p.name for p in user_data_dir().iterdir() if p.name.startswith("vault.key")) == [
        "vault.key", "vault.key.lock", "vault.key.rotate.lock"]
    # a value set afterwards uses the new key too
    LocalVault("later").put("X", "x-value")
    assert _file_key_ids() == {got.new_key_id}


def test_a_backup_of_the_vault_file_no_longer_opens_after_rotation(tmp_path: Path) -> None:
    """The attack: `secrets rm` removed a value, and a copy of the vault file made before (a backup, a sync) is put
    back together with the generation record. Without rotation the removed value reads again; after it, not."""
    v = LocalVault("shop")
    value = github_pat()
    v.put("GONE", value)
    backup = tmp_path / "shop.vault.bak"
    shutil.copy2(v.path, backup)
    generations = user_data_dir() / "generations"
    gen_backup = tmp_path / "generations"
    shutil.copytree(generations, gen_backup)

    def put_backup_back() -> None:
        shutil.copy2(backup, v.path)
        shutil.rmtree(generations)
        shutil.copytree(gen_backup, generations)

    v.delete("GONE")
    put_backup_back()
    assert LocalVault("shop").get("unleak://shop/GONE") == value  # rm alone does not reach the copy

    LocalVault("shop").delete("GONE")
    rotate_key()
    put_backup_back()
    with pytest.raises(VaultError, match="sealed with a key this machine does not have") as err:
        LocalVault("shop").get("unleak://shop/GONE")
    assert value not in str(err.value)


def test_rotation_moves_a_keyring_key(memory_keyring: Any) -> None:  # noqa: F811
    values = _fill()
    assert not (user_data_dir() / "vault.key").exists()
    got = rotate_key()
    assert not (user_data_dir() / "vault.key").exists() and not (user_data_dir() / "vault.key.next").exists()
    stored = memory_keyring.store[("unleak", "vault-key")]
    assert {key_id(k) for k in LocalVault("shop").keys.available().values()} == {got.new_key_id}
    assert stored.startswith("unleak-vault-key-v1:")
    assert _read_all(values) == values


def test_nothing_to_rotate_without_a_key() -> None:
    with pytest.raises(VaultError, match="no vault key yet"):
        rotate_key()


# A rotation in a child process that SIGKILLs itself at its N-th file operation in the data directory (opens for
# writing, renames, links, removals, chmod, mkdir); with N == 0 it prints how many there were.
_CHILD = r"""
import os, signal, sys
root = os.environ["XDG_DATA_HOME"].rstrip("/") + "/"
kill_at = int(sys.argv[1]); seen = 0
WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT
def hook(event, args):
    global seen
    if event == "open":
        if not (args[2] & WRITE) and not (isinstance(args[1], str) and any(c in args[1] for c in "wax+")):
            return
    elif event not in {"os.rename", "os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.link"}:
        return
    if not isinstance(args[0], (str, bytes, os.PathLike)):
        return
    if not os.path.abspath(os.fsdecode(os.fspath(args[0]))).startswith(root):
        return
    seen += 1
    if seen == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
sys.addaudithook(hook)
from remediate.vault.rotation import rotate_key
rotate_key()
print(seen)
"""


def _rotate_killed_at(n: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _CHILD, str(n)], capture_output=True, text=True, timeout=120,
                          env=os.environ.copy())


def test_sigkill_at_every_file_operation_leaves_every_value_readable(tmp_path: Path) -> None:
    values = _fill()
    data = user_data_dir()
    pristine = tmp_path / "pristine"
    shutil.copytree(data, pristine, symlinks=True)
    count = _rotate_killed_at(0)
    assert count.returncode == 0, count.stderr
    total = int(count.stdout)
    assert total >= 3 * len(NAMESPACES)
    for n in range(1, total + 1):
        shutil.rmtree(data)
        shutil.copytree(pristine, data, symlinks=True)
        proc = _rotate_killed_at(n)
        assert proc.returncode == -signal.SIGKILL, (n, proc.stderr)
        assert _read_all(values) == values, f"killed at operation {n} of {total}"
        again = rotate_key()  # the next run finishes the rotation
        assert _read_all(values) == values
        assert _file_key_ids() == {again.new_key_id}
        assert {key_id(k) for k in LocalVault("shop").keys.available().values()} == {again.new_key_id}
        assert not [p for p in data.rglob("*.tmp*")] and not (data / "vault.key.next").exists()


def test_cli_rotate_key_prints_ids_never_keys(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    values = _fill()
    key_before = (user_data_dir() / "vault.key").read_text().strip()
    proc = run_cli("secrets", "rotate-key", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["namespaces"] == sorted(NAMESPACES) and got["entries"] == 6 and not got["resumed"]
    key_after = (user_data_dir() / "vault.key").read_text().strip()
    assert key_after != key_before
    out = proc.stdout + proc.stderr
    for secret in (key_before, key_after, key_before.split(":")[-1], key_after.split(":")[-1],
                   *(v for ns in values.values() for v in ns.values())):
        assert secret not in out
    assert _read_all(values) == values
    text = run_cli("secrets", "rotate-key", cwd=tmp_path)
    assert text.returncode == 0 and "rotated the vault key: 3 namespace(s), 6 entries" in text.stderr
    empty = tmp_path / "nokey"
    proc = run_cli("secrets", "rotate-key", cwd=tmp_path, env={"XDG_DATA_HOME": str(empty)})
    assert proc.returncode == 2 and "nothing to rotate" in proc.stderr


def test_unwritable_data_directory_is_a_clear_error_and_loses_nothing(tmp_path: Path) -> None:
    """chattr +i: not even root can create the new key there. Exit 2 with the cause, every value still readable."""
    from tests.conftest import run_cli

    values = _fill()
    data = user_data_dir()
    if subprocess.run(["chattr", "+i", str(data)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not supported here")
    try:
        proc = run_cli("secrets", "rotate-key", cwd=tmp_path)
    finally:
        subprocess.run(["chattr", "-i", str(data)], check=True)
    assert proc.returncode == 2, proc.stderr
    assert "the key rotation stopped: Operation not permitted" in proc.stderr and "still readable" in proc.stderr
    assert _read_all(values) == values
