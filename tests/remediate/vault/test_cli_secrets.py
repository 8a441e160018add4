"""`unleak secrets list|set|rm` through the real command (a subprocess), grepping every channel for the canary."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.conftest import GitRepo, run_cli
from tests.fakes import github_pat
from tests.fakes_op import FakeOp

pytestmark = pytest.mark.usefixtures("human_runs")


def _data_dir() -> Path:
    return Path(os.environ["XDG_DATA_HOME"]) / "unleak"


def _all_vault_bytes() -> bytes:
    return b"".join(p.read_bytes() for p in _data_dir().rglob("*") if p.is_file())


def _no_leak(canary: str, *procs: subprocess.CompletedProcess[str]) -> None:
    for p in procs:
        assert canary not in p.stdout and canary not in p.stderr
    assert canary.encode() not in _all_vault_bytes()


def test_set_list_rm_never_show_the_value(repo: GitRepo, canary: str) -> None:
    from remediate.vault import default_namespace, resolve_reference

    set_ = run_cli("secrets", "set", "GITHUB_TOKEN", cwd=repo.path, input=canary + "\n")
    assert set_.returncode == 0, set_.stderr
    ns = default_namespace(repo.path)  # registered by the set: the directory's name and a suffix of its own
    assert ns.startswith("repo-") and len(ns) == len("repo-") + 6
    ref = f"unleak://{ns}/GITHUB_TOKEN"
    assert set_.stdout == ref + "\n"  # only the reference
    listed = run_cli("secrets", "list", cwd=repo.path)
    assert listed.returncode == 0 and listed.stdout.split() == ["GITHUB_TOKEN", ref]
    assert f"namespace {ns} (registered for {repo.path.resolve()})" in listed.stderr
    as_json = run_cli("secrets", "list", "--json", cwd=repo.path)
    assert json.loads(as_json.stdout) == {
        "backend": "unleak", "namespace": ns, "namespace_source": "registered",
        "namespace_about": f"registered for {repo.path.resolve()}",
        "secrets": [{"name": "GITHUB_TOKEN", "reference": ref}]}
    # the stored value is exactly what was piped, minus the one trailing newline
    assert resolve_reference(ref) == canary
    again = run_cli("secrets", "set", "GITHUB_TOKEN", cwd=repo.path, input=canary)
    assert again.returncode == 0 and again.stdout == ref + "\n"
    refuse = run_cli("secrets", "set", "GITHUB_TOKEN", "--no-overwrite", cwd=repo.path, input=github_pat())
    assert refuse.returncode == 2 and "different value" in refuse.stderr
    rm = run_cli("secrets", "rm", "GITHUB_TOKEN", cwd=repo.path)
    assert rm.returncode == 0 and ref in rm.stderr
    empty = run_cli("secrets", "list", cwd=repo.path)
    assert empty.returncode == 0 and empty.stdout == "" and "no secrets" in empty.stderr
    _no_leak(canary, set_, listed, as_json, again, refuse, rm, empty)
    assert canary not in repo.git("status", "--porcelain") and list(repo.path.rglob("*.vault")) == []


def test_set_then_run_delivers_the_value_to_the_child_only(repo: GitRepo, canary: str) -> None:
    """The contract with `unleak run`: the reference `secrets set` prints resolves, in a child, to the value."""
    import hashlib

    ref = run_cli("secrets", "set", "GITHUB_TOKEN", cwd=repo.path, input=canary).stdout.strip()
    repo.write(".env", f"GITHUB_TOKEN={ref}\n")
    child = "import hashlib, os; print(hashlib.sha256(os.environ['GITHUB_TOKEN'].encode()).hexdigest())"
    r = run_cli("run", "--env-file", ".env", "--", sys.executable, "-c", child, cwd=repo.path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == hashlib.sha256(canary.encode()).hexdigest()
    _no_leak(canary, r)


def test_namespace_option(tmp_path: Path, canary: str) -> None:
    r = run_cli("secrets", "set", "K", "--namespace", "shop-api", cwd=tmp_path, input=canary)
    assert r.returncode == 0 and r.stdout == "unleak://shop-api/K\n"
    assert run_cli("secrets", "list", "--namespace", "shop-api", cwd=tmp_path).stdout.split() == [
        "K", "unleak://shop-api/K"]
    _no_leak(canary, r)


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (("secrets", "set", "1BAD"), "v", "invalid secret name"),
    (("secrets", "set", "OK"), "", "no value given"),
    (("secrets", "set", "OK"), "\n", "no value given"),
    (("secrets", "set", "OK", "--namespace", "Bad NS"), "v", "invalid namespace"),
    (("secrets", "rm", "NOPE"), None, "no secret named 'NOPE'"),
    (("secrets", "list", "--op-vault", "dev"), None, "--op-vault only applies"),
    (("secrets", "list", "--backend", "vault"), None, "Invalid value"),
])
def test_usage_errors_exit_2(tmp_path: Path, args: tuple[str, ...], stdin: str | None, message: str) -> None:
    r = run_cli(*args, cwd=tmp_path, input=stdin)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr and "Traceback" not in r.stderr


def test_invalid_utf8_on_stdin(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "unleak", "secrets", "set", "K"], cwd=tmp_path, input=b"\xff\xfe",
                       capture_output=True, timeout=60)
    assert r.returncode == 2 and b"not UTF-8" in r.stderr


def test_tampered_vault_is_exit_2_without_leak(tmp_path: Path, canary: str) -> None:
    assert run_cli("secrets", "set", "K", "--namespace", "t", cwd=tmp_path, input=canary).returncode == 0
    vault_file = _data_dir() / "vaults" / "t.vault"
    doc = json.loads(vault_file.read_text())
    doc["mac"] = "0" * 64
    vault_file.write_text(json.dumps(doc))
    r = run_cli("secrets", "list", "--namespace", "t", cwd=tmp_path)
    assert r.returncode == 2 and "modified outside unleak" in r.stderr
    _no_leak(canary, r)


def test_hidden_prompt_on_a_terminal(tmp_path: Path, canary: str) -> None:
    """On a TTY the value is asked twice with echo off: the terminal never shows it."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "unleak", "secrets", "set", "K", "--namespace", "tty"],
                            cwd=tmp_path, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    seen = b""

    def read_until(token: bytes, timeout: float = 30) -> None:
        nonlocal seen
        end = time.monotonic() + timeout
        while token not in seen and time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    return

    read_until(b"Value for K")
    os.write(master, canary.encode() + b"\r")
    read_until(b"Repeat")
    os.write(master, canary.encode() + b"\r")
    read_until(b"unleak://tty/K")
    assert proc.wait(timeout=30) == 0
    read_until(b"\n", timeout=0.5)
    os.close(master)
    assert b"unleak://tty/K" in seen
    assert canary.encode() not in seen
    from remediate.vault import resolve_reference

    assert resolve_reference("unleak://tty/K") == canary


