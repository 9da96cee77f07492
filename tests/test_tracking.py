"""Experiment trackers: TensorBoard in the run folder by default, MLflow or trackio by a setting, refused in one
sentence before a run is made when the chosen tracker's package is missing; metrics.jsonl is kept either way."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tools.context import ToolContext
from tools.launch import launch_plan
from trainer.backends import local
from trainer.core.errors import UserError
from trainer.core.fileio import read_jsonl
from trainer.core.workspace import Workspace
from trainer.plan.config import resolve_config
from trainer.store.registry import Registry
from trainer.tasks import tracking
from trainer.tasks.encoder_run import training_arguments
from trainer.tasks.tracking import check_tracker, chosen_tracker, tracked, tracking_for


def pretend_installed(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    monkeypatch.setattr(tracking, "installed", lambda tracker: tracker in names)


def test_auto_means_tensorboard_when_installed_and_nothing_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    assert tracking.installed("tensorboard")  # installed with the test extra
    assert chosen_tracker("auto") == "tensorboard"
    pretend_installed(monkeypatch)
    assert chosen_tracker("auto") == "none"
    assert check_tracker("auto") == "none"  # auto never refuses: it falls back to metrics.jsonl alone


def test_tensorboard_logs_into_the_run_folder(ws: Workspace) -> None:
    run_dir = ws.run_dir(7)
    found = tracking_for(resolve_config({}), run_dir)
    assert found.tracker == "tensorboard" and found.report_to == ["tensorboard"]
    assert found.logging_dir == run_dir.resolve() / "tensorboard"
    assert found.env == {"TENSORBOARD_LOGGING_DIR": str(run_dir.resolve() / "tensorboard")}
    assert found.trainer_arguments() == {"report_to": ["tensorboard"], "run_name": "run-7", "project": "tunechat"}
    # A dry run's scratch folder (no run folder) and tracker none report to nothing.
    assert tracking_for(resolve_config({}), None).trainer_arguments() == {"report_to": "none"}
    assert tracking_for(resolve_config({"tracker": "none"}), run_dir).trainer_arguments() == {"report_to": "none"}


def test_mlflow_and_trackio_keep_one_store_in_the_workspace(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    pretend_installed(monkeypatch, "tensorboard", "mlflow", "trackio")
    run_dir = ws.run_dir(3)
    root = ws.root.resolve()
    mlflow = tracking_for(resolve_config({"tracker": "mlflow"}), run_dir)
    assert mlflow.report_to == ["mlflow"] and mlflow.logging_dir is None
    assert mlflow.env == {
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow' / 'mlflow.db'}",
        "MLFLOW_EXPERIMENT_NAME": "tunechat",
    }
    assert mlflow.trainer_arguments() == {"report_to": ["mlflow"], "run_name": "run-3", "project": "tunechat"}
    trackio = tracking_for(resolve_config({"tracker": "trackio"}), run_dir)
    assert trackio.report_to == ["trackio"] and trackio.env == {"TRACKIO_DIR": str(root / "trackio")}

    # The environment is set while the run trains and restored afterwards.
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "someone-else")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with tracked(mlflow):
        assert os.environ["MLFLOW_TRACKING_URI"] == mlflow.env["MLFLOW_TRACKING_URI"]
        assert os.environ["MLFLOW_EXPERIMENT_NAME"] == "tunechat"
        assert (root / "mlflow").is_dir()
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert os.environ["MLFLOW_EXPERIMENT_NAME"] == "someone-else"


def test_the_trainer_gets_the_tracker_of_the_config(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """The encoder tasks' TrainingArguments (transformers 5 names) take what tracking_for decided."""
    args = training_arguments(resolve_config({}), ws.run_dir(2), train_rows=40, has_validation=True)
    assert args.report_to == ["tensorboard"] and args.run_name == "run-2" and args.project == "tunechat"
    args = training_arguments(resolve_config({"tracker": "none"}), ws.run_dir(2), train_rows=40, has_validation=True)
    assert args.report_to == []
    pretend_installed(monkeypatch, "mlflow")
    args = training_arguments(resolve_config({"tracker": "mlflow"}), ws.run_dir(2), train_rows=40, has_validation=True)
    assert args.report_to == ["mlflow"]


