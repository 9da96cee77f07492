"""Predictor, the HTTP server and deployments, against a tiny BERT fine-tuned here and real loopback HTTP."""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from trainer.core.errors import UserError
from trainer.core.fileio import atomic_write_json
from trainer.core.workspace import Workspace
from trainer.plan.config import RunConfig
from trainer.serve.classifier import MAX_INPUTS, make_server
from trainer.serve.deploy import deploy_run, list_deployments, stop_deployment
from trainer.serve.http import MAX_BODY_BYTES
from trainer.store.registry import Registry
from trainer.tasks.text_classification.predict import Predictor

LABELS = ["neg", "pos"]
CLEAR = {
    "the food was great": "pos",
    "really lovely meal today": "pos",
    "the staff was awful": "neg",
    "quite nasty place and poor service": "neg",
}


def make_run(ws: Workspace, registry: Registry, model_src: Path | None, status: str = "succeeded") -> int:
    """A registry row plus a run folder as the training worker leaves it (model copied from `model_src`)."""
    config = RunConfig(data="uploads/reviews.tsv", text_column="text", label_column="label", max_length=32)
    run_id = registry.create_run(config.to_dict())
    run_dir = ws.run_dir(run_id)
    run_dir.mkdir(parents=True)
    config.save(run_dir / "config.json")
    metrics = {"accuracy": 1.0, "macro_f1": 1.0, "baseline_accuracy": 0.5, "baseline_macro_f1": 0.33}
    if model_src is not None:
        shutil.copytree(model_src, run_dir / "model")
        lines = [{"step": s, "total_steps": 4, "epoch": s / 4, "loss": 0.7 - 0.1 * s} for s in range(1, 5)]
        (run_dir / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
        baseline = {"label": "pos", "accuracy": 0.5, "macro_f1": 0.33}
        evaluation = {"accuracy": 1.0, "macro_f1": 1.0, "baseline": baseline, "labels": LABELS, "test_size": 12}
        atomic_write_json(run_dir / "evaluation.json", evaluation)
    registry.update_run(run_id, status=status, run_dir=str(run_dir), metrics=metrics if status == "succeeded" else None)
    return run_id


def call(url: str, body: bytes | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def post(url: str, payload: Any) -> tuple[int, Any]:
    return call(url, json.dumps(payload).encode())


def assert_distribution(scored: list[dict[str, Any]]) -> None:
    assert sorted(item["label"] for item in scored) == LABELS
    assert math.isclose(sum(item["score"] for item in scored), 1.0, abs_tol=1e-5)
    assert all(0.0 <= item["score"] <= 1.0 for item in scored)
    assert [item["score"] for item in scored] == sorted((item["score"] for item in scored), reverse=True)


def busy_port() -> tuple[socket.socket, int]:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    return holder, holder.getsockname()[1]


# ---- predictor --------------------------------------------------------------------------------


def test_predictor_scores_every_label_and_gets_clear_examples_right(predictor: Predictor) -> None:
    assert predictor.run_id == 7
    assert predictor.labels == LABELS
    assert predictor.max_length == 32  # from the run's config.json
    results = predictor.predict(list(CLEAR), batch_size=3)  # more texts than one batch
    assert len(results) == len(CLEAR)
    for scored, expected in zip(results, CLEAR.values(), strict=True):
        assert_distribution(scored)
        assert scored[0]["label"] == expected
    # Inputs longer than the model's positions are truncated, not a crash.
    assert_distribution(predictor.predict(["great " * 500])[0])


def test_predictor_refuses_a_run_without_a_model(tmp_path: Path) -> None:
    (tmp_path / "run-5").mkdir()
    with pytest.raises(UserError, match="Run 5 has no trained model yet; wait until it succeeds"):
        Predictor.from_run(tmp_path / "run-5")


# ---- HTTP server in this process --------------------------------------------------------------


def test_health_and_predict_over_http(classifier_url: str) -> None:
    status, health = call(f"{classifier_url}/health")
    assert status == 200
    assert health == {"status": "ok", "run_id": 7, "labels": LABELS}

    status, single = post(f"{classifier_url}/predict", {"inputs": "the food was great"})
    assert status == 200
    assert len(single) == 1
    assert_distribution(single[0])
    assert single[0][0]["label"] == "pos"

    texts = list(CLEAR)
    status, several = post(f"{classifier_url}/predict", {"inputs": texts})
    assert status == 200
    assert [scored[0]["label"] for scored in several] == list(CLEAR.values())

    status, alias = post(f"{classifier_url}/", {"inputs": ["the staff was awful"]})
    assert status == 200 and alias[0][0]["label"] == "neg"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", "not valid JSON"),
        (json.dumps({"text": "hi"}).encode(), "no 'inputs' field"),
        (json.dumps(["hi"]).encode(), "no 'inputs' field"),
        (json.dumps({"inputs": 42}).encode(), "must be a string or a list of strings"),
        (json.dumps({"inputs": ["ok", 3]}).encode(), "must be a string or a list of strings"),
        (json.dumps({"inputs": []}).encode(), "empty list"),
        (json.dumps({"inputs": ["x"] * (MAX_INPUTS + 1)}).encode(), f"over the limit of {MAX_INPUTS}"),
        (json.dumps({"inputs": "x" * (MAX_BODY_BYTES + 10)}).encode(), f"over the {MAX_BODY_BYTES} byte limit"),
    ],
    ids=["bad-json", "no-inputs", "not-an-object", "number", "list-with-number", "empty-list", "too-many", "too-big"],
)
def test_bad_requests_get_400_with_one_sentence(classifier_url: str, body: bytes, expected: str) -> None:
    status, answer = call(f"{classifier_url}/predict", body)
    assert status == 400
    assert expected in answer["error"]
    assert answer["error"].endswith(".") and answer["error"].count(". ") == 0


