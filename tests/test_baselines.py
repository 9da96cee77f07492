"""Zero-training baselines, the kept epoch and per-example predictions, on hand-made cases with known answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trainer.evaluate.metrics import classification_summary, majority_baseline, regression_summary
from trainer.evaluate.predictions import read_predictions, write_classification, write_regression
from trainer.evaluate.probe import capped, linear_probe, probe_verdict, ridge_probe, ridge_verdict
from trainer.evaluate.selection import epoch_choice, trainer_history
from ui.render.runs import render_evaluation


def _separable(items: Any) -> np.ndarray:
    """A deterministic encoder: good reviews point one way, bad ones the other, plus a feature that says nothing."""
    return np.array([[1.0 if "good" in text else -1.0, 0.5] for text in items])


def test_a_linear_probe_on_separable_embeddings_scores_perfectly_and_the_majority_as_known() -> None:
    train = [f"good meal {i}" for i in range(6)] + [f"bad meal {i}" for i in range(4)]
    train_labels = ["pos"] * 6 + ["neg"] * 4
    test, test_labels = ["good", "bad", "so good", "bad bad"], ["pos", "neg", "pos", "neg"]
    probe = linear_probe(_separable, train, train_labels, test, test_labels, ["neg", "pos"])
    assert probe is not None
    assert probe["accuracy"] == 1.0 and probe["macro_f1"] == 1.0 and probe["train_rows"] == 10
    assert probe["seconds"] >= 0
    majority = majority_baseline(train_labels, test_labels, ["neg", "pos"])
    assert majority == {"label": "pos", "accuracy": 0.5, "macro_f1": pytest.approx(1 / 3)}
    # One class among the training rows: no classifier can be fitted, so there is no probe.
    assert linear_probe(_separable, train[:3], ["pos"] * 3, test, test_labels, ["neg", "pos"]) is None


def test_the_probe_embeds_at_most_its_cap_of_training_rows() -> None:
    seen: list[int] = []

    def embed(items: Any) -> np.ndarray:
        seen.append(len(items))
        return _separable(items)

    train = [f"{'good' if i % 2 else 'bad'} {i}" for i in range(50)]
    labels = ["pos" if i % 2 else "neg" for i in range(50)]
    probe = linear_probe(embed, train, labels, ["good", "bad"], ["pos", "neg"], ["neg", "pos"], cap=20)
    assert probe is not None and probe["train_rows"] == 20 and seen == [20, 2]
    items, targets = capped(train, labels, 20, seed=3)
    assert items == capped(train, labels, 20, seed=3)[0] and len(set(items)) == 20
    assert all(labels[train.index(item)] == target for item, target in zip(items, targets, strict=True))


def test_a_ridge_probe_recovers_a_linear_target() -> None:
    def embed(items: Any) -> np.ndarray:
        return np.array([[float(x), float(x) ** 2 % 3] for x in items])

    train = list(range(40))
    probe = ridge_probe(embed, train, [2 * x + 1 for x in train], [3, 17, 41], [7, 35, 83])
    assert probe is not None and probe["r2"] > 0.99 and probe["rmse"] < 1.0 and probe["train_rows"] == 40
    assert probe["spearman"] == pytest.approx(1.0)


def test_the_verdicts_name_the_gap_only_when_the_probe_clearly_wins() -> None:
    kept = {"epoch": 2.0, "epochs_run": 2.0, "stopped_early": False}
    losing = {"macro_f1": 0.56, "linear_probe": {"macro_f1": 0.85}, "best_epoch": kept}
    verdict = probe_verdict(losing)
    assert verdict is not None
    assert verdict.startswith("A frozen encoder with logistic regression scored 0.85 macro-F1 against the fine-tune's")
    assert "0.56 after 2 epochs" in verdict and "more epochs" in verdict
    assert probe_verdict({"macro_f1": 0.83, "linear_probe": {"macro_f1": 0.85}}) is None
    assert probe_verdict({"macro_f1": 0.83}) is None
    assert ridge_verdict({"rmse": 2.0, "ridge_probe": {"rmse": 1.0}}) is not None
    assert ridge_verdict({"rmse": 1.0, "ridge_probe": {"rmse": 0.95}}) is None


def test_the_kept_epoch_and_why_training_stopped() -> None:
    history = [(1.0, 0.6), (2.0, 0.91), (3.0, 0.9), (4.0, 0.91)]
    kept = epoch_choice(history, "macro_f1", True, epochs_planned=10, patience=2)
    assert kept is not None and kept["epoch"] == 2.0 and kept["value"] == 0.91 and kept["stopped_early"]
    assert kept["sentence"] == (
        "Stopped after epoch 4 of 10: validation macro-F1 had not improved for 2 epochs; kept epoch 2 (0.91)."
    )
    rmse = epoch_choice([(1.0, 3.0), (2.0, 1.5), (3.0, 2.0)], "rmse", False, epochs_planned=3, patience=2)
    assert rmse is not None and rmse["epoch"] == 2.0 and not rmse["stopped_early"]
    assert rmse["sentence"] == (
        "Trained all 3 epochs; validation RMSE peaked earlier, so kept epoch 2 (1.5), not the last."
    )
    tie = epoch_choice([(1.0, 0.35), (2.0, 0.35)], "macro_f1", True, epochs_planned=2, patience=2)
    assert tie is not None and tie["sentence"] == (
        "Trained all 2 epochs; validation macro-F1 did not improve after epoch 1, so kept epoch 1 (0.35)."
    )
    assert epoch_choice([], "macro_f1", True, 3, 2) is None
    log = [{"loss": 1.0, "epoch": 0.5}, {"eval_macro_f1": 0.7, "epoch": 1.0}, {"eval_macro_f1": 0.8, "epoch": 2.0}]
    assert trainer_history(log, "macro_f1") == [(1.0, 0.7), (2.0, 0.8)]


def test_predictions_files_follow_the_contract(tmp_path: Path) -> None:
    write_classification(tmp_path, ["a", "b"], ["pos", "neg"], ["pos", "pos"], [0.9, 0.6], pairs=["x", "y"])
    lines = (tmp_path / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"input": "a", "input_pair": "x", "label": "pos", "predicted": "pos", "confidence": 0.9, "correct": True},
        {"input": "b", "input_pair": "y", "label": "neg", "predicted": "pos", "confidence": 0.6, "correct": False},
    ]
    write_regression(tmp_path, ["c"], [2.0], [2.5])
    assert read_predictions(tmp_path) == [{"input": "c", "target": 2.0, "predicted": 2.5, "error": 0.5}]
    assert not list(tmp_path.glob("*.tmp*"))


def test_the_report_shows_the_probe_the_kept_epoch_and_what_to_do() -> None:
    sentence = "Stopped after epoch 5 of 10: validation macro-F1 had not improved for 2 epochs; kept epoch 3 (0.91)."
    evaluation = {
        "run_id": 2, "accuracy": 0.6, "macro_f1": 0.56, "test_size": 20, "per_class": {},
        "baseline": {"label": "pos", "accuracy": 0.5, "macro_f1": 0.33},
        "linear_probe": {"accuracy": 0.85, "macro_f1": 0.85, "train_rows": 160, "seconds": 2.1},
        "best_epoch": {"epoch": 3.0, "epochs_run": 5.0, "stopped_early": True, "sentence": sentence},
    }  # fmt: skip
    evaluation["probe_verdict"] = probe_verdict(evaluation)
    text = render_evaluation(evaluation)
    assert "| linear probe (logistic regression on the frozen pretrained encoder, 160 training rows) | 0.85 |" in text
    assert "kept epoch 3 (0.91)" in text and "**A frozen encoder with logistic regression scored 0.85" in text
    assert "try a higher learning rate" in text
    summary = classification_summary(evaluation)
    assert summary["probe_macro_f1"] == 0.85 and summary["best_epoch"] == 3.0 and summary["epochs_run"] == 5.0
    regression = regression_summary({"rmse": 1.0, "test_size": 3, "ridge_probe": {"rmse": 0.8, "r2": 0.5}})
    assert regression["probe_rmse"] == 0.8 and regression["probe_r2"] == 0.5 and regression["best_epoch"] is None