def test_unknown_and_missing_trackers_are_refused_in_one_sentence(
    ws: Workspace, registry: Registry, reviews_tsv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(UserError, match=r"^Invalid setting: tracker must be one of auto, tensorboard, mlflow, trackio"):
        resolve_config({"tracker": "wandb"})
    pretend_installed(monkeypatch, "tensorboard")
    with pytest.raises(UserError) as refused:
        check_tracker("mlflow")
    message = str(refused.value)
    assert message == (
        "The tracker 'mlflow' is not installed; run `pip install mlflow` or choose another tracker (tensorboard, none)."
    )
    # Before any run is created: no registry row, no run folder.
    ctx = ToolContext(ws, registry)
    uploaded = ws.import_file(reviews_tsv)
    with pytest.raises(UserError, match="'trackio' is not installed"):
        launch_plan(ctx, {"data": uploaded.name, "tracker": "trackio"})
    assert registry.list_runs() == [] and not any(ws.runs.iterdir())


def test_a_chat_names_its_tracker(ws: Workspace, registry: Registry, reviews_tsv: Path) -> None:
    from agent.intents import classify
    from tools.data_tools import propose_plan

    assert classify("use 3 epochs and log to mlflow").settings == {"epochs": 3.0, "tracker": "mlflow"}
    ctx = ToolContext(ws, registry)
    name = ws.import_file(reviews_tsv).name
    assert propose_plan(ctx, name, tracker="tensorboard").config["tracker"] == "tensorboard"
    if not tracking.installed("mlflow"):
        with pytest.raises(UserError, match="'mlflow' is not installed"):
            propose_plan(ctx, name, tracker="mlflow")


def scalar_tags(folder: Path) -> dict[str, list[Any]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    [events] = list(folder.glob("events.out.tfevents.*"))
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    return {tag: accumulator.Scalars(tag) for tag in accumulator.Tags()["scalars"]}


@pytest.mark.slow
def test_a_tiny_run_writes_tensorboard_events_in_its_folder(
    ws: Workspace, registry: Registry, reviews_tsv: Path, tiny_bert: Path
) -> None:
    from trainer.tasks.text_classification.train import train_run

    uploaded = ws.import_file(reviews_tsv)
    config = resolve_config({"data": uploaded.name, "model": str(tiny_bert), "epochs": 2, "batch_size": 16})
    run_id = local.create_run(ws, registry, config)
    assert train_run(ws.run_dir(run_id), registry, run_id)["status"] == "succeeded"
    assert "TENSORBOARD_LOGGING_DIR" not in os.environ  # the tracker's settings do not outlive the run

    run_dir = ws.run_dir(run_id)
    tags = scalar_tags(run_dir / "tensorboard")
    logged = [row for row in read_jsonl(run_dir / "metrics.jsonl") if "loss" in row]
    # The same training losses as metrics.jsonl (which stays), and the validation loss of each epoch.
    assert [point.step for point in tags["train/loss"]] == [row["step"] for row in logged]
    assert [point.value for point in tags["train/loss"]] == pytest.approx([row["loss"] for row in logged])
    assert len(tags["eval/loss"]) == 2 and "eval/macro_f1" in tags


@pytest.mark.slow
def test_language_model_and_image_runs_write_tensorboard_events_too(
    ws: Workspace, registry: Registry, chat_jsonl: Path, tiny_llm: Path, tmp_path: Path
) -> None:
    """The causal-LM loop (TRL's Trainer) and the media loop (our own, through SummaryWriter) log the same way."""
    import toy_images
    from toy_images import write_class_folders, zip_folder

    from trainer.tasks.causal_lm.train import train_llm_run
    from trainer.tasks.image_classification.modality import ImageModality
    from trainer.tasks.media.train import train_media_run

    settings = {"data": str(chat_jsonl), "task": "sft", "method": "lora", "model": str(tiny_llm), "max_steps": 4}
    config = resolve_config(settings, {"batch_size": 8, "max_length": 64, "learning_rate": 1e-3})
    run_id = local.create_run(ws, registry, config)
    assert train_llm_run(ws.run_dir(run_id), registry, run_id)["status"] == "succeeded"
    tags = scalar_tags(ws.run_dir(run_id) / "tensorboard")
    losses = [row["loss"] for row in read_jsonl(ws.run_dir(run_id) / "metrics.jsonl") if "loss" in row]
    assert [point.value for point in tags["train/loss"]] == pytest.approx(losses)

    data = ws.import_file(zip_folder(write_class_folders(tmp_path / "colours", per_class=8), tmp_path / "c.zip"))
    vit = toy_images.tiny_vit(ws.models / "tiny-vit")
    config = resolve_config(
        {"data": str(data), "task": "image-classification", "model": str(vit), "epochs": 2, "batch_size": 8},
        {"image_size": 32, "learning_rate": 3e-3},
    )
    run_id = local.create_run(ws, registry, config)
    assert train_media_run(ImageModality(), ws.run_dir(run_id), registry, run_id)["status"] == "succeeded"
    tags = scalar_tags(ws.run_dir(run_id) / "tensorboard")
    rows = read_jsonl(ws.run_dir(run_id) / "metrics.jsonl")
    assert [p.step for p in tags["train/loss"]] == [row["step"] for row in rows if "loss" in row]
    assert [p.value for p in tags["eval/macro_f1"]] == pytest.approx(
        [r["eval_macro_f1"] for r in rows if "eval_loss" in r]
    )
