"""Red team, issue 19: the agent runs as the same OS user as the vault key, the grants, the policy and the audit log.

Before: every attack below succeeds from an agent's shell (the control run of each test does exactly that, outside
`unleak agent`): it reads the vault key and the integrity key, reads and rewrites grants.json and the audit log,
and connects to the approval page's port. Inside `unleak agent -- CMD` the agent is in a Landlock domain: unleak's
directories answer EACCES, TCP reaches only the allowed ports, and `unleak mcp` / `unleak run` are thin clients of
the broker outside, so listing names and running a granted command still work.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import GitRepo, run_cli
from unleak import confine

pytestmark = pytest.mark.skipif(not confine.available(), reason="this kernel has no Landlock (needs Linux >= 5.13 "
                                "with landlock in the LSM list); the agent sandbox is not tested here")
needs_net = pytest.mark.skipif(confine.abi() < confine.NET_ABI, reason="Landlock ABI < 4 has no TCP rules")

# Each attack: a name and what it does with the paths of unleak's files; "ok" when it worked.
ATTACKS = r"""
import json, os, sys
p = json.loads(sys.argv[1])
def t(f):
    try:
        f()
        return "ok"
    except OSError as e:
        return {13: "EACCES", 1: "EPERM"}.get(e.errno, f"errno {e.errno}")
def mint():
    with open(p["grants"], "r+") as fh:
        doc = json.load(fh)
        doc.setdefault("grants", []).append({"id": "g-forged"})
        fh.seek(0); fh.write(json.dumps(doc)); fh.truncate()
print(json.dumps({
    "read_vault_key": t(lambda: open(p["vault_key"]).read()),
    "read_integrity_key": t(lambda: open(p["integrity_key"]).read()),
    "read_vault": t(lambda: open(p["vault"], "rb").read()),
    "read_grants": t(lambda: open(p["grants"]).read()),
    "mint_grant": t(mint),
    "read_audit": t(lambda: open(p["audit"]).read()),
    "rewrite_audit": t(lambda: open(p["audit"], "a").write("{}\n")),
    "read_policy": t(lambda: open(p["policy"]).read()),
    "list_data_dir": t(lambda: os.listdir(p["data"])),
    "replace_data_dir": t(lambda: os.rename(p["data"], p["data"] + ".moved")),
    # The process that started the agent (outside any sandbox before; the broker now): Landlock ABI >= 6 scoping.
    "signal_parent": t(lambda: os.kill(os.getppid(), 0)),
    # Not an attack, a cost of the carve-out (README): no new entries directly in the parents of unleak's directories.
    "create_in_home": t(lambda: open(os.path.join(p["home"], "new-file"), "w").close()),
}))
"""


def _unleak_files(repo: GitRepo, canary: str) -> dict[str, str]:
    """A vault holding the canary, a grant, a policy and an audit record: every file the agent must not reach."""
    from remediate.vault import open_vault
    from remediate.vault.local import user_data_dir
    from tests.conftest import write_policy
    from unleak import integrity
    from unleak.agent.grantstore import GrantStore
    from unleak.agent.policy import policy_path
    from unleak.audit import AuditLog
    from unleak.userenv import data_dir

    ref = open_vault(repo_path=repo.path).put("TOKEN", canary)
    repo.commit("app", {".env": f"TOKEN={ref}\n"})
    write_policy('default_ttl = "15m"\n')
    store = GrantStore()
    store.add_grant(secrets=["TOKEN"], command=["true"], created_by="user:test", repo=str(repo.path))
    AuditLog().append("grant", actor="user:test")
    paths = {
        "vault_key": str(Path(user_data_dir()) / "vault.key"),
        "integrity_key": str(integrity.integrity_dir() / "key"),
        "vault": str(next((data_dir() / "vaults").glob("*.vault"))),
        "grants": str(store.dir / "grants.json"),
        "audit": str(AuditLog().path),
        "policy": str(policy_path()),
        "data": str(data_dir()),
        "home": str(Path.home()),
    }
    for name, p in paths.items():
        assert Path(p).exists(), name
    return paths


def test_inside_unleak_agent_the_agent_cannot_read_or_change_unleak_files(repo: GitRepo, canary: str) -> None:
    paths = _unleak_files(repo, canary)
    argv = [sys.executable, "-c", ATTACKS, json.dumps(paths)]
    # Control (the situation before this boundary): the agent's own shell does all of it.
    before = json.loads(subprocess.run(argv, cwd=repo.path, capture_output=True, text=True, check=True).stdout)
    assert set(before.values()) == {"ok"}, before
    # The control run changed grants.json and the audit log: put the data directory back as it was for the next.
    if Path(paths["data"] + ".moved").exists():
        os.rename(paths["data"] + ".moved", paths["data"])
    Path(paths["home"], "new-file").unlink()
    res = run_cli("agent", "--", *argv, cwd=repo.path)
    assert res.returncode == 0, res.stderr
    after = json.loads(res.stdout)
    expected = {k: "EACCES" for k in before}
    expected["signal_parent"] = "EPERM" if confine.abi() >= 6 else "ok"
    assert after == expected, after
    assert canary not in res.stdout + res.stderr


def test_the_agent_exit_status_and_output_pass_through(repo: GitRepo) -> None:
    res = run_cli("agent", "--", "sh", "-c", "echo out; echo err >&2; exit 7", cwd=repo.path)
    assert (res.returncode, res.stdout, res.stderr.strip().splitlines()[-1]) == (7, "out\n", "err")
    missing = run_cli("agent", "--", "no-such-program-xyz", cwd=repo.path)
    assert missing.returncode == 127 and "no-such-program-xyz" in missing.stderr


def test_nothing_the_agent_started_outlives_it(repo: GitRepo, tmp_path: Path) -> None:
    pidfile = tmp_path / "daemon.pid"
    daemon = (f"import os,time\nif os.fork()==0:\n os.setsid()\n if os.fork()==0:\n"
              f"  open({str(pidfile)!r},'w').write(str(os.getpid()))\n  time.sleep(120)\n os._exit(0)\n")
    res = run_cli("agent", "--", sys.executable, "-c", daemon + "time.sleep(0.5)\n", cwd=repo.path)
    assert res.returncode == 0, res.stderr
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        if state in "ZX":
            break
        time.sleep(0.05)
    else:
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, 9)
            pytest.fail("the agent's daemon outlived `unleak agent`")


# The agent's side of the MCP conversation: a real MCP client inside the sandbox, talking to `unleak mcp` there.
DRIVER = r"""
import anyio, json, os, socket, subprocess, sys, time
from pathlib import Path
from mcp import ClientSession, StdioServerParameters, stdio_client

