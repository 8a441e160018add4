from __future__ import annotations

import base64
import json
import os
import random
import re
import secrets
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from remediate.vault import default_namespace, open_vault, resolve_reference
from remediate.vault.keystore import KEYRING_SERVICE, KEYRING_USERNAME
from remediate.vault.local import LocalVault, user_data_dir
from scanner.errors import BadReferenceError, UsageError, VaultError
from tests.conftest import GitRepo
from tests.fakes import github_pat, password
from tests.remediate.vault._writer import value_for

ROOT = Path(__file__).resolve().parents[3]


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _all_bytes_under(d: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file())


def _assert_absent(value: str, d: Path) -> None:
    blob = _all_bytes_under(d)
    for form in (value.encode(), base64.b64encode(value.encode()), value.encode().hex().encode()):
        assert form not in blob


@pytest.mark.parametrize("value", [
    "plain-ascii-value",
    "ünïcødé ✓ 秘密",
    "line one\nline two\n",
    " leading and trailing spaces ",
    "x" * 100_000,
    "quote\"s and 'apostrophes' and \\backslashes\\",
])
def test_roundtrip(value: str) -> None:
    v = open_vault(namespace="shop-api")
    ref = v.put("DB_PASSWORD", value)
    assert ref == "unleak://shop-api/DB_PASSWORD"
    assert v.get(ref) == value
    # a fresh instance (new process state: no cached key) reads the same
    assert LocalVault("shop-api").get(ref) == value
    assert resolve_reference(ref) == value


def test_vault_lives_under_xdg_data_home_outside_the_repo(isolated_home: Path, repo: GitRepo) -> None:
    v = open_vault(repo_path=repo.path)
    assert v.namespace.startswith("repo-")
    v.put("TOKEN", github_pat())
    xdg = Path(os.environ["XDG_DATA_HOME"])
    assert user_data_dir() == xdg / "unleak"
    assert (xdg / "unleak" / "vaults" / f"{v.namespace}.vault").is_file()
    assert list(repo.path.rglob("*.vault")) == [] and repo.git("status", "--porcelain") == ""


def test_files_are_private_and_hold_no_plaintext() -> None:
    canary = github_pat()
    v = open_vault(namespace="modes")
    v.put("CANARY", canary)
    data = user_data_dir()
    assert _mode(data) == 0o700 and _mode(data / "vaults") == 0o700
    for p in (data / "vault.key", data / "vaults" / "modes.vault"):
        assert _mode(p) == 0o600, p
    _assert_absent(canary, data)


def test_key_file_is_used_when_keyring_fails() -> None:
    assert os.environ["PYTHON_KEYRING_BACKEND"] == "keyring.backends.fail.Keyring"
    v = open_vault(namespace="kf")
    v.put("A", "value-a")
    key_file = user_data_dir() / "vault.key"
    assert key_file.is_file() and _mode(key_file) == 0o600
    # the key file is what opens the vault: without it the vault cannot be read
    key_file.rename(key_file.with_suffix(".moved"))
    with pytest.raises(VaultError, match="key this machine does not have"):
        LocalVault("kf").get("unleak://kf/A")


