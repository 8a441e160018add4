"""Red team, issue 13 item 9: a run's processes outlive the run, its grant's expiry and its revocation; the agent
picks a longer time limit than the policy's; the process holding values can be read by a same-user process.

Before: a `setsid` double fork escaped the run's process group and kept writing the value long after the run,
the MCP answer or a revocation; `timeout_seconds` was honoured up to 3600 s whatever the policy said; and `unleak
run` was dumpable, so a process of the same user (without CAP_SYS_PTRACE, as an agent's shell) read its memory.
Now the run is a child subreaper that kills every descendant at exit, time limit, revocation and expiry; the time
limit is clamped to the policy; and `unleak run`, the MCP server and the run supervisor are not dumpable and have
no core files.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.agent.redteam.runtools import PY, agent_env, make_vault_repo
from tests.conftest import GitRepo, write_policy
from unleak.agent.policy import GrantStore


@pytest.fixture
def vault_repo(repo: GitRepo, canary: str) -> GitRepo:
    return make_vault_repo(repo, canary)

# The child starts a daemon (double fork + setsid, stdio closed) that writes the value into a file every 0.1 s for a
# minute, then either exits at once ("exit") or stays for a minute itself ("stay").
DAEMON = textwrap.dedent("""\
    import os, sys, time
    pidfile, mode = sys.argv[1], sys.argv[2]
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            for fd in (0, 1, 2):
                os.close(fd)
            open(pidfile + ".tmp", "w").write(str(os.getpid()))
            os.rename(pidfile + ".tmp", pidfile)
            for _ in range(600):
                open(pidfile + ".loot", "w").write(os.environ["TOKEN"][::-1])
                time.sleep(0.1)
            os._exit(0)
        os._exit(0)
    while not os.path.exists(pidfile):
        time.sleep(0.02)
    print("daemon started", flush=True)
    if mode == "stay":
        time.sleep(60)
        print("finished", flush=True)
