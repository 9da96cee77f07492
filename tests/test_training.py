"""The local training backend end to end: real worker processes, real SQLite, real (tiny) models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import load_file
from toy_data import make_reviews

from trainer.backends import local, runs
from trainer.core.errors import UserError
from trainer.core.fileio import read_json, read_jsonl
from trainer.core.workspace import Workspace
from trainer.evaluate.metrics import classification_metrics, load_evaluation, majority_baseline
from trainer.plan.config import BUNDLED_MODEL, resolve_config
from trainer.store.registry import Registry
from trainer.tasks.text_classification.model import freeze_lower_layers, load_classifier, resolve_model_path
from trainer.tasks.text_classification.train import train_run

# Settings under which the tiny BERT learns the toy reviews in a few seconds.
TINY: dict[str, Any] = {"epochs": 8, "learning_rate": 3e-3, "batch_size": 8}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _create(ws: Workspace, registry: Registry, data: Path, model: Path | str, **settings: Any) -> int:
    uploaded = ws.import_file(data)
    config = resolve_config({"data": uploaded.name, "model": str(model), **settings})
    return local.create_run(ws, registry, config)


@pytest.mark.slow
def test_worker_trains_evaluates_and_records_run(
    ws: Workspace, registry: Registry, reviews_tsv: Path, tiny_bert: Path
) -> None:
    run_id = _create(ws, registry, reviews_tsv, tiny_bert, **TINY)
    local.launch(ws, registry, run_id)
    seen: list[dict[str, Any]] = []
    final = runs.follow(ws, registry, run_id, on_progress=seen.append, poll_s=0.3)

    assert final["status"] == "succeeded", final["error"]
    assert final["phase"] == "done" and final["step"] == final["total_steps"] > 0
    assert seen and seen[-1]["status"] == "succeeded"
    run_dir = Path(final["run_dir"])
    assert run_dir == ws.run_dir(run_id)

    # Loss fell: the last logged training losses are well below the first ones.
    rows = read_jsonl(run_dir / "metrics.jsonl")
    losses = [row["loss"] for row in rows if "loss" in row]
    assert len(losses) >= 10
    assert sum(losses[-2:]) / 2 < 0.8 * sum(losses[:2]) / 2
    train_row = next(row for row in rows if "loss" in row)
    assert {"step", "total_steps", "epoch", "learning_rate", "elapsed_s", "eta_s"} <= set(train_row)
    evals = [row for row in rows if "eval_loss" in row]
    assert len(evals) == TINY["epochs"] and {"eval_accuracy", "eval_macro_f1"} <= set(evals[-1])

    # The toy sentiment is learnable: far above always guessing one class.
    metrics = registry.get_run(run_id)["metrics"]
    assert set(metrics) == {
        "accuracy",
        "macro_f1",
        "baseline_accuracy",
        "baseline_macro_f1",
        "probe_accuracy",
        "probe_macro_f1",
        "best_epoch",
        "epochs_run",
        "test_size",
        "train_size",
        "train_seconds",
        "final_loss",
    }
    assert metrics["accuracy"] >= 0.9 and metrics["baseline_accuracy"] == 0.5
    assert metrics["macro_f1"] >= metrics["baseline_macro_f1"] + 0.4
    assert metrics["test_size"] == 12 and metrics["train_size"] == 96
    assert metrics["final_loss"] == pytest.approx(losses[-1])

    # The run folder holds everything the contract names.
    assert read_json(run_dir / "config.json")["model"] == str(tiny_bert)
    assert (run_dir / "model" / "model.safetensors").is_file()
    model_config = read_json(run_dir / "model" / "config.json")
    assert set(model_config["id2label"].values()) == {"neg", "pos"}
    assert (run_dir / "checkpoints").is_dir()
    for png in ("confusion_matrix.png", "loss.png"):
        assert (run_dir / png).read_bytes().startswith(PNG_MAGIC)
    split_rows = {name: read_jsonl(run_dir / "splits" / f"{name}.jsonl") for name in ("train", "validation", "test")}
    assert {name: len(rows) for name, rows in split_rows.items()} == {"train": 96, "validation": 12, "test": 12}
    assert set(split_rows["test"][0]) == {"text", "label"}
    assert "[tunechat] test accuracy" in (run_dir / "train.log").read_text()

    evaluation = load_evaluation(ws, registry, run_id)
    assert evaluation["accuracy"] == metrics["accuracy"] and evaluation["labels"] == ["neg", "pos"]
    assert sum(map(sum, evaluation["confusion_matrix"])) == evaluation["test_size"] == 12
    assert evaluation["per_class"]["pos"]["support"] == 6
    assert evaluation["baseline"]["label"] in ("neg", "pos")
    assert Path(evaluation["loss_png"]) == run_dir / "loss.png"

    with pytest.raises(UserError, match="already finished"):
        runs.stop_run(ws, registry, run_id)


@pytest.mark.slow
def test_frozen_layers_keep_their_weights(
    ws: Workspace, registry: Registry, reviews_tsv: Path, tiny_bert: Path
) -> None:
    run_id = _create(ws, registry, reviews_tsv, tiny_bert, freeze_layers=1, epochs=2, learning_rate=3e-3)
    result = train_run(ws.run_dir(run_id), registry, run_id)  # in this process: the API without the worker
    assert result["status"] == "succeeded"

    before = load_file(tiny_bert / "model.safetensors")
    after = load_file(ws.run_dir(run_id) / "model" / "model.safetensors")

    def changed(prefix: str) -> list[bool]:
        names = [name for name in before if name.startswith(prefix)]
        assert names, prefix
        return [not before[name].equal(after[name]) for name in names]

    assert not any(changed("bert.embeddings.")), "embeddings must stay frozen"
    assert not any(changed("bert.encoder.layer.0.")), "the first layer must stay frozen"
    assert all(changed("bert.encoder.layer.1.attention.self.query.")), "the second layer must train"
    assert any(changed("classifier."))


def test_freezing_more_layers_than_the_model_has_is_refused(tiny_bert: Path) -> None:
    config = resolve_config({"model": str(tiny_bert)})
    model = load_classifier(config, ["neg", "pos"])
    counts = freeze_lower_layers(model, 2)
    assert counts["trainable"] > 0 and counts["frozen"] > counts["trainable"]  # only pooler + head left
    with pytest.raises(UserError, match="only 2 encoder layers.*from 0 to 2"):
        freeze_lower_layers(model, 3)


def test_missing_model_is_one_clear_sentence(tmp_path: Path) -> None:
    config = resolve_config({"model": str(tmp_path / "no-such-model")})
    with pytest.raises(UserError) as caught:
        load_classifier(config, ["a", "b"])
    message = str(caught.value)
    assert message.startswith(f"Could not load model '{tmp_path / 'no-such-model'}'")
    assert "local path" in message and message.count(".") >= 1 and "\n" not in message


@pytest.mark.slow
def test_single_class_data_fails_with_the_reason(
    ws: Workspace, registry: Registry, tmp_path: Path, tiny_bert: Path
) -> None:
    data = tmp_path / "one-class.tsv"
    data.write_text("label\ttext\n" + "".join(f"pos\t{text}\n" for text, _ in make_reviews(30)), encoding="utf-8")
    run_id = _create(ws, registry, data, tiny_bert, label_column="label", text_column="text")
    # The worker's own command line, as `launch` runs it, to see its exit code.
    command = [sys.executable, "-m", "trainer.backends.worker", str(ws.run_dir(run_id)), "--db", str(ws.db_path)]
    worker = subprocess.run([*command, "--run-id", str(run_id)], capture_output=True, text=True, timeout=120)
    assert worker.returncode == 1
    assert "UserError" in worker.stderr  # the traceback is kept for train.log

    final = runs.run_status(ws, registry, run_id)
    assert final["status"] == "failed"
    assert final["error"].startswith("The label column 'label'") and "single class ('pos')" in final["error"]
    assert final["phase"] == "failed" and final["progress"]["error"] == final["error"]
    with pytest.raises(UserError, match=r"Run \d+ failed \(The label column 'label'.*single class"):
        load_evaluation(ws, registry, run_id)


def test_classification_metrics_and_majority_baseline() -> None:
    labels = ["ham", "spam"]
    y_true = ["ham", "ham", "ham", "spam"]
    metrics = classification_metrics(y_true, ["ham", "ham", "spam", "spam"], labels)
    assert metrics["accuracy"] == 0.75
    assert metrics["confusion_matrix"] == [[2, 1], [0, 1]]
    assert metrics["per_class"]["spam"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1}
    assert metrics["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)

    baseline = majority_baseline(["ham", "ham", "spam"], y_true, labels)
    # Always "ham": ham F1 = 2 * 0.75 * 1 / 1.75 = 6/7, spam F1 = 0.
    assert baseline == {"label": "ham", "accuracy": 0.75, "macro_f1": pytest.approx(6 / 7 / 2)}


def test_evaluation_of_a_queued_run_says_what_to_do(ws: Workspace, registry: Registry, reviews_tsv: Path) -> None:
    run_id = _create(ws, registry, reviews_tsv, BUNDLED_MODEL)
    with pytest.raises(UserError, match=rf"Run {run_id} is still queued.*wait until it has finished"):
        load_evaluation(ws, registry, run_id)


def test_bundled_model_resolves_to_its_local_folder() -> None:
    path = Path(resolve_model_path(BUNDLED_MODEL))
    assert (path / "model.safetensors").is_file() and (path / "config.json").is_file()
    assert resolve_model_path("some-org/some-model") == "some-org/some-model"


@pytest.mark.slow
def test_bundled_minilm_fine_tunes_on_a_small_set(ws: Workspace, registry: Registry, tmp_path: Path) -> None:
    data = tmp_path / "reviews100.csv"
    data.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in make_reviews(100, seed=3)), encoding="utf-8")
    run_id = _create(ws, registry, data, BUNDLED_MODEL, epochs=1, learning_rate=3e-4, batch_size=8, max_length=32)
    local.launch(ws, registry, run_id)
    final = runs.follow(ws, registry, run_id, poll_s=0.5)

    assert final["status"] == "succeeded", final["error"]
    run_dir = Path(final["run_dir"])
    model_config = json.loads((run_dir / "model" / "config.json").read_text())
    assert model_config["model_type"] == "bert" and model_config["hidden_size"] == 384
    assert (run_dir / "model" / "tokenizer.json").is_file()
    losses = [row["loss"] for row in read_jsonl(run_dir / "metrics.jsonl") if "loss" in row]
    # Ten steps are enough for the pretrained encoder to pick up the sentiment words.
    assert sum(losses[-2:]) / 2 < 0.75 * sum(losses[:2]) / 2
    assert final["metrics"]["test_size"] == 10 and final["metrics"]["accuracy"] >= 0.8


def test_exact_repeats_are_dropped_before_the_split_so_none_is_both_trained_and_tested() -> None:
    from trainer.data.splits import drop_repeated_examples

    texts = ["win a prize now", "see you at lunch", "win a prize now", "win a prize now", "call me"]
    labels = ["spam", "ham", "spam", "ham", "ham"]
    kept_texts, kept_labels, dropped = drop_repeated_examples(texts, labels)
    assert dropped == 1
    # The conflicting copy (same text, other label) stays for inspection to report.
    assert list(zip(kept_texts, kept_labels, strict=True)) == [
        ("win a prize now", "spam"),
        ("see you at lunch", "ham"),
        ("win a prize now", "ham"),
        ("call me", "ham"),
    ]
