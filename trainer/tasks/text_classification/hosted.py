"""A text classifier trained by a hosted chat API: its data as chat examples, and its evaluation by asking the
tuned model for each held-out text (the same split and scoring as a local run, so both compare)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from trainer.core.fileio import atomic_write_json, read_jsonl
from trainer.data.columns import pick_columns
from trainer.data.examples import usable_examples
from trainer.data.read import load_table
from trainer.data.splits import split_labelled_texts
from trainer.tasks.base import SUPERVISED_OBJECTIVE, Ask, HostedData
from trainer.tasks.text_classification.chat_format import chat_example, label_from_answer, system_prompt

# Test examples asked of a hosted model at most (each one is a paid request); TUNECHAT_HOSTED_EVAL_MAX overrides.
EVAL_MAX_DEFAULT = 500


def hosted_data(path: Path, config: dict[str, Any]) -> HostedData:
    """Chat examples (a system prompt listing the labels, the text (both texts of a pair), the label as the answer),
    split exactly as a local classifier run of this file splits it."""
    table = load_table(path)
    columns = pick_columns(table, config.get("text_column") or None, config.get("label_column") or None)
    second = config.get("text_pair_column") or None
    found = usable_examples(table, columns["text_column"], columns["label_column"], second)
    labelled = split_labelled_texts(
        found.texts,
        found.labels,
        float(config["val_fraction"]),
        float(config["test_fraction"]),
        int(config["seed"]),
        pairs=found.pairs,
    )
    names = sorted(set(labelled.labels))
    system = system_prompt(names)
    seconds: list[str | None] = list(labelled.pairs) if labelled.pairs is not None else [None] * len(labelled.texts)
    rows = list(zip(labelled.texts, seconds, labelled.labels, strict=True))
    return HostedData(
        objective=SUPERVISED_OBJECTIVE,
        examples=[chat_example(text, label, system, pair) for text, pair, label in rows],
        splits=labelled.splits,
        local_rows=[
            {"text": text, **({"text_pair": pair} if pair is not None else {}), "label": label}
            for text, pair, label in rows
        ],
        details={"labels": names, "system_prompt": system, **columns},
    )


def evaluate_hosted(run_dir: Path, record: dict[str, Any], ask: Ask) -> dict[str, Any]:
    """Ask the tuned model (`ask(messages) -> answer`) for every held-out test example and score it like a local
    classifier run; writes evaluation.json, the confusion matrix and the loss plot into the run folder."""
    from trainer.evaluate.metrics import classification_metrics, majority_baseline
    from trainer.evaluate.plots import plot_confusion_matrix, plot_loss_curves

    labels = list(record.get("labels") or [])
    limit = int(os.environ.get("TUNECHAT_HOSTED_EVAL_MAX") or EVAL_MAX_DEFAULT)
    test = read_jsonl(Path(record["files"]["test"]))[:limit]
    train = read_jsonl(Path(record["files"]["train"]))
    y_true, y_pred = [], []
    for example in test:
        messages = example["messages"]
        y_true.append(messages[-1]["content"])
        y_pred.append(label_from_answer(ask([m for m in messages if m["role"] != "assistant"]), labels))
    evaluation = classification_metrics(y_true, y_pred, labels)
    evaluation["baseline"] = majority_baseline([e["messages"][-1]["content"] for e in train], y_true, labels)
    evaluation["test_size"] = len(y_true)
    evaluation["fine_tuned_model"] = record["fine_tuned_model"]
    evaluation["unparsed_answers"] = sum(1 for p in y_pred if p not in labels)
    evaluation["confusion_matrix_png"] = str(
        plot_confusion_matrix(evaluation["confusion_matrix"], labels, run_dir / "confusion_matrix.png")
    )
    rows = read_jsonl(run_dir / "metrics.jsonl")
    curve = [(int(r["step"]), float(r["loss"])) for r in rows if "loss" in r]
    valid = [(int(r["step"]), float(r["eval_loss"])) for r in rows if "eval_loss" in r]
    evaluation["loss_png"] = str(
        plot_loss_curves({"train": curve, "validation (eval)": valid}, run_dir / "loss.png", "Loss (hosted job)")
    )
    atomic_write_json(run_dir / "evaluation.json", evaluation)
    return evaluation
