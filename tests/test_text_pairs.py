"""Text-pair classification: two text columns and a label are planned, trained on both texts, evaluated and served
with `{"text", "text_pair"}` inputs."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from http_probe import predict
from toy_data import FILLER, NEGATIVE, POSITIVE

from trainer.backends import local
from trainer.core.workspace import Workspace
from trainer.plan.config import resolve_config
from trainer.serve.classifier import make_server
from trainer.store.registry import Registry
from trainer.tasks.base import PlanRequest
from trainer.tasks.registry import task_for_data
from trainer.tasks.text_classification.predict import Predictor
from trainer.tasks.text_classification.train import train_run


def write_pairs(path: Path, n: int = 120) -> Path:
    """A premise of filler words and a reply whose one sentiment word is the label: only the second text tells it."""
    rng = random.Random(0)
    lines = ["premise,hypothesis,label"]
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        premise = " ".join(rng.sample(FILLER, 4))
        words = [*rng.sample(FILLER, 3), rng.choice(POSITIVE if label == "pos" else NEGATIVE)]
        rng.shuffle(words)
        lines.append(f"{premise},{' '.join(words)},{label}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow
def test_a_pair_classifier_trains_on_both_texts_and_serves_pairs(
    ws: Workspace, registry: Registry, tmp_path: Path, tiny_bert: Path
) -> None:
    uploaded = ws.import_file(write_pairs(tmp_path / "pairs.csv"))
    task = task_for_data(uploaded)
    plan = task.propose(
        PlanRequest(uploaded, {"model": str(tiny_bert), "epochs": 8, "learning_rate": 3e-3, "batch_size": 8})
    )
    assert plan.config["text_column"] == "premise" and plan.config["text_pair_column"] == "hypothesis"
    assert "second text `hypothesis`" in plan.subject
    run_id = local.create_run(ws, registry, resolve_config(plan.config))

    result = train_run(ws.run_dir(run_id), registry, run_id)  # in this process: the worker's own entry point

    assert result["status"] == "succeeded"
    # The label is only in the second text, so a model reading the first alone would sit at the 0.5 baseline.
    assert result["metrics"]["accuracy"] >= 0.9, result["metrics"]
    split = [json.loads(line) for line in (ws.run_dir(run_id) / "splits" / "test.jsonl").read_text().splitlines()]
    assert split and set(split[0]) == {"text", "text_pair", "label"}

    predictor = Predictor.from_run(ws.run_dir(run_id))
    assert predictor.pairs
    with make_server(predictor, quiet=True) as server:
        pair = {"text": "the food was today", "text_pair": "the staff was wonderful"}
        status, one = predict(server.url, {"inputs": pair})
        assert status == 200 and len(one) == 1 and one[0][0]["label"] == "pos"
        bad = {"text": "the food was today", "text_pair": "the staff was awful"}
        status, two = predict(server.url, {"inputs": [pair, bad]})
        assert status == 200 and [row[0]["label"] for row in two] == ["pos", "neg"]
        status, refused = predict(server.url, {"inputs": "the staff was wonderful"})
        assert status == 400 and refused["error"].startswith("This model was trained on text pairs;")
        assert refused["error"].endswith(".") and refused["error"].count(". ") == 0


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"text": "a", "text_pair": "b"}, "This model was trained on single texts, not pairs;"),
        ({"text": "a"}, "each pair in 'inputs' needs the strings 'text' and 'text_pair' only;"),
        ([{"text": "a", "text_pair": "b"}, "c"], "each pair in 'inputs' needs the strings 'text' and 'text_pair'"),
    ],
)
def test_pairs_sent_to_a_text_classifier_get_one_sentence(classifier_url: str, inputs: Any, message: str) -> None:
    status, answer = predict(classifier_url, {"inputs": inputs})
    assert status == 400 and answer["error"].startswith(message)
    assert answer["error"].endswith(".") and answer["error"].count(". ") == 0


def test_a_hosted_api_gets_both_texts_of_a_pair_split_as_a_local_run_splits_them(tmp_path: Path) -> None:
    from trainer.data.splits import split_labelled_texts
    from trainer.plan.config import RunConfig
    from trainer.tasks.text_classification.hosted import hosted_data

    path = write_pairs(tmp_path / "pairs.csv", n=40)
    config = RunConfig(text_column="premise", text_pair_column="hypothesis", label_column="label").to_dict()
    hosted = hosted_data(path, config)
    first = hosted.local_rows[0]
    assert set(first) == {"text", "text_pair", "label"}
    assert hosted.examples[0]["messages"][1]["content"] == f"{first['text']}\n\n{first['text_pair']}"
    texts = [row["text"] for row in hosted.local_rows]
    pairs = [row["text_pair"] for row in hosted.local_rows]
    local = split_labelled_texts(texts, [row["label"] for row in hosted.local_rows], 0.1, 0.1, 42, pairs=pairs)
    assert local.splits == hosted.splits


def write_scored_pairs(path: Path, n: int = 100) -> Path:
    """Two sentences and a fractional score: 1.5 x the glowing words of the second sentence, the first is filler."""
    rng = random.Random(2)
    lines = ["sentence1,sentence2,score"]
    for i in range(n):
        glowing = i % 4
        words = rng.sample(POSITIVE, glowing) + rng.sample(FILLER, 4 - glowing)
        rng.shuffle(words)
        lines.append(f"{' '.join(rng.sample(FILLER, 4))},{' '.join(words)},{1.5 * glowing + rng.uniform(0, 0.3):.2f}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow
def test_two_texts_and_a_score_train_a_pair_regression(
    ws: Workspace, registry: Registry, tmp_path: Path, tiny_bert: Path
) -> None:
    from trainer.core.fileio import read_json
    from trainer.tasks.text_regression.predict import Regressor
    from trainer.tasks.text_regression.train import train_run as train_regression

    uploaded = ws.import_file(write_scored_pairs(tmp_path / "similarity.csv"))
    task = task_for_data(uploaded)  # a fractional score is a number to predict, not 100 classes
    plan = task.propose(
        PlanRequest(uploaded, {"model": str(tiny_bert), "epochs": 10, "learning_rate": 3e-3, "batch_size": 8})
    )
    config = plan.config
    assert (config["task"], config["text_column"], config["text_pair_column"]) == (
        "text-regression",
        "sentence1",
        "sentence2",
    )
    run_id = local.create_run(ws, registry, resolve_config(config))
    assert train_regression(ws.run_dir(run_id), registry, run_id)["status"] == "succeeded"
    evaluation = read_json(ws.run_dir(run_id) / "evaluation.json")
    # The score is only in the second text: reading it beats the mean by far.
    assert evaluation["rmse"] < 0.5 * evaluation["baseline"]["rmse"], evaluation

    regressor = Regressor.from_run(ws.run_dir(run_id))
    high = regressor.predict(["the food was today"], pairs=["great lovely excellent the"])[0]["score"]
    low = regressor.predict(["the food was today"], pairs=["the staff was really"])[0]["score"]
    assert high > low + 2