hand = Path(sys.argv[1])
def wait_for(name):
    while not (hand / name).exists():
        time.sleep(0.05)
    return (hand / name).read_text()

async def main():
    params = StdioServerParameters(command=sys.executable, args=["-m", "unleak", "mcp"], cwd=os.getcwd(),
                                   env=dict(os.environ))
    async with stdio_client(params) as (r, w), ClientSession(r, w) as s:
        await s.initialize()
        async def call(name, args):
            res = await s.call_tool(name, args)
            return json.loads(res.content[0].text)
        listed = await call("list_secrets", {})
        print("LIST", json.dumps(listed), flush=True)
        first = await call("run", {"argv": [sys.executable, "app.py", str(hand)]})
        print("FIRST", json.dumps(first), flush=True)
        (hand / "request").write_text(first.get("request_id", ""))
        port = int(wait_for("port"))
        c = socket.socket()
        c.settimeout(5)
        try:
            c.connect(("127.0.0.1", port))
            connect = "connected"
        except OSError as e:
            connect = f"errno {e.errno}"
        print("CONNECT", connect, flush=True)
        ap = subprocess.run([sys.executable, "-m", "unleak", "approve", first.get("request_id", "x"), "--yes",
                             "--code", "AAAA-AAAA"], capture_output=True, text=True)
        print("SELF_APPROVE", ap.returncode, flush=True)
        (hand / "attacked").write_text("1")
        wait_for("approved")
        second = await call("run", {"argv": [sys.executable, "app.py", str(hand)]})
        print("SECOND", json.dumps(second), flush=True)

