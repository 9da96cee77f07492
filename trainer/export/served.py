"""A deployed model over HTTP as a parity responder: what a client of the server gets back.

The chat server is asked as any OpenAI client asks it (POST /v1/chat/completions, temperature 0), the
classifier servers as their own clients do (POST /predict with `{"inputs": [...]}`); a key, when the server
wants one, goes in the Authorization header and nowhere else.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.export.parity import ChatAnswer, Messages

TIMEOUT_S = 120.0


def post_json(url: str, body: Any, api_key: str | None = None, timeout: float = TIMEOUT_S) -> Any:
    """POST `body` as JSON and return the decoded answer; UserError with the server's own sentence on an error."""
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")[:300]
        message = f"The server at {url} answered {error.code} ({detail}); check that it is still running"
        raise UserError(message) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise UserError(f"The server at {url} did not answer ({error}); check that it is still running") from None


class HttpChat:
    """An OpenAI-compatible chat server, answering greedily."""

    def __init__(self, url: str, api_key: str | None = None):
        self.url, self.api_key = url.rstrip("/"), api_key
        self.label = f"server at {self.url}"

    def render(self, messages: Messages) -> str | None:
        return None  # a server does not show its prompt: its answers and stops are compared

    def answer(self, messages: Messages, max_tokens: int) -> ChatAnswer:
        body = {"messages": messages, "max_tokens": max_tokens, "temperature": 0}
        answer = post_json(f"{self.url}/v1/chat/completions", body, self.api_key)
        choice = answer["choices"][0]
        return ChatAnswer(text=str(choice["message"]["content"] or ""), finish_reason=str(choice["finish_reason"]))


class HttpScores:
    """A classifier or regression server: each input's labels with their scores (regression: {"value": x})."""

    def __init__(self, url: str, api_key: str | None = None):
        self.url, self.api_key = url.rstrip("/"), api_key
        self.label = f"server at {self.url}"

    def scores(self, inputs: Sequence[Any]) -> list[dict[str, float]]:
        return self.read(
            post_json(f"{self.url}/predict", {"inputs": [self.shaped(item) for item in inputs]}, self.api_key)
        )

    @staticmethod
    def shaped(item: Any) -> Any:
        """A (text, text pair) tuple as the Inference API's pair object; a text as it is."""
        if isinstance(item, tuple):
            return {"text": item[0], "text_pair": item[1]}
        return item

    @staticmethod
    def read(answer: Any) -> list[dict[str, float]]:
        found: list[dict[str, float]] = []
        for row in answer:
            if isinstance(row, dict):  # regression: one {"score": x} per input
                found.append({"value": float(row["score"])})
            else:
                found.append({str(item["label"]): float(item["score"]) for item in row})
        return found


class HttpMediaScores(HttpScores):
    """A media classifier server: each held-out file's bytes sent base64-encoded, as its JSON API takes them."""

    def scores(self, inputs: Sequence[Any]) -> list[dict[str, float]]:
        encoded = [base64.b64encode(Path(os.fspath(item)).read_bytes()).decode() for item in inputs]
        return self.read(post_json(f"{self.url}/predict", {"inputs": encoded}, self.api_key))
