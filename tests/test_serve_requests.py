"""Requests no well-behaved client sends, against both model servers: a negative, lying or doubled
Content-Length, and bodies nested past any recursion limit. Each is answered in the API's own JSON shape, and
the server answers the NEXT request."""

from __future__ import annotations

from typing import Any

import pytest
from http_probe import COMPLETIONS, HELLO, error_message, head, one_sentence, post, raw

from trainer.serve.http import MAX_BODY_BYTES, MAX_DEPTH

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
