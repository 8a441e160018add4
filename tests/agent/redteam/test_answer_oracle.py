"""The zero-grant answer oracle: an agent that controls the repository's files and nothing else (no grant, no shell)
tries to learn a vault value from how `list_secrets` answers about names it planted.

The attack: plant `.env.oracle` whose variable names end with the hex encoding of a known prefix of the value plus
one candidate byte, call `list_secrets` through a real MCP stdio client, keep the candidate whose name came back
different (masked), extend the prefix, repeat. The value lives in another namespace and is referenced nowhere, so
nothing the agent does is covered by a grant.
"""

from __future__ import annotations

import json
import string

import pytest

from tests.conftest import GitRepo
from tests.unleak.test_mcp import Agent, run_agent

pytest.importorskip("mcp")

ALPHABET = string.ascii_letters + string.digits + "_"


def _oracle_env(known: str) -> tuple[str, dict[str, str]]:
    """The planted file and, for each planted name, the candidate it stands for."""
    names = {f"Q{i}_{(known + ch).encode().hex()}": ch for i, ch in enumerate(ALPHABET)}
    return "".join(f"{n}=unleak://x/X\n" for n in names), names


@pytest.mark.slow
def test_list_secrets_is_not_an_oracle_for_vault_values(repo: GitRepo, canary: str) -> None:
    from remediate.vault import open_vault

    # A production secret of another project, in its own namespace; this repository never references it.
    open_vault(namespace="payments-prod", repo_path=repo.path).put("STRIPE_KEY", canary)
    repo.commit("app", {"README.md": "demo\n"})
    known = canary[:4]  # "ghp_": the token format is public
    recovered = {"value": known, "calls": 0}
    answers: list[str] = []

    async def scenario(agent: Agent) -> None:
        while len(recovered["value"]) < len(canary):
            text, names = _oracle_env(recovered["value"])
            (repo.path / ".env.oracle").write_text(text, encoding="utf-8")
            ans = await agent.call("list_secrets", {})
            recovered["calls"] += 1
            answers.append(json.dumps(ans, sort_keys=True))
            returned = {row["name"] for row in ans.get("secrets", [])}
            hits = [ch for name, ch in names.items() if name not in returned]
            if len(hits) != 1:
                return  # the answer singled out no candidate: nothing learned
            recovered["value"] += hits[0]

    run_agent(repo.path, scenario)
    assert recovered["value"] != canary, f"the oracle recovered the value in {recovered['calls']} calls"
    # Not one character beyond the public prefix was learned, and the answer named every planted variable.
    assert recovered["value"] == known
    assert recovered["calls"] == 1
    assert all(f"Q{i}_" in answers[0] for i in range(len(ALPHABET)))


def test_answers_quote_only_valid_syntax_and_withhold_whole(repo: GitRepo, canary: str) -> None:
    from remediate.vault import open_vault
    from unleak.agent.mcp_server import WITHHELD

    open_vault(namespace="payments-prod", repo_path=repo.path).put("STRIPE_KEY", canary)
    marker = "zq9marker"
    repo.commit("app", {
        ".env": f"GOOD=unleak://repo/GOOD\nBAD_REF=unleak://repo/x{marker}/y z\n",
        f".env.{marker}~": "OTHER=unleak://repo/OTHER\n",
        ".env.names": f"export {marker}-x=unleak://repo/A\n",
    })
    out: dict[str, dict[str, object]] = {}

    async def scenario(agent: Agent) -> None:
        out["list"] = await agent.call("list_secrets", {})
        out["cwd"] = await agent.call("run", {"argv": ["true"], "cwd": f"nothing-{marker}"})
        out["outside"] = await agent.call("scan", {"paths": [f"../{marker}"]})
        out["prog"] = await agent.call("run", {"argv": [f"no-such-{marker}"], "env_file": f"{marker}.env"})
        out["tool"] = await agent.call("run", {"argv": ["true"], f"x-{marker}": 1})
        # The whole value as a variable name: the answer would carry it, so all of it is withheld.
        (repo.path / ".env.names").write_text(f"{canary}=unleak://repo/A\n", encoding="utf-8")
        out["withheld"] = await agent.call("list_secrets", {})

    run_agent(repo.path, scenario)
    listed = out["list"]
    assert [(r["name"], r["reference"]) for r in listed["secrets"]] == [  # type: ignore[index, union-attr]
        ("BAD_REF", "(invalid reference)"), ("GOOD", "unleak://repo/GOOD")]
    assert listed["invalid"] == {"names": 1, "references": 1, "files": 1}
    for key, ans in out.items():
        assert marker not in str(ans), key
    assert out["withheld"] == {"error": WITHHELD, "kind": "Withheld", "_is_error": True}
    assert canary not in str(out)


@pytest.mark.parametrize("length", [20, 40, 93])
def test_run_reports_output_length_after_masking(tmp_path: object, length: int) -> None:
    """`output_bytes` used to be the unmasked length: a granted run that prints a value told the agent its length
    (and, with several prints, which output was a value)."""
    import os
    import sys
    from pathlib import Path

    from unleak.agent.mcp_server import execute_masked

    value = ("ghp_" + "x7Qz" * 30)[:length]
    env = {**os.environ, "T": value}
    res = execute_masked([sys.executable, "-c", "import os; print('v=' + os.environ['T'])"], env, {"T": value},
                         cwd=Path(str(tmp_path)), timeout=30, cap=1 << 16)
    assert res.output == "v=<unleak:T>\n"
    assert res.total == len(res.output.encode()) == len("v=<unleak:T>\n")
