"""Atomic writes: content, modes, no temp file left behind, a taken temp name is skipped."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from scanner import fileio
from tests.conftest import GitRepo, run_cli
from tests.fakes import github_pat


def test_write_keeps_the_mode_of_an_existing_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")
    target.chmod(0o640)
    fileio.atomic_write_text(target, "new ü")
    assert target.read_text(encoding="utf-8") == "new ü"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_new_file_follows_umask_or_the_given_mode(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        fileio.atomic_write_bytes(tmp_path / "a", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o640
    fileio.atomic_write_bytes(tmp_path / "b", b"x", mode=0o600)
    assert (tmp_path / "b").stat().st_mode & 0o777 == 0o600


def test_a_failed_rename_removes_the_temp_file(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "inside").write_text("keeps the directory non-empty")
    with pytest.raises(OSError):
        fileio.atomic_write_text(tmp_path / "dir", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir"]


def test_a_taken_temp_name_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter([b"\x00" * 6, b"\x00" * 6, b"\x01" * 6])
    monkeypatch.setattr(fileio.os, "urandom", lambda n: next(draws))
    taken = tmp_path / f".f.{'00' * 6}.tmp"
    taken.write_text("someone else's")
    fileio.atomic_write_text(tmp_path / "f", "mine")
    assert (tmp_path / "f").read_text() == "mine" and taken.read_text() == "someone else's"


# --- non-regular targets: written in place, never replaced (a renamed temp file over /dev/null breaks the machine) ---


def _char_null(path: Path) -> Path:
    """A character device with /dev/null's numbers (1, 3), so the test never risks the real /dev/null."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("mknod needs CAP_MKNOD")
    os.chmod(path, 0o666)  # mknod applies the umask
    return path


def test_a_character_device_is_written_in_place_not_replaced(tmp_path: Path) -> None:
    dev = _char_null(tmp_path / "null")
    before = os.stat(dev)
    fileio.atomic_write_text(dev, '{"findings": []}\n', mode=0o600)
    after = os.stat(dev)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev and after.st_ino == before.st_ino
    assert after.st_mode & 0o777 == 0o666  # the device's permissions are not touched either
    assert dev.read_bytes() == b""  # still swallows everything
    assert [p.name for p in tmp_path.iterdir()] == ["null"]


def test_scan_output_to_a_character_device_keeps_the_device(tmp_path: Path, repo: GitRepo) -> None:
    dev = _char_null(tmp_path / "null")
    repo.commit("one", {"app.py": f"TOKEN = '{github_pat()}'\n"})
    proc = run_cli("scan", "--format", "json", "--output", str(dev), cwd=repo.path)
    assert proc.returncode == 1, proc.stderr
    assert stat.S_ISCHR(os.stat(dev).st_mode) and dev.read_bytes() == b""


def test_a_fifo_is_written_in_place(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    fileio.atomic_write_bytes(fifo, b"report\n")
    reader.join(timeout=10)
    assert got == [b"report\n"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]


def test_process_substitution_and_dev_stdout_receive_the_report(tmp_path: Path, repo: GitRepo) -> None:
    repo.commit("one", {"app.py": f"TOKEN = '{github_pat()}'\n"})
    unleak = f"{shlex.quote(sys.executable)} -m unleak scan --format json"
    out = tmp_path / "out.json"
    proc = subprocess.run(["bash", "-c", f"{unleak} --output >(cat > {shlex.quote(str(out))}); rc=$?; wait; exit $rc"],
                          cwd=repo.path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    for _ in range(100):  # the substituted `cat` may finish just after bash returns
        if out.exists() and out.read_text().endswith("\n"):
            break
        time.sleep(0.05)
    assert json.loads(out.read_text())["findings"]
    piped = subprocess.run(["bash", "-c", f"{unleak} --output /dev/stdout | cat"],
                           cwd=repo.path, capture_output=True, text=True, timeout=120)
    assert json.loads(piped.stdout)["findings"]
    # /dev/stdout redirected to a regular file: the shell's file gets the report, nothing is renamed over it
    redirected = tmp_path / "redirected.json"
    subprocess.run(["bash", "-c", f"{unleak} --output /dev/stdout > {shlex.quote(str(redirected))}"],
                   cwd=repo.path, capture_output=True, text=True, timeout=120)
    assert json.loads(redirected.read_text())["findings"]


def test_a_symlink_is_written_through_not_replaced(tmp_path: Path) -> None:
    real = tmp_path / "real" / "report.json"
    real.parent.mkdir()
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(Path("real") / "report.json")
    fileio.atomic_write_text(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(Path("real") / "report.json")
    assert real.read_text() == "new" and real.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in real.parent.iterdir()) == ["report.json"]
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "real" / "created.json")
    fileio.atomic_write_text(dangling, "made")
    assert dangling.is_symlink() and (tmp_path / "real" / "created.json").read_text() == "made"


_UNPRIVILEGED = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _as_nobody(code: str) -> subprocess.CompletedProcess[str]:
    # The system interpreter: the project's may live under a home directory an unprivileged user cannot enter.
    # scanner.fileio needs the standard library only.
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    return subprocess.run([*_UNPRIVILEGED, python, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(Path(fileio.__file__).parent.parent)}, cwd="/")


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to drop to nobody")
def test_an_unprivileged_user_writes_to_devices_in_directories_it_cannot_write(tmp_path: Path) -> None:
    # A world-writable device in a directory only root may write: the atomic path needs a temp file beside it and
    # fails; writing in place is what every other tool does. /dev/null itself is the everyday case.
    box = tmp_path / "box"
    box.mkdir()
    dev = _char_null(box / "null")
    fifo = box / "pipe"
    os.mkfifo(fifo, 0o666)
    os.chmod(fifo, 0o666)
    for p in (tmp_path, box):
        p.chmod(0o755)
    for parent in tmp_path.parents:  # pytest's base temp dir is private to root
        if parent == Path("/tmp"):
            break
        parent.chmod(parent.stat().st_mode | 0o005)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    proc = _as_nobody(
        "import sys; from scanner.fileio import atomic_write_text as w\n"
        f"for p in ['/dev/null', {str(dev)!r}, {str(fifo)!r}]: w(p, 'x\\n')")
    reader.join(timeout=10)
    assert proc.returncode == 0, proc.stderr
    assert got == [b"x\n"] and stat.S_ISCHR(os.stat(dev).st_mode)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert sorted(p.name for p in box.iterdir()) == ["null", "pipe"]
