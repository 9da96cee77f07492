"""The chat-model server holds against bad requests and bad generations: every bad field is a 400 naming it
(streamed or not), a generation that fails or stalls ends its own request with an error, and the NEXT request
always answers. Real loopback HTTP against a tiny Llama built in the tests."""

from __future__ import annotations

import copy
import json
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from http_probe import COMPLETIONS, HELLO, FaultyChat, completes, error_message, one_sentence, post

from trainer.serve import chat
from trainer.serve.http import ModelSlot
from trainer.serve.listen import Server
from trainer.tasks.causal_lm.generate import MAX_TOKENS, ChatModel, Limits

BAD_BODIES = [
    ({"messages": HELLO, "max_tokens": -1}, "'max_tokens'"),
    ({"messages": HELLO, "max_tokens": 10**9}, "'max_tokens'"),
    ({"messages": HELLO, "max_completion_tokens": 0}, "'max_completion_tokens'"),
    ({"messages": HELLO, "temperature": 2.5}, "'temperature'"),
    ({"messages": HELLO, "temperature": -0.1}, "'temperature'"),
    ({"messages": HELLO, "temperature": "warm"}, "'temperature'"),
    ({"messages": HELLO, "top_p": 1.5}, "'top_p'"),
    ({"messages": [{"role": "wizard", "content": "hi"}]}, "'messages[0].role'"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": 7, "content": "x"}]}, "'messages[1].role'"),
    ({"messages": [{"role": "user"}]}, "'content' is missing in messages[0]"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}, "'content' in messages[0]"),
    ({"messages": [{"role": "user", "content": {"text": "hi"}}]}, "'content' in messages[0]"),
    ({"messages": ["hi"]}, "'messages[0]'"),
    ({"messages": {"role": "user"}}, "'messages'"),
]


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
@pytest.mark.parametrize(("body", "field"), BAD_BODIES, ids=[str(i) for i in range(len(BAD_BODIES))])
def test_a_bad_field_is_a_400_naming_it_and_the_next_completion_answers(
    chat_url: str, body: dict[str, Any], field: str, stream: bool
) -> None:
    answer = post(chat_url, COMPLETIONS, {**body, "stream": stream})
    assert answer.status == 400, answer.body[:300]
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == 400
    assert field in error["message"] and one_sentence(error["message"])
    completes(chat_url)


def test_nan_and_infinite_numbers_name_their_field(chat_url: str) -> None:
    for name, value in [("temperature", "NaN"), ("top_p", "Infinity"), ("max_tokens", "-Infinity")]:
        body = f'{{"messages": {json.dumps(HELLO)}, "{name}": {value}}}'.encode()
        answer = post(chat_url, COMPLETIONS, body=body)
        assert answer.status == 400 and f"'{name}'" in error_message(answer), answer.body
    completes(chat_url)


def test_the_cap_on_max_tokens_is_said_and_the_context_bounds_the_reply(chat_url: str) -> None:
    answer = post(chat_url, COMPLETIONS, {"messages": HELLO, "max_tokens": MAX_TOKENS + 1})
    assert answer.status == 400 and f"from 1 to {MAX_TOKENS}" in error_message(answer)
    # The tiny Llama reads 256 positions: a long reply asked for stops at the context, as "length".
    started = time.monotonic()
    rambling = [{"role": "user", "content": "hi " * 115}]  # ~240 tokens, never answered with the end token
    answer = post(chat_url, COMPLETIONS, {"messages": rambling, "max_tokens": MAX_TOKENS})
    reply = answer.json()
    assert answer.status == 200 and reply["usage"]["total_tokens"] == 256
    assert reply["choices"][0]["finish_reason"] == "length" and time.monotonic() - started < 30


def test_a_conversation_longer_than_the_context_is_refused(chat_url: str) -> None:
    long = [{"role": "user", "content": "the sky is blue " * 200}]
    answer = post(chat_url, COMPLETIONS, {"messages": long, "max_tokens": 2, "stream": True})
    assert answer.status == 400
    message = error_message(answer)
    assert "reads at most 256" in message and "shorter conversation" in message and one_sentence(message)
    completes(chat_url)


def test_text_parts_are_read_as_the_text_they_hold(chat_url: str) -> None:
    parts = [{"role": "user", "content": [{"type": "text", "text": "what color"}, {"type": "text", "text": "is"}]}]
    answer = post(chat_url, COMPLETIONS, {"messages": parts, "max_tokens": 3})
    assert answer.status == 200, answer.body[:300]
    joined = [{"role": "user", "content": "what color\nis"}]
    same = post(chat_url, COMPLETIONS, {"messages": joined, "max_tokens": 3}).json()
    assert answer.json()["choices"][0]["message"] == same["choices"][0]["message"]
    # An assistant message may carry no content (OpenAI sends null beside tool calls).
    turns = [*HELLO, {"role": "assistant", "content": None}, {"role": "user", "content": "and at night"}]
    assert post(chat_url, COMPLETIONS, {"messages": turns, "max_tokens": 2}).status == 200


