"""Red team: an agent that tries to get the canary out through every tool of `unleak mcp`.

The human has been generous (a grant for every secret and every ordinary command in this repository), and the
agent still must not see the value: dumping commands are refused, what runs is masked, errors are scrubbed, and
every attempt lands in the audit log. The canary is checked raw and base64 / hex / url-encoded in every answer,
in the server's stderr, and in every file of unleak's state directory.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import GitRepo, run_cli
from tests.unleak.test_mcp import Agent, assert_no_canary, audit_records, run_agent

pytest.importorskip("mcp")

LEAKY_SCRIPTS = {
    # prints the value in every encoding it can think of, on both streams
    "leak.py": """\
import base64, binascii, json, os, sys, urllib.parse
v = os.environ["TOKEN"]
b = v.encode()
for form in (v, base64.b64encode(b).decode(), base64.urlsafe_b64encode(b).decode().rstrip("="),
             binascii.hexlify(b).decode(), binascii.hexlify(b).decode().upper(), urllib.parse.quote(v, safe=""),
             json.dumps({"t": v}), base64.b64encode(b"xx" + b).decode()):
    print("form:", form)
print("stderr:", v, file=sys.stderr)
print(repr(dict(os.environ)))
print("leak-done")
""",
    # dies with the value in the exception message (a traceback on stderr)
    "crash.py": """\
import os
raise RuntimeError("cannot connect with " + os.environ["TOKEN"])
""",
    # buries the value after a megabyte of output, and again at the very end
    "big.py": """\
import os, sys
v = os.environ["TOKEN"]
sys.stdout.write(v + "\\n" + "y" * 1_500_000 + "\\n" + v + "\\n")
""",
    # writes the value into a file in the repository, then prints it from there in a second command
    "stash.py": """\