def test_ctrl_c_at_the_prompt_exits_130(tmp_path: Path) -> None:
    master, slave = pty.openpty()

    def controlling_tty() -> None:  # a new session whose controlling terminal is the pty, as in a real shell
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen([sys.executable, "-m", "unleak", "secrets", "set", "K", "--namespace", "intr"],
                            cwd=tmp_path, stdin=slave, stdout=slave, stderr=slave, close_fds=True,
                            preexec_fn=controlling_tty)
    os.close(slave)
    try:
        seen = b""
        end = time.monotonic() + 30
        while b"Value for K" not in seen and time.monotonic() < end:
            if select.select([master], [], [], 0.2)[0]:
                seen += os.read(master, 4096)
        os.write(master, b"\x03")  # the terminal turns ^C into SIGINT for the foreground process group
        assert proc.wait(timeout=30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert not (_data_dir() / "vaults" / "intr.vault").exists()


def test_op_backend_through_the_cli(fake_op: FakeOp, tmp_path: Path, canary: str) -> None:
    s = run_cli("secrets", "set", "TOKEN", "--backend", "op", "--op-vault", "dev", "--namespace", "proj",
                cwd=tmp_path, input=canary)
    assert s.returncode == 0, s.stderr
    assert s.stdout == "op://dev/TOKEN/credential\n"
    ls = run_cli("secrets", "list", "--backend", "op", "--op-vault", "dev", "--namespace", "proj", cwd=tmp_path)
    assert ls.stdout.split() == ["TOKEN", "op://dev/TOKEN/credential"]
    rm = run_cli("secrets", "rm", "TOKEN", "--backend", "op", "--op-vault", "dev", "--namespace", "proj",
                 cwd=tmp_path)
    assert rm.returncode == 0 and fake_op.items() == []
    for p in (s, ls, rm):
        assert canary not in p.stdout and canary not in p.stderr
    for argv in fake_op.argvs():
        assert canary not in " ".join(argv)


def test_op_signed_out_is_exit_2(fake_op: FakeOp, tmp_path: Path, canary: str) -> None:
    r = run_cli("secrets", "set", "TOKEN", "--backend", "op", "--op-vault", "dev", cwd=tmp_path, input=canary,
                env={"FAKE_OP_SIGNED_OUT": "1"})
    assert r.returncode == 2 and "not currently signed in" in r.stderr
    assert canary not in r.stdout + r.stderr
