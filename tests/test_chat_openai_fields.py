"""The chat server honours OpenAI's request fields as OpenAI does: `stop` (cut before it, streamed without
leaking a partial stop string), `n`, `seed`, `stream_options.include_usage`, `finish_reason` and usage; and
refuses what OpenAI refuses with a 400 of one sentence. Real loopback HTTP, read by hand and by the official
`openai` client, against tiny models built in the tests."""

from __future__ import annotations

from typing import Any

import pytest
from http_probe import COMPLETIONS, HELLO, error_message, one_sentence, post

GAMMA = [{"role": "user", "content": "gamma"}]  # the two-stop model answers "four four four ..." for ever
ALPHA = [{"role": "user", "content": "alpha"}]  # ... and "one two" then its end-of-turn token


def _streamed(url: str, body: dict[str, Any]) -> tuple[list[Any], dict[int, str], dict[int, str]]:
    """The stream's events, and each choice's joined text and finish reason."""
    answer = post(url, COMPLETIONS, {**body, "stream": True})
    assert answer.status == 200, answer.body[:300]
    events = answer.events()
    assert events[-1] == "[DONE]"
    texts: dict[int, str] = {}
    finishes: dict[int, str] = {}
    for event in events[:-1]:
        for choice in event["choices"]:
            texts[choice["index"]] = texts.get(choice["index"], "") + (choice["delta"].get("content") or "")
            if choice["finish_reason"]:
                finishes[choice["index"]] = choice["finish_reason"]
    return events, texts, finishes


