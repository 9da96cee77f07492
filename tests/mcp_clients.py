"""Real MCP clients of `tunechat mcp` in a child process: over stdio (as Claude Desktop starts it) and over
streamable HTTP. Each runs a script of tool calls in one connection and hands back what the server answered."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

ROOT = Path(__file__).resolve().parents[1]
# The child's environment: the test's workspace, offline, and this tree first on the path.
PASSED_ON = ("TUNECHAT_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "TOKENIZERS_PARALLELISM")


@dataclass
class Answer:
    """One tool call's answer: whether it is an error, its text blocks and its structured result."""

    is_error: bool
    texts: list[str]
    data: dict[str, Any] | None

    @property
    def text(self) -> str:
        return self.texts[0] if self.texts else ""


class Client:
    """A connected client: the tool names it listed, and `call` for a tool."""

    def __init__(self, session: ClientSession, tools: list[Any]):
        self.session = session
        self.tools = {tool.name: tool for tool in tools}

    async def call(self, name: str, arguments: dict[str, Any]) -> Answer:
        result = await self.session.call_tool(name, arguments)
        texts = [block.text for block in result.content if block.type == "text"]
        return Answer(bool(result.is_error), texts, result.structured_content)


Script = Callable[[Client], Awaitable[Any]]


def child_env() -> dict[str, str]:
    env = {name: os.environ[name] for name in PASSED_ON if name in os.environ}
    return {**env, "PYTHONPATH": str(ROOT)}


def mcp_command(*flags: str) -> list[str]:
    return ["-m", "ui.cli", "mcp", *flags]


async def _session(read: Any, write: Any, script: Script) -> Any:
    async with ClientSession(read, write) as session:
        await session.initialize()
        listed = await session.list_tools()
        return await script(Client(session, list(listed.tools)))


def over_stdio(flags: Sequence[str], script: Script) -> Any:
    """Start `tunechat mcp FLAGS` as a child over stdio, run `script` against it, and close it."""
    params = StdioServerParameters(command=sys.executable, args=mcp_command(*flags), env=child_env(), cwd=str(ROOT))

    async def main() -> Any:
        with anyio.fail_after(120):
            async with stdio_client(params) as (read, write):
                return await _session(read, write, script)

    return anyio.run(main)


def free_port() -> int:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def over_http(flags: Sequence[str], script: Script, headers: dict[str, str] | None = None, probe: str = "") -> Any:
    """Start `tunechat mcp --http FLAGS` on a free loopback port, run `script` against it, and stop it. With a
    `probe`, first POST a tools/list request without any header and return (its HTTP status, the script's result)."""
    port = free_port()
    args = [sys.executable, *mcp_command("--http", "--port", str(port), *flags)]
    env = {**os.environ, **child_env()}
    server = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for_port(port, server)
        status = _status_without_headers(f"http://127.0.0.1:{port}/mcp") if probe else None

        async def main() -> Any:
            with anyio.fail_after(120):
                async with create_mcp_http_client(headers=headers) as http:
                    url = f"http://127.0.0.1:{port}/mcp"
                    async with streamable_http_client(url, http_client=http) as (read, write):
                        return await _session(read, write, script)

        result = anyio.run(main)
        return (status, result) if probe else result
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stderr is not None:
            server.stderr.close()


def _wait_for_port(port: int, server: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            error = server.stderr.read().decode() if server.stderr else ""
            raise AssertionError(f"the MCP server exited with {server.returncode}: {error[-2000:]}")
        with closing(socket.socket()) as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"the MCP server did not listen on port {port} within {timeout_s} s")


def _status_without_headers(url: str) -> int:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def parsed(answer: Answer) -> dict[str, Any]:
    """The JSON text block of an answer, which says the same as its structured result."""
    data = json.loads(answer.text)
    assert isinstance(data, dict)
    return data
