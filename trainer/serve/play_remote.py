"""The playground's client of a live deployment: the same requests any user of its API sends, over HTTP to this
machine only. Each API is one small function, so a change of a server's routes or fields is one change here.

A chat deployment is called as OpenAI's chat completions; a text model as `POST /predict` with `{"inputs": [...]}`
(a list, so the answer is one row per input however a single input is answered); a media classifier with the file
as the raw body. Every failure is one sentence naming the deployment.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from trainer.core.errors import UserError
from trainer.serve.access import KEY_ENV, is_loopback

TIMEOUT_S = 300.0


def check_loopback(url: str) -> str:
    """`url` when it points at this machine; UserError otherwise (the playground sends inputs nowhere else)."""
    if not is_loopback(urlsplit(url).hostname or ""):
        raise UserError(f"The deployment at {url} is not on this machine; the playground only calls 127.0.0.1.")
    return url.rstrip("/")


def post(url: str, body: bytes, content_type: str, timeout: float = TIMEOUT_S) -> Any:
    """The JSON answer of a POST to a deployment on this machine; one sentence for any failure."""
    headers = {"Content-Type": content_type}
    key = os.environ.get(KEY_ENV)  # deployments started from this process require this key (deploy hands it on)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(check_loopback(url), data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        raise UserError(_refusal(url, error)) from None
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or type(error).__name__
        raise UserError(
            f"The deployment at {url} did not answer ({reason}); check that it still runs, or pick another."
        ) from None


def _refusal(url: str, error: urllib.error.HTTPError) -> str:
    if error.code in (401, 403):
        return (
            f"The deployment at {url} asks for an API key the playground does not have; start tunechat with "
            f"{KEY_ENV} set to that key, or try the run itself."
        )
    try:
        answer = json.loads(error.read().decode("utf-8"))
    except (OSError, ValueError):
        answer = None
    message = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(message, dict):  # OpenAI's shape: {"error": {"message": ...}}
        message = message.get("message")
    said = str(message).rstrip(".") if message else f"HTTP {error.code}"
    return f"The deployment at {url} refused the request: {said}."


def chat(url: str, messages: list[dict[str, Any]], max_tokens: int) -> tuple[str, bool]:
    """A chat deployment's greedy reply to `messages`, and whether it ended its turn (not cut at max_tokens)."""
    body = {"messages": messages, "max_tokens": max_tokens, "temperature": 0}
    answer = post(f"{url}/v1/chat/completions", json.dumps(body).encode(), "application/json")
    try:
        choice = answer["choices"][0]
        return str(choice["message"]["content"] or ""), choice.get("finish_reason") != "length"
    except (KeyError, IndexError, TypeError):
        raise UserError(f"The deployment at {url} answered in a shape that is not a chat completion.") from None


def predict_texts(url: str, text: str, pair: str | None = None) -> Any:
    """A text model's answer for one text (or one pair): a list of {label, score}, or one {score}."""
    given: Any = text if pair is None else {"text": text, "text_pair": pair}
    answer = post(f"{url}/predict", json.dumps({"inputs": [given]}).encode(), "application/json")
    return first_row(url, answer)


def predict_file(url: str, data: bytes) -> Any:
    """A media classifier's answer for one file sent as the raw body: a list of {label, score}."""
    return first_row(url, post(f"{url}/predict", data, "application/octet-stream"))


def first_row(url: str, answer: Any) -> Any:
    """The answer for the first input, whether the server answered a list of rows or the row itself."""
    if isinstance(answer, list) and answer:
        head = answer[0]
        if isinstance(head, list):  # one row per input: [[{label, score}, ...]]
            return head
        if isinstance(head, dict) and "label" in head:  # the row itself: [{label, score}, ...]
            return answer
        if isinstance(head, dict) and "score" in head:  # a number per input: [{score}]
            return head
    raise UserError(f"The deployment at {url} answered in a shape the playground does not know.")
