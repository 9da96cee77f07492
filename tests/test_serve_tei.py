"""The classifier API's Text Embeddings Inference and Inference API fields, against run 7's tiny trained BERT served
on loopback: top_k, function_to_apply, raw_scores, truncate, TEI's list inputs, /info, and the regression API's
refusals of what only a classifier takes."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from trainer.serve.classifier import ranked
from trainer.serve.text_inputs import MAX_INPUTS
from trainer.tasks.text_classification.predict import Predictor

LABELS = ["neg", "pos"]
LONG = "great " * 40  # 42 tokens with [CLS] and [SEP]: over run 7's max_length of 32


def post(url: str, body: Any) -> tuple[int, Any]:
    response = httpx.post(f"{url}/predict", json=body, timeout=30)
    return response.status_code, response.json()


def one_sentence(answer: dict[str, Any]) -> str:
    message = answer["error"]
    assert message.endswith(".") and message.count(". ") == 0, message
    return str(message)


def test_top_k_and_the_functions_follow_the_inference_api(classifier_url: str, predictor: Predictor) -> None:
    text = "the food was great"
    status, full = post(classifier_url, {"inputs": text})
    assert status == 200 and [s["label"] for s in full[0]] == ["pos", "neg"]
    status, top = post(classifier_url, {"inputs": [text, "the staff was awful"], "parameters": {"top_k": 1}})
    assert status == 200 and [[s["label"] for s in row] for row in top] == [["pos"], ["neg"]]
    assert top[0][0]["score"] == pytest.approx(full[0][0]["score"], abs=1e-6)

    status, raw = post(classifier_url, {"inputs": text, "raw_scores": True})
    assert status == 200
    logits = {s["label"]: s["score"] for s in raw[0]}
    softmax = {label: math.exp(v) / sum(math.exp(x) for x in logits.values()) for label, v in logits.items()}
    assert {s["label"]: s["score"] for s in full[0]} == pytest.approx(softmax, abs=1e-6)
    assert post(classifier_url, {"inputs": text, "parameters": {"function_to_apply": "none"}})[1] == raw

    status, sigmoid = post(classifier_url, {"inputs": text, "parameters": {"function_to_apply": "sigmoid"}})
    expected = {label: 1 / (1 + math.exp(-v)) for label, v in logits.items()}
    assert status == 200 and {s["label"]: s["score"] for s in sigmoid[0]} == pytest.approx(expected, abs=1e-6)
    # Equal to the predictor's own softmax, in the same order.
    (direct,) = predictor.predict([text])
    assert [s["label"] for s in direct] == [s["label"] for s in full[0]]
    assert [s["score"] for s in direct] == pytest.approx([s["score"] for s in full[0]], abs=1e-5)


def test_ranked_sorts_cuts_and_never_overflows() -> None:
    scores = ranked(["a", "b", "c"], [-1000.0, 3.0, 1000.0], "sigmoid", 2)
    assert [(s["label"], s["score"]) for s in scores] == [("c", 1.0), ("b", pytest.approx(0.9526, abs=1e-4))]
    assert [s["label"] for s in ranked(["a", "b"], [0.0, 0.0], "softmax", None)] == ["a", "b"]  # ties keep order


def test_truncate_false_refuses_a_long_input_and_true_cuts_it(classifier_url: str) -> None:
    status, answer = post(classifier_url, {"inputs": ["the food was great", LONG], "truncate": False})
    assert status == 413
    assert "Input 2 has 42 tokens, over this model's limit of 32" in one_sentence(answer)
    status, answer = post(classifier_url, {"inputs": LONG, "parameters": {"truncate": False}})
    assert status == 413 and "Input 1 has 42 tokens" in one_sentence(answer)
    # Cut by default (as before), and when asked; a short input with truncate false is answered.
    default, cut = post(classifier_url, {"inputs": LONG}), post(classifier_url, {"inputs": LONG, "truncate": True})
    assert default[0] == cut[0] == 200 and default[1] == cut[1]
    assert post(classifier_url, {"inputs": "the food was great", "truncate": False})[0] == 200
    assert httpx.get(f"{classifier_url}/health", timeout=30).status_code == 200  # still answering


def test_tei_lists_of_texts_read_as_texts_and_pairs_as_pairs(classifier_url: str) -> None:
    texts = ["the food was great", "the staff was awful"]
    assert post(classifier_url, {"inputs": [[t] for t in texts]}) == post(classifier_url, {"inputs": texts})
    status, answer = post(classifier_url, {"inputs": [["the food was great", "the staff was awful"]]})
    assert status == 400 and "trained on single texts, not pairs" in one_sentence(answer)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"inputs": "x", "parameters": {"top_k": 0}}, "'parameters.top_k' is invalid"),
        ({"inputs": "x", "parameters": {"top_k": "2"}}, "'parameters.top_k' is invalid"),
        ({"inputs": "x", "parameters": {"function_to_apply": "tanh"}}, "'parameters.function_to_apply' is invalid"),
        ({"inputs": "x", "parameters": {"topk": 1}}, "'parameters.topk' is not a parameter of this API"),
        ({"inputs": "x", "parameters": [1]}, "'parameters' must be an object"),
        ({"inputs": "x", "truncate": "yes"}, "'truncate' is invalid"),
        ({"inputs": "x", "truncate": True, "parameters": {"truncate": False}}, "disagree"),
        ({"inputs": "x", "raw_scores": True, "parameters": {"function_to_apply": "softmax"}}, "must be none"),
        ({"inputs": [["a"], ["a", "b"]]}, "mixes single texts"),
        ({"inputs": [["a", "b", "c"]]}, "must be [text] or [text, text pair]"),
        ({"inputs": [["x"]] * (MAX_INPUTS + 1)}, f"over the limit of {MAX_INPUTS}"),
    ],
    ids=[
        "top-k-0",
        "top-k-text",
        "function",
        "unknown",
        "not-object",
        "truncate-text",
        "disagree",
        "raw",
        "mixed",
        "three",
        "too-many",
    ],
)
def test_bad_tei_fields_get_400_with_one_sentence(classifier_url: str, body: Any, expected: str) -> None:
    status, answer = post(classifier_url, body)
    assert status == 400 and expected in one_sentence(answer)


def test_info_describes_the_model_like_tei(classifier_url: str) -> None:
    info = httpx.get(f"{classifier_url}/info", timeout=30).json()
    classifier = {"id2label": {"0": "neg", "1": "pos"}, "label2id": {"neg": 0, "pos": 1}}
    assert info["model_type"] == {"classifier": classifier}
    assert info["run_id"] == 7 and info["labels"] == LABELS and info["max_input_length"] == 32
    assert info["model_dtype"] == "float32" and info["auto_truncate"] is True and info["pairs"] is False
    assert info["max_client_batch_size"] == MAX_INPUTS and info["batching"]["enabled"] is True
    assert info["batching"]["max_batch_size"] >= 1 and isinstance(info["version"], str)
    assert "model_id" in info
    spec = httpx.get(f"{classifier_url}/openapi.json", timeout=30).json()
    assert {"/info", "/metrics"} <= set(spec["paths"])
    fields = spec["components"]["schemas"]["PredictRequest"]["properties"]
    assert {"parameters", "truncate", "raw_scores"} <= set(fields)


def test_the_hugging_face_client_reads_our_answers(classifier_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import InferenceClient, constants

    # The library reads HF_HUB_OFFLINE once, at its first import: whether the suite's offline switch was set then
    # depends on test order. This client only talks to the loopback server.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

    client = InferenceClient(model=classifier_url, timeout=30)
    answer = client.text_classification("the food was great", top_k=1)
    assert [(item.label, round(item.score, 3) > 0.5) for item in answer] == [("pos", True)]
