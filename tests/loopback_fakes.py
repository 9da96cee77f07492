"""What the loopback fakes of hosted APIs share (tests/fake_openai_ft*.py, tests/together_server.py): a JSON request
handler, the word-vote "model" a fake fine-tune turns into, and the command-line loop that keeps a fake running."""

from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler
from typing import Any


class JsonHandler(BaseHTTPRequestHandler):
    """Every method goes to `_route(method)`; `_send` writes one JSON answer (a client that gave up is not an error)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def _route(self, method: str) -> None:
        raise NotImplementedError

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)


def word_vote_answer(training_lines: Iterable[str], messages: list[dict[str, Any]]) -> str:
    """What a fake fine-tuned model answers: each word of the training prompts votes for the answers it came with,
    and the question's words pick the answer with most votes (the commonest answer when no word is known). Lines are
    chats (`messages`) or prompt/completion pairs."""
    votes: dict[str, Counter[str]] = defaultdict(Counter)
    labels: Counter[str] = Counter()
    for line in training_lines:
        example = json.loads(line)
        chat = example.get("messages") or [
            {"role": "user", "content": example.get("prompt", "")},
            {"role": "assistant", "content": example.get("completion", "")},
        ]
        user = " ".join(m["content"] for m in chat if m.get("role") == "user")
        answer = next((m["content"] for m in reversed(chat) if m.get("role") == "assistant"), "")
        labels[answer] += 1
        for word in re.findall(r"\w+", user.lower()):
            votes[word][answer] += 1
    score: Counter[str] = Counter()
    text = " ".join(str(m.get("content")) for m in messages if m.get("role") == "user")
    for word in re.findall(r"\w+", text.lower()):
        total = sum(votes[word].values())
        for label, count in votes[word].items():
            score[label] += count / total if total else 0
    return (score or labels).most_common(1)[0][0] if (score or labels) else ""


def run_until_interrupted(fake: Any, what: str) -> None:
    """Keep a started fake serving for someone trying tunechat by hand, until Ctrl-C."""
    print(f"{what} at {fake.base_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()
