"""The MCP tools' declared answers (outputSchema) and the read-only server, through a real MCP client over stdio."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import GitRepo

mcp = pytest.importorskip("mcp")

from mcp import ClientSession, StdioServerParameters, stdio_client  # noqa: E402
from mcp.types import Implementation  # noqa: E402

CLIENT = Implementation(name="schema-test-agent", version="1.0")


def session_run(root: Path, extra: list[str], scenario: Any) -> None:
    async def main() -> None:
        params = StdioServerParameters(command=sys.executable, args=["-m", "unleak", "mcp", *extra], cwd=str(root),
                                       env=dict(os.environ))
        async with stdio_client(params, errlog=sys.stderr) as (read, write), ClientSession(
                read, write, client_info=CLIENT) as session:
            await session.initialize()
            await scenario(session)

    anyio.run(main)


def test_every_structured_answer_matches_its_output_schema(repo: GitRepo, canary: str) -> None:
    import jsonschema

    repo.commit("app", {"app.py": f'TOKEN = "{canary}"\n', "README.md": "demo\n"})
    validated: list[str] = []

    async def scenario(session: Any) -> None:
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert all(t.output_schema and t.output_schema["type"] == "object" for t in tools.values())
        calls = [("scan", {}), ("check_diff", {"diff": f"--- a/x.py\n+++ b/x.py\n@@ -0,0 +1 @@\n+T = '{canary}'\n"}),
                 ("fix", {}), ("list_secrets", {}), ("request_secret", {"name": "SHOP_API_KEY"}),
                 ("run", {"argv": ["true"]})]
        for name, args in calls:
            res = await session.call_tool(name, args)
            if res.is_error:
                continue
            jsonschema.validate(res.structured_content, tools[name].output_schema)
            validated.append(name)

    session_run(repo.path, [], scenario)
    assert {"scan", "check_diff", "fix", "list_secrets", "request_secret"} <= set(validated)


def test_read_only_server_serves_only_reading_tools(repo: GitRepo, canary: str) -> None:
    repo.commit("app", {"app.py": f'TOKEN = "{canary}"\n'})
    seen: dict[str, Any] = {}

    async def scenario(session: Any) -> None:
        seen["tools"] = sorted(t.name for t in (await session.list_tools()).tools)
        seen["scan"] = await session.call_tool("scan", {})
        seen["fix"] = await session.call_tool("fix", {"apply": True})
        seen["run"] = await session.call_tool("run", {"argv": ["true"]})

    session_run(repo.path, ["--read-only"], scenario)
    assert seen["tools"] == ["check_diff", "list_secrets", "scan"]
    assert not seen["scan"].is_error and seen["scan"].structured_content["count"] == 1
    for name in ("fix", "run"):
        assert seen[name].is_error and "read-only" in seen[name].structured_content["error"]
    assert (repo.path / "app.py").read_text() == f'TOKEN = "{canary}"\n'  # fix did not run
