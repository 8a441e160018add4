"""The MCP SDK side of `unleak mcp`: tools registered on a low-level server over stdio, the client's name, approval
through URL elicitation when the client supports it."""


from __future__ import annotations

import base64
import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

from unleak import __version__
from unleak.agent.display import shown
from unleak.agent.mcp_server import INSTRUCTIONS, SERVER_NAME, UnleakMCP
from unleak.agent.mcp_tools import OUTPUT_SCHEMAS, READ_ONLY_TOOLS, TOOLS


def _client_label(ctx: Any) -> str:
    params = getattr(getattr(ctx, "session", None), "client_params", None)
    info = getattr(params, "client_info", None)
    if info is None:
        return "unknown-client"
    name = "".join(ch if ch.isalnum() or ch in "-_.@/" else "-" for ch in str(info.name))[:64] or "client"
    version = "".join(ch for ch in str(info.version) if ch.isalnum() or ch in "-_.+")[:32]
    return f"{name} {version}".strip()


def _supports_url_elicitation(ctx: Any) -> bool:
    caps = getattr(getattr(ctx, "session", None), "client_capabilities", None)
    elicitation = getattr(caps, "elicitation", None)
    return getattr(elicitation, "url", None) is not None


async def _approve_through_client(app: UnleakMCP, ctx: Any, args: dict[str, Any], client: str,
                                  data: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """URL-mode elicitation for a run that needs approval: the client shows the human the approval page (the
    model never needs the link), then we wait a while for the decision; once approved, the run happens in this
    same call."""
    import anyio

    request_id = str(data["request_id"])
    try:
        req = app._store().get_request(request_id)
        url = app._approvals().approval_url(req)
        elicitation_id = base64.urlsafe_b64encode(os.urandom(12)).decode().rstrip("=")
        res = await ctx.session.elicit_url(
            shown(f"A coding agent asks to run `{' '.join(req.argv)}` with {', '.join(req.secrets) or 'no secrets'}. "
                  f"Open the page to see the request and its code; approve with `unleak approve {req.id}` in your "
                  "terminal."), url, elicitation_id, related_request_id=ctx.request_id)
    except Exception:
        return data, False  # the client could not show it: the answer already says how to approve
    action = str(getattr(res, "action", ""))
    data["elicitation"] = action
    if action != "accept":
        return data, False
    # Clients time tool calls out; after two minutes the answer says how to approve later instead.
    deadline = time.monotonic() + min(app.policy.request_ttl, 120)
    state = "pending"
    while time.monotonic() < deadline:
        state = (await anyio.to_thread.run_sync(app._store().get_request, request_id)).state()
        if state != "pending":
            break
        await anyio.sleep(0.25)
    if state == "approved":
        return await anyio.to_thread.run_sync(app.call, "run", args, client)
    data["status"] = "denied" if state == "denied" else "approval_required"
    data["message"] = ("The human denied this run." if state == "denied" else data["message"])
    return data, state == "denied"


def build_server(app: UnleakMCP, read_only: bool = False) -> Any:
    import anyio
    import mcp.types as types
    from mcp.server.lowlevel import Server

    tools = [
        types.Tool(name=name, title=spec["title"], description=spec["description"], input_schema=spec["schema"],
                   output_schema=OUTPUT_SCHEMAS[name],
                   annotations=types.ToolAnnotations(title=spec["title"], **spec["annotations"]))
        for name, spec in TOOLS.items() if not read_only or name in READ_ONLY_TOOLS
    ]

    async def list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: Any) -> Any:
        client = _client_label(ctx)
        args = dict(params.arguments or {})
        if read_only and params.name not in READ_ONLY_TOOLS:
            refused = {"error": f"{params.name} is not served: this unleak MCP server is read-only "
                                f"({', '.join(READ_ONLY_TOOLS)})", "kind": "UsageError"}
            return types.CallToolResult(content=[types.TextContent(type="text", text=json.dumps(refused))],
                                        structured_content=refused, is_error=True)
        data, is_error = await anyio.to_thread.run_sync(app.call, params.name, args, client)
        secret_url = app.secret_urls.get(str(data.get("request_id", "")))
        if params.name == "request_secret" and not is_error and secret_url and _supports_url_elicitation(ctx):
            # URL-mode elicitation: the client shows the link to the human; the model never gets it.
            with contextlib.suppress(Exception):
                elicitation_id = base64.urlsafe_b64encode(os.urandom(12)).decode().rstrip("=")
                res = await ctx.session.elicit_url(
                    shown(f"Enter the value of {data['name']} for unleak, then confirm it with `unleak approve "
                          f"{data['request_id']}` in your terminal (stored in your vault, never shown to the "
                          "agent)."), secret_url, elicitation_id, related_request_id=ctx.request_id)
                data["elicitation"] = str(getattr(res, "action", "sent"))
        if (params.name == "run" and not is_error and data.get("status") == "approval_required"
                and _supports_url_elicitation(ctx)):
            data, is_error = await _approve_through_client(app, ctx, args, client, data)
        text = json.dumps(data, indent=1, ensure_ascii=False)
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)],
                                    structured_content=data, is_error=is_error)

    return Server(SERVER_NAME, version=__version__, instructions=INSTRUCTIONS, on_list_tools=list_tools,
                  on_call_tool=call_tool)


def serve(root: Path, read_only: bool = False) -> None:
    """Serve over stdio until the client closes stdin; ``read_only`` serves only :data:`READ_ONLY_TOOLS`."""
    import anyio
    from mcp.server.stdio import stdio_server

    # Children of this server (runs) inherit this; `unleak approve`/`grant` refuse to work from inside them.
    os.environ["UNLEAK_MCP"] = "1"
    # This process reads vault values (to run and to scrub answers): no core file, no same-user ptrace.
    from unleak.reaper import protect_process

    protect_process()
    # The repository is the agent's, and its git config can name programs git runs (core.fsmonitor, filter
    # drivers): every git this server starts runs away from unleak's directories (the vault key), as under the
    # broker of `unleak agent`.
    from unleak.agent.broker import confine_git

    confine_git()
    app = UnleakMCP(root=root)
    server = build_server(app, read_only=read_only)

    async def main() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    try:
        anyio.run(main)
    finally:
        if app.approvals is not None:
            app.approvals.stop()
