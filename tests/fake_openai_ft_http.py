"""The HTTP side of the loopback OpenAI fine-tuning server: routes, auth, injected failures, multipart uploads."""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import re
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from loopback_fakes import JsonHandler

if TYPE_CHECKING:
    from fake_openai_ft import FakeFineTuning

_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids):06d}"


def api_error(message: str, code: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": code, "param": None}}


# OpenAI's words for an organisation self-serve fine-tuning is closed to (403, code training_not_available).
CLOSED_MESSAGE = (
    "OpenAI is winding down the fine-tuning platform and your organization is no longer able to create new "
    "fine-tuning training jobs."
)


def _model(name: str, shutdown_date: str | None) -> dict[str, Any]:
    """A models-endpoint record; `shutdown_date` (YYYY-MM-DD or null) as GET /v1/models carries it."""
    return {
        "id": name,
        "object": "model",
        "created": 1_700_000_000,
        "owned_by": "system",
        "shutdown_date": shutdown_date,
    }


def _page(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "list", "data": items, "has_more": False}


def handler_for(server: FakeFineTuning) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def _route(self, method: str) -> None:
            parts = urlsplit(self.path)
            path, query = parts.path.rstrip("/"), parse_qsl(parts.query)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            server.requests.append((method, path))
            server.authorizations.add(self.headers.get("Authorization", ""))
            injected = server._take_failure(method, path)
            if injected in (429, 500, 503):
                retry = {"retry-after-ms": "20"} if injected == 429 else {}
                kind = "rate_limit_exceeded" if injected == 429 else "server_error"
                self._send(injected, api_error(f"injected {injected}", kind, kind), retry)
                return
            if injected == 401 or (server.key and self.headers.get("Authorization") != f"Bearer {server.key}"):
                self._send(401, api_error("Incorrect API key provided.", "invalid_api_key"))
                return
            if injected == 400:
                self._send(400, api_error("The file could not be parsed as JSONL (injected).", "invalid_file_format"))
                return
            status, payload = self._answer(method, path, query, raw)
            if injected == "timeout":
                time.sleep(server.slow_s)  # the work is done; only the answer is late
            self._send(status, payload)

        def _answer(
            self, method: str, path: str, query: list[tuple[str, str]], raw: bytes
        ) -> tuple[int, dict[str, Any]]:
            if method == "POST" and path == "/v1/files":
                return self._upload(raw)
            if method == "GET" and path.startswith("/v1/files/"):
                entry = server.files.get(path.rsplit("/", 1)[-1])
                return (
                    (200, {k: v for k, v in entry.items() if k != "content"})
                    if entry
                    else (404, api_error("no file", "not_found"))
                )
            if method == "POST" and path == "/v1/fine_tuning/jobs" and server.closed:
                with server.lock:
                    server.create_calls += 1
                # What OpenAI answers an organisation that may no longer fine-tune (quoted by public projects).
                return 403, api_error(CLOSED_MESSAGE, "training_not_available")
            if method == "GET" and path == "/v1/models":
                return 200, _page([_model(name, date) for name, date in server.models.items()])
            if method == "GET" and path.startswith("/v1/models/"):
                name = path.removeprefix("/v1/models/")
                if name not in server.models:
                    return 404, api_error(f"The model '{name}' does not exist", "model_not_found")
                return 200, _model(name, server.models[name])
            if method == "POST" and path == "/v1/fine_tuning/jobs":
                return server.create_job(json.loads(raw or b"{}"), self.headers.get("Idempotency-Key"))
            if method == "GET" and path == "/v1/fine_tuning/jobs":
                wanted = {k[len("metadata[") : -1]: v for k, v in query if k.startswith("metadata[")}
                jobs = [
                    server.public(j)
                    for j in reversed(list(server.jobs.values()))
                    if all((j.get("metadata") or {}).get(k) == v for k, v in wanted.items())
                ]
                return 200, _page(jobs)
            match = re.fullmatch(r"/v1/fine_tuning/jobs/([\w-]+)(/events|/checkpoints|/cancel)?", path)
            if match:
                job = server.jobs.get(match.group(1))
                if job is None:
                    return 404, api_error(f"No fine-tuning job {match.group(1)}", "not_found")
                what = match.group(2)
                if what is None and method == "GET":
                    server.advance(job)
                    return 200, server.public(job)
                if what == "/events":
                    return 200, _page(list(reversed(job["_events"])))
                if what == "/checkpoints":
                    return 200, _page(list(reversed(job["_checkpoints"])))
                if what == "/cancel" and method == "POST":
                    with server.lock:
                        if job["status"] in ("validating_files", "queued", "running"):
                            job["status"] = "cancelled"
                            server._event(job, "info", "Fine-tuning job cancelled")
                    return 200, server.public(job)
            if method == "POST" and path == "/v1/chat/completions":
                body = json.loads(raw or b"{}")
                try:
                    content = server.predict(body.get("model", ""), body.get("messages", []))
                except KeyError:
                    return 404, api_error(f"The model {body.get('model')} does not exist", "model_not_found")
                return 200, {
                    "id": new_id("chatcmpl"),
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                            "logprobs": None,
                        }
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
                }
            return 404, api_error(f"no route {method} {path}", "not_found")

        def _upload(self, raw: bytes) -> tuple[int, dict[str, Any]]:
            header = f"Content-Type: {self.headers.get('Content-Type')}\r\n\r\n".encode()
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + raw)
            fields: dict[str, Any] = {}
            filename = "upload.jsonl"
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if part.get_filename():
                    filename = part.get_filename()
                fields[str(name)] = part.get_payload(decode=True)
            if "file" not in fields:
                return 400, api_error("no file part", "invalid_request")
            return server.upload(filename, (fields.get("purpose") or b"").decode(), fields["file"])

    return Handler
