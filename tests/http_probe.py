"""Talking to a model server the way a careless or hostile client does: raw bytes on a socket, server-sent
events read by hand, and a real tiny causal LM that fails or stalls in `generate` when a test says so."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from trainer.tasks.causal_lm.generate import ChatModel


@contextlib.contextmanager
def serve_chat_folder(folder: Any) -> Iterator[str]:
    """The chat API over the causal LM saved in `folder`, in this process on a free loopback port: its URL."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainer.serve.chat import create_chat_app
    from trainer.serve.http import ModelSlot
    from trainer.serve.listen import Server

    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    served = ChatModel(model, AutoTokenizer.from_pretrained(folder), "tunechat-run-2", 2)
    with Server(create_chat_app(ModelSlot(served)), "127.0.0.1", 0, quiet=True) as server:
        yield server.url


COMPLETIONS = "/v1/chat/completions"
HELLO = [{"role": "user", "content": "what color is the sky"}]


@dataclass
class Answer:
    """What came back: status (0 when the connection closed with no answer), headers, the raw body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def events(self) -> list[Any]:
        """The server-sent events' data, JSON decoded ("[DONE]" as is)."""
        found = []
        for event in self.body.decode().split("\n\n"):
            if event.startswith("data: "):
                data = event.removeprefix("data: ")
                found.append(data if data == "[DONE]" else json.loads(data))
        return found


def post(url: str, path: str, payload: Any = None, body: bytes | None = None, timeout: float = 30) -> Answer:
    """POST `payload` as JSON (or `body` as is) with urllib; a closed or timed-out connection raises."""
    data = body if body is not None else json.dumps(payload).encode()
    sent = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(sent, timeout=timeout) as response:
            return Answer(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, dict(error.headers), error.read())


def predict(url: str, payload: Any, timeout: float = 60) -> tuple[int, Any]:
    """POST a JSON body to a model server's /predict: its status and decoded answer."""
    answer = post(url, "/predict", payload, timeout=timeout)
    return answer.status, answer.json()


def raw(url: str, data: bytes, timeout: float = 30) -> Answer:
    """Send `data` as it is on a fresh connection (while reading, so a server that answers early is heard) and
    read until the server closes; an answer the server never gives fails the test after `timeout`."""
    address = urlsplit(url)
    sock = socket.create_connection((address.hostname, address.port), timeout=timeout)

    def send() -> None:
        try:
            sock.sendall(data)
        except OSError:
            pass  # the server answered and closed before taking it all: what it said is what counts

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    received = b""
    try:
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    finally:
        sock.close()
        sender.join(timeout=timeout)
    return parse_response(received)


def parse_response(received: bytes) -> Answer:
    """The first HTTP response in `received` (status 0 when there is none)."""
    head, _, rest = received.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 "):
        return Answer(0, {}, received)
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    headers = {name.lower(): value for name, value in headers.items()}
    length = int(headers.get("content-length", len(rest)))
    return Answer(int(lines[0].split()[1]), headers, rest[:length])


def head(path: str, headers: list[tuple[str, str]]) -> bytes:
    """A POST request's head with exactly these headers (repeats and all)."""
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def error_message(answer: Answer) -> str:
    """The one-sentence error of either API's shape."""
    error = answer.json()["error"]
    return error["message"] if isinstance(error, dict) else error


def one_sentence(message: str) -> bool:
    return message.endswith(".") and message.count(". ") == 0


def completes(url: str, timeout: float = 30) -> str:
    """A short greedy completion answers (the server is not stuck); returns its text."""
    answer = post(url, COMPLETIONS, {"messages": HELLO, "max_tokens": 3}, timeout=timeout)
    assert answer.status == 200, answer.body[:300]
    reply = answer.json()
    assert reply["object"] == "chat.completion"
    return str(reply["choices"][0]["message"]["content"])


@dataclass
class Faulty:
    """A real causal LM whose `generate` fails or stalls when told (`fail`, `stall_s`); anything else is the
    model's own. Counts its generations."""

    model: Any
    fail: bool = False
    stall_s: float = 0.0
    calls: int = 0
    finished: list[int] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def generate(self, **kwargs: Any) -> Any:
        self.calls += 1
        call = self.calls
        if self.fail:
            raise RuntimeError("the device ran out of memory (simulated)")
        if self.stall_s:
            time.sleep(self.stall_s)  # no token, no stopping criteria checked: a stuck forward pass
        output = self.model.generate(**kwargs)
        self.finished.append(call)
        return output


@dataclass
class FaultyChat:
    """A chat server in this process over a Faulty tiny LLM: its URL, the model, and the ChatModel (whose
    limits a test may change)."""

    url: str
    model: Faulty
    chat: ChatModel
