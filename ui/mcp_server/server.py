"""The MCP server over the tool box: stdio (what Claude Desktop and Cursor start) or streamable HTTP.

The tools are synchronous and may take seconds (an inspection, a plan's estimate); each call runs in a worker
thread so the transport keeps answering pings and cancellations meanwhile.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio
import anyio.to_thread
import mcp_types as types
from mcp.server import Server, ServerRequestContext
from starlette.datastructures import State

from trainer.serve.access import KEY_ENV, RequireKey, is_loopback
from ui.mcp_server.toolbox import ToolBox

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "tunechat fine-tunes models on the user's data on this machine. Add a data file with add_file (its full path; "
    "only folders the user allowed can be read), then inspect_data and propose_plan on the name it returns. Tools "
    "that would start, spend or change something (training, deployment, search, judging, deletion) only return a "
    "plan with an action_id: show the plan to the user, and call confirm with that action_id only after the user "
    "agreed (cancel drops it). Where a tool's description says the user replies 'yes', that reply is your confirm "
    "call made with the user's consent."
)
HTTP_PATH = "/mcp"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def build_server(box: ToolBox, version: str = "") -> Server[Any]:
    async def list_tools(ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None) -> Any:
        return types.ListToolsResult(tools=box.list())

    async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> Any:
        return await anyio.to_thread.run_sync(box.call, params.name, params.arguments)

    return Server(
        "tunechat",
        version=version,
        title="tunechat",
        description="Fine-tune, evaluate, compare and deploy models on your own data.",
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def serve_stdio(box: ToolBox, version: str = "") -> None:
    """Serve one client over this process's stdin and stdout until it closes them."""
    from mcp.server.stdio import stdio_server

    server = build_server(box, version)

    async def main() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(main)


def serve_http(box: ToolBox, host: str, port: int, api_key: str | None = None, version: str = "") -> None:
    """Serve streamable HTTP at http://HOST:PORT/mcp. On loopback the SDK also refuses requests whose Host or Origin
    header is not local (DNS rebinding); beyond it, a server without an API key is open to the network."""
    import uvicorn

    server = build_server(box, version)
    app: Any = server.streamable_http_app(streamable_http_path=HTTP_PATH, host=host)
    if api_key:
        app = require_key(app, api_key)
    elif not is_loopback(host):
        print(
            f"warning: the MCP server listens on {host} without an API key, so anyone who can reach this machine can "
            f"read the allowed folders and start runs; set {KEY_ENV} (or pass --api-key), or bind 127.0.0.1.",
            file=sys.stderr,
        )
    shown = f"[{host}]" if ":" in host else host
    print(f"tunechat MCP server at http://{shown}:{port}{HTTP_PATH}", file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def require_key(app: ASGIApp, api_key: str) -> ASGIApp:
    """`app` answering 401 to any HTTP request without 'Authorization: Bearer <api_key>' (the model servers' check)."""
    state = State()
    state.api_key = api_key
    return RequireKey(app, state, lambda status, message: {"error": message})