anyio.run(main)
"""

APP = r"""
import json, os, socket, sys
from pathlib import Path
hand = Path(sys.argv[1])
paths = json.loads((hand / "paths").read_text())
def t(f):
    try:
        f()
        return "ok"
    except OSError as e:
        return {13: "EACCES", 1: "EPERM"}.get(e.errno, f"errno {e.errno}")
def connect():
    c = socket.socket(); c.settimeout(5); c.connect(("127.0.0.1", int((hand / "port").read_text())))
print("token length", len(os.environ["TOKEN"]))
print("child read_vault_key", t(lambda: open(paths["vault_key"]).read()))
print("child read_integrity_key", t(lambda: open(paths["integrity_key"]).read()))
print("child connect_approval_port", t(connect))
"""

_LINK = re.compile(r"approval needed for request (r-\w+): http://127\.0\.0\.1:(\d+)/approve/")


@pytest.mark.slow
@needs_net
def test_inside_unleak_agent_mcp_lists_and_runs_under_a_grant_and_the_approval_page_is_unreachable(
        repo: GitRepo, canary: str, tmp_path: Path) -> None:
    pytest.importorskip("mcp")
    from tests.unleak.test_mcp import human_approves

    paths = _unleak_files(repo, canary)
    repo.commit("app", {"app.py": APP})
    hand = tmp_path / "hand"
    hand.mkdir()
    (hand / "paths").write_text(json.dumps(paths))
    (hand / "driver.py").write_text(DRIVER)
    proc = subprocess.Popen([sys.executable, "-m", "unleak", "agent", "--", sys.executable, str(hand / "driver.py"),
                             str(hand)], cwd=repo.path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err: list[str] = []

    def read_err() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            err.append(line)
            m = _LINK.search(line)
            if m:
                (hand / "port").write_text(m.group(2))

    reader = threading.Thread(target=read_err, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not (hand / "attacked").exists():
            assert proc.poll() is None, "".join(err)
            assert time.monotonic() < deadline, "".join(err)
            time.sleep(0.05)
        request_id = (hand / "request").read_text()
        approved = human_approves(request_id)
        assert approved.returncode == 0, approved.stderr
        (hand / "approved").write_text("1")
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(5)
    assert proc.returncode == 0, "".join(err)
    lines = {ln.split(" ", 1)[0]: ln.split(" ", 1)[1] for ln in out.splitlines() if " " in ln}
    assert [s["name"] for s in json.loads(lines["LIST"])["secrets"]] == ["TOKEN"]
    assert json.loads(lines["FIRST"])["status"] == "approval_required"
    assert lines["CONNECT"] == "errno 13"  # the approval page's port: EACCES from Landlock
    assert lines["SELF_APPROVE"] != "0"
    second = json.loads(lines["SECOND"])
    assert (second["status"], second["exit_code"]) == ("ran", 0), second
    assert f"token length {len(canary)}" in second["output"]
    for attack in ("read_vault_key", "read_integrity_key", "connect_approval_port"):
        assert f"child {attack} EACCES" in second["output"], second["output"]
    assert canary not in out + "".join(err)


def test_unleak_run_inside_unleak_agent_needs_a_grant_and_its_child_is_confined(
        repo: GitRepo, canary: str, tmp_path: Path) -> None:
    paths = _unleak_files(repo, canary)
    hand = tmp_path / "hand"
    hand.mkdir()
    (hand / "paths").write_text(json.dumps(paths))
    (hand / "port").write_text("9")  # discard: nothing to connect to, the line must still say EACCES under Landlock
    repo.commit("app", {"app.py": APP})
    script = textwrap.dedent(f"""\
        unleak() {{ {sys.executable} -m unleak "$@"; }}
        unleak run -- {sys.executable} app.py {hand}
        echo "first=$?"
        """)
    res = run_cli("agent", "--", "sh", "-c", script, cwd=repo.path)
    assert "first=2" in res.stdout and "needs a grant" in res.stderr, res.stdout + res.stderr
    from unleak.agent.grantstore import GrantStore

    GrantStore().add_grant(secrets=["TOKEN"], command=[sys.executable, "app.py", "*"], created_by="user:test",
                           repo=str(repo.path), cwd=repo.path)
    res = run_cli("agent", "--", "sh", "-c", script, cwd=repo.path)
    assert "first=0" in res.stdout, res.stdout + res.stderr
    assert f"token length {len(canary)}" in res.stdout
    assert "child read_vault_key EACCES" in res.stdout and "child read_integrity_key EACCES" in res.stdout
    assert canary not in res.stdout + res.stderr


# The repository is the agent's: its .git/config can name commands git runs (core.fsmonitor on every index refresh,
# a clean filter on every changed file). The MCP server that scans it runs outside the sandbox, with the key.
GIT_HOOKED = r"""
import anyio, os, subprocess, sys
from mcp import ClientSession, StdioServerParameters, stdio_client

