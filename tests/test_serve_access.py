"""Every model server's API key and metrics: a bearer token on every route but /health (401 in the API's own error
shape without it), a warning when a server listens beyond loopback with no key, and Prometheus /metrics counting
requests by route and status, their latency, the batches and the queue."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from trainer.core.errors import UserError
from trainer.serve.access import KEY_ENV, api_key_from, exposure_warning
from trainer.serve.chat import create_chat_app
from trainer.serve.classifier import make_server
from trainer.serve.http import ModelSlot
from trainer.serve.listen import Server
from trainer.serve.options import ServeOptions
from trainer.tasks.image_classification.task import TASK as IMAGES
from trainer.tasks.media.serve import create_media_app
from trainer.tasks.text_classification.predict import Predictor

KEY = "k3y-for-tests-0123456789"


@functools.cache
def tiny_predictor(tiny_bert: Path) -> Predictor:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, use_safetensors=True)
    return Predictor(model, AutoTokenizer.from_pretrained(tiny_bert), max_length=32, run_id=5)


def metrics(url: str, headers: dict[str, str] | None = None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"{url}/metrics", headers=headers, timeout=30)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def requests_of(samples: dict[Any, float], route: str, status: int, method: str = "POST") -> float:
    labels = (("method", method), ("route", route), ("status", str(status)))
    return samples.get(("tunechat_requests_total", labels), 0.0)


def test_metrics_count_requests_by_route_and_status_and_the_batches(tiny_bert: Path) -> None:
    with make_server(tiny_predictor(tiny_bert), quiet=True) as server:
        url = server.url
        for body in ({"inputs": "great food"}, {"inputs": ["awful", "nasty staff"]}, {"inputs": 7}):
            httpx.post(f"{url}/predict", json=body, timeout=30)
        httpx.post(f"{url}/predict/", json={"inputs": "lovely"}, timeout=30)  # the same route with its slash
        httpx.get(f"{url}/wp-login.php", timeout=30)
        samples = metrics(url)
    assert requests_of(samples, "/predict", 200) == 3 and requests_of(samples, "/predict", 400) == 1
    assert requests_of(samples, "other", 404, "GET") == 1  # unknown paths share one label
    assert samples[("tunechat_request_duration_seconds_count", (("route", "/predict"),))] == 4
    assert samples[("tunechat_batch_size_count", ())] == 3  # forward passes: the 400 never reached the model
    assert samples[("tunechat_batch_size_sum", ())] == 4  # inputs
    assert samples[("tunechat_queue_depth", ())] == 0


def test_an_api_key_guards_every_route_but_health(tiny_bert: Path) -> None:
    with make_server(tiny_predictor(tiny_bert), quiet=True, options=ServeOptions(api_key=KEY)) as server:
        url, body = server.url, {"inputs": "great food"}
        missing = httpx.post(f"{url}/predict", json=body, timeout=30)
        wrong = httpx.post(f"{url}/predict", json=body, headers={"Authorization": "Bearer nope"}, timeout=30)
        right = httpx.post(f"{url}/predict", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
        health = httpx.get(f"{url}/health", timeout=30)
        for path in ("/info", "/metrics", "/docs", "/"):
            assert httpx.get(f"{url}{path}", timeout=30).status_code == 401, path
        samples = metrics(url, {"Authorization": f"bearer {KEY}"})  # the scheme in any case
    assert missing.status_code == wrong.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert "had no API key" in missing.json()["error"] and "had a wrong API key" in wrong.json()["error"]
    for message in (missing.json()["error"], wrong.json()["error"]):
        assert message.endswith(".") and message.count(". ") == 0 and KEY not in message
    assert right.status_code == 200 and right.json()[0][0]["label"] in ("neg", "pos", "LABEL_0", "LABEL_1")
    assert health.status_code == 200 and health.json()["run_id"] == 5
    assert requests_of(samples, "/predict", 401) == 2 and requests_of(samples, "/predict", 200) == 1


@pytest.mark.parametrize("kind", ["chat", "images"])
def test_the_chat_and_media_servers_answer_401_in_their_own_shape(kind: str) -> None:
    app = create_chat_app(ModelSlot()) if kind == "chat" else create_media_app(IMAGES.modality, ModelSlot())
    path = "/v1/models" if kind == "chat" else "/info"
    with Server(app, "127.0.0.1", 0, quiet=True, options=ServeOptions(api_key=KEY)) as server:
        refused = httpx.get(f"{server.url}{path}", timeout=30)
        let_in = httpx.get(f"{server.url}{path}", headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
        health = httpx.get(f"{server.url}/health", timeout=30)
    assert refused.status_code == 401 and let_in.status_code != 401 and health.status_code == 503  # still loading
    error = refused.json()["error"]
    if kind == "chat":  # OpenAI's error object
        assert error["code"] == 401 and error["type"] == "invalid_request_error" and "API key" in error["message"]
    else:
        assert "needs an API key" in error


def test_a_server_beyond_loopback_without_a_key_warns(capfd: pytest.CaptureFixture[str], tiny_bert: Path) -> None:
    predictor = tiny_predictor(tiny_bert)
    make_server(predictor, "0.0.0.0", 0, quiet=True).stop()
    warned = capfd.readouterr().err
    assert "WARNING" in warned and "0.0.0.0 with no API key" in warned and KEY_ENV in warned
    make_server(predictor, "0.0.0.0", 0, quiet=True, options=ServeOptions(api_key=KEY)).stop()
    make_server(predictor, "127.0.0.1", 0, quiet=True).stop()
    assert capfd.readouterr().err == ""
    assert exposure_warning("::", None) and not exposure_warning("::1", None)
    assert not exposure_warning("localhost", None)
    assert exposure_warning("192.168.1.20", None) and not exposure_warning("192.168.1.20", KEY)


def test_the_key_comes_from_the_flag_then_the_environment() -> None:
    assert api_key_from(None, {}) is None
    assert api_key_from(None, {KEY_ENV: KEY}) == KEY
    assert api_key_from("from-flag", {KEY_ENV: KEY}) == "from-flag"
    for blank in ("", "  ", " padded "):
        with pytest.raises(UserError, match="blank or has spaces"):
            api_key_from(blank, {})
