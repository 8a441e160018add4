"""Landlock confinement of the processes unleak starts for an agent, on the real kernel (this machine has ABI ≥ 1;
the tests are skipped, saying why, only where the kernel lacks Landlock)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import GitRepo, run_cli
from unleak import confine

pytestmark = pytest.mark.skipif(not confine.available(), reason="this kernel has no Landlock (needs Linux >= 5.13 "
                                "with landlock in the LSM list); confinement is not tested here")

PROBE = r"""
import json, os, sys
def t(f):
    try:
        f()
        return "ok"
    except OSError as e:
        return "denied" if e.errno in (1, 13) else f"errno {e.errno}"
paths = json.loads(sys.argv[1])
print(json.dumps({
    "read_secret": t(lambda: open(paths["secret"]).read()),
    "list_private": t(lambda: os.listdir(paths["private"])),
    "write_private": t(lambda: open(os.path.join(paths["private"], "planted"), "w").write("x")),
    "remove_private": t(lambda: os.remove(paths["secret"])),
    "create_in_ancestor": t(lambda: open(os.path.join(paths["ancestor"], "new"), "w").write("x")),
    "read_elsewhere": t(lambda: open(paths["elsewhere"]).read()),
    "write_elsewhere": t(lambda: open(paths["elsewhere"] + ".out", "w").write("x")),
    "parent_memory": t(lambda: open(f"/proc/{os.getppid()}/mem", "rb").read(1)),
    "system_files": t(lambda: open(sys.executable, "rb").read(4)),
}))
"""


def test_a_confined_child_keeps_everything_but_the_denied_directories(tmp_path: Path) -> None:
    private = tmp_path / "home" / ".local" / "share" / "unleak"
    private.mkdir(parents=True)
    (private / "vault.key").write_text("not a real key")
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "data.txt").write_text("ordinary")
    paths = {"secret": str(private / "vault.key"), "private": str(private), "ancestor": str(tmp_path / "home"),
             "elsewhere": str(tmp_path / "work" / "data.txt")}
    from unleak.run import spawn

    hook = confine.preexec([private])
    assert hook is not None
    restrict, fd = hook
    try:
        out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(paths)], preexec_fn=restrict,
                             capture_output=True, text=True, check=True).stdout
    finally:
        os.close(fd)
    assert json.loads(out) == {"read_secret": "denied", "list_private": "denied", "write_private": "denied",
                               "remove_private": "denied", "create_in_ancestor": "denied", "read_elsewhere": "ok",
                               "write_elsewhere": "ok", "parent_memory": "denied", "system_files": "ok"}
    assert (private / "vault.key").read_text() == "not a real key"
    # The same child unconfined reads everything: the probe itself can fail.
    proc = spawn([sys.executable, "-c", PROBE, json.dumps(paths)], os.environ, None, stdout=subprocess.PIPE)
    assert json.loads(proc.communicate()[0])["read_secret"] == "ok"


def test_a_symlink_into_the_denied_directory_does_not_open_it(tmp_path: Path) -> None:
    private = tmp_path / "a" / "private"
    private.mkdir(parents=True)
    (private / "k").write_text("k")
    (tmp_path / "a" / "door").symlink_to(private)  # a link beside the denied directory, in an ancestor
    plan = confine.plan([private])
    assert all(p != tmp_path / "a" / "door" for p, _ in plan.allow)
    fd = confine.ruleset(plan)
    try:
        r = subprocess.run([sys.executable, "-c", f"open({str(tmp_path / 'a' / 'door' / 'k')!r}).read()"],
                           preexec_fn=lambda: confine.restrict(fd), capture_output=True, text=True)
    finally:
        os.close(fd)
    assert r.returncode != 0 and "PermissionError" in r.stderr


ATTACK = r"""
import json, os, pathlib, sys
home = pathlib.Path.home()
data = pathlib.Path(os.environ.get("XDG_DATA_HOME", home / ".local/share")) / "unleak"
state = pathlib.Path(os.environ.get("XDG_STATE_HOME", home / ".local/state")) / "unleak"
res = {}
for name, f in {
    "read_vault_key": lambda: (data / "vault.key").read_bytes(),
    "list_vault": lambda: list(data.iterdir()),
    "mint_grant": lambda: (state / "grants.json").write_text("[]"),
    "truncate_audit": lambda: open(state / "audit.jsonl", "w").close(),
}.items():
    try:
        f()
        res[name] = "succeeded"
    except OSError as e:
        res[name] = "denied"
