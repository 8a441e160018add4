"""Benchmark of the agent boundary: what `unleak agent` adds to start-up and to MCP `run`.

    python bench/agent.py [--runs 7] [--calls 10]

Everything happens in a temporary HOME (its own vault, file key, no OS keyring) and a temporary git repository
whose .env references one secret; a grant covers `true`, so MCP `run` is answered without approval.

Rows (median of --runs; wall time, and CPU time of the whole process tree, which a busy machine disturbs less):
  * ``true``                                  the floor
  * ``unleak run -- true``                    a run at the human's terminal (policy: no grant needed)
  * ``unleak agent -- true``                  broker, Landlock domain, agent, tree collected at exit
  * ``unleak agent -- sh -c 'unleak run -- true'``  a run from the agent's shell, served by the broker (under the
    grant), the session started for it
  * ``unleak run -- true`` from a shell, directly and inside an ``unleak agent`` session that is already up (the
    broker's run server is warm): what an agent's command pays, which is the overhead target
MCP rows (median over --calls tool calls after the session is up, and the session's start-up):
  * MCP `run` of `true` through ``unleak mcp`` started by a client outside any sandbox (today)
  * the same client inside ``unleak agent``, its ``unleak mcp`` a thin client of the broker
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
UNLEAK = [sys.executable, "-m", "unleak"]

SETUP = r"""
import sys
from pathlib import Path
from remediate.vault import open_vault
from unleak.agent.grantstore import GrantStore
from unleak.agent.policy import policy_path, sign_policy
repo = Path(sys.argv[1])
policy_path().parent.mkdir(parents=True, exist_ok=True)
policy_path().write_text('run_requires_grant = "never"\n')
sign_policy()
ref = open_vault(repo_path=repo).put("TOKEN", "bench-" + "x" * 32)
(repo / ".env").write_text(f"TOKEN={ref}\n")
GrantStore().add_grant(secrets=["TOKEN"], command=["true"], created_by="user:bench", repo=str(repo), cwd=repo)
"""

CLIENT = r"""
import anyio, json, os, sys, time
from mcp import ClientSession, StdioServerParameters, stdio_client
calls = int(sys.argv[1])
async def main():
    t0 = time.perf_counter()
    params = StdioServerParameters(command=sys.executable, args=["-m", "unleak", "mcp"], cwd=os.getcwd(),
                                   env=dict(os.environ))
    async with stdio_client(params) as (r, w), ClientSession(r, w) as s:
        await s.initialize()
        await s.list_tools()
        up = time.perf_counter() - t0
        times = []
        for _ in range(calls):
            t = time.perf_counter()
            res = await s.call_tool("run", {"argv": ["true"]})
            times.append(time.perf_counter() - t)
            assert json.loads(res.content[0].text)["status"] == "ran", res.content[0].text
    print(json.dumps({"startup": up, "calls": times}))
anyio.run(main)
"""


def isolated_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["HOME"] = str(home)
    for var, sub in (("XDG_DATA_HOME", ".local/share"), ("XDG_CONFIG_HOME", ".config"),
                     ("XDG_STATE_HOME", ".local/state"), ("XDG_CACHE_HOME", ".cache")):
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(home / sub)
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    for marker in ("CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT", "UNLEAK_RUN", "UNLEAK_MCP", "UNLEAK_AGENT",
                   "UNLEAK_BROKER_FD", "UNLEAK_BROKER_SOCKET"):
        env.pop(marker, None)
    return env


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed(cmd: list[str], env: dict[str, str], cwd: Path, runs: int) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system of the whole process tree) of ``cmd``. On a busy
    machine the CPU time is the steadier measure of what a command costs."""
    walls, cpus = [], []
    for _ in range(runs):
        c, t = _children_cpu(), time.perf_counter()
        subprocess.run(cmd, env=env, cwd=cwd, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t)
        cpus.append(_children_cpu() - c)
    return statistics.median(walls), statistics.median(cpus)


def mcp_session(prefix: list[str], env: dict[str, str], cwd: Path, calls: int, script: Path) -> tuple[float, float]:
    out = subprocess.run([*prefix, sys.executable, str(script), str(calls)], env=env, cwd=cwd, check=True,
                         capture_output=True, text=True).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return float(data["startup"]), statistics.median(data["calls"])


SHELL_RUNS = r"""
import json, subprocess, sys, time
n, cmd = int(sys.argv[1]), sys.argv[2:]
time.sleep(1.0)  # the session is up and settled, as when an agent's shell runs a command later on
out = []
for _ in range(n):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    out.append(time.perf_counter() - t)
print(json.dumps(out))
"""


def in_session(prefix: list[str], env: dict[str, str], cwd: Path, runs: int, script: Path) -> float:
    """Median wall time of ``unleak run -- true`` run ``runs`` times from one shell (inside ``prefix``)."""
    out = subprocess.run([*prefix, sys.executable, str(script), str(runs), *UNLEAK, "run", "--", "true"], env=env,
                         cwd=cwd, check=True, capture_output=True, text=True).stdout
    return statistics.median(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--calls", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="unleak-bench-agent-") as tmp:
        root = Path(tmp)
        env = isolated_env(root / "home")
        repo = root / "repo"
        repo.mkdir()
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        subprocess.run([sys.executable, "-c", SETUP, str(repo)], env=env, check=True)
        script = root / "client.py"
        script.write_text(CLIENT)
        rows = [
            ("true", timed(["true"], env, repo, args.runs)),
            ("unleak run -- true", timed([*UNLEAK, "run", "--", "true"], env, repo, args.runs)),
            ("unleak agent -- true", timed([*UNLEAK, "agent", "--", "true"], env, repo, args.runs)),
            ("unleak agent -- sh -c 'unleak run -- true'",
             timed([*UNLEAK, "agent", "--", "sh", "-c", f"{sys.executable} -m unleak run -- true"], env, repo,
                   args.runs)),
        ]
        print(f"{'':<48} {'wall':>8}    {'cpu':>8}")
        for label, (wall, cpu) in rows:
            print(f"{label:<48} {wall * 1000:8.1f} ms {cpu * 1000:8.1f} ms")
        shell = root / "shell_runs.py"
        shell.write_text(SHELL_RUNS)
        outside = in_session([], env, repo, args.runs, shell)
        inside_run = in_session([*UNLEAK, "agent", "--"], env, repo, args.runs, shell)
        print(f"{'unleak run -- true from a shell, direct':<48} {outside * 1000:8.1f} ms")
        print(f"{'  … from the shell of a running unleak agent':<48} {inside_run * 1000:8.1f} ms"
              f"   (+{(inside_run - outside) * 1000:.0f} ms)")
        direct = mcp_session([], env, repo, args.calls, script)
        inside = mcp_session([*UNLEAK, "agent", "--"], env, repo, args.calls, script)
        print(f"{'MCP session start-up, direct':<48} {direct[0] * 1000:8.1f} ms")
        print(f"{'MCP session start-up, inside unleak agent':<48} {inside[0] * 1000:8.1f} ms")
        print(f"{'MCP run(true), direct':<48} {direct[1] * 1000:8.1f} ms")
        print(f"{'MCP run(true), inside unleak agent':<48} {inside[1] * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