""")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in "ZX"


def _wait_dead(pid: int, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def _kill(pid: int) -> None:
    import contextlib

    with contextlib.suppress(OSError):
        os.kill(pid, 9)


@pytest.fixture
def daemon_repo(vault_repo: GitRepo) -> GitRepo:
    vault_repo.commit("daemon", {"daemon.py": DAEMON})
    return vault_repo


def _core_unlimited() -> None:
    # Start from a core limit that allows dumps, so the test shows unleak lowering it.
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def _write_policy(text: str) -> None:
    write_policy(text)


def test_daemon_does_not_outlive_a_human_run(daemon_repo: GitRepo, tmp_path: Path) -> None:
    _write_policy('run_requires_grant = "never"\n')
    pidfile = tmp_path / "daemon.pid"
    proc = subprocess.run([PY, "-m", "unleak", "run", "--", PY, "daemon.py", str(pidfile), "exit"],
                          cwd=daemon_repo.path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "daemon started" in proc.stdout, proc.stderr
    pid = int(pidfile.read_text())
    try:
        # The old code returned with the daemon still writing the value: the attack worked.
        assert _wait_dead(pid), "a setsid double-fork outlived `unleak run`"
    finally:
        _kill(pid)


def _gated_run(repo: GitRepo, pidfile: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([PY, "-m", "unleak", "run", "--", PY, "daemon.py", str(pidfile), "stay"], cwd=repo.path,
                            env=agent_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_file(path: Path, proc: subprocess.Popen[str], seconds: float = 30) -> int:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return int(path.read_text())


@pytest.mark.parametrize("how", ["revoke", "expiry", "time limit"])
def test_gated_run_ends_with_its_grant(daemon_repo: GitRepo, tmp_path: Path, how: str) -> None:
    store = GrantStore()
    if how == "time limit":
        _write_policy('run_timeout = "3s"\n')
    grant = store.add_grant(secrets=["TOKEN"], command=[PY, "daemon.py", "*"], created_by="human",
                            ttl=4 if how == "expiry" else 600)
    pidfile = tmp_path / "daemon.pid"
    proc = _gated_run(daemon_repo, pidfile)
    pid = 0
    try:
        pid = _wait_file(pidfile, proc)
        if how == "revoke":
            store.revoke(grant=grant.id, by="human")
        since = time.monotonic()
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the run went on after its {how}")
        if how == "revoke":
            assert time.monotonic() - since < 5  # polled once a second; generous for a loaded machine
        assert "finished" not in out
        expected = {"revoke": "was revoked", "expiry": "expired", "time limit": "time limit"}[how]
        assert "stopped: " in err and expected in err, err
        assert _wait_dead(pid), f"the daemon outlived the run's {how}"
    finally:
        proc.kill()
        if pid:
            _kill(pid)


def _mcp_run(repo: GitRepo, args: dict[str, Any], during: Any = None) -> dict[str, Any]:
    pytest.importorskip("mcp")
    from tests.unleak.test_mcp import run_agent

    out: dict[str, Any] = {}

    async def scenario(agent: Any) -> None:
        started = time.monotonic()
        out["answer"] = await agent.call("run", args)
        out["elapsed"] = time.monotonic() - started

    thread = None
    if during is not None:
        thread = threading.Thread(target=during, daemon=True)
        thread.start()
    run_agent(repo.path, scenario)
    if thread is not None:
        thread.join(timeout=60)
    return out


def test_mcp_timeout_is_clamped_to_the_policy(daemon_repo: GitRepo, tmp_path: Path) -> None:
    _write_policy('run_timeout = "2s"\n')
    GrantStore().add_grant(secrets=["TOKEN"], command=["python3", "daemon.py", "*"], created_by="human")
    pidfile = tmp_path / "daemon.pid"
    out = _mcp_run(daemon_repo, {"argv": ["python3", "daemon.py", str(pidfile), "stay"], "timeout_seconds": 3600})
    answer = out["answer"]
    pid = int(pidfile.read_text())
    try:
        # The old code let the agent's 3600 s win over the policy's 2 s: the run went on to "finished".
        assert answer["timed_out"] is True and "finished" not in answer["output"], answer
        assert out["elapsed"] < 30
        assert _wait_dead(pid), "the daemon outlived the MCP run"
    finally:
        _kill(pid)


def test_mcp_run_ends_when_its_grant_is_revoked(daemon_repo: GitRepo, tmp_path: Path) -> None:
    store = GrantStore()
    grant = store.add_grant(secrets=["TOKEN"], command=["python3", "daemon.py", "*"], created_by="human")
    pidfile = tmp_path / "daemon.pid"

    def human_revokes() -> None:
        deadline = time.monotonic() + 60
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        store.revoke(grant=grant.id, by="human")

    out = _mcp_run(daemon_repo, {"argv": ["python3", "daemon.py", str(pidfile), "stay"]}, during=human_revokes)
    answer = out["answer"]
    pid = int(pidfile.read_text())
    try:
        assert "finished" not in answer["output"] and "was revoked" in answer["output"], answer
        assert out["elapsed"] < 30
        assert _wait_dead(pid), "the daemon outlived the revocation"
    finally:
        _kill(pid)


# Runs without CAP_SYS_PTRACE (as an agent's shell does), so the kernel's same-user rules decide: a dumpable
# process's memory is open to every process of its user. Starts `unleak run`, waits for the child, then searches
# the memory of the `unleak run` process for the value.
MEMORY_THIEF = textwrap.dedent("""\
    import subprocess, sys
    value, cmd = sys.argv[1].encode(), sys.argv[2:]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    proc.stdout.readline()
    verdict = "NOT FOUND"
    limits = open(f"/proc/{proc.pid}/limits").read()
    core = [l for l in limits.splitlines() if l.startswith("Max core file size")][0].split()[4]
    try:
        with open(f"/proc/{proc.pid}/maps") as maps, open(f"/proc/{proc.pid}/mem", "rb", 0) as mem:
            for line in maps:
                span, perms = line.split()[:2]
                if "r" not in perms:
                    continue
                a, b = (int(x, 16) for x in span.split("-"))
                try:
                    mem.seek(a)
                    if value in mem.read(b - a):
                        verdict = "FOUND"
                        break
                except (OSError, OverflowError, ValueError):
                    continue
    except PermissionError:
        verdict = "DENIED"
    proc.kill()
    proc.wait()
    print(verdict, "core", core)