print("ATTACK " + json.dumps(res, sort_keys=True))
"""


def test_a_granted_agent_run_cannot_reach_the_vault_grants_or_audit(repo: GitRepo) -> None:
    """The attack of the agent-boundary review: a script the agent edited after the grant reads the vault key,
    mints itself a grant and rewrites the audit log. Under confinement every step is denied."""
    from remediate.vault import open_vault
    from tests.unleak.test_mcp import Agent, run_agent
    from unleak.userenv import data_dir, state_dir


    ref = open_vault(repo_path=repo.path).put("K", "fake-value-for-confinement-0123456789")
    assert (data_dir() / "vault.key").is_file()  # the key exists: there is something to steal
    repo.commit("init", {".env": f"K={ref}\n", "attack.py": ATTACK})
    assert run_cli("grant", "--secrets", "K", "--command", "python3 *", cwd=repo.path).returncode == 0
    out: dict[str, object] = {}

    async def scenario(agent: Agent) -> None:
        out["run"] = await agent.call("run", {"argv": ["python3", "attack.py"]})

    run_agent(repo.path, scenario)
    answer = out["run"]
    assert isinstance(answer, dict), answer
    line = next((ln for ln in str(answer.get("output", "")).splitlines() if ln.startswith("ATTACK ")), "")
    assert line, answer
    assert json.loads(line[7:]) == {"list_vault": "denied", "mint_grant": "denied", "read_vault_key": "denied",
                                    "truncate_audit": "denied"}
    assert (state_dir() / "audit.jsonl").stat().st_size > 0


CONNECT = r"""
import socket, sys
for port in sys.argv[1:]:
    c = socket.socket()
    c.settimeout(5)
    try:
        c.connect(("127.0.0.1", int(port)))
        print(port, "connected")
    except OSError as e:
        print(port, "errno", e.errno)
"""


@pytest.mark.skipif(confine.abi() < confine.NET_ABI, reason="Landlock ABI < 4 has no TCP rules")
def test_connect_ports_allow_the_listed_tcp_ports_and_nothing_else(tmp_path: Path) -> None:
    import socket

    listeners = [socket.create_server(("127.0.0.1", 0)) for _ in range(2)]
    allowed, denied = (s.getsockname()[1] for s in listeners)
    try:
        fd = confine.ruleset(confine.plan([tmp_path / "private"]), connect_ports=[allowed])
        try:
            out = subprocess.run([sys.executable, "-c", CONNECT, str(allowed), str(denied)],
                                 preexec_fn=lambda: confine.restrict(fd), capture_output=True, text=True,
                                 check=True).stdout
        finally:
            os.close(fd)
        unconfined = subprocess.run([sys.executable, "-c", CONNECT, str(denied)], capture_output=True, text=True,
                                    check=True).stdout
    finally:
        for s in listeners:
            s.close()
    assert out.splitlines() == [f"{allowed} connected", f"{denied} errno 13"]
    assert unconfined.strip() == f"{denied} connected"


def test_tcp_rules_need_abi_4() -> None:
    with pytest.raises(OSError, match="no TCP rules"):
        confine.ruleset(confine.plan([]), version=3, connect_ports=[443])


PLANT = r"""
import os, sys
from scanner import hscache
d = hscache.cache_dir()
try:
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "0" * 40 + ".db"), "wb") as fh:
        fh.write(b"planted")
    print("planted")
except OSError as e:
    print("denied" if e.errno in (1, 13) else f"errno {e.errno}")
"""


@pytest.mark.parametrize("exists", [True, False])
def test_a_confined_agent_cannot_plant_a_hyperscan_database(exists: bool) -> None:
    """The compiled prefilter decides what a scan looks at; a database planted by the agent would blind every
    later scan of the user's. A confined child can neither write one nor make the directory."""
    from scanner import hscache

    if exists:
        hscache.block_database([b"password"], [0])
        assert hscache.cache_dir().is_dir()
    hook = confine.preexec()
    assert hook is not None
    restrict, fd = hook
    try:
        out = subprocess.run([sys.executable, "-c", PLANT], preexec_fn=restrict, capture_output=True, text=True,
                             check=True, env=os.environ).stdout.strip()
    finally:
        os.close(fd)
    assert out == "denied"
    # Unconfined, the same probe plants (so the probe can succeed).
    out = subprocess.run([sys.executable, "-c", PLANT], capture_output=True, text=True, check=True,
                         env=os.environ).stdout.strip()
    assert out == "planted"
