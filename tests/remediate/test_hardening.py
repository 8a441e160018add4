"""Processes that hold secret values cannot leave them in a core dump; vault write failures are clear errors; a
crash during key creation leaves no second copy of the key behind."""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from remediate.hardening import no_core_dumps
from remediate.vault.local import LocalVault
from tests.conftest import run_cli
from tests.fakes import github_pat

PR_GET_DUMPABLE = 3


def test_no_core_dumps_in_this_process() -> None:
    code = ("import ctypes, resource; from remediate.hardening import no_core_dumps; no_core_dumps(); "
            "libc = ctypes.CDLL(None, use_errno=True); "
            "print(resource.getrlimit(resource.RLIMIT_CORE), libc.prctl(3, 0, 0, 0, 0))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "(0, 0) 0"
    assert callable(no_core_dumps) and ctypes is not None


def _limits_of(pid: int) -> str:
    return next(line for line in Path(f"/proc/{pid}/limits").read_text().splitlines()
                if line.startswith("Max core file size"))


def test_secrets_set_and_fix_run_without_core_dumps(tmp_path: Path) -> None:
    # `secrets set` waits for its value on stdin: look at the live process
    proc = subprocess.Popen([sys.executable, "-m", "unleak", "secrets", "set", "TOKEN", "--namespace", "app"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while "0                    0" not in _limits_of(proc.pid).replace("bytes", "").strip() + " ":
            if time.monotonic() > deadline or proc.poll() is not None:
                break
            time.sleep(0.05)
        limits = _limits_of(proc.pid).split()
        assert limits[4:6] == ["0", "0"], limits
    finally:
        proc.communicate(github_pat().encode() + b"\n", timeout=60)
    assert proc.returncode == 0


def test_vault_write_failure_is_a_clear_error(tmp_path: Path) -> None:
    vault = LocalVault("app", data_dir=Path(os.environ["XDG_DATA_HOME"]) / "unleak")
    vault.put("BIG", github_pat() * 200)
    vault.put("KEEP", github_pat() * 200)  # the file stays over the limit after `rm BIG`

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    for args in (("secrets", "set", "TOKEN", "--namespace", "app"), ("secrets", "rm", "BIG", "--namespace", "app")):
        canary = github_pat()
        proc = subprocess.run([sys.executable, "-m", "unleak", *args], input=canary + "\n", capture_output=True,
                              text=True, preexec_fn=limit, cwd=tmp_path, timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert "could not write the vault file" in proc.stderr and "File too large" in proc.stderr
        assert "internal error" not in proc.stderr and canary not in proc.stderr
    listed = run_cli("secrets", "list", "--namespace", "app", cwd=tmp_path)
    assert listed.stdout.split() == ["BIG", "unleak://app/BIG", "KEEP", "unleak://app/KEEP"]


def test_stale_key_temp_file_is_removed(tmp_path: Path) -> None:
    data = tmp_path / "unleak"
    LocalVault("app", data_dir=data).put("A", github_pat())
    stale = data / f".vault.key.tmp.{os.getpid() + 1}.deadbeef"
    os.link(data / "vault.key", stale)  # what a crash between write and unlink leaves: a 2nd link to the key
    LocalVault("app", data_dir=data).put("B", github_pat())
    assert not stale.exists()
    assert os.stat(data / "vault.key").st_nlink == 1