def test_with_a_key_file_reading_and_writing_never_touch_the_keyring() -> None:
    # keyring's import and a D-Bus round trip are most of a run's start-up; the key file, when present, wins.
    open_vault(namespace="kf").put("A", "value-a")
    code = ("import sys\nfrom remediate.vault import open_vault, resolve_reference\n"
            "assert resolve_reference('unleak://kf/A') == 'value-a'\n"
            "open_vault(namespace='kf').put('B', 'value-b')\n"
            "print('keyring' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


class MemoryKeyring:
    """A minimal keyring backend through keyring's own plugin interface, holding passwords in a dict."""

    def __init__(self) -> None:
        import keyring.backend

        class _Backend(keyring.backend.KeyringBackend):
            priority = 10  # type: ignore[assignment]

            def __init__(self) -> None:
                super().__init__()
                self.store: dict[tuple[str, str], str] = {}

            def get_password(self, service: str, username: str) -> str | None:
                return self.store.get((service, username))

            def set_password(self, service: str, username: str, password: str) -> None:
                self.store[(service, username)] = password

            def delete_password(self, service: str, username: str) -> None:
                del self.store[(service, username)]

        self.backend = _Backend()


@pytest.fixture
def memory_keyring() -> Any:
    import keyring
    from keyring.backends import fail

    kr = MemoryKeyring().backend
    keyring.set_keyring(kr)
    try:
        yield kr
    finally:
        keyring.set_keyring(fail.Keyring())


def test_key_goes_to_the_keyring_when_one_is_usable(memory_keyring: Any) -> None:
    v = open_vault(namespace="kr")
    ref = v.put("A", "value-a")
    assert (KEYRING_SERVICE, KEYRING_USERNAME) in memory_keyring.store
    assert not (user_data_dir() / "vault.key").exists()
    assert LocalVault("kr").get(ref) == "value-a"
    # without the keyring the vault cannot be opened, and unleak says why instead of making a new key silently
    with pytest.raises(VaultError, match="key this machine does not have"):
        LocalVault("kr", use_keyring=False).get(ref)


def test_a_key_created_by_another_process_is_found() -> None:
    early = LocalVault("late")
    assert early.keys.available() == {}  # looked before any key existed
    ref = LocalVault("late").put("A", "value-a")  # "another process" creates the key and the vault
    assert early.get(ref) == "value-a"


def test_idempotent_put_does_not_rewrite(tmp_path: Path) -> None:
    v = open_vault(namespace="idem")
    ref = v.put("A", "same-value")
    before = (v.path.read_bytes(), v.path.stat().st_mtime_ns, v.path.stat().st_ino)
    time.sleep(0.01)
    assert v.put("A", "same-value") == ref
    assert (v.path.read_bytes(), v.path.stat().st_mtime_ns, v.path.stat().st_ino) == before


def test_overwrite_and_refusal_to_overwrite() -> None:
    v = open_vault(namespace="ow")
    ref = v.put("A", "first-value")
    with pytest.raises(VaultError) as info:
        v.put("A", "second-value", overwrite=False)
    assert "first-value" not in str(info.value) and "second-value" not in str(info.value)
    assert v.get(ref) == "first-value"
    v.put("A", "second-value")
    assert v.get(ref) == "second-value"


def test_names_and_delete() -> None:
    v = open_vault(namespace="nd")
    assert v.names() == []
    for n in ("B_KEY", "A_KEY", "C_KEY"):
        v.put(n, password())
    assert [(e.name, e.reference) for e in v.names()] == [
        ("A_KEY", "unleak://nd/A_KEY"), ("B_KEY", "unleak://nd/B_KEY"), ("C_KEY", "unleak://nd/C_KEY")]
    v.delete("B_KEY")
    assert [e.name for e in v.names()] == ["A_KEY", "C_KEY"]
    with pytest.raises(VaultError, match="no secret named 'B_KEY'"):
        v.delete("B_KEY")
    with pytest.raises(VaultError, match="no secret named 'B_KEY'"):
        v.get("unleak://nd/B_KEY")
    # namespaces are separate
    assert open_vault(namespace="other").names() == []


@pytest.mark.parametrize(("name", "value", "exc"), [
    ("1BAD", "v", UsageError),
    ("has space", "v", UsageError),
    ("A/B", "v", UsageError),
    ("OK", "", UsageError),
    ("OK", "\udcff", UsageError),
])
def test_bad_input_is_a_clear_error(name: str, value: str, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        open_vault(namespace="bad").put(name, value)


@pytest.mark.parametrize("ns", ["Upper", "../x", "", "a b"])
def test_bad_namespace(ns: str) -> None:
    with pytest.raises(UsageError, match="invalid namespace"):
        open_vault(namespace=ns)


def test_get_rejects_references_of_other_namespaces_or_schemes() -> None:
    v = open_vault(namespace="mine")
    v.put("A", "value")
    with pytest.raises(BadReferenceError):
        v.get("unleak://theirs/A")
    with pytest.raises(BadReferenceError):
        v.get("op://dev/item/field")


# ------------------------------------------------------------------------------------------------ tampering


def _doc(v: LocalVault) -> dict[str, Any]:
    return json.loads(v.path.read_text())  # type: ignore[no-any-return]


def _write_doc(v: LocalVault, doc: dict[str, Any]) -> None:
    v.path.write_text(json.dumps(doc))


def _flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


TAMPERS = {
    "ciphertext bit flip": lambda d: d["entries"]["A"].__setitem__(
        "ciphertext", _flip(d["entries"]["A"]["ciphertext"])),
    "nonce bit flip": lambda d: d["entries"]["A"].__setitem__("nonce", _flip(d["entries"]["A"]["nonce"])),
    "entries swapped": lambda d: d["entries"].update(A=d["entries"]["B"], B=d["entries"]["A"]),
    "entry removed": lambda d: d["entries"].pop("B"),
    "entry duplicated under a new name": lambda d: d["entries"].__setitem__("C", d["entries"]["A"]),
    "mac replaced": lambda d: d.__setitem__("mac", "0" * 64),
    "namespace changed": lambda d: d.__setitem__("namespace", "other"),
}


@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_tampering_is_detected_without_leaking(tamper: str) -> None:
    v = open_vault(namespace="tamper")
    va, vb = github_pat(), github_pat()
    v.put("A", va)
    v.put("B", vb)
    doc = _doc(v)
    TAMPERS[tamper](doc)
    _write_doc(v, doc)
    for call in (lambda: v.get("unleak://tamper/A"), v.names, lambda: v.put("D", "x-value")):
        with pytest.raises(VaultError) as info:
            call()
        msg = str(info.value)
        assert "modified outside unleak" in msg or "damaged" in msg
        assert va not in msg and vb not in msg


def test_wrong_key_is_reported_as_such(tmp_path: Path) -> None:
    v = open_vault(namespace="wk")
    value = github_pat()
    v.put("A", value)
    key_file = user_data_dir() / "vault.key"
    key_file.unlink()
    with pytest.raises(VaultError, match="the vault key is missing"):  # never a silent second key
        LocalVault("fresh").put("X", "y-value")
    elsewhere = tmp_path / "elsewhere"
    LocalVault("fresh", data_dir=elsewhere).put("X", "y-value")
    os.link(elsewhere / "vault.key", key_file)  # another machine's key put in place
    with pytest.raises(VaultError) as info:
        LocalVault("wk").get("unleak://wk/A")
    assert "key this machine does not have" in str(info.value) and value not in str(info.value)
    # and a put must not overwrite a vault it cannot open
    before = v.path.read_bytes()
    with pytest.raises(VaultError):
        LocalVault("wk").put("B", "value-b")
    assert v.path.read_bytes() == before


@pytest.mark.parametrize(("content", "why"), [
    (b"", "not valid JSON"),
    (b"{\"format\": \"unleak-vault\", ", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    (b"[]", "not an unleak vault"),
    (b'{"format": "unleak-vault", "version": 1, "entries": []}', "unexpected structure"),
])
def test_damaged_files_give_clear_errors(content: bytes, why: str) -> None:
    v = open_vault(namespace="dmg")
    v.put("A", "value-a")
    v.path.write_bytes(content)
    with pytest.raises(VaultError, match=why):
        v.names()


def test_key_file_readable_by_others_is_refused() -> None:
    v = open_vault(namespace="perm")
    v.put("A", "value-a")
    key_file = user_data_dir() / "vault.key"
    key_file.chmod(0o644)
    with pytest.raises(VaultError, match="chmod 600"):
        LocalVault("perm").names()


def test_vault_inside_a_repository_is_refused(repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(repo.path / ".data"))
    with pytest.raises(VaultError, match="outside any repository"):
        open_vault(repo_path=repo.path)


def test_home_directory_under_git_is_not_a_project(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (isolated_home / ".git").mkdir()  # a dotfiles repository at $HOME contains the XDG data dir
    monkeypatch.chdir(isolated_home)
    v = open_vault(namespace="dots")
    assert v.get(v.put("A", "value-a")) == "value-a"


def test_backends_satisfy_the_protocol() -> None:
    from remediate.vault import Vault
    from remediate.vault.onepassword import OnePasswordVault

    assert isinstance(open_vault(namespace="p"), Vault)
    assert isinstance(OnePasswordVault("p", op_vault="dev"), Vault)


# ------------------------------------------------------------------------------------------------ namespace


def test_default_namespace(repo: GitRepo, tmp_path: Path) -> None:
    """The directory's name (sanitised) and six hex digits of where the repository is: the same from any
    subdirectory, and asking writes nothing (the registry appears at the first vault write)."""
    sub = repo.path / "src" / "pkg"
    sub.mkdir(parents=True)
    ns = default_namespace(repo.path)
    assert re.fullmatch(r"repo-[0-9a-f]{6}", ns)
    assert default_namespace(sub) == ns == default_namespace(repo.path)
    odd = tmp_path / "My Shop API!!"
    odd.mkdir()
    assert re.fullmatch(r"my-shop-api-[0-9a-f]{6}", default_namespace(odd))
    weird = tmp_path / "..."
    weird.mkdir()
    assert re.fullmatch(r"default-[0-9a-f]{6}", default_namespace(weird))
    assert not (user_data_dir() / "repositories.json").exists()


def test_default_namespace_uses_cwd(repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo.path)
    assert default_namespace() == default_namespace(repo.path)


# ------------------------------------------------------------------------------------------------ processes


def _writer(namespace: str, prefix: str, count: int, seed: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.remediate.vault._writer", namespace, prefix, str(count)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdin is not None
    proc.stdin.write(seed + "\n")
    proc.stdin.close()
    proc.stdin = None  # closed: communicate() must not flush it
    return proc


def test_two_concurrent_writers_lose_nothing() -> None:
    # No key exists yet, so the two processes also race to create it: exactly one key must win and serve both.
    assert not (user_data_dir() / "vault.key").exists()
    seed = secrets.token_hex(8)
    n = 100
    procs = [_writer("conc", p, n, seed) for p in ("A", "B")]
    for p in procs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert sorted(p.name for p in user_data_dir().iterdir() if p.is_file()) == ["vault.key", "vault.key.lock"]
    v = LocalVault("conc")
    assert v.verify() == 2 * n
    for prefix in ("A", "B"):
        for i in range(n):
            name = f"{prefix}_{i}"
            assert v.get(f"unleak://conc/{name}") == value_for(seed, name)


def _crash_round(seed: str, prefix: str, delay: float) -> bool:
    """Run a writer, SIGKILL it after ``delay`` seconds, check the vault; True if the kill landed mid-write."""
    proc = _writer("crash", prefix, 1_000_000, seed)
    assert proc.stdout is not None
    first = proc.stdout.readline()  # at least one put has completed
    assert first.strip() == f"{prefix}_0"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    # Read the rest through the same file object: readline() may have buffered lines after the first, which
    # communicate() (reading the pipe's descriptor) would never see.
    rest = proc.stdout.read()
    proc.wait(timeout=30)
    assert proc.stderr is not None
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    done = {first.strip(), *rest.split()}
    v = LocalVault("crash")
    torn = bool(list(v.vault_dir.glob(".crash.vault.*.tmp")))
    v.verify()  # every entry decrypts and the file's MAC holds: nothing corrupt
    names = {e.name for e in v.names()}
    # every put that returned before the kill is there (at most one more may have landed unreported)
    this_round = {n for n in names if n.startswith(prefix + "_")}
    assert done <= this_round and len(this_round - done) <= 1
    for name in names:
        assert v.get(f"unleak://crash/{name}") == value_for(seed, name)
    # a temp file left by the killed writer is never read, and the next write removes it
    v.put("AFTER", value_for(seed, "AFTER"))
    assert list(v.vault_dir.glob(".crash.vault.*.tmp")) == []
    return torn


def test_sigkill_mid_write_leaves_a_readable_vault() -> None:
    seed = secrets.token_hex(8)
    # a vault file already exists, so each kill hits a read-modify-write of real data
    LocalVault("crash").put("EXISTING", value_for(seed, "EXISTING"))
    # Kill at varied moments until at least one kill provably landed mid-write (a temp file was left behind);
    # about a quarter of kills do, so 40 rounds make a miss vanishingly unlikely.
    rng = random.Random(seed)
    rounds, torn = 0, 0
    while rounds < 40 and (torn < 1 or rounds < 3):
        rounds += 1
        torn += _crash_round(seed, f"R{rounds}", rng.uniform(0.01, 0.15))
    assert torn >= 1, f"no kill landed mid-write in {rounds} rounds"


def test_partial_temp_file_is_ignored_and_cleaned() -> None:
    v = open_vault(namespace="tmpf")
    assert isinstance(v, LocalVault)
    v.put("A", "value-a")
    stale = v.vault_dir / ".tmpf.vault.deadbeef.tmp"
    stale.write_bytes(b'{"format": "unleak-vault", "entr')  # a torn write by a crashed process
    # the namespace "tmpf.vault.x" writes .tmpf.vault.x.vault.<random>.tmp: not this namespace's to remove
    neighbour = v.vault_dir / ".tmpf.vault.x.vault.deadbeef.tmp"
    neighbour.write_bytes(b"{}")
    assert [e.name for e in v.names()] == ["A"]
    v.put("B", "value-b")
    assert not stale.exists()
    assert neighbour.exists()
    assert v.verify() == 2
