"""Random and mutated request bodies (hypothesis) at /predict and /v1/chat/completions of servers in this
process: every answer is a JSON 200 (or a complete event stream) or a 4xx whose error is a message, within a
bounded time; never a 500, never a dropped connection."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any
from urllib.parse import urlsplit

from http_probe import COMPLETIONS, HELLO, Answer
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

# Per request; the slowest valid one generates a few tokens of a tiny model.
ANSWER_WITHIN_S = 10.0
FUZZ = settings(
    max_examples=40,
    deadline=None,  # each request's own time is asserted below
    database=None,  # nothing written into the source tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
any_json = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def mutated(good: bytes) -> st.SearchStrategy[bytes]:
    """`good` with a few bytes flipped, dropped, repeated or inserted."""

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        data = bytearray(good)
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(data)))
            kind = draw(st.sampled_from(["flip", "drop", "insert", "repeat"]))
            if kind == "flip" and at < len(data):
                data[at] ^= 1 << draw(st.integers(0, 7))
            elif kind == "drop":
                del data[at : at + draw(st.integers(1, 8))]
            elif kind == "insert":
                data[at:at] = draw(st.sampled_from([b"[", b"{", b'"', b"\\", b"\x00", b"\xff", b"-1", b"1e999", b","]))
            else:
                data[at:at] = data[at : at + draw(st.integers(1, 16))] * draw(st.integers(2, 50))
        return bytes(data)

    return mutate()


def as_bytes(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


# ---- /predict ---------------------------------------------------------------------------------------------

texts = st.text(max_size=200) | st.text(alphabet="great awful food staff ", max_size=60)
predict_shaped = st.fixed_dictionaries(
    {"inputs": texts | st.lists(texts, max_size=6) | any_json},
    optional={"parameters": any_json, "options": any_json},
)
predict_bodies = st.one_of(
    predict_shaped.map(as_bytes),
    any_json.map(as_bytes),
    st.binary(max_size=120),
    mutated(as_bytes({"inputs": ["the food was great", "the staff was awful"]})),
)

# ---- /v1/chat/completions ---------------------------------------------------------------------------------

roles = st.sampled_from(["system", "user", "assistant", "tool"]) | scalars
contents = (
    st.text(max_size=80)
    | st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=20)}), max_size=3)
    | any_json
)
message = st.fixed_dictionaries({"role": roles, "content": contents}, optional={"name": any_json})
# Few tokens when a request is valid: generation is what takes time, and a reply's length is not under test.
tokens = st.integers(1, 4) | st.integers(-(2**40), 2**40) | scalars
chat_shaped = st.fixed_dictionaries(
    {"messages": st.lists(message, max_size=4) | any_json, "max_tokens": tokens},
    optional={
        "max_completion_tokens": tokens,
        "temperature": st.floats(-1, 3) | scalars,
        "top_p": st.floats(-1, 2) | scalars,
        "stream": st.booleans() | scalars,
        "model": scalars,
        "tools": any_json,
    },
)
# Valid in every field, so that sampling, streaming and odd text reach the model itself.
good_message = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "tool"]), "content": contents}
)
chat_valid = st.fixed_dictionaries(
    {"messages": st.lists(good_message.filter(lambda m: not isinstance(m["content"], dict)), min_size=1, max_size=3)},
    optional={
        "max_tokens": st.integers(1, 4),
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0, 1),
        "stream": st.booleans(),
    },
).map(lambda body: {"max_tokens": 4, **body})
chat_bodies = st.one_of(
    chat_valid.map(as_bytes),
    chat_shaped.map(as_bytes),
    any_json.map(as_bytes),
    st.binary(max_size=120),
    mutated(as_bytes({"messages": HELLO, "max_tokens": 2, "stream": True})),
    mutated(as_bytes({"messages": HELLO, "max_tokens": 2, "temperature": 0.7, "top_p": 0.9})),
)


def send(url: str, path: str, body: bytes) -> Answer:
    """POST `body` on a new connection; a dropped connection or a timeout raises (and fails the example)."""
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=ANSWER_WITHIN_S)
    started = time.monotonic()
    try:
        connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        answer = Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()
    assert time.monotonic() - started < ANSWER_WITHIN_S
    return answer


def assert_well_answered(answer: Answer, body: bytes) -> None:
    kind = answer.headers.get("content-type", "")
    event(f"{answer.status} {kind.split(';')[0]}")  # how the examples spread (--hypothesis-show-statistics)
    if answer.status == 200 and kind.startswith("text/event-stream"):
        events = answer.events()
        assert events[-1] == "[DONE]" and not any("error" in event for event in events[:-1]), (body, events)
        return
    assert kind == "application/json", (body, answer)
    payload = json.loads(answer.body)
    if answer.status == 200:
        return
    assert 400 <= answer.status < 500, (body, answer.status, payload)
    error = payload["error"]
    message = error["message"] if isinstance(error, dict) else error
    assert isinstance(message, str) and message.endswith("."), (body, payload)


@FUZZ
@given(body=predict_bodies)
def test_predict_answers_every_body_with_a_result_or_a_4xx(classifier_url: str, body: bytes) -> None:
    assert_well_answered(send(classifier_url, "/predict", body), body)


@FUZZ
@given(body=chat_bodies)
def test_chat_completions_answer_every_body_with_a_result_or_a_4xx(chat_url: str, body: bytes) -> None:
    assert_well_answered(send(chat_url, COMPLETIONS, body), body)
