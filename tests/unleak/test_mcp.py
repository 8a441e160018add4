"""`unleak mcp` driven by the official MCP SDK's stdio client, the way a coding agent drives it: the real
``python -m unleak mcp`` process, a real temporary repository with a planted canary, the real vault, the real CLI
for the human's side (approve, revoke, audit).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import GitRepo, run_cli
from tests.unleak.test_masking import leak_forms

mcp = pytest.importorskip("mcp")

from mcp import ClientSession, StdioServerParameters, stdio_client  # noqa: E402
from mcp.types import Implementation  # noqa: E402

CLIENT = Implementation(name="test-agent", version="9.9")


def canary_forms(value: str) -> list[str]:
    """The canary as an agent could try to get it out: raw and in the usual encodings."""
    return sorted(set(leak_forms(value).values()))


def assert_no_canary(text: str, value: str, where: str) -> None:
    for form in canary_forms(value):
        assert form not in text, f"a form of the canary leaked through {where}"


class Agent:
    """Records every answer, as the model would see it (text content and structured content)."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session
        self.answers: list[str] = []

    async def call(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        res = await self.session.call_tool(name, args)
        texts = [getattr(c, "text", "") for c in res.content]
        self.answers.append(name + ": " + "\n".join(texts) + "\n" + json.dumps(res.structured_content))
        data = dict(res.structured_content or json.loads(texts[0]))
        data["_is_error"] = bool(res.is_error)
        return data

    def transcript(self) -> str:
        return "\n".join(self.answers)


@asynccontextmanager
async def agent_session(root: Path, errlog: Any = None,
                        elicitation_callback: Any = None) -> AsyncIterator[Agent]:
    params = StdioServerParameters(command=sys.executable, args=["-m", "unleak", "mcp"], cwd=str(root),
                                   env=dict(os.environ))
    log = errlog if errlog is not None else sys.stderr
    async with stdio_client(params, errlog=log) as (read, write), ClientSession(
        read, write, client_info=CLIENT, elicitation_callback=elicitation_callback
    ) as session:
        await session.initialize()
        yield Agent(session)


def run_agent(root: Path, scenario: Callable[[Agent], Awaitable[None]], **kw: Any) -> None:
    async def main() -> None:
        async with agent_session(root, **kw) as agent:
            await scenario(agent)

    anyio.run(main)


def audit_records() -> list[dict[str, Any]]:
    from unleak.audit import AuditLog

    return list(AuditLog().records())


SHOW = """\
import base64, os, sys
v = os.environ["TOKEN"]
print("ran-with-token len=%d" % len(v))
print("raw:", v)
print("b64:", base64.b64encode(v.encode()).decode())
print("hex:", v.encode().hex(), file=sys.stderr)
"""


@pytest.fixture
def planted(repo: GitRepo, canary: str) -> GitRepo:
    repo.commit("app with a hard-coded token", {
        "app.py": f'import os\nTOKEN = "{canary}"\nprint(len(TOKEN))\n',
        "show.py": SHOW,
        "README.md": "demo\n",
    })
    return repo


def test_tools_have_strict_schemas_and_annotations(repo: GitRepo) -> None:
    seen: dict[str, Any] = {}

    async def scenario(agent: Agent) -> None:
        listed = await agent.session.list_tools()
        for t in listed.tools:
            seen[t.name] = t

    run_agent(repo.path, scenario)
    assert sorted(seen) == sorted(["scan", "check_diff", "fix", "list_secrets", "run", "request_secret"])
    for name, tool in seen.items():
        assert tool.input_schema["type"] == "object"
        assert tool.input_schema["additionalProperties"] is False, name
        assert tool.annotations is not None
    ann = {n: t.annotations for n, t in seen.items()}
    assert ann["scan"].read_only_hint and ann["list_secrets"].read_only_hint and ann["check_diff"].read_only_hint
    assert not ann["run"].read_only_hint and ann["run"].destructive_hint and ann["run"].open_world_hint
    assert not ann["fix"].read_only_hint
    assert seen["run"].input_schema["properties"]["argv"]["type"] == "array"


BAD_ARGUMENTS = [
    ("run", {"argv": "pytest -q"}, "argv: must be of type array"),
    ("run", {}, "missing required argument(s) argv"),
    ("run", {"argv": []}, "minItems"),
    ("run", {"argv": ["echo", "nul\x00byte"]}, "argv/1: fails pattern"),
    ("run", {"argv": ["true"], "shell": True}, "unexpected argument(s) shell; allowed: argv, cwd"),
    ("run", {"argv": ["true"], "cwd": "/"}, "outside the repository"),
    ("run", {"argv": ["true"], "timeout_seconds": 99999}, "maximum"),
    ("scan", {"mode": "everything"}, "enum"),
    ("scan", {"paths": ["../../etc/passwd"]}, "outside the repository"),
    ("request_secret", {"name": "bad name; rm -rf"}, "pattern"),
    ("list_secrets", {"x": 1}, "unexpected argument(s) x; allowed: none"),
    ("no_such_tool", {}, "unknown tool"),
]


def test_bad_arguments_are_refused_with_a_clear_error(repo: GitRepo) -> None:
    """One server for the whole table (each start costs a second or two)."""
    repo.commit("init", {"README.md": "x\n"})
    out: list[dict[str, Any]] = []

    async def scenario(agent: Agent) -> None:
        for tool, args, _ in BAD_ARGUMENTS:
            out.append(await agent.call(tool, args))

    run_agent(repo.path, scenario)
    for (tool, args, msg), answer in zip(BAD_ARGUMENTS, out, strict=True):
        assert answer["_is_error"] is True, (tool, args)
        assert msg in answer["error"], (tool, args, answer)


@pytest.mark.slow
def test_end_to_end_scan_fix_list_run_approve_revoke(planted: GitRepo, canary: str, tmp_path: Path) -> None:
    root = planted.path
    state: dict[str, Any] = {}
    errlog = open(tmp_path / "server-stderr.txt", "w+")  # noqa: SIM115 - closed below

    async def scenario(agent: Agent) -> None:
        scan = await agent.call("scan", {})
        assert scan["count"] == 1 and scan["findings"][0]["path"] == "app.py"
        assert scan["findings"][0]["rule_id"] and scan["findings"][0]["fingerprint"]

        plan = await agent.call("fix", {})
        assert [s["name"] for s in plan["secrets"]] == ["TOKEN"]
        assert "[REDACTED:TOKEN]" in plan["patch"] and 'os.environ["TOKEN"]' in plan["patch"]
        assert (root / "app.py").read_text().count(canary) == 1  # planning changed nothing

        done = await agent.call("fix", {"apply": True})
        assert done["applied"]["stored"] == ["TOKEN"] and done["applied"]["confirmed"]
        assert canary not in (root / "app.py").read_text()
        assert (await agent.call("scan", {}))["count"] == 0

        listed = await agent.call("list_secrets", {})
        names = {s["name"]: s for s in listed["secrets"]}
        assert names["TOKEN"]["reference"].startswith("unleak://") and names["TOKEN"]["in_vault"]
        assert names["TOKEN"]["used_in"] == [".env.unleak"]

        first = await agent.call("run", {"argv": [sys.executable, "show.py"], "task_id": "T-42"})
        assert first["status"] == "approval_required", first
        assert first["approve_command"] == f"unleak approve {first['request_id']}"
        assert "approval_url" not in first and "http" not in json.dumps(first)
        state["request"] = first["request_id"]

        # The human reads the code on the approval page and approves in their terminal.
        res = await anyio.to_thread.run_sync(lambda: human_approves(first["request_id"], "--ttl", "10m"))
        assert res.returncode == 0, res.stderr
        assert "show.py" in res.stderr and "TOKEN" in res.stderr

        ran = await agent.call("run", {"argv": [sys.executable, "show.py"], "task_id": "T-42"})
        assert ran["status"] == "ran" and ran["exit_code"] == 0, ran
        assert "ran-with-token len=40" in ran["output"]
        assert ran["output"].count("<unleak:TOKEN>") >= 3  # raw, base64 and hex were all masked
        state["grant"] = ran["grant"]

        other = await agent.call("run", {"argv": [sys.executable, "show.py", "--other"], "task_id": "T-42"})
        assert other["status"] == "approval_required"  # approval covers that exact argv only

        res = await anyio.to_thread.run_sync(lambda: run_cli("revoke", "--task", "T-42"))
        assert res.returncode == 0, res.stderr
        assert res.stdout.split() == ["TOKEN"]  # the credential to rotate
        state["revoke_out"] = res.stdout + res.stderr

        after = await agent.call("run", {"argv": [sys.executable, "show.py"], "task_id": "T-42"})
        assert after["status"] == "approval_required"
        state["transcript"] = agent.transcript()

    run_agent(root, scenario, errlog=errlog)
    errlog.seek(0)
    server_stderr = errlog.read()
    errlog.close()

    assert_no_canary(state["transcript"], canary, "an MCP answer")
    assert_no_canary(server_stderr, canary, "the server's stderr")
    from unleak.userenv import state_dir

    for f in state_dir().iterdir():
        if f.is_file():
            assert_no_canary(f.read_text(errors="replace"), canary, f.name)

    recs = audit_records()
    actions = [r["action"] for r in recs]
    for action in ("scan", "fix", "list_secrets", "run.request", "approve", "run.start", "run.end", "revoke"):
        assert action in actions, action
    start = next(r for r in recs if r["action"] == "run.start")
    assert start["actor"] == "mcp:test-agent 9.9"
    assert start["secrets"] == ["TOKEN"] and start["task"] == "T-42" and start["grant"] == state["grant"]
    assert start["process"]["pid"] > 0 and start["process"]["argv"][-1] == "show.py"
    assert start["process"]["repo"] == str(root.resolve()) and start["process"]["branch"] == "main"
    approve = next(r for r in recs if r["action"] == "approve")
    assert approve["actor"].startswith("user:") and approve["request"] == state["request"]
    end = next(r for r in recs if r["action"] == "run.end")
    assert end["result"] == "exit 0" and end["detail"]["duration_s"] >= 0
    assert run_cli("audit", "verify").returncode == 0
    text = run_cli("audit", "--task", "T-42").stdout
    assert "run.start" in text and "approve" in text and "secrets=TOKEN" in text


def test_check_diff_flags_added_lines(repo: GitRepo, canary: str) -> None:
    repo.commit("init", {"cfg.py": "A = 1\n"})
    diff = ("diff --git a/cfg.py b/cfg.py\n--- a/cfg.py\n+++ b/cfg.py\n@@ -1 +1,2 @@\n A = 1\n"
            f'+TOKEN = "{canary}"\n')
    out: dict[str, Any] = {}

    async def scenario(agent: Agent) -> None:
        out.update(await agent.call("check_diff", {"diff": diff}))
        out["clean_diff"] = await agent.call("check_diff", {"diff": diff.replace(canary, "os.environ['T']")})
        out["transcript"] = agent.transcript()

    run_agent(repo.path, scenario)
    assert not out["clean"]
    assert out["secret_lines"][0]["path"] == "cfg.py" and out["secret_lines"][0]["line"] == 2
    assert out["clean_diff"]["clean"] is True
    # The agent wrote that diff itself, so it knows the value; still, the answer does not repeat it.
    assert_no_canary(out["transcript"], canary, "check_diff")


@pytest.mark.slow
def test_prod_tier_is_unreachable_unless_policy_allows(repo: GitRepo) -> None:
    from tests.fakes import stripe_live_key

    value = stripe_live_key()
    # The tier is the human's label on the vault entry, not the reference file's name.
    res = run_cli("secrets", "set", "--tier", "prod", "STRIPE_KEY", cwd=repo.path, input=value + "\n")
    assert res.returncode == 0, res.stderr
    ref = res.stdout.strip()
    repo.commit("refs", {".env.production": f"STRIPE_KEY={ref}\n", "ok.py": "print('ok')\n"})
    out: list[dict[str, Any]] = []

    async def scenario(agent: Agent) -> None:
        out.append(await agent.call("run", {"argv": ["python3", "ok.py"], "env_file": ".env.production"}))

    run_agent(repo.path, scenario)
    assert out[0]["status"] == "refused" and "prod" in out[0]["reason"]
    # Even a human grant for the tier does not open it through MCP: the policy must say so.
    assert run_cli("grant", "--secrets", "*", "--command", "*", "--tier", "prod", cwd=repo.path).returncode == 0
    run_agent(repo.path, scenario)
    assert out[1]["status"] == "refused"
    from unleak.agent.policy import policy_path

    policy_path().parent.mkdir(parents=True, exist_ok=True)
    policy_path().write_text('mcp_tiers = ["dev", "staging", "prod"]\n')
    assert run_cli("policy", "sign", "--yes", cwd=repo.path).returncode == 0
    run_agent(repo.path, scenario)
    assert out[2]["status"] == "ran" and "ok" in out[2]["output"]
    refused = [r for r in audit_records() if r["action"] == "run.refused"]
    assert len(refused) == 2 and all(r["detail"]["tier"] == "prod" for r in refused)


def test_run_timeout_and_output_cap(repo: GitRepo) -> None:
    from remediate.vault import open_vault

    ref = open_vault(repo_path=repo.path).put("K", "fake-value-for-cap-test-0123456789")
    repo.commit("init", {".env": f"K={ref}\n",
                         "slow.py": "import time\nprint('started', flush=True)\ntime.sleep(30)\n",
                         "big.py": "import sys\nsys.stdout.write('x' * 3_000_000)\n"})
    assert run_cli("grant", "--secrets", "K", "--command", "python3 *", cwd=repo.path).returncode == 0
    out: dict[str, Any] = {}

    async def scenario(agent: Agent) -> None:
        out["slow"] = await agent.call("run", {"argv": ["python3", "slow.py"], "timeout_seconds": 1})
        out["big"] = await agent.call("run", {"argv": ["python3", "big.py"]})

    run_agent(repo.path, scenario)
    assert out["slow"]["timed_out"] is True and "started" in out["slow"]["output"]
    assert out["big"]["truncated"] is True and out["big"]["output_bytes"] == 3_000_000
    assert len(out["big"]["output"]) < 70_000


def test_request_secret_value_goes_from_page_to_vault(repo: GitRepo, tmp_path: Path) -> None:
    import re
    import time
    import urllib.request

    repo.commit("init", {"README.md": "x\n"})
    from tests.fakes import github_pat

    value = github_pat()
    out: dict[str, Any] = {}
    errlog = open(tmp_path / "server-stderr.txt", "w+")  # noqa: SIM115 - closed below

    async def scenario(agent: Agent) -> None:
        asked = await agent.call("request_secret", {"name": "NEW_API_KEY", "reason": "the tests call the API"})
        out["asked"] = asked
        errlog.flush()
        errlog.seek(0)
        # The human finds the link in unleak's log (the client shows it), not in the agent's answer.
        found = re.search(r"http://127\.0\.0\.1:\d+/secret/[\w-]+", errlog.read())
        assert found is not None
        url = found.group(0)

        def human() -> None:
            page = urllib.request.urlopen(url, timeout=10).read().decode()
            assert "NEW_API_KEY" in page
            csrf = page.split("name=csrf value='")[1].split("'")[0]
            body = urllib.parse.urlencode({"csrf": csrf, "value": value, "decision": "store"}).encode()
            origin = url.split("/secret/")[0]
            req = urllib.request.Request(url, data=body, headers={
                "Origin": origin, "Content-Type": "application/x-www-form-urlencoded"})
            posted = urllib.request.urlopen(req, timeout=10).read().decode()
            out["stored_page"] = posted
            code = re.search(r"id=code>([A-Z0-9-]+)<", posted)
            assert code is not None
            res = run_cli("approve", asked["request_id"], "--code", code.group(1), "--yes")
            assert res.returncode == 0, res.stderr
            time.sleep(0.5)  # the server stores the value once it sees the confirmation

        await anyio.to_thread.run_sync(human)
        out["list"] = await agent.call("list_secrets", {})
        out["again"] = await agent.call("request_secret", {"name": "NEW_API_KEY"})
        out["transcript"] = agent.transcript()

    try:
        run_agent(repo.path, scenario, errlog=errlog)
    finally:
        errlog.close()
    assert out["asked"]["status"] == "waiting_for_human" and "url" not in out["asked"]
    assert out["asked"]["reference"].endswith("/NEW_API_KEY")
    assert "Confirm in your terminal" in out["stored_page"] and value not in out["stored_page"]
    assert any(s["name"] == "NEW_API_KEY" and s["in_vault"] for s in out["list"]["secrets"])
    assert out["again"]["_is_error"] and "already exists" in out["again"]["error"]
    from remediate.vault import open_vault

    vault = open_vault(repo_path=repo.path)
    assert vault.get(vault.reference_for("NEW_API_KEY")) == value
    assert_no_canary(out["transcript"], value, "request_secret")
    actions = [r["action"] for r in audit_records()]
    assert "secret.request" in actions and "secret.stored" in actions and "secret.refused" in actions
    assert any(r["action"] == "approve" and r["detail"].get("kind") == "secret" for r in audit_records())


def test_request_secret_uses_url_elicitation_when_the_client_supports_it(repo: GitRepo) -> None:
    import mcp.types as types

    repo.commit("init", {"README.md": "x\n"})
    got: list[Any] = []

    async def on_elicit(ctx: Any, params: Any) -> Any:
        got.append(params)
        return types.ElicitResult(action="accept")

    out: dict[str, Any] = {}

    async def scenario(agent: Agent) -> None:
        out.update(await agent.call("request_secret", {"name": "OTHER_KEY"}))

    run_agent(repo.path, scenario, elicitation_callback=on_elicit)
    assert len(got) == 1 and got[0].mode == "url"
    assert "url" not in out and got[0].url.startswith("http://127.0.0.1:") and "/secret/" in got[0].url
    assert f"unleak approve {out['request_id']}" in got[0].message
    assert out["elicitation"] == "accept"


def test_state_inside_the_repository_is_refused(repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    repo.commit("init", {"README.md": "x\n"})
    monkeypatch.setenv("XDG_STATE_HOME", str(repo.path / ".state"))
    res = run_cli("mcp", cwd=repo.path, input="")
    assert res.returncode == 2
    assert "inside the repository" in res.stderr


def test_scan_modes_staged_changes_and_range(repo: GitRepo, canary: str) -> None:
    base = repo.commit("clean", {"README.md": "x\n"})
    repo.commit("token in history", {"old.py": f'T = "{canary}"\n'})
    repo.commit("token removed", {"old.py": "T = None\n"})
    repo.write("staged.py", f'S = "{canary}"\n')
    repo.git("add", "staged.py")
    out: dict[str, Any] = {}

    async def scenario(agent: Agent) -> None:
        for mode, extra in (("files", {}), ("staged", {}), ("changes", {}), ("range", {"range": f"{base}..HEAD"})):
            out[mode] = await agent.call("scan", {"mode": mode, **extra})
        out["range-missing"] = await agent.call("scan", {"mode": "range"})
        out["transcript"] = agent.transcript()

    run_agent(repo.path, scenario)
    assert [f["path"] for f in out["files"]["findings"]] == ["staged.py"]
    assert [f["path"] for f in out["staged"]["findings"]] == ["staged.py"]
    assert [f["path"] for f in out["changes"]["findings"]] == ["staged.py"]
    assert [f["path"] for f in out["range"]["findings"]] == ["old.py"]
    assert out["range"]["findings"][0]["commit"]["sha"]
    assert out["range-missing"]["_is_error"] and "needs range" in out["range-missing"]["error"]
    assert_no_canary(out["transcript"], canary, "scan")
    assert [r["detail"]["mode"] for r in audit_records() if r["action"] == "scan"] == [
        "files", "staged", "changes", "range"]


def page_code(url: str) -> str:
    """The presence code the approval page at ``url`` shows."""
    import re
    import urllib.request

    page = urllib.request.urlopen(url, timeout=10).read().decode()
    found = re.search(r"id=code>([A-Z0-9-]+)<", page)
    assert found, "the approval page shows no code"
    return found.group(1)


def human_approves(request_id: str, *args: str) -> Any:
    """The human opens the request's page, reads its code and types it in `unleak approve` (no terminal here, so
    the code and the confirmation come as flags)."""
    from unleak.agent import presence
    from unleak.agent.grantstore import GrantStore

    url = presence.page_url(GrantStore().dir, request_id)
    assert url is not None
    return run_cli("approve", request_id, *args, "--code", page_code(url), "--yes")


def _human_clicks(url: str, decision: str) -> None:
    """What the human does: approve in the terminal with the page's code, or click Deny on the page."""
    import urllib.request

    if decision == "approve":
        request_id = url.rsplit("/", 1)[1]
        from unleak.agent.grantstore import GrantStore

        req = GrantStore().request_by_token(request_id)
        assert req is not None
        res = run_cli("approve", req.id, "--code", page_code(url), "--yes")
        assert res.returncode == 0, res.stderr
        return
    page = urllib.request.urlopen(url, timeout=10).read().decode()
    csrf = page.split("name=csrf value='")[1].split("'")[0]
    body = urllib.parse.urlencode({"csrf": csrf, "decision": decision}).encode()
    origin = url.split("/approve/")[0]
    req = urllib.request.Request(url, data=body, headers={"Origin": origin,
                                                          "Content-Type": "application/x-www-form-urlencoded"})
    urllib.request.urlopen(req, timeout=10).read()


@pytest.mark.parametrize("decision", ["approve", "deny"])
def test_run_approval_through_url_elicitation(planted: GitRepo, canary: str, decision: str) -> None:
    """A client with URL elicitation shows the human the approval page; once they decide, the same run call
    finishes (ran, or denied) without the model ever handling the link."""
    import mcp.types as types

    from remediate.vault import open_vault

    root = planted.path
    ref = open_vault(repo_path=root).put("TOKEN", canary)
    planted.commit("refs", {".env": f"TOKEN={ref}\n"})
    shown: list[str] = []

    async def on_elicit(ctx: Any, params: Any) -> Any:
        shown.append(params.url)
        await anyio.to_thread.run_sync(_human_clicks, params.url, decision)
        return types.ElicitResult(action="accept")

    out: dict[str, Any] = {}

    async def scenario(agent: Agent) -> None:
        out.update(await agent.call("run", {"argv": [sys.executable, "show.py"]}))
        out["transcript"] = agent.transcript()

    run_agent(root, scenario, elicitation_callback=on_elicit)
    assert len(shown) == 1 and shown[0].startswith("http://127.0.0.1:")
    if decision == "approve":
        assert out["status"] == "ran" and "ran-with-token len=40" in out["output"], out
    else:
        assert out["status"] == "denied" and out["_is_error"]
    assert_no_canary(out["transcript"], canary, "run")


def test_scan_and_fix_honour_the_baseline_as_the_cli_does(planted: GitRepo, canary: str) -> None:
    """A finding the human accepted in the baseline is neither reported to the agent nor moved by its fix."""
    root = planted.path
    created = run_cli("baseline", "create", cwd=root)
    assert created.returncode == 0, created.stderr
    assert run_cli("scan", cwd=root).returncode == 0
    out: dict[str, Any] = {}

    async def scenario(agent: Agent) -> None:
        out["scan"] = await agent.call("scan", {})
        out["fix"] = await agent.call("fix", {"apply": True})

    run_agent(root, scenario)
    assert out["scan"]["count"] == 0
    assert out["fix"]["secrets"] == [] and out["fix"]["status"] == "nothing to fix"
    assert (root / "app.py").read_text().count(canary) == 1


def test_an_agent_scan_sees_what_git_lists_even_for_a_named_file(repo: GitRepo, canary: str) -> None:
    # `unleak scan .env` reads a file git ignores because the user named it; an agent naming it over MCP gets git's
    # view of the tree, so the answers say nothing about the files the developer keeps out of git (and out of the
    # agent's reach).
    repo.commit("init", {".gitignore": ".env\n", "README.md": "x\n"})
    repo.write(".env", f"GITHUB_TOKEN={canary}\n")
    out: dict[str, Any] = {}

    async def scenario(agent: Agent) -> None:
        out["named"] = await agent.call("scan", {"mode": "files", "paths": [".env"]})
        out["fix"] = await agent.call("fix", {"paths": [".env"]})
        out["transcript"] = agent.transcript()

    run_agent(repo.path, scenario)
    assert not out["named"]["_is_error"]
    assert out["named"]["findings"] == []
    assert not out["fix"]["_is_error"] and out["fix"]["status"] == "nothing to fix"
    assert_no_canary(out["transcript"], canary, "scan")
    human = run_cli("scan", ".env", cwd=repo.path)
    assert human.returncode == 1
