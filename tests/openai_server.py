"""A loopback OpenAI-compatible chat server for tests: real HTTP, scripted answers.

    with FakeOpenAI([tool("inspect_data", file="a.tsv"), text("Looks fine.")]) as server:
        ChatOpenAI(base_url=server.base_url, api_key="test-key", model="test-model")

Each POST /v1/chat/completions takes the next script item: `tool(...)` (an assistant tool call),
`text(...)` (a plain answer), `error(status, message)` (an HTTP error), or a function of the request body
returning one of those. Streaming requests ("stream": true) get the same answer as SSE chunks. Every
request body is kept in `requests` so tests can check the tools and tool results that were sent.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = dict[str, Any]
ScriptItem = Answer | Callable[[dict[str, Any]], Answer]

_ids = itertools.count(1)


def tool(name: str, **arguments: Any) -> Answer:
    return {"kind": "tool", "name": name, "arguments": arguments}


def text(content: str) -> Answer:
    return {"kind": "text", "content": content}


def error(status: int, message: str, code: str | None = None) -> Answer:
    return {"kind": "error", "status": status, "message": message, "code": code}


class FakeOpenAI:
    """Context manager running the server on 127.0.0.1 with a free port, in a daemon thread."""

    def __init__(self, script: Iterable[ScriptItem] = ()):
        self.script: list[ScriptItem] = list(script)
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "the server is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def add(self, *items: ScriptItem) -> None:
        with self._lock:
            self.script.extend(items)

    def __enter__(self) -> FakeOpenAI:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def next_answer(self, body: dict[str, Any], headers: dict[str, str]) -> Answer:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            if not self.script:
                return error(500, "the fake server's script is exhausted")
            item = self.script.pop(0)
        return item(body) if callable(item) else item


def _handler_for(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
                return
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                self._send_json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
                return
            headers = {key.lower(): value for key, value in self.headers.items()}
            answer = server.next_answer(body, headers)
            if answer["kind"] == "error":
                payload = {"error": {"message": answer["message"], "type": "error", "code": answer.get("code")}}
                self._send_json(int(answer["status"]), payload)
            elif body.get("stream"):
                self._send_stream(body, answer)
            else:
                self._send_json(200, _completion(body, answer))

        def _send_json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _send_stream(self, body: dict[str, Any], answer: Answer) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            for chunk in _chunks(body, answer):
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

    return Handler


def _message(answer: Answer) -> tuple[dict[str, Any], str]:
    if answer["kind"] == "tool":
        call = {
            "id": f"call_{next(_ids)}",
            "type": "function",
            "function": {"name": answer["name"], "arguments": json.dumps(answer["arguments"])},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
    return {"role": "assistant", "content": answer["content"]}, "stop"


def _completion(body: dict[str, Any], answer: Answer) -> dict[str, Any]:
    message, finish = _message(answer)
    return {
        "id": f"chatcmpl-{next(_ids)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "test-model"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def _chunks(body: dict[str, Any], answer: Answer) -> list[dict[str, Any]]:
    message, finish = _message(answer)
    base = {"id": f"chatcmpl-{next(_ids)}", "object": "chat.completion.chunk", "created": int(time.time())}
    base["model"] = body.get("model", "test-model")
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    if message.get("tool_calls"):
        call = message["tool_calls"][0]
        deltas.append({"tool_calls": [{"index": 0, **call}]})
    else:
        content = message["content"] or ""
        # Two pieces, so a client that joins deltas is actually exercised.
        middle = len(content) // 2
        deltas += [{"content": content[:middle]}, {"content": content[middle:]}]
    chunks = [{**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]} for delta in deltas]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    return chunks
