"""`tunechat mcp`: the chat's tools for other agents (Claude Desktop, Cursor, any MCP client)."""

from __future__ import annotations

import argparse
import os
import sys
from importlib.metadata import PackageNotFoundError, version

from trainer.core.errors import UserError
from ui.cli.common import arg

# A fixed session keeps the files and plans of one MCP client across restarts of the server (a desktop client
# starts a new server process every time it opens) and apart from the chats'.
DEFAULT_SESSION = "mcp"

MCP_FLAGS = (
    arg(
        "--allow",
        action="append",
        metavar="DIR",
        help="a folder whose files clients may add to the workspace (repeatable; without it no file can be added)",
    ),
    arg("--http", action="store_true", help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio"),
    arg("--host", default="127.0.0.1", help="with --http: address to bind (default 127.0.0.1: this machine only)"),
    arg("--port", type=int, default=8765, help="with --http: port (default 8765)"),
    arg(
        "--api-key",
        help="with --http: require 'Authorization: Bearer KEY' (TUNECHAT_API_KEY works too and, unlike a flag, is "
        "not shown in the process list)",
    ),
    arg("--session", default=DEFAULT_SESSION, help=f"the session of the client's files and plans ({DEFAULT_SESSION})"),
)


def cmd_mcp(args: argparse.Namespace) -> int:
    from agent.backends import judge_endpoint, resolve_backend
    from tools.context import ToolContext
    from trainer.backends.runs import reattach_all
    from ui.mcp_server.files import AllowedFolders
    from ui.mcp_server.server import KEY_ENV, serve_http, serve_stdio
    from ui.mcp_server.toolbox import Session, ToolBox

    allowed = AllowedFolders.from_args(args.allow or [])
    base = ToolContext.from_env(session_id=args.session)
    try:
        # The judge is the chat's own LLM backend, as in the chat: only a confirmed plan lets it be called.
        judge = judge_endpoint(resolve_backend())
    except UserError as error:  # a settings file the chat would refuse costs the judge only, not the server
        print(f"note: no LLM judge ({error})", file=sys.stderr)
        judge = None
    tools = ToolContext(base.workspace, base.registry, base.session_id, judge=judge)
    reattach_all(tools.workspace, tools.registry)  # hosted jobs are followed again, as the chat does on start
    box = ToolBox(Session(tools, allowed))
    folders = allowed.describe() or "none (start with --allow DIR to let clients add files)"
    print(f"tunechat MCP server: workspace {tools.workspace.root}; files may be added from {folders}", file=sys.stderr)
    if args.http:
        serve_http(box, args.host, args.port, args.api_key or os.environ.get(KEY_ENV), version=_version())
    else:
        serve_stdio(box, version=_version())
    return 0


def _version() -> str:
    try:
        return version("tunechat")
    except PackageNotFoundError:  # a source tree that was never installed
        return ""