def test_unknown_path_is_404_and_server_keeps_answering(classifier_url: str) -> None:
    status, answer = call(f"{classifier_url}/nope")
    assert status == 404
    assert "/nope" in answer["error"] and "POST /predict" in answer["error"]
    status, answer = call(f"{classifier_url}/predict")  # GET instead of POST
    assert status == 405 and "Use POST" in answer["error"]
    assert call(f"{classifier_url}/health")[0] == 200


def test_make_server_names_a_busy_port(predictor: Predictor) -> None:
    holder, port = busy_port()
    expected = f"Port {port} on 127.0.0.1 is already in use; pick another with --port"
    with holder, pytest.raises(UserError, match=expected):
        make_server(predictor, "127.0.0.1", port)


def test_server_process_exits_with_the_port_sentence(tmp_path: Path) -> None:
    holder, port = busy_port()
    with holder:
        done = subprocess.run(
            [sys.executable, "-m", "trainer.serve", str(tmp_path), "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert f"error: Port {port} on 127.0.0.1 is already in use" in done.stderr


# ---- deployments: real server processes --------------------------------------------------------


@pytest.mark.slow
def test_deploy_run_serves_in_its_own_process_until_stopped(
    ws_registry: tuple[Workspace, Registry], trained_model: Path
) -> None:
    ws, registry = ws_registry
    run_id = make_run(ws, registry, trained_model)

    info = deploy_run(ws, registry, run_id)
    assert info["pid"] != os.getpid() and info["already_running"] is False
    assert 8000 <= info["port"] < 8100 and info["url"] == f"http://127.0.0.1:{info['port']}"
    assert info["url"] in info["curl"] and info["url"] in info["python"]
    assert call(info["health_url"]) == (200, {"status": "ok", "run_id": run_id, "labels": LABELS})
    status, answer = post(f"{info['url']}/predict", {"inputs": ["the food was great", "the staff was awful"]})
    assert status == 200
    assert [scored[0]["label"] for scored in answer] == ["pos", "neg"]
    assert f"Serving run {run_id}" in (ws.run_dir(run_id) / "serve.log").read_text()

    listed = list_deployments(ws, registry)
    assert [(d["run_id"], d["pid"], d["healthy"]) for d in listed] == [(run_id, info["pid"], True)]
    again = deploy_run(ws, registry, run_id)
    assert again["already_running"] is True and again["pid"] == info["pid"]

    stopped = stop_deployment(ws, registry, run_id)
    assert [(s["pid"], s["was_running"]) for s in stopped["stopped"]] == [(info["pid"], True)]
    with pytest.raises(ProcessLookupError):
        os.kill(info["pid"], 0)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(info["health_url"], timeout=5)
    assert list_deployments(ws, registry) == []
    with pytest.raises(UserError, match=f"Run {run_id} is not deployed"):
        stop_deployment(ws, registry, run_id)


def test_deploy_refuses_unknown_unfinished_and_failed_runs(
    ws_registry: tuple[Workspace, Registry], trained_model: Path
) -> None:
    ws, registry = ws_registry
    with pytest.raises(UserError, match="There is no run 99"):
        deploy_run(ws, registry, 99)
    running = make_run(ws, registry, None, status="running")
    with pytest.raises(UserError, match=f"Run {running} is running, not succeeded; wait until it finishes"):
        deploy_run(ws, registry, running)
    failed = make_run(ws, registry, None, status="failed")
    with pytest.raises(UserError, match=f"Run {failed} failed, so it has no model to deploy"):
        deploy_run(ws, registry, failed)
    assert list_deployments(ws, registry) == []


def test_deploy_on_a_busy_port_names_the_port(ws_registry: tuple[Workspace, Registry], trained_model: Path) -> None:
    ws, registry = ws_registry
    run_id = make_run(ws, registry, trained_model)
    holder, port = busy_port()
    with holder, pytest.raises(UserError, match=f"Port {port} on 127.0.0.1 is already in use"):
        deploy_run(ws, registry, run_id, port=port)
    assert registry.list_deployments() == []


@pytest.mark.slow
def test_deploy_reports_why_the_server_could_not_start(
    ws_registry: tuple[Workspace, Registry], trained_model: Path
) -> None:
    ws, registry = ws_registry
    run_id = make_run(ws, registry, trained_model)
    (ws.run_dir(run_id) / "model" / "model.safetensors").unlink()  # weights lost after training
    with pytest.raises(UserError, match=f"Run {run_id}'s model folder could not be loaded"):
        deploy_run(ws, registry, run_id)
    assert registry.list_deployments() == []
