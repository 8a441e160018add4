"""Items 3-6 of the agent boundary, through the real MCP server as an agent drives it: a grant for one program,
one set of references and one tier must not stretch to another program (a symlink named like the granted one, a
script edited after approval), to agent code loaded through the environment (PYTHONPATH, ...), to another
1Password item behind a granted variable name, or to a prod secret copied into a dev reference file."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import GitRepo, run_cli

pytest.importorskip("mcp")

from tests.unleak.test_mcp import Agent, run_agent
from unleak.agent import presence
from unleak.agent.policy import GrantStore

FAKE = "fake-value-0123456789-abcdefghij"
MARK = "agent-code-ran-with-K"


def _vault_k(repo: GitRepo, name: str = "K") -> str:
    from remediate.vault import open_vault

    return open_vault(repo_path=repo.path).put(name, FAKE)


def _run(repo: GitRepo, *argvs: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    async def scenario(agent: Agent) -> None:
        for argv in argvs:
            out.append(await agent.call("run", {"argv": argv}))

    run_agent(repo.path, scenario)
    return out


def _not_ran(answer: dict[str, Any]) -> None:
    assert answer["status"] != "ran", answer
    assert MARK not in str(answer)


# ------------------------------------------------------------------------------------------- 3: program identity


def test_a_symlink_named_like_the_granted_program_does_not_inherit_its_grant(repo: GitRepo) -> None:
    ref = _vault_k(repo)
    repo.commit("refs", {".env": f"K={ref}\n"})
    (repo.path / "bin").mkdir()
    os.symlink("/bin/bash", repo.path / "bin" / "pytest")
    assert run_cli("grant", "--secrets", "K", "--command", "pytest *", cwd=repo.path).returncode == 0
    [answer] = _run(repo, ["./bin/pytest", "-c", f'test -n "$K" && echo {MARK}'])
    _not_ran(answer)


def test_a_script_edited_after_approval_does_not_run_under_the_approval(repo: GitRepo, tmp_path: Path) -> None:
    ref = _vault_k(repo)
    repo.commit("refs", {".env": f"K={ref}\n"})
    tools = tmp_path / "tools"
    tools.mkdir()
    script = tools / "check.sh"
    script.write_text("#!/bin/sh\necho checked\n")
    script.chmod(0o755)
    out: list[dict[str, Any]] = []

    async def scenario(agent: Agent) -> None:
        asked = await agent.call("run", {"argv": [str(script)]})
        assert asked["status"] == "approval_required", asked
        # The human reads the code on the request's page and types it into `unleak approve`.
        code = presence.issue(GrantStore().dir, asked["request_id"], "http://127.0.0.1:1/approve/x")
        res = await anyio.to_thread.run_sync(lambda: run_cli("approve", asked["request_id"], "--code", code,
                                                             "--yes", cwd=repo.path))
        assert res.returncode == 0, res.stderr
        out.append(await agent.call("run", {"argv": [str(script)]}))
        script.write_text(f'#!/bin/sh\ntest -n "$K" && echo {MARK}\n')
        out.append(await agent.call("run", {"argv": [str(script)]}))

    run_agent(repo.path, scenario)
    assert out[0]["status"] == "ran" and "checked" in out[0]["output"]
    _not_ran(out[1])


# --------------------------------------------------------------------------------------- 4: environment injection


def test_pythonpath_in_the_reference_file_does_not_turn_an_approved_run_into_agent_code(repo: GitRepo) -> None:
    ref = _vault_k(repo)
    repo.commit("app", {".env": f"K={ref}\n", "app.py": "print('app ran')\n"})
    argv = [sys.executable, "app.py"]
    assert run_cli("grant", "--secrets", "K", "--command", f"{sys.executable} app.py", cwd=repo.path).returncode == 0
    [before] = _run(repo, argv)
    assert before["status"] == "ran" and "app ran" in before["output"], before
    # After the approval, the agent adds a plain PYTHONPATH to the reference file and a sitecustomize there.
    repo.write("evil/sitecustomize.py", f"import os\nif os.environ.get('K'):\n    print('{MARK}')\n")
    repo.write(".env", f"K={ref}\nPYTHONPATH={repo.path / 'evil'}\n")
    [after] = _run(repo, argv)
    _not_ran(after)


# ------------------------------------------------------------------------------------------------ 5: op:// scope


def test_a_granted_name_does_not_open_any_1password_item(repo: GitRepo, fake_op: Any) -> None:
    from remediate.vault import open_vault

    open_vault("op", namespace="dev", op_vault="dev").put("bank", FAKE)  # an item the user's session can read
    repo.commit("app", {".env": "K=op://dev/bank/credential\n",
                        "app.py": f"import os\nif os.environ.get('K'):\n    print('{MARK}')\n"})
    assert run_cli("grant", "--secrets", "K", "--command", f"{sys.executable} app.py", cwd=repo.path).returncode == 0
    [answer] = _run(repo, [sys.executable, "app.py"])
    _not_ran(answer)


# ----------------------------------------------------------------------------------------------------- 6: tier


def test_copying_a_prod_reference_into_dot_env_does_not_make_it_dev(repo: GitRepo) -> None:
    res = run_cli("secrets", "set", "--tier", "prod", "PROD_DB_PASSWORD", cwd=repo.path, input=FAKE + "\n")
    assert res.returncode == 0, res.stderr
    ref = res.stdout.strip()
    repo.commit("app", {".env.production": f"PROD_DB_PASSWORD={ref}\n",
                        "app.py": f"import os\nif os.environ.get('PROD_DB_PASSWORD'):\n    print('{MARK}')\n"})
    # The human's everyday dev grant; the agent copies the prod line into the dev reference file.
    assert run_cli("grant", "--secrets", "*", "--command", f"{sys.executable} app.py",
                   cwd=repo.path).returncode == 0
    repo.write(".env", f"PROD_DB_PASSWORD={ref}\n")
    [answer] = _run(repo, [sys.executable, "app.py"])
    _not_ran(answer)


def test_the_reference_file_swapped_after_the_check_is_not_what_runs(repo: GitRepo) -> None:
    # The MCP server checks the file's variables against the grant, then resolves them: it must resolve the very
    # variables it checked, not whatever the agent wrote into the file in between.
    from unleak import run as runner

    ref = _vault_k(repo)
    env_file = repo.write(".env", f"K={ref}\n")
    checked = runner.read_reference_files([env_file])
    repo.write(".env", f"K={ref}\nPYTHONPATH=/tmp/evil\n")
    plan = runner.prepare([env_file], cwd=repo.path, variables=checked, base_env={})
    assert "PYTHONPATH" not in plan.env and plan.env["K"] == FAKE
