"""`unleak run` from the agent's shell is served by a fork of the broker's warm run server (unleak/agent/zygote.py),
not by a new interpreter: the same answers and grant rules as before, the value only in the granted child, and the
run ends with its client."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import GitRepo, run_cli
from unleak import confine

pytestmark = pytest.mark.skipif(not confine.available(), reason="this kernel has no Landlock (needs Linux >= 5.13 "
                                "with landlock in the LSM list)")

# Prints what started it: the `unleak run` process that injected the value is its parent.
SHOW = """\
import hashlib, os, sys
parent = open(f"/proc/{os.getppid()}/cmdline", "rb").read().split(b"\\0")
print("parent", b" ".join(parent).decode())
print("token", hashlib.sha256(os.environ["TOKEN"].encode()).hexdigest())
"""


def _setup(repo: GitRepo, canary: str) -> str:
    from remediate.vault import open_vault
    from unleak.agent.grantstore import GrantStore

    ref = open_vault(repo_path=repo.path).put("TOKEN", canary)
    repo.commit("app", {".env.unleak": f"TOKEN={ref}\n", "show.py": SHOW})
    GrantStore().add_grant(secrets=["TOKEN"], command=[sys.executable, "show.py"], created_by="user:test",
                           repo=str(repo.path), cwd=repo.path)
    return textwrap.dedent(f"""\
        unleak() {{ {sys.executable} -m unleak "$@"; }}
        unleak run -- {sys.executable} show.py
        echo "first=$?"
        unleak run -- {sys.executable} show.py
        echo "second=$?"
        """)


@pytest.mark.parametrize("server", ["zygote", "interpreter"])
def test_a_brokered_run_is_a_fork_of_the_warm_server_and_answers_the_same(
        repo: GitRepo, canary: str, server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    if server == "interpreter":
        monkeypatch.setenv("UNLEAK_AGENT_NO_ZYGOTE", "1")
    script = _setup(repo, canary)
    res = run_cli("agent", "--", "sh", "-c", script, cwd=repo.path)
    out = res.stdout + res.stderr
    assert "first=0" in res.stdout and "second=0" in res.stdout, out
    assert res.stdout.count(f"token {hashlib.sha256(canary.encode()).hexdigest()}") == 2, out
    parents = [line for line in res.stdout.splitlines() if line.startswith("parent ")]
    assert len(parents) == 2
    # The zygote's forks carry the broker's command line; without it each run is `-m unleak.agent.brokered run`.
    brokered = all("unleak.agent.brokered run" in p for p in parents)
    assert brokered == (server == "interpreter"), parents
    assert all("unleak agent" in p or "unleak.agent.brokered" in p or " agent " in p for p in parents), parents
    assert canary not in out


def test_a_run_whose_client_is_killed_is_ended(repo: GitRepo, canary: str, tmp_path: Path) -> None:
    """The agent's `unleak run` client killed mid-run: the run it asked for, outside the sandbox, ends too."""
    from unleak.agent.grantstore import GrantStore

    marker = tmp_path / "alive"
    sleeper = f"import os, time\nopen({str(marker)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)\n"
    from remediate.vault import open_vault

    ref = open_vault(repo_path=repo.path).put("TOKEN", canary)
    repo.commit("app", {".env.unleak": f"TOKEN={ref}\n", "sleep.py": sleeper})
    GrantStore().add_grant(secrets=["TOKEN"], command=[sys.executable, "sleep.py"], created_by="user:test",
                           repo=str(repo.path), cwd=repo.path)
    script = textwrap.dedent(f"""\
        {sys.executable} -m unleak run -- {sys.executable} sleep.py &
        client=$!
        i=0; while [ ! -s {marker} ] && [ $i -lt 300 ]; do sleep 0.05; i=$((i+1)); done
        kill -9 $client
        pid=$(cat {marker})
        i=0; while kill -0 $pid 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
        if kill -0 $pid 2>/dev/null; then echo "run=alive"; else echo "run=ended"; fi
        """)
    res = run_cli("agent", "--", "sh", "-c", script, cwd=repo.path, timeout=120)
    assert "run=ended" in res.stdout, res.stdout + res.stderr
    assert canary not in res.stdout + res.stderr
    assert os.path.exists(marker)


# Modules a run imports only when it needs them (a refusal imports `resource`, the vault `platformdirs`), planted in
# the agent's repository. The broker is often started with `python -m unleak agent` there, which puts the
# repository first on Python's module path: outside the sandbox such a module would run with the key readable.
PLANTED = """\
import os
try:
    with open({key!r}, "rb"):
        pass
    open({marker!r}, "a").write(__name__ + " outside the sandbox\\n")
except OSError:
    pass
raise ImportError("planted")
"""


@pytest.mark.parametrize("server", ["zygote", "interpreter"])
def test_modules_planted_in_the_repository_never_run_outside_the_sandbox(
        repo: GitRepo, canary: str, server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from remediate.vault import open_vault
    from remediate.vault.local import user_data_dir

    if server == "interpreter":
        monkeypatch.setenv("UNLEAK_AGENT_NO_ZYGOTE", "1")
    ref = open_vault(repo_path=repo.path).put("TOKEN", canary)
    key = str(Path(user_data_dir()) / "vault.key")
    assert os.path.exists(key)
    marker = tmp_path / "escaped"
    planted = {f"{name}.py": PLANTED.format(key=key, marker=str(marker))
               for name in ("resource", "platformdirs", "pty", "termios", "tty", "shlex", "struct", "fcntl")}
    repo.commit("app", {".env.unleak": f"TOKEN={ref}\n", **planted})
    script = f"cd {repo.path} && {sys.executable} -m unleak run -- true; echo done=$?"
    # `python -m unleak agent`, started in the repository: its directory is first on the broker's module path.
    res = run_cli("agent", "--", "sh", "-c", script, cwd=repo.path)
    assert not marker.exists(), marker.read_text()
    assert "done=" in res.stdout, res.stdout + res.stderr
    assert canary not in res.stdout + res.stderr
