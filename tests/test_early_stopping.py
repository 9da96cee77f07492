"""Classifier runs on tiny models keep their best epoch, stop when validation stops improving, report a frozen-encoder
probe beside the fine-tune, and write one prediction per test example in test-split order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import toy_images
from toy_images import write_class_folders, zip_folder

from trainer.backends import local
from trainer.core.fileio import read_jsonl
from trainer.core.workspace import Workspace
from trainer.evaluate.metrics import classification_metrics
from trainer.evaluate.predictions import read_predictions
from trainer.plan.config import RunConfig, resolve_config
from trainer.store.registry import Registry
from trainer.tasks.image_classification.modality import ImageModality
from trainer.tasks.media.train import train_media_run
from trainer.tasks.text_classification.train import train_run
from ui.render.runs import render_evaluation

# The tiny BERT learns the toy reviews within a few epochs at this rate, then validation cannot improve further.
FAST: dict[str, Any] = {"epochs": 20, "learning_rate": 3e-3, "batch_size": 8, "early_stopping_patience": 2}


def _check_predictions(run_dir: Path, evaluation: dict[str, Any], key: str) -> None:
    """predictions.jsonl holds the test split in order and agrees with the confusion matrix."""
    rows = read_predictions(run_dir)
    test = read_jsonl(run_dir / "splits" / "test.jsonl")
    assert [row["input"] for row in rows] == [example[key] for example in test]
    assert [row["label"] for row in rows] == [example["label"] for example in test]
    assert all(row["correct"] == (row["label"] == row["predicted"]) and 0 < row["confidence"] <= 1 for row in rows)
    labels = evaluation["labels"]
    truth, predicted = [row["label"] for row in rows], [row["predicted"] for row in rows]
    assert classification_metrics(truth, predicted, labels)["confusion_matrix"] == evaluation["confusion_matrix"]


@pytest.mark.slow
def test_a_text_classifier_keeps_its_best_epoch_and_stops_early(
    ws: Workspace, registry: Registry, reviews_tsv: Path, tiny_bert: Path
) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from trainer.tasks.text_classification.model import predict_labels

    config = resolve_config({"data": ws.import_file(reviews_tsv).name, "model": str(tiny_bert), **FAST})
    run_id = local.create_run(ws, registry, config)
    run_dir = ws.run_dir(run_id)
    assert train_run(run_dir, registry, run_id)["status"] == "succeeded"
    evaluation = json.loads((run_dir / "evaluation.json").read_text())

    logged = read_jsonl(run_dir / "metrics.jsonl")
    scores = [(row["epoch"], row["eval_macro_f1"]) for row in logged if "eval_loss" in row]
    kept = evaluation["best_epoch"]
    best = max(value for _, value in scores)
    assert kept["stopped_early"] and kept["epochs_run"] < FAST["epochs"] and len(scores) < FAST["epochs"]
    assert kept["value"] == best and kept["epoch"] == next(epoch for epoch, value in scores if value == best)
    assert kept["epochs_run"] == scores[-1][0] == kept["epoch"] + 2
    assert kept["sentence"].startswith(f"Stopped after epoch {kept['epochs_run']:g} of 20: validation macro-F1")
    # The saved model is the kept epoch's: its validation macro-F1 is the kept value.
    validation = read_jsonl(run_dir / "splits" / "validation.jsonl")
    model = AutoModelForSequenceClassification.from_pretrained(run_dir / "model")
    tokenizer = AutoTokenizer.from_pretrained(run_dir / "model")
    predicted = predict_labels(model, tokenizer, [row["text"] for row in validation], 64)
    labels = evaluation["labels"]
    assert classification_metrics([row["label"] for row in validation], predicted, labels)["macro_f1"] == kept["value"]

    probe = evaluation["linear_probe"]
    assert probe["train_rows"] == evaluation["train_size"] == 96 and 0.5 <= probe["accuracy"] <= 1
    metrics = registry.get_run(run_id)["metrics"]
    assert metrics["probe_macro_f1"] == probe["macro_f1"] and metrics["best_epoch"] == kept["epoch"]
    progress = json.loads((run_dir / "progress.json").read_text())
    assert progress["phase"] == "done" and progress["step"] == progress["total_steps"]
    _check_predictions(run_dir, evaluation, "text")
    text = render_evaluation({**evaluation, "run_id": run_id})
    assert kept["sentence"].split(":")[0] in text and "linear probe (logistic regression" in text


@pytest.mark.slow
def test_a_media_classifier_keeps_its_best_epoch_and_writes_its_predictions(tmp_path: Path) -> None:
    import torch

    from trainer.tasks.media.predict import ItemStore, predict_probabilities

    ws = Workspace.from_env()
    ws.create()
    data = ws.import_file(zip_folder(write_class_folders(tmp_path / "colours", per_class=20), tmp_path / "c.zip"))
    model = toy_images.tiny_efficientnet(ws.models / "tiny-lite")
    registry = Registry(ws.db_path)
    config = RunConfig(
        data=str(data), task="image-classification", model=str(model), epochs=15, learning_rate=5e-3,
        batch_size=8, image_size=32, early_stopping_patience=2,
    )  # fmt: skip
    run_id = registry.create_run(config.to_dict())
    run_dir = ws.run_dir(run_id)
    config.save(run_dir / "config.json")
    images = ImageModality()
    assert train_media_run(images, run_dir, registry, run_id)["status"] == "succeeded"
    evaluation = json.loads((run_dir / "evaluation.json").read_text())

    scores = [row["eval_macro_f1"] for row in read_jsonl(run_dir / "metrics.jsonl") if "eval_loss" in row]
    kept = evaluation["best_epoch"]
    assert kept["value"] == max(scores) and len(scores) == round(kept["epochs_run"])
    assert kept["stopped_early"] and kept["epochs_run"] < 15 and scores.index(max(scores)) == len(scores) - 3
    # The saved network is the kept epoch's: it scores the kept value on the validation files again.
    trained = images.load_trained(run_dir / "model")
    validation = read_jsonl(run_dir / "splits" / "validation.jsonl")
    examples = {example["file"]: example["label"] for example in validation}
    from trainer.tasks.media.examples import load_media

    media = load_media(data, images, ws.root)
    chosen = [example for example in media.examples if example.name in examples]
    with torch.no_grad():
        probabilities = predict_probabilities(trained, ItemStore(images, trained, chosen))
    predicted = [trained.labels[max(range(len(row)), key=row.__getitem__)] for row in probabilities]
    truth = [example.label for example in chosen]
    assert classification_metrics(truth, predicted, trained.labels)["macro_f1"] == pytest.approx(kept["value"])

    assert evaluation["linear_probe"]["train_rows"] == evaluation["train_size"]
    _check_predictions(run_dir, evaluation, "file")


@pytest.mark.slow
def test_a_regression_run_keeps_its_lowest_rmse_epoch_and_writes_its_predictions(
    ws: Workspace, registry: Registry, tmp_path: Path, tiny_bert: Path
) -> None:
    from toy_data import FILLER, POSITIVE

    from trainer.tasks.text_regression.train import train_run as train_regression

    lines = ["text,score"]
    for i in range(80):  # the score counts the glowing words
        words = POSITIVE[: i % 4] + FILLER[: 5 - i % 4] + [FILLER[i % len(FILLER)]]
        lines.append(f"{' '.join(words)},{10 + 1.5 * (i % 4) + (i % 7) / 100}")
    (tmp_path / "scores.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = {**FAST, "epochs": 6, "task": "text-regression", "text_column": "text", "label_column": "score"}
    config = resolve_config({"data": ws.import_file(tmp_path / "scores.csv").name, "model": str(tiny_bert), **settings})
    run_id = local.create_run(ws, registry, config)
    run_dir = ws.run_dir(run_id)
    assert train_regression(run_dir, registry, run_id)["status"] == "succeeded"
    evaluation = json.loads((run_dir / "evaluation.json").read_text())

    rmses = [row["eval_rmse"] for row in read_jsonl(run_dir / "metrics.jsonl") if "eval_rmse" in row]
    assert evaluation["best_epoch"]["value"] == min(rmses) and evaluation["best_epoch"]["metric"] == "rmse"
    rows = read_predictions(run_dir)
    test = read_jsonl(run_dir / "splits" / "test.jsonl")
    assert [row["input"] for row in rows] == [example["text"] for example in test]
    assert [row["target"] for row in rows] == [example["label"] for example in test]
    assert all(row["error"] == pytest.approx(row["predicted"] - row["target"]) for row in rows)
    errors = [row["error"] for row in rows]
    assert evaluation["rmse"] == pytest.approx((sum(e * e for e in errors) / len(errors)) ** 0.5)
    probe = evaluation["ridge_probe"]
    assert probe["train_rows"] == evaluation["train_size"] and probe["rmse"] > 0
    assert registry.get_run(run_id)["metrics"]["probe_rmse"] == probe["rmse"]
