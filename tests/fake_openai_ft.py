"""A loopback OpenAI fine-tuning server for tests and for trying tunechat by hand: real HTTP on 127.0.0.1.

Endpoints: POST /v1/files, GET /v1/files/{id}; POST /v1/fine_tuning/jobs, GET /v1/fine_tuning/jobs
(metadata filter), GET .../{id}, GET .../{id}/events, GET .../{id}/checkpoints, POST .../{id}/cancel;
POST /v1/chat/completions answering as a fine-tuned model (a word-vote classifier learnt from the job's
training file).

A job moves one status per retrieve: validating_files -> queued -> running (one metrics event per
retrieve, `steps` of them) -> succeeded or failed (`outcome`). `hold = True` keeps it running.
`closed = True` answers every job create with OpenAI's 403 training_not_available; `models` (name ->
shutdown_date or None) is what GET /v1/models and /v1/models/{id} list.
Failures are injected per route with `fail(method, path_prefix, *answers)`: 429, 500, 400, 401, or
"timeout" (the request is carried out, then the answer comes after `slow_s`, so a client with a short
timeout retries it). Create honours the Idempotency-Key header, as a real API should.

    python tests/fake_openai_ft.py --port 8765 --key sk-test   # by hand; then OPENAI_BASE_URL=http://127.0.0.1:8765/v1
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

from fake_openai_ft_http import api_error, handler_for, new_id
from loopback_fakes import run_until_interrupted, word_vote_answer

# What a model a job was tuned from answers to anything: it was never taught the data.
BASE_ANSWER = "I am an AI assistant."


class FakeFineTuning:
    def __init__(self, key: str | None = None, steps: int = 4, outcome: str = "succeeded", slow_s: float = 1.5):
        self.key = key  # when set, any other bearer token gets 401
        self.steps, self.outcome, self.slow_s = steps, outcome, slow_s
        self.hold = False
        # True: every job create is refused as OpenAI refuses organisations it closed fine-tuning to (403).
        self.closed = False
        # The models endpoint: name -> shutdown_date (None: no date announced).
        self.models: dict[str, str | None] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.idempotency: dict[str, str] = {}
        self.create_calls = 0
        self.base_questions: list[list[dict[str, Any]]] = []
        self.requests: list[tuple[str, str]] = []
        self.authorizations: set[str] = set()
        self.failures: list[tuple[str, str, Any]] = []
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- control ------------------------------------------------------------------------

    def fail(self, method: str, path_prefix: str, *answers: Any) -> None:
        with self.lock:
            self.failures += [(method.upper(), path_prefix, answer) for answer in answers]

    def count(self, method: str, path_prefix: str) -> int:
        return sum(1 for m, p in self.requests if m == method and p.startswith(path_prefix))

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self, port: int = 0) -> FakeFineTuning:
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-ft", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeFineTuning:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---- behaviour ----------------------------------------------------------------------

    def _take_failure(self, method: str, path: str) -> Any:
        with self.lock:
            for index, (m, prefix, answer) in enumerate(self.failures):
                if m == method and path.startswith(prefix):
                    del self.failures[index]
                    return answer
        return None

    def upload(self, filename: str, purpose: str, content: bytes) -> tuple[int, dict[str, Any]]:
        lines = [line for line in content.decode("utf-8", errors="replace").splitlines() if line.strip()]
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                return 400, api_error(f"Invalid file format: line {number} is not valid JSON.", "invalid_file_format")
            if not isinstance(record, dict) or not ("messages" in record or "input" in record):
                return 400, api_error(f"Invalid file format: line {number} has no 'messages'.", "invalid_file_format")
        file_id = new_id("file")
        entry = {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
        }
        self.files[file_id] = {**entry, "content": content}
        return 200, entry

    def create_job(self, body: dict[str, Any], key: str | None) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.create_calls += 1
            if key and key in self.idempotency:
                return 200, self.public(self.jobs[self.idempotency[key]])
            if body.get("training_file") not in self.files:
                return 400, api_error(f"invalid training_file: {body.get('training_file')}", "invalid_training_file")
            if body.get("validation_file") and body["validation_file"] not in self.files:
                return 400, api_error(
                    f"invalid validation_file: {body.get('validation_file')}", "invalid_validation_file"
                )
            method = body.get("method") or {"type": "supervised"}
            hyper = dict((method.get(method["type"]) or {}).get("hyperparameters") or {})
            job = {
                "id": new_id("ftjob"),
                "object": "fine_tuning.job",
                "created_at": int(time.time()),
                "model": body["model"],
                "organization_id": "org-fake",
                "status": "validating_files",
                "training_file": body["training_file"],
                "validation_file": body.get("validation_file"),
                "hyperparameters": {
                    "n_epochs": hyper.get("n_epochs", "auto"),
                    "batch_size": hyper.get("batch_size", "auto"),
                    "learning_rate_multiplier": hyper.get("learning_rate_multiplier", "auto"),
                },
                "method": method,
                "metadata": body.get("metadata"),
                "suffix": body.get("suffix"),
                "seed": 42,
                "result_files": [],
                "fine_tuned_model": None,
                "finished_at": None,
                "trained_tokens": None,
                "error": None,
                "_step": 0,
                "_events": [],
                "_checkpoints": [],
            }
            self._event(job, "info", f"Created fine-tuning job: {job['id']}")
            self.jobs[job["id"]] = job
            if key:
                self.idempotency[key] = job["id"]
            return 200, self.public(job)

    def _event(self, job: dict[str, Any], level: str, message: str, data: Any = None, kind: str = "message") -> None:
        job["_events"].append(
            {
                "id": new_id("ftevent"),
                "object": "fine_tuning.job.event",
                "created_at": int(time.time()),
                "level": level,
                "message": message,
                "data": data,
                "type": kind,
            }
        )

    def advance(self, job: dict[str, Any]) -> None:
        """One status step per retrieve, so tests are deterministic and fast."""
        with self.lock:
            status = job["status"]
            if status == "validating_files":
                job["status"] = "queued"
                self._event(job, "info", "Validating training file: done")
            elif status == "queued":
                job["status"] = "running"
                self._event(job, "info", "Fine-tuning job started")
            elif status == "running" and job["_step"] < self.steps:
                job["_step"] += 1
                step = job["_step"]
                data = {
                    "step": step,
                    "total_steps": self.steps,
                    "train_loss": round(2.0 / step, 4),
                    "train_mean_token_accuracy": round(1 - 0.5 / (step + 1), 3),
                    "valid_loss": round(2.2 / step, 4),
                    "valid_mean_token_accuracy": round(0.95 - 0.5 / (step + 1), 3),
                }
                self._event(
                    job, "info", f"Step {step}/{self.steps}: training loss={data['train_loss']}", data, "metrics"
                )
                if step % 2 == 0 or step == self.steps:
                    job["_checkpoints"].append(
                        {
                            "id": new_id("ftckpt"),
                            "object": "fine_tuning.job.checkpoint",
                            "created_at": int(time.time()),
                            "fine_tuned_model_checkpoint": f"ft:{job['model']}:fake::{job['id']}:ckpt-step-{step}",
                            "fine_tuning_job_id": job["id"],
                            "metrics": {k: data[k] for k in ("step", "train_loss", "valid_loss")},
                            "step_number": step,
                        }
                    )
            elif status == "running" and not self.hold:
                job["finished_at"] = int(time.time())
                if self.outcome == "failed":
                    job["status"] = "failed"
                    job["error"] = {
                        "code": "invalid_training_file",
                        "message": "Too many examples are invalid.",
                        "param": "training_file",
                    }
                    self._event(job, "error", "Job failed: Too many examples are invalid.")
                else:
                    job["status"] = "succeeded"
                    job["fine_tuned_model"] = f"ft:{job['model']}:fake:{job.get('suffix') or ''}:{job['id']}"
                    job["trained_tokens"] = 1000 * self.steps
                    self._event(job, "info", "The job has successfully completed")

    def public(self, job: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in job.items() if not k.startswith("_")}

    def predict(self, model: str, messages: list[dict[str, Any]]) -> str:
        """A word-vote classifier learnt from the training file of the job that produced `model`; a model a job
        was tuned from knows nothing and answers BASE_ANSWER."""
        job = next((j for j in self.jobs.values() if j.get("fine_tuned_model") == model), None)
        if job is None and any(j.get("model") == model for j in self.jobs.values()):
            self.base_questions.append(messages)
            return BASE_ANSWER
        if job is None:
            raise KeyError(model)
        return word_vote_answer(self.files[job["training_file"]]["content"].decode().splitlines(), messages)


def main() -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI fine-tuning API on 127.0.0.1, for trying tunechat")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--key", default=None, help="accept only this API key (others get 401)")
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    fake = FakeFineTuning(key=args.key, steps=args.steps).start(args.port)
    run_until_interrupted(fake, "fake fine-tuning API")


if __name__ == "__main__":
    main()
