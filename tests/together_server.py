"""A loopback Together AI server for tests and for trying tunechat by hand: real HTTP on 127.0.0.1, spoken to by
the official `together` client.

What the client uses, with the shapes it reads (together/resources/fine_tuning.py, lib/resources/files.py):
- the three-step upload: POST /v1/files (form fields purpose, file_name, file_type, checksum) answers 302 with a
  Location to PUT the bytes to and X-Together-File-Id; PUT /upload/{id}; POST /v1/files/{id}/preprocess;
- GET /v1/fine-tunes/models/limits?model_name= and POST /v1/fine-tunes/estimate-price (the client's create asks
  both first), POST /v1/fine-tunes, GET /v1/fine-tunes (the list), GET /v1/fine-tunes/{id},
  GET /v1/fine-tunes/{id}/events, GET /v1/fine-tunes/{id}/metrics, POST /v1/fine-tunes/{id}/cancel;
- POST /v1/chat/completions, answering as a fine-tuned model (a word-vote classifier learnt from the job's
  training file) or as its base (which knows nothing).

A job moves one status per retrieve: pending -> queued -> running (one metrics point per retrieve, `steps` of
them) -> completed or error (`outcome`); `hold = True` keeps it running. Failures are injected per route with
`fail(method, path, *answers)` (the exact path, or every path under one ending in "/"): 429, 500, "lost" (the
request is carried out, then answered 500: the job exists though the client saw an error) or "timeout" (carried
out, answered after `slow_s`).

    python tests/together_server.py --port 8766 --key test   # by hand; then TOGETHER_BASE_URL=http://127.0.0.1:8766
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from loopback_fakes import JsonHandler, run_until_interrupted, word_vote_answer

BASE_ANSWER = "I am an AI assistant."
_ids = itertools.count(1)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error"}}


LIMITS = {
    "default_gradient_accumulation_steps": 1,
    "lora_training": {
        "default_rank": 8,
        **{"max_batch_size": 32, "max_batch_size_dpo": 16, "max_rank": 64, "min_batch_size": 8},
        "target_modules": ["q_proj", "v_proj"],
    },
    "full_training": {"max_batch_size": 32, "max_batch_size_dpo": 16, "min_batch_size": 8},
    **{"max_learning_rate": 1.0, "max_num_checkpoints": 10, "max_num_epochs": 20, "max_num_evals": 10},
    **{"max_seq_length_dpo": 4096, "max_seq_length_sft": 8192, "merge_output_lora": False},
    **{"min_learning_rate": 0.0, "min_max_seq_length": 512, "supports_full_training": True},
    **{"supports_reasoning": False, "supports_tools": True, "supports_vision": False},
}


class FakeTogether:
    def __init__(self, key: str | None = None, steps: int = 4, outcome: str = "completed", slow_s: float = 1.0):
        self.key, self.steps, self.outcome, self.slow_s = key, steps, outcome, slow_s
        self.hold = False
        self.files: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.create_calls = 0
        self.requests: list[tuple[str, str]] = []
        self.failures: list[tuple[str, str, Any]] = []
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # ---- control ------------------------------------------------------------------------

    def fail(self, method: str, path: str, *answers: Any) -> None:
        with self.lock:
            self.failures += [(method.upper(), path, answer) for answer in answers]

    def count(self, method: str, path_prefix: str) -> int:
        return sum(1 for m, p in self.requests if m == method and p.startswith(path_prefix))

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self, port: int = 0) -> FakeTogether:
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fake-together", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _take_failure(self, method: str, path: str) -> Any:
        with self.lock:
            for index, (m, prefix, answer) in enumerate(self.failures):
                if m == method and (path == prefix or (prefix.endswith("/") and path.startswith(prefix))):
                    del self.failures[index]
                    return answer
        return None

    # ---- behaviour ----------------------------------------------------------------------

    def create_job(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.create_calls += 1
            if body.get("training_file") not in self.files:
                return 400, _error(f"Invalid training_file: {body.get('training_file')}")
            job_id = f"ft-{next(_ids):08d}"
            job = {
                "id": job_id,
                "status": "pending",
                "created_at": _now(),
                "updated_at": _now(),
                "user_id": "user-fake",
                "model": body.get("model"),
                "training_file": body["training_file"],
                "validation_file": body.get("validation_file") or None,
                "suffix": body.get("suffix"),
                "n_epochs": body.get("n_epochs"),
                "n_evals": body.get("n_evals"),
                "batch_size": body.get("batch_size"),
                "learning_rate": body.get("learning_rate"),
                "training_type": body.get("training_type"),
                "training_method": body.get("training_method"),
                "model_output_name": None,
                "steps_completed": 0,
                "total_steps": self.steps,
                "_events": [],
                "_metrics": [],
            }
            self._event(job, "job_pending", f"Fine-tune request created: {job_id}")
            self.jobs[job_id] = job
            return 200, self.public(job)

    def _event(self, job: dict[str, Any], kind: str, message: str, level: str = "info") -> None:
        job["_events"].append(
            {"object": "fine-tune-event", "created_at": _now(), "level": level, "message": message, "type": kind}
        )

    def advance(self, job: dict[str, Any]) -> None:
        """One status step per retrieve, so tests are deterministic and fast."""
        with self.lock:
            status, step = job["status"], job["steps_completed"]
            if status == "pending":
                job["status"] = "queued"
                self._event(job, "job_pending", "Job queued")
            elif status == "queued":
                job["status"] = "running"
                self._event(job, "training_start", "Training started")
            elif status == "running" and step < self.steps:
                job["steps_completed"] = step = step + 1
                point = {"global_step": step, "train_loss": round(2.0 / step, 4), "epoch": step / self.steps}
                if job["validation_file"]:
                    point["eval_loss"] = round(2.2 / step, 4)
                job["_metrics"].append(point)
                self._event(job, "checkpoint_save", f"Step {step}/{self.steps}: loss {point['train_loss']}")
            elif status == "running" and not self.hold:
                if self.outcome == "error":
                    job["status"] = "error"
                    self._event(job, "job_error", "Training data has too many invalid lines.", "error")
                else:
                    job["status"] = "completed"
                    base = str(job["model"]).rsplit("/", 1)[-1]
                    job["model_output_name"] = f"fake-user/{base}-{job['suffix']}-{job['id'][-6:]}"
                    job["token_count"] = 1000 * self.steps
                    self._event(job, "job_complete", "Job finished")

    def public(self, job: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in job.items() if not k.startswith("_")}

    def predict(self, model: str, messages: list[dict[str, Any]]) -> str:
        """A word-vote classifier learnt from the training file of the job that made `model`; the model a job was
        tuned from knows nothing and answers BASE_ANSWER."""
        job = next((j for j in self.jobs.values() if j.get("model_output_name") == model), None)
        if job is None and any(j.get("model") == model for j in self.jobs.values()):
            return BASE_ANSWER
        if job is None:
            raise KeyError(model)
        return word_vote_answer(self.files[job["training_file"]]["content"].decode().splitlines(), messages)


def _handler(server: FakeTogether) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def _route(self, method: str) -> None:
            parts = urlsplit(self.path)
            path, query = parts.path.rstrip("/"), dict(parse_qsl(parts.query))
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            server.requests.append((method, path))
            injected = server._take_failure(method, path)
            if injected in (429, 500, 503):
                retry = {"retry-after-ms": "20"} if injected == 429 else {}
                self._send(injected, _error(f"injected {injected}"), retry)
                return
            signed = method == "PUT" and path.startswith("/upload/")  # a signed URL: no API key sent there
            if not signed and server.key and self.headers.get("Authorization") != f"Bearer {server.key}":
                self._send(401, _error("Invalid API key provided."))
                return
            status, payload, headers = self._answer(method, path, query, raw)
            if injected == "lost":
                status, payload = 500, _error("injected 500 after the work was done")
            if injected == "timeout":
                time.sleep(server.slow_s)  # the work is done; only the answer is late
            self._send(status, payload, headers)

        def _answer(
            self, method: str, path: str, query: dict[str, str], raw: bytes
        ) -> tuple[int, dict[str, Any], dict[str, str] | None]:
            if method == "POST" and path == "/v1/files":
                file_id = f"file-{next(_ids):08d}"
                name = re.search(rb'name="file_name"\r\n\r\n([^\r]*)', raw) or re.search(rb"file_name=([^&]*)", raw)
                server.files[file_id] = {"id": file_id, "filename": (name.group(1) if name else b"").decode()}
                location = f"{server.base_url}/upload/{file_id}"
                return 302, {}, {"Location": location, "X-Together-File-Id": file_id}
            if method == "PUT" and path.startswith("/upload/"):
                server.files[path.rsplit("/", 1)[-1]]["content"] = raw
                return 200, {}, None
            match = re.fullmatch(r"/v1/files/([\w.-]+)/preprocess", path)
            if method == "POST" and match and match.group(1) in server.files:
                entry = server.files[match.group(1)]
                return 200, self._file(entry), None
            if method == "GET" and path == "/v1/fine-tunes/models/limits":
                if str(query.get("model_name", "")).startswith("unknown"):
                    return 404, _error(f"Model {query.get('model_name')} is not available for fine-tuning"), None
                return 200, {**LIMITS, "model_name": query.get("model_name")}, None
            if method == "POST" and path == "/v1/fine-tunes/estimate-price":
                return (
                    200,
                    {"estimation_available": True, "allowed_to_proceed": True, "estimated_total_price": 1.0},
                    None,
                )
            if method == "POST" and path == "/v1/fine-tunes":
                return (*server.create_job(json.loads(raw or b"{}")), None)
            if method == "GET" and path == "/v1/fine-tunes":
                return 200, {"data": [server.public(job) for job in server.jobs.values()]}, None
            match = re.fullmatch(r"/v1/fine-tunes/([\w-]+)(/events|/metrics|/cancel)?", path)
            if match and match.group(1) in server.jobs:
                job, what = server.jobs[match.group(1)], match.group(2)
                if what is None and method == "GET":
                    server.advance(job)
                    return 200, server.public(job), None
                if what == "/events":
                    return 200, {"data": list(job["_events"])}, None
                if what == "/metrics":
                    return 200, {"metrics": list(job["_metrics"])}, None
                if what == "/cancel" and method == "POST":
                    with server.lock:
                        if job["status"] in ("pending", "queued", "running"):
                            job["status"] = "cancelled"
                            server._event(job, "job_stopped", "Job cancelled")
                    return 200, server.public(job), None
            if method == "POST" and path == "/v1/chat/completions":
                body = json.loads(raw or b"{}")
                try:
                    content = server.predict(body.get("model", ""), body.get("messages", []))
                except KeyError:
                    return 404, _error(f"Unable to access model {body.get('model')}"), None
                choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                answer = {"id": f"chat-{next(_ids)}", "object": "chat.completion", "created": int(time.time())}
                return 200, {**answer, "model": body.get("model"), "choices": [choice]}, None
            return 404, _error(f"no route {method} {path}"), None

        @staticmethod
        def _file(entry: dict[str, Any]) -> dict[str, Any]:
            content = entry.get("content") or b""
            return {
                **{"id": entry["id"], "object": "file", "bytes": len(content), "created_at": int(time.time())},
                **{"filename": entry["filename"], "FileType": "jsonl", "purpose": "fine-tune"},
                "processing_status": "COMPLETED",
            }

    return Handler


def point_client_at(server: FakeTogether, monkeypatch: Any, key: str) -> FakeTogether:
    """Point tunechat's Together client at the started `server` with `key` as the API key, polling fast."""
    for name, value in {
        "TOGETHER_API_KEY": key,
        "TOGETHER_BASE_URL": server.base_url,
        "TUNECHAT_TOGETHER_POLL_S": "0.1",
        "TUNECHAT_TOGETHER_TIMEOUT": "0.5",
        "TUNECHAT_TOGETHER_MAX_RETRIES": "3",
    }.items():
        monkeypatch.setenv(name, value)
    return server


@contextmanager
def together_api(monkeypatch: Any, home: Path, capfd: Any, key: str, **options: Any) -> Iterator[FakeTogether]:
    """The loopback server with the environment pointing the client at it and `key` (a canary) as the API key;
    afterwards the followers are ended and the key must be in no file of the workspace nor the captured output."""
    from hosted_runs import stop_followers

    server = point_client_at(FakeTogether(key=key, **options).start(), monkeypatch, key)
    try:
        yield server
    finally:
        server.stop()
        stop_followers(home)
    leaks = [p for p in home.rglob("*") if p.is_file() and key.encode() in p.read_bytes()]
    assert leaks == [], f"the API key was written to {leaks}"
    out, err = capfd.readouterr()
    assert key not in out and key not in err


def main() -> None:
    parser = argparse.ArgumentParser(description="Fake Together AI fine-tuning API on 127.0.0.1, for trying tunechat")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--key", default=None, help="accept only this API key (others get 401)")
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    fake = FakeTogether(key=args.key, steps=args.steps).start(args.port)
    run_until_interrupted(fake, "fake Together API")


if __name__ == "__main__":
    main()