""")


@pytest.mark.skipif(not Path("/usr/bin/setpriv").exists(), reason="needs util-linux setpriv")
def test_same_user_cannot_read_the_memory_of_unleak_run(daemon_repo: GitRepo, canary: str, tmp_path: Path) -> None:
    _write_policy('run_requires_grant = "never"\n')
    thief = tmp_path / "thief.py"
    thief.write_text(MEMORY_THIEF)
    child = [PY, "-c", "import time; print('ready', flush=True); time.sleep(30)"]
    proc = subprocess.run(["setpriv", "--bounding-set", "-sys_ptrace", "--inh-caps", "-sys_ptrace", PY, str(thief),
                           canary, PY, "-m", "unleak", "run", "--", *child], cwd=daemon_repo.path,
                          capture_output=True, text=True, timeout=120, preexec_fn=_core_unlimited)
    assert proc.returncode == 0, proc.stderr
    # The old code: "FOUND" — the value read out of `unleak run`'s memory.
    assert proc.stdout.split()[0] == "DENIED", proc.stdout
    assert proc.stdout.split()[2] == "0", proc.stdout


@pytest.mark.skipif(not Path("/usr/bin/setpriv").exists(), reason="needs util-linux setpriv")
@pytest.mark.parametrize("what", ["mcp server", "run supervisor"])
def test_mcp_server_and_supervisor_are_not_dumpable_and_have_no_core(daemon_repo: GitRepo, tmp_path: Path,
                                                                     what: str) -> None:
    from unleak.reaper import supervisor_argv

    if what == "mcp server":
        pytest.importorskip("mcp")
        cmd = [PY, "-m", "unleak", "mcp"]
    else:
        cmd = supervisor_argv([PY, "-c", "import time; time.sleep(30)"])
    probe = textwrap.dedent("""\
        import subprocess, sys, time
        proc = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        verdict = "READABLE"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and verdict == "READABLE":
            try:
                open(f"/proc/{proc.pid}/mem", "rb").close()
                time.sleep(0.1)
            except PermissionError:
                verdict = "DENIED"
        core = [l for l in open(f"/proc/{proc.pid}/limits") if l.startswith("Max core")][0].split()[4]
        proc.kill()
        print(verdict, core)
    """)
    script = tmp_path / "probe.py"
    script.write_text(probe)
    proc = subprocess.run(["setpriv", "--bounding-set", "-sys_ptrace", "--inh-caps", "-sys_ptrace", PY, str(script),
                           *cmd], cwd=daemon_repo.path, capture_output=True, text=True,
                          timeout=120, preexec_fn=_core_unlimited)
    assert proc.stdout.split() == ["DENIED", "0"], proc.stdout + proc.stderr


def test_supervisor_passes_the_exit_status_and_kills_the_tree(tmp_path: Path) -> None:
    from unleak.reaper import supervisor_argv

    pidfile = tmp_path / "daemon.pid"
    env = {**os.environ, "TOKEN": "fake-token-value-for-supervisor-test"}
    script = tmp_path / "daemon.py"
    script.write_text(DAEMON + "\nraise SystemExit(7)\n")
    proc = subprocess.run(supervisor_argv([sys.executable, str(script), str(pidfile), "exit"]), env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 7 and "daemon started" in proc.stdout
    pid = int(pidfile.read_text())
    try:
        assert _wait_dead(pid)
    finally:
        _kill(pid)


def test_the_child_inherits_no_core_files(daemon_repo: GitRepo) -> None:
    """A core file of the child would hold its environment, values included."""
    _write_policy('run_requires_grant = "never"\n')
    show = "import resource; print('core', resource.getrlimit(resource.RLIMIT_CORE)[0])"
    proc = subprocess.run([PY, "-m", "unleak", "run", "--", PY, "-c", show], cwd=daemon_repo.path,
                          capture_output=True, text=True, timeout=60, preexec_fn=_core_unlimited)
    assert proc.returncode == 0 and "core 0" in proc.stdout, proc.stdout + proc.stderr
