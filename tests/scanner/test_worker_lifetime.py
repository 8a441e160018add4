"""A scan's worker processes (and their git processes) end with the scan, however it ends.

``timeout 600 unleak scan --history`` sends SIGTERM to unleak alone, and so may a CI runner cancelling a step or a
supervisor. The scan's forked workers used to live on: they kept scanning, then waited forever to hand results to
a parent that was gone, and kept the caller's stdout and stderr open, so the step that ran unleak hung instead of
ending. Here the scan process alone is killed while its workers are busy, and the caller must see its output end,
and the process group empty, within seconds.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scanner import workerproc
from tests.conftest import GitRepo
from tests.procs import processes

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                                reason="one CPU: a scan forks no worker processes")


def _group(pgid: int) -> dict[int, tuple[int, str]]:
    """Live (not zombie) processes of process group ``pgid``: pid -> (parent pid, command name)."""
    return {pid: (p.ppid, p.name) for pid, p in processes().items() if p.pgid == pgid and p.state not in ("Z", "X")}


def _lines(rng: random.Random, n: int) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(f'service_{i}_token = "{"".join(rng.choices(alphabet, k=32))}"\n' for i in range(n))


def _files_tree(root: Path) -> Path:
    tree = root / "tree"
    rng = random.Random(7)
    for d in range(40):
        sub = tree / f"d{d}"
        sub.mkdir(parents=True)
        for f in range(60):
            (sub / f"settings_{f}.py").write_text(_lines(rng, 120))
    return tree


def _history(repo: GitRepo) -> Path:
    """A history of 3,000 commits, each adding a file of credential-shaped lines (written with fast-import)."""
    rng = random.Random(11)
    stream = []
    for i in range(3000):
        body = _lines(rng, 60).encode()
        stream.append(b"commit refs/heads/bulk\n"
                      b"committer T <t@example.com> %d +0000\n" % (1_600_000_000 + i)
                      + b"data 2\nc\n"
                      + b"M 100644 inline conf/settings_%d.py\ndata %d\n" % (i, len(body)) + body + b"\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo.path, input=b"".join(stream), check=True)
    subprocess.run(["git", "reset", "-q", "--hard", "bulk"], cwd=repo.path, check=True)
    return repo.path


def _kill_scan_once_workers_run(args: list[str], cwd: Path, ctrl_c: bool = False) -> None:
    """Start the scan, and once its workers are scanning: SIGTERM to the scan process alone, or (``ctrl_c``) SIGINT to
    its whole process group, as a terminal's Ctrl-C sends it."""
    proc = subprocess.Popen([sys.executable, "-m", "unleak", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not any(name.startswith(("python", "unleak")) for ppid, name in _group(proc.pid).values()
                      if ppid == proc.pid):
            assert proc.poll() is None, "the scan ended before it forked its workers: make the input larger"
            assert time.monotonic() < deadline, "no worker process appeared"
            time.sleep(0.005)
        time.sleep(0.5)  # the workers are scanning now
        assert proc.poll() is None, "the scan ended before it could be killed: make the input larger"
        if ctrl_c:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGTERM)  # the scan process alone, as timeout(1) does
        try:
            _, err = proc.communicate(timeout=20)  # its output ends: nothing else holds the pipes
        except subprocess.TimeoutExpired:
            pytest.fail(f"the scan's output did not end after it was killed; left: {_group(proc.pid)}")
        if ctrl_c:
            assert (proc.returncode, err.decode()) == (130, "unleak: interrupted\n")
        else:
            assert proc.returncode == -signal.SIGTERM
        deadline = time.monotonic() + 10
        while _group(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _group(proc.pid) == {}, "processes of the scan outlived it"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in _group(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.communicate()


def test_files_scan_workers_end_with_a_killed_scan(tmp_path: Path) -> None:
    tree = _files_tree(tmp_path)
    _kill_scan_once_workers_run(["scan", str(tree), "--no-baseline", "--format", "json"], tmp_path)


@pytest.mark.parametrize("ctrl_c", [False, True], ids=["sigterm-to-unleak", "ctrl-c"])
def test_history_scan_workers_and_their_git_end_with_a_killed_scan(repo: GitRepo, ctrl_c: bool) -> None:
    path = _history(repo)
    _kill_scan_once_workers_run(["scan", "--history", "--no-baseline", "--format", "json"], path, ctrl_c)


_MIDDLE = """
import os, time
from scanner import workerproc
import ctypes  # as _run_workers loads it before forking
parent = os.getpid()
pid = os.fork()
if pid == 0:
    workerproc.end_with(parent)
    time.sleep(60)  # a worker inside one long block: it never reaches its next take()
    os._exit(0)
print(pid, flush=True)
time.sleep(60)
"""


def test_a_worker_dies_with_its_scan_process_even_in_the_middle_of_a_block() -> None:
    """The parent-death signal, on its own: the worker is killed with its parent, not at its next block."""
    middle = subprocess.Popen([sys.executable, "-c", _MIDDLE],
                              stdout=subprocess.PIPE, start_new_session=True, text=True)
    try:
        assert middle.stdout is not None
        worker = int(middle.stdout.readline())
        assert worker in _group(middle.pid)
        middle.kill()
        middle.wait()
        deadline = time.monotonic() + 5
        while worker in _group(middle.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert worker not in _group(middle.pid)
    finally:
        for pid in _group(middle.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_worker_whose_scan_process_is_already_gone_ends_at_once() -> None:
    """Forked after its parent died (or asked about the wrong one): it ends instead of scanning for nobody."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        workerproc.end_with(os.getppid() + 1_000_000)  # not its parent
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1
