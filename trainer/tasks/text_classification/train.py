"""One local text-classification run, start to finish, in the current process (single texts or text pairs).

Reads runs/run-<id>/config.json and writes everything else in that folder (see the run folder
contract): splits, metrics.jsonl and progress.json while training, then the final model,
evaluation.json and plots. The registry row follows along: running -> succeeded | failed | cancelled
(trainer/tasks/encoder_run.py, shared with the other encoder tasks).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trainer.backends.local import resolve_data_path
from trainer.core.errors import UserError
from trainer.core.fileio import atomic_write_json, atomic_write_text
from trainer.data.columns import pick_columns
from trainer.data.examples import usable_examples
from trainer.data.read import load_table
from trainer.data.splits import split_labelled_texts
from trainer.evaluate.metrics import classification_metrics, classification_summary, majority_baseline
from trainer.evaluate.predictions import write_classification
from trainer.evaluate.probe import probe_verdict
from trainer.plan.config import RunConfig
from trainer.store.registry import Registry
from trainer.tasks import encoder_probe, encoder_run
from trainer.tasks.progress import ProgressWriter, fetch_model, log
from trainer.tasks.run_guard import StopFlag, guarded_run


def train_run(run_dir: Path, registry: Registry, run_id: int) -> dict[str, Any]:
    """Train, evaluate and record run `run_id`; return its result (status and metrics).

    On failure the run is marked failed (with one sentence in `error`) and the exception re-raised;
    on a stop request it is marked cancelled and {"status": "cancelled"} returned.
    """
    return guarded_run(run_dir, registry, run_id, _train)


def _write_splits(
    run_dir: Path, texts: list[str], labels: list[str], splits: dict[str, list[int]], pairs: list[str] | None
) -> None:
    for name, indices in splits.items():
        lines = [
            json.dumps(
                {"text": texts[i], **({"text_pair": pairs[i]} if pairs is not None else {}), "label": labels[i]},
                ensure_ascii=False,
            )
            for i in indices
        ]
        atomic_write_text(run_dir / "splits" / f"{name}.jsonl", "\n".join(lines) + ("\n" if lines else ""))


def _train(run_dir: Path, registry: Registry, run_id: int, flag: StopFlag, progress: ProgressWriter) -> dict[str, Any]:
    from transformers import set_seed

    from trainer.tasks.text_classification.model import (
        effective_max_length,
        freeze_lower_layers,
        load_classifier,
        load_tokenizer,
    )

    encoder_run.prepare_process()
    config = RunConfig.load(run_dir / "config.json")
    set_seed(config.seed)

    path = resolve_data_path(config.data, run_dir.resolve().parent.parent)  # run_dir is <ws>/runs/run-<id>
    table = load_table(path)
    columns = pick_columns(table, config.text_column or None, config.label_column or None)
    pair_column = config.text_pair_column or None
    found = usable_examples(table, columns["text_column"], columns["label_column"], pair_column)
    # The split the OpenAI plan of this file makes too: exact repeats dropped, stratified, the same seed.
    labelled = split_labelled_texts(
        found.texts, found.labels, config.val_fraction, config.test_fraction, config.seed, pairs=found.pairs
    )
    texts, labels, splits, pairs = labelled.texts, labelled.labels, labelled.splits, labelled.pairs
    duplicates_dropped = labelled.repeats_dropped
    if not splits["test"]:
        raise UserError(
            f"'{path.name}' has too few labelled rows ({len(texts)}) to hold out a test split; "
            "add more examples (a few dozen per class at least)."
        )
    _write_splits(run_dir, texts, labels, splits, pairs)
    label_names = sorted(set(labels))
    label2id = {label: i for i, label in enumerate(label_names)}
    second = f", second text '{pair_column}'" if pair_column else ""
    log(
        f"{len(texts)} examples from '{path.name}' (text '{columns['text_column']}'{second}, label "
        f"'{columns['label_column']}', {duplicates_dropped} exact repeats dropped), {len(label_names)} classes; split "
        + ", ".join(f"{name} {len(ix)}" for name, ix in splits.items())
    )

    # A catalog model that is not here yet is fetched first, with progress; the loaders below then find it.
    fetch_model(config.model, progress)
    tokenizer = load_tokenizer(config)
    model = load_classifier(config, label_names)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    counts = freeze_lower_layers(model, config.freeze_layers)
    log(f"model '{config.model}': {counts['trainable']:,} trainable, {counts['frozen']:,} frozen parameters")
    max_length = effective_max_length(config, tokenizer, model)

    def encode(indices: list[int]) -> list[dict[str, Any]]:
        return encoder_run.encode_rows(
            tokenizer,
            [texts[i] for i in indices],
            [pairs[i] for i in indices] if pairs is not None else None,
            [label2id[labels[i]] for i in indices],
            max_length,
        )

    train_set, validation_set = encode(splits["train"]), encode(splits["validation"])
    test = splits["test"]
    # The frozen pretrained encoder under logistic regression, before any training step changes it.
    probe = encoder_probe.classification_probe(
        encoder_probe.text_embedder(model, tokenizer, max_length, encoder_run.eval_batch_size(config)),
        encoder_probe.items_of(
            [texts[i] for i in splits["train"]], [pairs[i] for i in splits["train"]] if pairs is not None else None
        ),
        [labels[i] for i in splits["train"]],
        encoder_probe.items_of([texts[i] for i in test], [pairs[i] for i in test] if pairs is not None else None),
        [labels[i] for i in test],
        label_names,
        config.seed,
    )
    trained = encoder_run.train_and_save(
        model,
        tokenizer,
        config,
        run_dir,
        train_set,
        validation_set,
        encoder_run.run_callbacks(run_dir, registry, run_id, flag, progress),
        flag,
        progress,
        compute_metrics=_eval_metrics(len(label_names)),
        best_by=("macro_f1", True),
    )
    model, train_seconds = trained.model, trained.seconds
    evaluation = _evaluate(
        run_dir, run_id, model, tokenizer, max_length,
        [texts[i] for i in test], [pairs[i] for i in test] if pairs is not None else None, [labels[i] for i in test],
        [labels[i] for i in splits["train"]], label_names, batch_size=trained.eval_batch_size,
    )  # fmt: skip
    evaluation.update(train_seconds=round(train_seconds, 1), train_size=len(splits["train"]))
    evaluation["validation_size"] = len(splits["validation"])
    evaluation["duplicates_dropped"] = duplicates_dropped
    evaluation.update(linear_probe=probe, best_epoch=trained.kept)
    evaluation["probe_verdict"] = probe_verdict(evaluation)
    atomic_write_json(run_dir / "evaluation.json", evaluation)

    metrics = {
        **classification_summary(evaluation),
        "train_size": len(splits["train"]),
        "train_seconds": round(train_seconds, 1),
        "final_loss": encoder_run.final_loss(run_dir),
    }
    return encoder_run.finish(run_dir, registry, run_id, progress, metrics)


def _eval_metrics(num_labels: int) -> Any:
    def compute(prediction: Any) -> dict[str, float]:
        import numpy as np
        from sklearn.metrics import accuracy_score, f1_score

        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        predicted = np.argmax(logits, axis=-1)
        truth = prediction.label_ids
        return {
            "accuracy": float(accuracy_score(truth, predicted)),
            "macro_f1": float(
                f1_score(truth, predicted, labels=list(range(num_labels)), average="macro", zero_division=0)
            ),
        }

    return compute


def _evaluate(
    run_dir: Path,
    run_id: int,
    model: Any,
    tokenizer: Any,
    max_length: int,
    test_texts: list[str],
    test_pairs: list[str] | None,
    y_true: list[str],
    train_labels: list[str],
    label_names: list[str],
    batch_size: int = 64,
) -> dict[str, Any]:
    from trainer.evaluate.plots import plot_confusion_matrix, plot_loss_curves
    from trainer.tasks.text_classification.model import model_outputs

    outputs = model_outputs(model, tokenizer, test_texts, max_length, batch_size=batch_size, pairs=test_pairs)
    id2label: dict[Any, Any] = dict(model.config.id2label or {})
    scores = [row.softmax(-1) for row in outputs]
    y_pred = [str(id2label[int(row.argmax())]) for row in scores]
    write_classification(run_dir, test_texts, y_true, y_pred, [float(row.max()) for row in scores], test_pairs)
    evaluation = classification_metrics(y_true, y_pred, label_names)
    evaluation["baseline"] = majority_baseline(train_labels, y_true, label_names)
    evaluation["test_size"] = len(y_true)

    cm_png = plot_confusion_matrix(evaluation["confusion_matrix"], label_names, run_dir / "confusion_matrix.png")
    loss_png = plot_loss_curves(encoder_run.loss_curves(run_dir), run_dir / "loss.png", f"Run {run_id}: loss")
    evaluation["confusion_matrix_png"] = str(cm_png)
    evaluation["loss_png"] = str(loss_png)
    log(
        f"test accuracy {evaluation['accuracy']:.4f}, macro-F1 {evaluation['macro_f1']:.4f} "
        f"(majority baseline {evaluation['baseline']['accuracy']:.4f} / {evaluation['baseline']['macro_f1']:.4f})"
    )
    return evaluation
