"""The one HTTP layer (FastAPI + uvicorn) under both model servers: validation that names the field, docs,
the body-size limit, "loading" before the model is in, IPv6, and a clean stop on SIGTERM. Real loopback HTTP
against a tiny BERT and a tiny Llama built in the tests."""

from __future__ import annotations

import http.client
import json
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from trainer.core.errors import UserError
from trainer.core.processes import child_env
from trainer.serve import chat, classifier
from trainer.serve.http import MAX_BODY_BYTES, ModelSlot
from trainer.serve.listen import Server
from trainer.serve.server import app_for_run
from trainer.tasks.text_classification.predict import Predictor

HELLO = [{"role": "user", "content": "what color is the sky"}]


def call(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    sent = {"Content-Type": "application/json"} if body is not None else {}
    request = urllib.request.Request(url, data=body, headers={**sent, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw, status, kind = response.read(), response.status, response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        raw, status, kind = error.read(), error.code, error.headers.get("Content-Type", "")
    return status, json.loads(raw) if "json" in kind else raw.decode()


def post(url: str, payload: Any) -> tuple[int, Any]:
    return call(url, json.dumps(payload).encode())


def one_sentence(message: str) -> bool:
    return message.endswith(".") and message.count(". ") == 0


# ---- validation: 400 naming the field, in each API's own error shape ---------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"inputs": {"text": "hi"}}, "'inputs'"),
        ({"text": "hi"}, "'inputs'"),
        ("just a string", "'inputs'"),
    ],
)
def test_a_bad_classifier_body_gets_400_naming_the_field(classifier_url: str, body: Any, field: str) -> None:
    status, answer = post(f"{classifier_url}/predict", body)
    assert status == 400
    assert set(answer) == {"error"} and field in answer["error"] and one_sentence(answer["error"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "'messages'"),
        ({"messages": []}, "'messages'"),
        ({"messages": "hello"}, "'messages'"),
        ({"messages": [{"content": "hi"}]}, "'messages[0].role'"),
        ({"messages": [{"role": "user", "content": 5}]}, "'content'"),
        ({"messages": HELLO, "temperature": "hot"}, "'temperature'"),
        ({"messages": HELLO, "max_tokens": 0}, "'max_tokens'"),
    ],
)
def test_a_bad_chat_body_gets_400_naming_the_field(chat_url: str, body: Any, field: str) -> None:
    status, answer = post(f"{chat_url}/v1/chat/completions", body)
    assert status == 400
    error = answer["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == 400
    assert field in error["message"] and one_sentence(error["message"])


def test_a_body_sent_as_a_form_is_read_as_json(classifier_url: str) -> None:
    # What `curl -d '{"inputs": ...}'` sends without -H 'Content-Type: application/json'.
    body = json.dumps({"inputs": ["great", "awful"]}).encode()
    status, answer = call(f"{classifier_url}/predict", body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and len(answer) == 2


# ---- docs --------------------------------------------------------------------------------------------


def test_docs_and_openapi_describe_each_api(classifier_url: str, chat_url: str) -> None:
    status, page = call(f"{classifier_url}/docs")
    assert status == 200 and "swagger" in page.lower()
    status, spec = call(f"{classifier_url}/openapi.json")
    assert status == 200 and {"/predict", "/", "/health"} <= set(spec["paths"])
    assert "inputs" in spec["components"]["schemas"]["PredictRequest"]["properties"]

    status, spec = call(f"{chat_url}/openapi.json")
    assert status == 200 and {"/v1/chat/completions", "/v1/models", "/health"} <= set(spec["paths"])
    assert spec["components"]["schemas"]["ChatRequest"]["required"] == ["messages"]
    assert call(f"{chat_url}/docs")[0] == 200


# ---- the chat API's shapes over raw HTTP -------------------------------------------------------------


def test_chat_answers_openai_shapes_streamed_and_not(chat_url: str) -> None:
    assert call(f"{chat_url}/health") == (200, {"status": "ok", "model": "tunechat-run-4", "run_id": 4})
    model = {"id": "tunechat-run-4", "object": "model", "created": 0, "owned_by": "tunechat"}
    models = {"object": "list", "data": [model]}
    assert call(f"{chat_url}/v1/models") == (200, models)
    assert call(f"{chat_url}/v1/models/") == (200, models)  # a trailing slash is the same route

    status, reply = post(f"{chat_url}/v1/chat/completions", {"messages": HELLO, "max_tokens": 5})
    assert status == 200
    assert reply["object"] == "chat.completion" and reply["model"] == "tunechat-run-4"
    assert reply["choices"][0]["message"]["role"] == "assistant" and reply["choices"][0]["index"] == 0
    usage = reply["usage"]
    assert 1 <= usage["completion_tokens"] <= 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]

    request = urllib.request.Request(
        f"{chat_url}/v1/chat/completions",
        data=json.dumps({"messages": HELLO, "max_tokens": 5, "stream": True}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        events = [line for line in response.read().decode().split("\n\n") if line]
    assert all(event.startswith("data: ") for event in events) and events[-1] == "data: [DONE]"
    chunks = [json.loads(event.removeprefix("data: ")) for event in events[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    # The reply was cut at max_tokens (the tiny model never ends its turn that soon): "length", as OpenAI says.
    assert reply["choices"][0]["finish_reason"] == "length" and usage["completion_tokens"] == 5
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "length"}
    streamed = "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks)
    assert streamed == reply["choices"][0]["message"]["content"]  # greedy both times

    status, answer = call(f"{chat_url}/nope")
    assert status == 404 and "/nope" in answer["error"]["message"] and one_sentence(answer["error"]["message"])


# ---- the body-size limit -----------------------------------------------------------------------------


def test_a_large_body_is_refused_with_an_answer_the_client_gets(classifier_url: str) -> None:
    # Five times the limit: the server reads it to the end, so urllib (which sends it all before reading
    # anything, on a connection it asked to close) still gets the answer instead of a reset.
    status, answer = call(f"{classifier_url}/predict", b"x" * (5 * MAX_BODY_BYTES))
    assert status == 400 and f"is {5 * MAX_BODY_BYTES} bytes, over the {MAX_BODY_BYTES} byte limit" in answer["error"]
    assert one_sentence(answer["error"])


def test_a_chunked_body_over_the_limit_is_refused_and_the_connection_stays_usable(classifier_url: str) -> None:
    address = urlsplit(classifier_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    pieces = (b"x" * 100_000 for _ in range(MAX_BODY_BYTES // 100_000 + 2))  # no Content-Length: chunked
    connection.request("POST", "/predict", body=pieces, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    answer = json.loads(response.read())
    assert response.status == 400 and f"over the {MAX_BODY_BYTES} byte limit" in answer["error"]
    connection.request("GET", "/health")  # the same keep-alive connection
    assert connection.getresponse().status == 200
    connection.close()


def test_the_chat_api_refuses_a_large_body_with_413_in_openai_shape(chat_url: str) -> None:
    huge = [{"role": "user", "content": "x" * 2_000_000}]
    status, answer = post(f"{chat_url}/v1/chat/completions", {"messages": huge})
    assert status == 413 and answer["error"]["code"] == 413
    assert f"over the {MAX_BODY_BYTES} byte limit" in answer["error"]["message"]


# ---- loading, IPv6, SIGTERM ---------------------------------------------------------------------------


def test_health_says_loading_until_the_model_is_in(predictor: Predictor) -> None:
    slot: ModelSlot[Predictor] = ModelSlot()
    with Server(classifier.create_classifier_app(slot), "127.0.0.1", 0, quiet=True) as server:
        assert call(f"{server.url}/health") == (503, {"status": "loading"})
        status, answer = post(f"{server.url}/predict", {"inputs": "great"})
        assert status == 503 and "still loading" in answer["error"]
        slot.value = predictor
        assert call(f"{server.url}/health")[1]["status"] == "ok"
        assert post(f"{server.url}/predict", {"inputs": "great"})[0] == 200


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
def test_a_server_on_ipv6_loopback_answers(predictor: Predictor) -> None:
    with classifier.make_server(predictor, "::1", 0, quiet=True) as server:
        assert server.url.startswith("http://[::1]:")
        assert call(f"{server.url}/health") == (200, {"status": "ok", "run_id": 7, "labels": predictor.labels})


def _reader(process: subprocess.Popen[str]) -> tuple[queue.Queue[str], threading.Thread]:
    """The process's output, line by line, without blocking the test on a silent process."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return lines, thread


@pytest.mark.slow
def test_sigterm_stops_the_server_process_cleanly_and_frees_the_port(classifier_run: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "trainer.serve", str(classifier_run), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=child_env(),
    )
    lines, reader = _reader(process)
    output: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while not any(line.startswith("Serving run 3") for line in output):
            assert time.monotonic() < deadline and process.poll() is None, "".join(output)
            try:
                output.append(lines.get(timeout=1))
            except queue.Empty:
                pass
        url = next(line for line in output if line.startswith("Serving run 3")).split(" at ")[1].strip()
        port = int(url.rsplit(":", 1)[1])
        assert call(f"{url}/health")[0] == 200

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(timeout=10)
    while not lines.empty():
        output.append(lines.get_nowait())
    log = "".join(output)
    assert "Shutting down" in log and log.rstrip().endswith("Stopped.") and "Traceback" not in log
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))  # free again
        again.listen(1)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/health", timeout=5)


# ---- one entry point, one choice of API ---------------------------------------------------------------


def test_app_for_run_picks_the_api_from_the_task(tmp_path: Path) -> None:
    assert app_for_run(tmp_path) is classifier.API  # no config.json: a plain classifier folder
    (tmp_path / "config.json").write_text(json.dumps({"task": "dpo"}))
    assert app_for_run(tmp_path) is chat.API
    (tmp_path / "config.json").write_text(json.dumps({"task": "text-classification"}))
    assert app_for_run(tmp_path) is classifier.API
    (tmp_path / "config.json").write_text("{oops")
    with pytest.raises(UserError, match="config.json is not valid JSON"):
        app_for_run(tmp_path)
