"""Finished runs of every kind the playground tries, made in seconds from the tiny models the tests build: their
registry rows and folders as a worker leaves them (untrained heads: the playground only needs them to answer)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from trainer.core.workspace import Workspace
from trainer.plan.config import RunConfig
from trainer.store.registry import Registry

LABELS = ["neg", "pos"]


def finished(ws: Workspace, registry: Registry, config: RunConfig, model: Path | None = None) -> int:
    """A succeeded run of `config`; its model/ a copy of `model` (or left for the caller to write)."""
    run_id = registry.create_run(config.to_dict())
    run_dir = ws.run_dir(run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    config.save(run_dir / "config.json")
    if model is not None:
        shutil.copytree(model, run_dir / "model")
    registry.update_run(run_id, status="succeeded", run_dir=str(run_dir))
    return run_id


def text_run(ws: Workspace, registry: Registry, model: Path, pairs: bool = False, base: str = "") -> int:
    """A text classifier (of text pairs with `pairs`); `base` is the model it started from, when not `model`."""
    config = RunConfig(
        data="reviews.tsv", text_column="text", label_column="label", max_length=32, model=base or str(model),
        text_pair_column="second" if pairs else "",
    )  # fmt: skip
    return finished(ws, registry, config, model)


def regression_head(tiny_bert: Path, folder: Path) -> Path:
    """tiny_bert with a one-number head and the target's mean and deviation in its config, as a run saves it."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_bert, num_labels=1, use_safetensors=True, ignore_mismatched_sizes=True
    )
    model.config.update({"target_mean": 3.0, "target_std": 2.0, "target_name": "stars"})
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(folder)
    return folder


def regression_run(ws: Workspace, registry: Registry, folder: Path) -> int:
    config = RunConfig(
        data="scores.csv", task="text-regression", text_column="text", label_column="stars", max_length=32
    )
    return finished(ws, registry, config, folder)


def media_run(ws: Workspace, registry: Registry, task: Any, model: Path, **settings: Any) -> int:
    """An image or audio classifier with a new (untrained) head on `model`, saved as a finished run saves it."""
    config = RunConfig(data="files.zip", task=task.name, model=str(model), **settings)
    run_id = finished(ws, registry, config)
    task.modality.load_model(config, ["cool", "warm"]).save(ws.run_dir(run_id) / "model")
    return run_id


def chat_run(ws: Workspace, registry: Registry, tiny_llm: Path) -> int:
    """An SFT run whose model is tiny_llm itself (full weights), naming tiny_llm as its base model."""
    config = RunConfig(data="chat.jsonl", task="sft", model=str(tiny_llm), method="full")
    run_id = finished(ws, registry, config, tiny_llm)
    info = {"kind": "full", "base_model": str(tiny_llm)}
    (ws.run_dir(run_id) / "model" / "tunechat.json").write_text(json.dumps(info), encoding="utf-8")
    return run_id