def test_a_conversation_the_chat_template_refuses_is_a_400(tiny_llm_loaded: tuple[Any, Any]) -> None:
    model, tokenizer = tiny_llm_loaded
    strict = copy.copy(tokenizer)  # a template that refuses, as many models' own do (roles must alternate, ...)
    strict.chat_template = (
        "{% if messages[0]['role'] != 'user' %}"
        "{{ raise_exception('Conversations must start with the user. Put the user first') }}{% endif %}"
        "{{ messages[0]['content'] }}"
    )
    served = ChatModel(model, strict, "tunechat-run-4", 4)
    with Server(chat.create_chat_app(ModelSlot(served)), "127.0.0.1", 0, quiet=True) as server:
        for stream in (False, True):
            body = {"messages": [{"role": "assistant", "content": "hi"}], "max_tokens": 2, "stream": stream}
            answer = post(server.url, COMPLETIONS, body)
            assert answer.status == 400, answer.body[:300]
            message = error_message(answer)
            assert "chat template cannot render these messages (Conversations must start with the user" in message
            assert one_sentence(message)
        completes(server.url)


def test_a_temperature_too_small_to_sample_with_decodes_greedily_streamed(chat_url: str) -> None:
    # Dividing the logits by 1e-300 overflows them, and sampling from the result raises in the generation
    # thread: the stream used to wait for text for ever, holding the model, and every later request hung.
    body = {"messages": HELLO, "max_tokens": 3, "temperature": 1e-300, "stream": True}
    events = post(chat_url, COMPLETIONS, body, timeout=20).events()
    assert events[-1] == "[DONE]" and not any("error" in event for event in events[:-1])
    streamed = "".join(event["choices"][0]["delta"].get("content", "") for event in events[:-1])
    assert streamed == completes(chat_url)  # greedy, like temperature 0


def test_a_failing_streamed_generation_ends_with_an_error_event_and_the_next_answers(faulty_chat: FaultyChat) -> None:
    faulty_chat.model.fail = True
    answer = post(faulty_chat.url, COMPLETIONS, {"messages": HELLO, "max_tokens": 3, "stream": True}, timeout=20)
    assert answer.status == 200  # the stream had started: the error is its last event, as OpenAI sends it
    events = answer.events()
    assert events[-1] == "[DONE]" and events[0]["choices"][0]["delta"]["role"] == "assistant"
    error = events[-2]["error"]
    assert "failed while generating this reply (RuntimeError)" in error["message"] and one_sentence(error["message"])
    assert error["type"] == "server_error"
    faulty_chat.model.fail = False
    completes(faulty_chat.url, timeout=20)


def test_a_failing_completion_is_a_500_and_does_not_hold_the_model(faulty_chat: FaultyChat) -> None:
    faulty_chat.model.fail = True
    answer = post(faulty_chat.url, COMPLETIONS, {"messages": HELLO, "max_tokens": 3}, timeout=20)
    assert answer.status == 500
    assert "The model failed on this request (RuntimeError)" in error_message(answer)
    faulty_chat.model.fail = False
    completes(faulty_chat.url, timeout=20)


def test_a_stalled_stream_ends_with_an_error_event_instead_of_hanging(faulty_chat: FaultyChat) -> None:
    faulty_chat.model.stall_s = 2.0  # no text for 2 s; the server gives up on a stream after 1 s
    started = time.monotonic()
    answer = post(faulty_chat.url, COMPLETIONS, {"messages": HELLO, "max_tokens": 3, "stream": True}, timeout=20)
    assert time.monotonic() - started < 1.8
    events = answer.events()
    assert events[-1] == "[DONE]" and "produced no text for 1 s" in events[-2]["error"]["message"]
    faulty_chat.model.stall_s = 0.0
    # The next request waits for the stalled generation to end (it stops at its first token), then answers.
    completes(faulty_chat.url, timeout=20)
    assert faulty_chat.model.finished == [1, 2]


def test_a_request_that_waits_too_long_for_the_model_is_told_to_retry(faulty_chat: FaultyChat) -> None:
    faulty_chat.chat.limits = Limits(token_s=10, generation_s=20, busy_s=0.5)
    faulty_chat.model.stall_s = 1.5
    slow = threading.Thread(target=completes, args=(faulty_chat.url,), daemon=True)
    slow.start()
    while faulty_chat.model.calls == 0:
        time.sleep(0.01)
    for stream in (False, True):
        answer = post(faulty_chat.url, COMPLETIONS, {"messages": HELLO, "max_tokens": 3, "stream": stream})
        assert answer.status == 503 and answer.headers["retry-after"] == "30"
        assert "busy with other requests for 0.5 s; try again" in error_message(answer)
    slow.join(timeout=20)
    faulty_chat.model.stall_s = 0.0
    completes(faulty_chat.url)


def test_a_client_that_leaves_mid_stream_does_not_hold_the_model(chat_url: str) -> None:
    address = urlsplit(chat_url)
    body = json.dumps({"messages": HELLO, "max_tokens": 200, "stream": True}).encode()
    with socket.create_connection((address.hostname, address.port), timeout=20) as sock:
        head = f"POST {COMPLETIONS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        sock.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        assert sock.recv(200).startswith(b"HTTP/1.1 200")  # streaming has begun; now hang up
    started = time.monotonic()
    completes(chat_url)
    assert time.monotonic() - started < 15
