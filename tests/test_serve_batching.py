"""Dynamic batching: requests arriving together share one forward pass, and each gets the answer it gets alone.

The server test sends 16 requests at once (a barrier releases them) to a tiny BERT served on loopback, and compares
each answer with the one the same text gets alone from a server that batches nothing.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from trainer.serve.batching import Batcher
from trainer.serve.classifier import make_server
from trainer.serve.encoder_batch import PAD_WASTE, chunks
from trainer.serve.options import ServeOptions
from trainer.tasks.text_classification.predict import Predictor

WORDS = ["great", "lovely", "awful", "nasty", "food", "staff", "meal", "service", "poor", "place"]
CLIENTS = 16


def texts(count: int) -> list[str]:
    """Distinct texts of different lengths (so a shared pass pads some of them)."""
    return [" ".join(WORDS[(i + j) % len(WORDS)] for j in range(1 + i % 7)) for i in range(count)]


def together(url: str, bodies: list[Any]) -> list[Any]:
    """POST every body at the same moment, one client each; the answers in order."""
    barrier = threading.Barrier(len(bodies))

    def send(body: Any) -> Any:
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            response = client.post(f"{url}/predict", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(send, bodies))


def batch_counts(url: str) -> tuple[float, float]:
    """(forward passes, passes that answered more than one request), from /metrics."""
    families = {f.name: f for f in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=30).text)}
    samples = {(s.name, s.labels.get("le")): s.value for s in families["tunechat_batch_requests"].samples}
    passes = samples[("tunechat_batch_requests_count", None)]
    return passes, passes - samples[("tunechat_batch_requests_bucket", "1.0")]


def assert_same(batched: list[Any], alone: list[Any]) -> None:
    for got, expected in zip(batched, alone, strict=True):
        for row, expected_row in zip(got, expected, strict=True):
            scores = {s["label"]: s["score"] for s in row}  # by label: an untrained model's scores nearly tie
            assert scores == pytest.approx({s["label"]: s["score"] for s in expected_row}, abs=1e-5)


@pytest.mark.slow
def test_concurrent_requests_share_passes_and_get_their_unbatched_answers(tiny_bert: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, use_safetensors=True)
    predictor = Predictor(model, AutoTokenizer.from_pretrained(tiny_bert), max_length=32)
    sent = texts(CLIENTS)
    bodies: list[Any] = [{"inputs": text} for text in sent[:12]]
    bodies += [{"inputs": sent[12:14]}, {"inputs": sent[14]}, {"inputs": [[sent[15]]], "parameters": {"top_k": 1}}]
    bodies.append({"inputs": sent[0], "raw_scores": True})
    assert len(bodies) == CLIENTS

    unbatched = ServeOptions(batching=False)
    with make_server(predictor, quiet=True, options=unbatched) as alone:
        expected = [httpx.post(f"{alone.url}/predict", json=body, timeout=60).json() for body in bodies]
        assert batch_counts(alone.url) == (CLIENTS, 0)  # one pass per request
        assert httpx.get(f"{alone.url}/info", timeout=30).json()["batching"]["enabled"] is False

    with make_server(predictor, quiet=True, options=ServeOptions(max_wait_ms=50)) as server:
        for _ in range(3):
            assert_same(together(server.url, bodies), expected)
        passes, shared = batch_counts(server.url)
    assert shared >= 1 and passes < 3 * CLIENTS  # requests did share forward passes


def test_the_batcher_gathers_and_fails_only_the_request_it_refuses() -> None:
    calls: list[list[int]] = []

    def run(items: list[int]) -> list[Any]:
        calls.append(list(items))
        return [ValueError(f"no {item}") if item < 0 else item * 10 for item in items]

    async def main(batcher: Batcher[int]) -> list[Any]:
        requests = [batcher.answer([1, 2]), batcher.answer([-3]), batcher.answer([4])]
        return await asyncio.gather(*requests, return_exceptions=True)

    batcher = Batcher(run, max_batch=8, max_wait_s=0.2)
    try:
        first, refused, last = asyncio.run(main(batcher))
    finally:
        batcher.close()
    assert calls == [[1, 2, -3, 4]]  # one pass for all three requests
    assert first == [10, 20] and last == [40]
    assert isinstance(refused, ValueError) and str(refused) == "no -3"

    calls.clear()
    batcher.configure(enabled=False, max_batch=8, max_wait_s=0.2)
    first, refused, last = asyncio.run(main(batcher))
    assert sorted(calls) == [[-3], [1, 2], [4]] and first == [10, 20] and isinstance(refused, ValueError)


def test_a_failed_pass_fails_every_request_in_it_and_the_next_pass_runs() -> None:
    def run(items: list[int]) -> list[Any]:
        if 0 in items:
            raise RuntimeError("boom")
        return items

    async def main(batcher: Batcher[int], *requests: list[int]) -> list[Any]:
        return await asyncio.gather(*(batcher.answer(r) for r in requests), return_exceptions=True)

    batcher = Batcher(run, max_batch=2, max_wait_s=0.2)
    try:
        failed = asyncio.run(main(batcher, [0], [5]))
        assert [type(result) for result in failed] == [RuntimeError, RuntimeError]
        assert asyncio.run(main(batcher, [7])) == [[7]]
    finally:
        batcher.close()


def test_chunks_keep_padding_small_and_within_the_batch_size() -> None:
    lengths = [12, 17, 19, 20, 20, 32, 34, 39, 46, 48, 48, 50, 52, 56, 58, 59]
    encoded = [(i, {"input_ids": [0] * n}) for i, n in enumerate(lengths)]
    found = chunks(encoded, max_batch=8)
    assert [entry for chunk in found for entry in chunk] == encoded  # every input once, in order
    for chunk in found:
        sizes = [len(features["input_ids"]) for _, features in chunk]
        assert len(chunk) <= 8 and max(sizes) * len(sizes) <= PAD_WASTE * sum(sizes)
    assert len(chunks(encoded[:1], max_batch=8)) == 1 and chunks([], max_batch=8) == []