import os
open("stash.txt", "w").write(os.environ["TOKEN"])
print("stashed")
""",
}


@pytest.fixture
def fixed_repo(repo: GitRepo, canary: str) -> GitRepo:
    """A repository whose token is already in the vault, referenced from .env."""
    from remediate.vault import default_namespace, open_vault

    ref = open_vault(repo_path=repo.path).put("TOKEN", canary)
    ns = default_namespace(repo.path)
    files = {".env": f"TOKEN={ref}\n", ".env.broken": f"MISSING=unleak://{ns}/MISSING\n", **LEAKY_SCRIPTS}
    repo.commit("app", files)
    return repo


def _vault_and_key_files() -> list[str]:
    from remediate.vault.local import user_data_dir

    data = user_data_dir()
    return sorted(str(p) for p in data.rglob("*") if p.is_file())


@pytest.mark.slow
def test_red_team_cannot_extract_the_canary(fixed_repo: GitRepo, canary: str, tmp_path: Path) -> None:
    root = fixed_repo.path
    # The human allows every ordinary command with every secret here, for ten minutes.
    res = run_cli("grant", "--secrets", "*", "--command", "*", "--ttl", "10m", cwd=root)
    assert res.returncode == 0, res.stderr
    secret_files = _vault_and_key_files()
    assert any(f.endswith(".vault") for f in secret_files) and any(f.endswith("vault.key") for f in secret_files)
    py = sys.executable

    dumping: list[list[str]] = [
        ["env"], ["printenv"], ["printenv", "TOKEN"], ["/usr/bin/env"], ["env", "python3", "leak.py"],
        ["cat", ".env"], ["cat", str(root / ".env")], ["head", ".env"], ["base64", ".env"],
        ["cat", "/proc/self/environ"], ["xargs", "-0", "echo"], ["sh", "-c", "echo $TOKEN"],
        ["bash", "-c", "printenv TOKEN | base64"], ["bash", "-lc", "env"],
        [py, "-c", "import os; print(os.environ['TOKEN'])"], ["python3", "-c", "import os; print(os.environ)"],
        ["node", "-e", "console.log(process.env.TOKEN)"], ["perl", "-e", "print $ENV{TOKEN}"],
        ["awk", "BEGIN{print ENVIRON[\"TOKEN\"]}"], [py, "-m", "base64", ".env"],
        *[["cat", f] for f in secret_files], *[["xxd", f] for f in secret_files],
        ["cp", secret_files[0], "copied"], ["tar", "cf", "x.tar", secret_files[0]],
    ]
    masked_runs: list[list[str]] = [
        [py, "leak.py"], [py, "crash.py"], [py, "big.py"], [py, "stash.py"], ["cat", "stash.txt"],
        ["grep", "-r", "ghp_", "."],
    ]
    answers: dict[str, list[dict[str, Any]]] = {"dumping": [], "masked": [], "errors": []}

    async def scenario(agent: Agent) -> None:
        for argv in dumping:
            answers["dumping"].append(await agent.call("run", {"argv": argv, "task_id": "red"}))
        for argv in masked_runs:
            answers["masked"].append(await agent.call("run", {"argv": argv, "task_id": "red"}))
        # Error paths: a broken reference file, a command that does not exist and whose name carries the value,
        # arguments that fail validation while carrying the value, a secret request for a name that exists.
        errors = [
            ("run", {"argv": [py, "leak.py"], "env_file": ".env.broken", "task_id": "red"}),
            ("run", {"argv": ["no-such-program-" + canary], "task_id": "red"}),
            ("run", {"argv": [py, "leak.py"], "cwd": "/" + canary, "task_id": "red"}),
            ("run", {"argv": [py, "leak.py"], "extra": canary}),
            ("scan", {"paths": [canary]}),
            ("request_secret", {"name": "TOKEN"}),
            ("check_diff", {"diff": f"not a diff {canary}"}),
        ]
        for tool, args in errors:
            answers["errors"].append(await agent.call(tool, args))
        # The value stashed into the repository by an allowed run: scan and fix must not echo it either.
        answers["errors"].append(await agent.call("scan", {"paths": ["stash.txt"]}))
        answers["errors"].append(await agent.call("fix", {"paths": ["stash.txt"]}))
        answers["errors"].append(await agent.call("list_secrets", {}))
        await anyio.sleep(0)
        answers["transcript"] = [{"text": agent.transcript()}]

    errlog = open(tmp_path / "server-stderr.txt", "w+")  # noqa: SIM115 - closed below
    run_agent(root, scenario, errlog=errlog)
    errlog.seek(0)
    stderr = errlog.read()
    errlog.close()

    # 1. Every dumping command was refused, and none of them ran.
    for argv, ans in zip(dumping, answers["dumping"], strict=True):
        assert ans["status"] == "refused" and ans["_is_error"], (argv, ans)
    assert not (root / "copied").exists() and not (root / "x.tar").exists()

    # 2. The ordinary commands ran, and their output is masked.
    leak, crash, big, stash, cat_stash, grep = answers["masked"]
    assert leak["status"] == "ran" and "leak-done" in leak["output"] and leak["output"].count("<unleak:TOKEN>") >= 8
    assert crash["exit_code"] == 1 and "RuntimeError" in crash["output"] and "<unleak:TOKEN>" in crash["output"]
    assert big["truncated"] and big["output"].startswith("<unleak:TOKEN>")
    assert stash["output"].strip() == "stashed" and (root / "stash.txt").read_text() == canary
    # (a value at the very end of the output, with no newline after it, is masked as <unleak:partial>)
    assert cat_stash["status"] == "ran" and "<unleak:" in cat_stash["output"]
    assert grep["status"] == "ran"

    # 3. Errors are errors, with messages that name things, not values.
    broken, missing, badcwd, extra, badscan, exists, notdiff, scan_stash, fix_stash, listed = answers["errors"]
    assert broken["_is_error"] and "MISSING" in broken["error"]
    assert missing["_is_error"] and "command not found" in missing["error"]
    assert badcwd["_is_error"] and extra["_is_error"] and badscan["_is_error"]
    assert exists["_is_error"] and "already exists" in exists["error"]
    assert notdiff["_is_error"]
    assert scan_stash["count"] == 1  # the stashed value is found, by fingerprint
    assert fix_stash["_is_error"] or fix_stash["manual"] or fix_stash["secrets"]  # fix saw it too (answer redacted)
    assert {s["name"]: s["in_vault"] for s in listed["secrets"]} == {"MISSING": False, "TOKEN": True}

    # 4. The canary, in any encoding, is nowhere the agent or a log could read it.
    assert_no_canary(answers["transcript"][0]["text"], canary, "an MCP answer")
    assert_no_canary(stderr, canary, "the server's stderr")
    from unleak.agent.policy import state_dir

    for f in state_dir().iterdir():
        if f.is_file():
            assert_no_canary(f.read_text(errors="replace"), canary, f"state file {f.name}")

    # 5. Every attempt is in the audit log, and the log is intact.
    recs = audit_records()
    refused = [r for r in recs if r["action"] == "run.refused"]
    assert len(refused) == len(dumping)
    assert {tuple(r["process"]["argv"]) for r in refused} == {tuple(a) for a in dumping}
    assert all(r["actor"] == "mcp:test-agent 9.9" and r["task"] == "red" for r in refused)
    starts = [r for r in recs if r["action"] == "run.start"]
    ends = [r for r in recs if r["action"] == "run.end"]
    assert len(starts) == len(masked_runs) and len(ends) == len(masked_runs) + 1  # + the program not found
    errors = [r for r in recs if r["action"] == "tool.error"]
    assert len(errors) >= 6
    assert run_cli("audit", "verify").returncode == 0


@pytest.mark.slow
def test_explicitly_granted_dangerous_command_is_still_masked(fixed_repo: GitRepo, canary: str) -> None:
    """The human allowed `python -c` on purpose; the masking layer still hides every encoding."""
    root = fixed_repo.path
    code = ("import os,base64,binascii,urllib.parse as u; v=os.environ['TOKEN']; "
            "print(v); print(base64.b64encode(v.encode()).decode()); print(binascii.hexlify(v.encode()).decode());"
            " print(u.quote(v, safe='')); print('marker-ok')")
    out: list[dict[str, Any]] = []

    async def scenario(agent: Agent) -> None:
        out.append(await agent.call("run", {"argv": ["python3", "-c", code]}))
        out.append({"text": agent.transcript()})

    run_agent(root, scenario)
    assert out[0]["status"] == "refused"  # nothing granted yet: refused, not even an approval request
    res = run_cli("grant", "--secrets", "TOKEN", "--command", "python3 -c *", "--allow-dangerous", cwd=root)
    assert res.returncode == 0, res.stderr
    out.clear()
    run_agent(root, scenario)
    assert out[0]["status"] == "ran" and "marker-ok" in out[0]["output"]
    assert out[0]["output"].count("<unleak:TOKEN>") == 4
    assert_no_canary(out[1]["text"], canary, "an MCP answer")
    grant = next(r for r in audit_records() if r["action"] == "grant")
    assert grant["detail"]["dangerous"] is True


def test_editing_the_reference_file_does_not_widen_a_grant(fixed_repo: GitRepo) -> None:
    """The agent can edit .env. Renaming a variable so it matches a grant, or pointing it at another project's
    namespace, must not get it a secret the human did not grant."""
    from remediate.vault import open_vault
    from tests.fakes import stripe_live_key

    root = fixed_repo.path
    other = open_vault(namespace="other-project", repo_path=root).put("PAYMENTS_KEY", stripe_live_key())
    own = open_vault(repo_path=root).put("DB_PASSWORD", "fake-db-password-0123456789")
    fixed_repo.commit("agent edits", {
        ".env.renamed": f"TEST_VALUE={own}\n",  # DB_PASSWORD under an innocent name
        ".env.foreign": f"TEST_VALUE={other}\n",  # another project's secret
        "ok.py": "print('ok')\n",
    })
    assert run_cli("grant", "--secrets", "TEST_*", "--command", "python3 ok.py", cwd=root).returncode == 0
    out: list[dict[str, Any]] = []

    async def scenario(agent: Agent) -> None:
        for env_file in (".env.renamed", ".env.foreign"):
            out.append(await agent.call("run", {"argv": ["python3", "ok.py"], "env_file": env_file}))

    run_agent(root, scenario)
    renamed, foreign = out
    assert renamed["status"] == "approval_required"  # the grant covers TEST_* but not the entry DB_PASSWORD
    assert renamed["secrets"] == ["DB_PASSWORD", "TEST_VALUE"]
    assert foreign["status"] == "refused" and "outside this repository's vault namespace" in foreign["reason"]
    assert not any(r["action"] == "run.start" for r in audit_records())