loot, key = sys.argv[1], sys.argv[2]
steal = f"sh -c 'cat {key} > {loot}.$$ 2>/dev/null; cat' #"
subprocess.run(["git", "config", "core.fsmonitor", steal.replace("; cat'", "; false'")], check=True)
subprocess.run(["git", "config", "filter.steal.clean", steal], check=True)
open(".gitattributes", "w").write("*.txt filter=steal\n")
open("notes.txt", "w").write("changed\n")

async def main():
    params = StdioServerParameters(command=sys.executable, args=["-m", "unleak", "mcp"], cwd=os.getcwd(),
                                   env=dict(os.environ))
    async with stdio_client(params) as (r, w), ClientSession(r, w) as s:
        await s.initialize()
        for mode in ("files", "changes", "staged"):
            res = await s.call_tool("scan", {"mode": mode})
            print(mode, "error" if res.is_error else "ok", flush=True)

anyio.run(main)
"""


@pytest.mark.slow
def test_git_commands_the_agents_repository_configures_run_inside_the_sandbox(
        repo: GitRepo, canary: str, tmp_path: Path) -> None:
    pytest.importorskip("mcp")
    paths = _unleak_files(repo, canary)
    repo.commit("notes", {"notes.txt": "first\n"})
    loot = tmp_path / "loot"
    script = tmp_path / "git_hooked.py"
    script.write_text(GIT_HOOKED)
    res = run_cli("agent", "--", sys.executable, str(script), str(loot), paths["integrity_key"], cwd=repo.path,
                  timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["files", "ok", "changes", "ok", "staged", "ok"], res.stdout + res.stderr
    ran = sorted(tmp_path.glob("loot.*"))
    assert ran, "git did not run the repository's commands at all: the attack was not exercised"
    key = Path(paths["integrity_key"]).read_text().strip()
    assert all(key not in p.read_text() for p in ran), "a command from the agent's git config read unleak's key"


@needs_net
def test_allowed_ports_are_reachable_and_others_are_not(repo: GitRepo) -> None:
    import socket

    listeners = [socket.create_server(("127.0.0.1", 0)) for _ in range(2)]
    allowed, other = (s.getsockname()[1] for s in listeners)
    probe = ("import socket,sys\nfor p in sys.argv[1:]:\n c=socket.socket(); c.settimeout(5)\n try:\n"
             "  c.connect(('127.0.0.1', int(p))); print(p, 'connected')\n except OSError as e: print(p, e.errno)\n")
    try:
        res = run_cli("agent", "--allow-port", f"443,{allowed}", "--", sys.executable, "-c", probe, str(allowed),
                      str(other), cwd=repo.path)
    finally:
        for s in listeners:
            s.close()
    assert res.stdout.splitlines() == [f"{allowed} connected", f"{other} 13"], res.stdout + res.stderr
    bad = run_cli("agent", "--allow-port", "70000", "--", "true", cwd=repo.path)
    assert bad.returncode == 2 and "--allow-port" in bad.stderr


def test_the_broker_socket_serves_only_the_agents_own_processes(repo: GitRepo, tmp_path: Path) -> None:
    """A process outside the agent's tree (another session's sandbox) that finds the socket gets nothing."""
    import array
    import socket

    out = tmp_path / "sock"
    proc = subprocess.Popen([sys.executable, "-m", "unleak", "agent", "--", "sh", "-c",
                             f'echo "$UNLEAK_BROKER_SOCKET" > {out}; sleep 30'], cwd=repo.path)
    try:
        deadline = time.monotonic() + 30
        while not (out.exists() and out.read_text().strip()):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        stranger = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        stranger.connect(out.read_text().strip())
        a, b = socket.socketpair()
        body = json.dumps({"op": "run", "cwd": str(repo.path), "args": ["--", "true"]}).encode()
        with contextlib.suppress(OSError):  # the broker may already have closed the connection
            stranger.sendmsg([body], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [b.fileno(), 0, 1, 2]))])
        b.close()
        a.settimeout(10)
        assert a.recv(100) == b"", "the broker served a process that is not the agent's"
    finally:
        proc.kill()
        proc.wait()


def test_without_landlock_the_agent_runs_unconfined_and_is_told_so(repo: GitRepo, canary: str) -> None:
    from unleak.agent import broker

    paths = _unleak_files(repo, canary)
    box = broker.Sandbox(abi=0, deny=broker.sandbox().deny, connect_ports=None)
    assert any("UNCONFINED" in w for w in box.warnings())
    partial = broker.Sandbox(abi=3, deny=(), connect_ports=None)
    assert any("approval page" in w for w in partial.warnings())
    # The broker itself, with the sandbox a kernel without Landlock gets (in its own process: it becomes a subreaper).
    script = ("import json, os, sys\nfrom unleak.agent import broker\n"
              "box = broker.Sandbox(abi=0, deny=broker.sandbox().deny, connect_ports=None)\n"
              "sys.exit(broker.Broker(box, dict(os.environ)).run(sys.argv[1:]))\n")
    res = subprocess.run([sys.executable, "-c", script, sys.executable, "-c", ATTACKS, json.dumps(paths)],
                         cwd=repo.path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["read_integrity_key"] == "ok"  # as before: nothing confines it


def test_unleak_run_inside_cannot_read_unleaks_files_as_a_reference_file(repo: GitRepo, canary: str) -> None:
    """The run outside reads its reference file with the broker's access: it must not be one of unleak's files."""
    paths = _unleak_files(repo, canary)
    for name in ("policy", "grants"):
        res = run_cli("agent", "--", sys.executable, "-m", "unleak", "run", "--env-file", paths[name], "--", "env",
                      cwd=repo.path)
        assert res.returncode == 2 and "unleak's own directories" in res.stderr, res.stdout + res.stderr
        assert "default_ttl" not in res.stdout


@pytest.mark.parametrize("command", [("grants",), ("audit",)])
def test_human_commands_inside_say_why_they_cannot_work(repo: GitRepo, canary: str, command: tuple[str, ...]) -> None:
    _unleak_files(repo, canary)
    res = run_cli("agent", "--", sys.executable, "-m", "unleak", *command, cwd=repo.path)
    assert res.returncode == 2, res.stderr
    assert "internal error" not in res.stderr
    assert "inside `unleak agent`" in res.stderr or "Permission denied" in res.stderr, res.stderr


MALFORMED = r"""
import array, json, os, socket, subprocess, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(os.environ["UNLEAK_BROKER_SOCKET"])
def send(body, fds):
    s.sendmsg([body], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
r, w = os.pipe()
send(b"{}", [r, 0, 1])  # something else than a socket to answer on
for body, n in ((b"not json", 3), (json.dumps({"op": "shell", "cwd": "/"}).encode(), 2),
                (json.dumps({"op": "run", "cwd": "relative", "args": ["--", "true"]}).encode(), 3),
                (json.dumps({"op": "mcp", "cwd": os.getcwd()}).encode(), 3)):
    a, b = socket.socketpair()
    send(body, [b.fileno(), 0, 1, 2][: n + 1])
    b.close()
    print("answer", json.loads(a.recv(4096)).get("error", "")[:40])
print("help", subprocess.run([sys.executable, "-m", "unleak", "run", "--help"], capture_output=True).returncode)
"""


def test_malformed_requests_get_an_error_and_the_broker_keeps_serving(repo: GitRepo) -> None:
    res = run_cli("agent", "--", sys.executable, "-c", MALFORMED, cwd=repo.path)
    assert res.returncode == 0, res.stderr
    answers = [ln for ln in res.stdout.splitlines() if ln.startswith("answer ")]
    assert len(answers) == 4 and all(len(a) > len("answer ") for a in answers), res.stdout
    assert "help 0" in res.stdout
    assert "Traceback" not in res.stderr
