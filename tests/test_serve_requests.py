"""Requests no well-behaved client sends, against both model servers: a negative, lying or doubled
Content-Length, bodies nested past any recursion limit, and a deployed server that must not hold the chat's
keys. Each is answered in the API's own JSON shape, and the server answers the NEXT request."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from hosted_runs import CANARY
from http_probe import COMPLETIONS, HELLO, completes, error_message, head, one_sentence, post, raw

from trainer.backends.local import worker_env
from trainer.core.processes import CHILDREN, secret_env
from trainer.core.workspace import Workspace
from trainer.serve.deploy import deploy_run, stop_deployment
from trainer.serve.http import MAX_BODY_BYTES, MAX_DEPTH
from trainer.serve.server import SERVER_MODULE
from trainer.store.registry import Registry

TWENTY_MB = b"x" * 20_000_000
# Each server, the path it answers, and a body it answers with 200.
APIS = {"classifier": ("/predict", {"inputs": "the food was great"}), "chat": (COMPLETIONS, {"messages": HELLO})}


def server(request: pytest.FixtureRequest, which: str) -> tuple[str, str, dict[str, Any]]:
    """(url, path, a body it answers with 200) of the classifier or the chat server in this process."""
    path, good = APIS[which]
    url = request.getfixturevalue(f"{which}_url")
    return url, path, {**good, "max_tokens": 2} if which == "chat" else good


def answers_again(url: str, path: str, good: dict[str, Any]) -> None:
    answer = post(url, path, good)
    assert answer.status == 200, answer.body[:300]


# ---- Content-Length: negative, lying, doubled, huge ------------------------------------------------------


@pytest.mark.parametrize("which", list(APIS))
@pytest.mark.parametrize(
    "headers",
    [
        [("Content-Length", "-1")],
        [("Content-Length", "+20000000")],
        [("Content-Length", "99999999999999999999999999")],
        [("Content-Length", "10"), ("Content-Length", "20000000")],
        [("Content-Length", "20000000"), ("Transfer-Encoding", "chunked")],
    ],
    ids=["negative", "signed", "huge", "doubled", "with-chunked"],
)
def test_a_malformed_content_length_is_a_json_400_and_bypasses_no_cap(
    request: pytest.FixtureRequest, which: str, headers: list[tuple[str, str]]
) -> None:
    url, path, good = server(request, which)
    answer = raw(url, head(path, [("Content-Type", "application/json"), *headers]) + TWENTY_MB)
    assert answer.status == 400 and answer.headers["content-type"] == "application/json"
    message = error_message(answer)
    assert message.startswith("The request is not valid HTTP") and one_sentence(message)
    answers_again(url, path, good)


@pytest.mark.parametrize("which", list(APIS))
def test_a_content_length_shorter_than_the_body_reads_only_that_much(
    request: pytest.FixtureRequest, which: str
) -> None:
    # The 10 bytes are the request; the 20 MB after them are a second request that is not HTTP.
    url, path, good = server(request, which)
    answer = raw(url, head(path, [("Content-Type", "application/json"), ("Content-Length", "10")]) + TWENTY_MB)
    assert answer.status == 400 and "not valid JSON" in error_message(answer)
    answers_again(url, path, good)


@pytest.mark.parametrize("which", list(APIS))
def test_an_honest_content_length_over_the_cap_is_refused_before_the_body(
    request: pytest.FixtureRequest, which: str
) -> None:
    url, path, good = server(request, which)
    answer = raw(url, head(path, [("Content-Type", "application/json"), ("Content-Length", "20000000")]) + TWENTY_MB)
    assert answer.status in (400, 413) and f"over the {MAX_BODY_BYTES} byte limit" in error_message(answer)
    answers_again(url, path, good)


# ---- nesting past the recursion limit ------------------------------------------------------------------


@pytest.mark.parametrize("which", list(APIS))
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 700, 100_000])
def test_a_body_nested_too_deeply_is_a_400_in_one_sentence(
    request: pytest.FixtureRequest, which: str, depth: int
) -> None:
    url, path, good = server(request, which)
    nested = b"[" * depth + b"]" * depth
    field = b'"inputs"' if path == "/predict" else b'"messages": [{"role": "user", "content": "hi", "name"'
    closing = b"}" if path == "/predict" else b"}]}"
    for body in (nested, b"{" + field + b": " + nested + closing):
        answer = post(url, path, body=body)
        assert answer.status == 400, answer.body[:300]
        message = error_message(answer)
        assert f"more than {MAX_DEPTH} levels deep" in message and one_sentence(message)
    answers_again(url, path, good)


def test_a_body_nested_just_within_the_limit_is_read(classifier_url: str) -> None:
    within = {"inputs": "the food was great", "options": [[[[{"a": [1]}]]]] * 3}
    assert post(classifier_url, "/predict", within).status == 200


@pytest.mark.parametrize("which", list(APIS))
def test_numbers_python_will_not_read_are_invalid_json(request: pytest.FixtureRequest, which: str) -> None:
    url, path, good = server(request, which)
    answer = post(url, path, body=b'{"inputs": 1' + b"0" * 5000 + b"}")
    assert answer.status == 400 and "is not valid JSON" in error_message(answer)
    answers_again(url, path, good)


# ---- secrets: children that never talk to the chat's LLM get none of its keys ---------------------------


SECRETS = {
    "OPENAI_API_KEY": CANARY,
    "MY_LLM_API_KEY": CANARY + "-llm",  # the key variable a chat's settings may name
    "AWS_SECRET_ACCESS_KEY": CANARY + "-aws",
    "DB_PASSWORD": CANARY + "-db",
}


def test_workers_and_servers_drop_the_same_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HF_TOKEN", "hf-kept")  # a gated base model may need it
    assert set(SECRETS) <= set(secret_env())
    env = worker_env()
    assert not set(SECRETS) & set(env) and CANARY not in "".join(env.values())
    assert env["HF_TOKEN"] == "hf-kept" and env["TOKENIZERS_PARALLELISM"] == "false"


def _chat_run(ws: Workspace, registry: Registry, tiny_llm: Path) -> int:
    """A succeeded SFT run whose model is tiny_llm, as the training worker leaves it."""
    run_id = registry.create_run({"task": "sft", "model": str(tiny_llm), "data": "uploads/chat.jsonl"})
    run_dir = ws.run_dir(run_id)
    shutil.copytree(tiny_llm, run_dir / "model")
    (run_dir / "config.json").write_text('{"task": "sft"}')
    registry.update_run(run_id, status="succeeded", run_dir=str(run_dir))
    return run_id


@pytest.mark.slow
def test_a_deployed_chat_server_holds_no_secret_and_answers_after_every_bad_request(
    ws_registry: tuple[Workspace, Registry], tiny_llm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    ws, registry = ws_registry
    run_id = _chat_run(ws, registry, tiny_llm)
    info = deploy_run(ws, registry, run_id)
    try:
        environ = Path(f"/proc/{info['pid']}/environ").read_bytes()
        assert CANARY.encode() not in environ and b"OPENAI_API_KEY=" not in environ
        assert b"HF_HUB_OFFLINE=1" in environ  # the rest of the environment is the chat's
        url = info["url"]

        answer = raw(
            url, head(COMPLETIONS, [("Content-Type", "application/json"), ("Content-Length", "-1")]) + TWENTY_MB
        )
        assert answer.status == 400 and "not valid HTTP" in error_message(answer)
        for bad in ({"max_tokens": -1}, {"temperature": "hot"}, {"messages": [{"role": "wizard", "content": "hi"}]}):
            answer = post(url, COMPLETIONS, {"messages": HELLO, "stream": True, **bad})
            assert answer.status == 400 and one_sentence(error_message(answer))
        body = {"messages": HELLO, "max_tokens": 3, "temperature": 1e-300, "stream": True}
        assert post(url, COMPLETIONS, body, timeout=20).events()[-1] == "[DONE]"
        nested = b'{"messages": ' + b"[" * 5000 + b"]" * 5000 + b"}"
        assert post(url, COMPLETIONS, body=nested).status == 400
        completes(url, timeout=20)
        assert CANARY not in str(post(url, COMPLETIONS, {"messages": HELLO, "max_tokens": 2}).body)
    finally:
        stop_deployment(ws, registry, run_id)
    log = (ws.run_dir(run_id) / "serve.log").read_text()
    assert "Traceback" not in log and CANARY not in log
    assert not CHILDREN.alive(info["pid"], (SERVER_MODULE,))