def _whole(url: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = post(url, COMPLETIONS, body)
    assert answer.status == 200, answer.body[:300]
    return dict(answer.json())


@pytest.mark.parametrize(
    ("stop", "reply"),
    [(" four", "four"), (["x", "r fo"], "fou"), ("four", ""), (["r f!"], "four four four")],
    ids=["word", "partial-held-back", "at-once", "never-completed"],
)
def test_a_reply_ends_before_the_first_stop_string_streamed_or_not(two_stop_url: str, stop: Any, reply: str) -> None:
    body = {"messages": GAMMA, "max_tokens": 3, "stop": stop}
    whole = _whole(two_stop_url, body)
    choice = whole["choices"][0]
    assert choice["message"]["content"] == reply
    finish = "length" if reply == "four four four" else "stop"
    assert choice["finish_reason"] == finish
    events, texts, finishes = _streamed(two_stop_url, body)
    assert texts == {0: reply} and finishes == {0: finish}
    # No chunk ever showed text that a later stop string took back (the "r" of "r fo" waited, then went).
    shown = "".join(event["choices"][0]["delta"].get("content") or "" for event in events[:-1] if event["choices"])
    assert shown == reply
    if finish == "stop":
        assert whole["usage"]["completion_tokens"] < 3  # generation stopped at the stop string


def test_finish_reason_is_length_when_cut_and_stop_at_the_end_of_turn(two_stop_url: str) -> None:
    cut = _whole(two_stop_url, {"messages": GAMMA, "max_tokens": 2})
    assert cut["choices"][0]["finish_reason"] == "length" and cut["usage"]["completion_tokens"] == 2
    ended = _whole(two_stop_url, {"messages": ALPHA, "max_tokens": 10})
    assert ended["choices"][0] == {
        "index": 0,
        "message": {"role": "assistant", "content": "one two"},
        "logprobs": None,
        "finish_reason": "stop",
    }
    _, texts, finishes = _streamed(two_stop_url, {"messages": GAMMA, "max_tokens": 2})
    assert texts == {0: "four four"} and finishes == {0: "length"}
    _, texts, finishes = _streamed(two_stop_url, {"messages": ALPHA, "max_tokens": 10})
    assert texts == {0: "one two"} and finishes == {0: "stop"}


def test_n_choices_are_indexed_and_all_counted_in_the_usage(chat_url: str) -> None:
    one = _whole(chat_url, {"messages": HELLO, "max_tokens": 4})
    three = _whole(chat_url, {"messages": HELLO, "max_tokens": 4, "n": 3})
    assert [choice["index"] for choice in three["choices"]] == [0, 1, 2]
    # Greedy: every choice is the one greedy reply, and every one of them is counted.
    assert {choice["message"]["content"] for choice in three["choices"]} == {one["choices"][0]["message"]["content"]}
    assert three["usage"]["prompt_tokens"] == one["usage"]["prompt_tokens"]
    assert three["usage"]["completion_tokens"] == 3 * one["usage"]["completion_tokens"]
    total = three["usage"]["prompt_tokens"] + three["usage"]["completion_tokens"]
    assert three["usage"]["total_tokens"] == total


def test_the_same_seed_gives_the_same_sampled_choices_streamed_or_not(chat_url: str) -> None:
    body = {"messages": HELLO, "max_tokens": 8, "n": 3, "temperature": 1.0, "seed": 1234}
    first = [choice["message"]["content"] for choice in _whole(chat_url, body)["choices"]]
    again = [choice["message"]["content"] for choice in _whole(chat_url, body)["choices"]]
    other = [choice["message"]["content"] for choice in _whole(chat_url, {**body, "seed": 99})["choices"]]
    assert first == again and first != other
    assert len(set(first)) > 1  # sampled: the choices differ from each other
    _, texts, finishes = _streamed(chat_url, body)
    assert [texts[index] for index in range(3)] == first and set(finishes) == {0, 1, 2}


def test_include_usage_adds_a_last_chunk_with_the_usage_and_no_choices(chat_url: str) -> None:
    body = {"messages": HELLO, "max_tokens": 5, "n": 2, "stream_options": {"include_usage": True}}
    events, _, finishes = _streamed(chat_url, body)
    last = events[-2]
    assert last["choices"] == [] and last["object"] == "chat.completion.chunk"
    assert last["usage"] == _whole(chat_url, {"messages": HELLO, "max_tokens": 5, "n": 2})["usage"]
    assert all(event["usage"] is None for event in events[:-2]) and finishes == {0: "length", 1: "length"}
    events, _, _ = _streamed(chat_url, {"messages": HELLO, "max_tokens": 2, "stream_options": {"include_usage": False}})
    assert all("usage" not in event and event["choices"] for event in events[:-1])


BAD = [
    ({"n": 0}, "'n' must be from 1 to 8, not 0"),
    ({"n": 9}, "'n' must be from 1 to 8, not 9"),
    ({"n": "2"}, "'n' is invalid"),
    ({"n": 1.5}, "'n' is invalid"),
    ({"max_tokens": "5"}, "'max_tokens' is invalid"),
    ({"max_tokens": True}, "'max_tokens' is invalid"),
    ({"max_completion_tokens": 2.5}, "'max_completion_tokens' is invalid"),
    ({"seed": 2**64}, "'seed' must be a 64-bit integer"),
    ({"seed": "x"}, "'seed' is invalid"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "'stop' holds 5 strings and may hold at most 4"),
    ({"stop": ""}, "'stop' holds an empty string"),
    ({"stop": ["ok", ""]}, "'stop' holds an empty string"),
    ({"stop": 7}, "'stop' must be a string or a list of up to 4 strings, not 7"),
    ({"stop": ["ok", 7]}, "'stop' must be a string or a list"),
    ({"stop": "x" * 513}, "at most 512 characters"),
    ({"stream_options": {"include_usage": True}}, "'stream_options' is only allowed when 'stream' is true"),
    ({"stream_options": "yes", "stream": True}, "'stream_options' must be an object"),
    ({"stream_options": {"include_usage": "yes"}, "stream": True}, "'stream_options.include_usage' is invalid"),
]


@pytest.mark.parametrize(("extra", "expected"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_what_openai_refuses_is_a_400_of_one_sentence(chat_url: str, extra: dict[str, Any], expected: str) -> None:
    answer = post(chat_url, COMPLETIONS, {"messages": HELLO, "max_tokens": 2, **extra})
    assert answer.status == 400, answer.body[:300]
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and expected in error["message"]
    assert one_sentence(error["message"]), error["message"]


def test_fields_it_does_not_know_are_ignored(chat_url: str) -> None:
    extra = {"frequency_penalty": 0.5, "logit_bias": {"1": 2}, "user": "u-1", "store": False, "stop": None, "n": None}
    assert _whole(chat_url, {"messages": HELLO, "max_tokens": 2, **extra})["usage"]["completion_tokens"] == 2
    assert error_message(post(chat_url, COMPLETIONS, {"messages": HELLO, **extra, "n": 0})).startswith("'n'")


def test_the_openai_client_parses_every_answer(chat_url: str, two_stop_url: str) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{chat_url}/v1", api_key="unused", max_retries=0)
    reply = client.chat.completions.create(
        model="tunechat-run-4",
        messages=HELLO,  # type: ignore[arg-type]
        max_tokens=4,
        n=2,
        temperature=0.8,
        seed=3,
    )
    assert [choice.index for choice in reply.choices] == [0, 1] and reply.usage is not None
    assert reply.usage.completion_tokens == 8 and reply.choices[0].finish_reason == "length"
    chunks = list(
        client.chat.completions.create(
            model="tunechat-run-4",
            messages=HELLO,  # type: ignore[arg-type]
            max_tokens=4,
            n=2,
            temperature=0.8,
            seed=3,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 8
    streamed = {0: "", 1: ""}
    for chunk in chunks[:-1]:
        for choice in chunk.choices:
            streamed[choice.index] += choice.delta.content or ""
    assert [streamed[0], streamed[1]] == [choice.message.content for choice in reply.choices]
    with pytest.raises(openai.BadRequestError, match="'n' must be from 1 to 8"):
        client.chat.completions.create(model="m", messages=HELLO, n=9)  # type: ignore[arg-type]
    client.close()  # a kept-alive connection would hold the server's shutdown

    stops = openai.OpenAI(base_url=f"{two_stop_url}/v1", api_key="unused", max_retries=0)
    cut = stops.chat.completions.create(model="m", messages=GAMMA, max_tokens=3, stop=[" four"])  # type: ignore[arg-type]
    assert cut.choices[0].message.content == "four" and cut.choices[0].finish_reason == "stop"
    stops.close()
