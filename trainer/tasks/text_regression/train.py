"""One local text-regression run, start to finish, in the current process.

An encoder with a one-number head (`problem_type="regression"`, mean squared error) learns the target
standardised with the training split's mean and standard deviation, so its scale does not set the learning rate;
the mean and deviation are saved in the model's config, and every prediction and metric is in the original units.
The run folder and registry row follow the same contract as text classification (trainer/tasks/encoder_run.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trainer.backends.local import resolve_data_path
from trainer.core.errors import UserError
from trainer.core.fileio import atomic_write_json, atomic_write_text
from trainer.data.read import load_table
from trainer.evaluate.metrics import mean_baseline, regression_metrics, regression_summary
from trainer.evaluate.predictions import write_regression
from trainer.evaluate.probe import ridge_verdict
from trainer.plan.config import RunConfig
from trainer.store.registry import Registry
from trainer.tasks import encoder_probe, encoder_run
from trainer.tasks.progress import ProgressWriter, fetch_model, log
from trainer.tasks.run_guard import StopFlag, guarded_run
from trainer.tasks.text_regression.data import (
    drop_repeats,
    left_out_sentence,
    mean_and_std,
    regression_examples,
    split_by_target,
)


def train_run(run_dir: Path, registry: Registry, run_id: int) -> dict[str, Any]:
    """Train, evaluate and record regression run `run_id`; return its result (status and metrics)."""
    return guarded_run(run_dir, registry, run_id, _train)


def _train(run_dir: Path, registry: Registry, run_id: int, flag: StopFlag, progress: ProgressWriter) -> dict[str, Any]:
    from transformers import set_seed

    from trainer.tasks.text_classification.model import (
        effective_max_length,
        freeze_lower_layers,
        load_tokenizer,
        load_with_head,
    )

    encoder_run.prepare_process()
    config = RunConfig.load(run_dir / "config.json")
    set_seed(config.seed)
    path = resolve_data_path(config.data, run_dir.resolve().parent.parent)  # run_dir is <ws>/runs/run-<id>
    pair_column = config.text_pair_column or None
    found = regression_examples(load_table(path), config.text_column, config.label_column, pair_column)
    skipped = left_out_sentence(found, config.label_column)
    if skipped:
        log(skipped)
    texts, values, dropped, pairs = drop_repeats(found.texts, found.values, found.pairs)
    splits = split_by_target(values, config.val_fraction, config.test_fraction, config.seed)
    if not splits["test"] or len(splits["train"]) < 2:
        raise UserError(
            f"'{path.name}' has too few rows with a number ({len(texts)}) to hold out a test split; "
            "add more examples (a few dozen at least)."
        )
    for name, indices in splits.items():
        lines = [
            json.dumps(
                {"text": texts[i], **({"text_pair": pairs[i]} if pairs is not None else {}), "label": values[i]},
                ensure_ascii=False,
            )
            for i in indices
        ]
        atomic_write_text(run_dir / "splits" / f"{name}.jsonl", "\n".join(lines) + ("\n" if lines else ""))
    mean, std = mean_and_std([values[i] for i in splits["train"]])
    second = f", second text '{pair_column}'" if pair_column else ""
    log(
        f"{len(texts)} examples from '{path.name}' (text '{config.text_column}'{second}, target "
        f"'{config.label_column}', "
        f"{dropped} exact repeats dropped); training mean {mean:.4g}, std {std:.4g}; split "
        + ", ".join(f"{name} {len(ix)}" for name, ix in splits.items())
    )

    # A catalog model that is not here yet is fetched first, with progress; the loaders below then find it.
    fetch_model(config.model, progress)
    tokenizer = load_tokenizer(config)
    # A base model saved with a classification head of another size gets a new one-number head.
    model = load_with_head(config, num_labels=1, problem_type="regression", ignore_mismatched_sizes=True)
    model.config.target_mean, model.config.target_std = mean, std  # saved with the model: predictions unscale
    model.config.target_name = config.label_column
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    counts = freeze_lower_layers(model, config.freeze_layers)
    log(f"model '{config.model}': {counts['trainable']:,} trainable, {counts['frozen']:,} frozen parameters")
    max_length = effective_max_length(config, tokenizer, model)

    def encode(indices: list[int]) -> list[dict[str, Any]]:
        scaled = [(values[i] - mean) / std for i in indices]
        second = [pairs[i] for i in indices] if pairs is not None else None
        return encoder_run.encode_rows(tokenizer, [texts[i] for i in indices], second, scaled, max_length)

    train_set, validation_set = encode(splits["train"]), encode(splits["validation"])
    test = splits["test"]

    def items(indices: list[int]) -> list[encoder_probe.TextItem]:
        return encoder_probe.items_of(
            [texts[i] for i in indices], [pairs[i] for i in indices] if pairs is not None else None
        )

    # Ridge regression on the frozen pretrained encoder, before any training step changes it.
    probe = encoder_probe.regression_probe(
        encoder_probe.text_embedder(model, tokenizer, max_length, encoder_run.eval_batch_size(config)),
        items(splits["train"]),
        [values[i] for i in splits["train"]],
        items(test),
        [values[i] for i in test],
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
        compute_metrics=_eval_metrics(mean, std),
        best_by=("rmse", False),
    )
    model, train_seconds = trained.model, trained.seconds
    evaluation = _evaluate(
        run_dir, run_id, model, tokenizer, max_length, [texts[i] for i in test],
        [pairs[i] for i in test] if pairs is not None else None, [values[i] for i in test],
        [values[i] for i in splits["train"]], batch_size=trained.eval_batch_size,
    )  # fmt: skip
    evaluation.update(
        train_seconds=round(train_seconds, 1),
        train_size=len(splits["train"]),
        validation_size=len(splits["validation"]),
        duplicates_dropped=dropped,
        target={"column": config.label_column, "mean": mean, "std": std},
        left_out=skipped,
        ridge_probe=probe,
        best_epoch=trained.kept,
    )
    evaluation["probe_verdict"] = ridge_verdict(evaluation)
    atomic_write_json(run_dir / "evaluation.json", evaluation)
    metrics = {
        **regression_summary(evaluation),
        "train_size": len(splits["train"]),
        "train_seconds": round(train_seconds, 1),
        "final_loss": encoder_run.final_loss(run_dir),
    }
    return encoder_run.finish(run_dir, registry, run_id, progress, metrics)


def _eval_metrics(mean: float, std: float) -> Any:
    """Validation RMSE and R² in the target's own units (the model sees it standardised)."""

    def compute(prediction: Any) -> dict[str, float]:
        import numpy as np

        outputs = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        predicted = np.asarray(outputs, dtype=float).reshape(-1) * std + mean
        truth = np.asarray(prediction.label_ids, dtype=float).reshape(-1) * std + mean
        scores = regression_metrics(truth.tolist(), predicted.tolist())
        return {key: scores[key] for key in ("rmse", "r2") if scores[key] is not None}

    return compute


def predict_values(
    model: Any, tokenizer: Any, texts: list[str], max_length: int, batch_size: int = 64, pairs: list[str] | None = None
) -> list[float]:
    """Predictions for `texts` (and their second texts) in the target's own units (the model's config holds the
    mean and deviation)."""
    from trainer.tasks.text_classification.model import model_outputs

    mean = float(getattr(model.config, "target_mean", 0.0) or 0.0)
    std = float(getattr(model.config, "target_std", 1.0) or 1.0)
    outputs = model_outputs(model, tokenizer, texts, max_length, batch_size, pairs)
    return [float(row.reshape(-1)[0]) * std + mean for row in outputs]


def _evaluate(
    run_dir: Path,
    run_id: int,
    model: Any,
    tokenizer: Any,
    max_length: int,
    test_texts: list[str],
    test_pairs: list[str] | None,
    y_true: list[float],
    train_values: list[float],
    batch_size: int = 64,
) -> dict[str, Any]:
    from trainer.evaluate.plots import plot_loss_curves, plot_predicted_vs_true

    y_pred = predict_values(model, tokenizer, test_texts, max_length, batch_size=batch_size, pairs=test_pairs)
    write_regression(run_dir, test_texts, y_true, y_pred, test_pairs)
    evaluation = regression_metrics(y_true, y_pred)
    baseline = mean_baseline(train_values, y_true)
    evaluation["baseline"] = baseline
    evaluation["baseline_rmse"], evaluation["baseline_mae"] = baseline["rmse"], baseline["mae"]
    evaluation["test_size"] = len(y_true)
    scatter = plot_predicted_vs_true(y_true, y_pred, run_dir / "predicted_vs_true.png", baseline["prediction"])
    loss_png = plot_loss_curves(encoder_run.loss_curves(run_dir), run_dir / "loss.png", f"Run {run_id}: loss")
    evaluation["scatter_png"] = str(scatter)
    evaluation["loss_png"] = str(loss_png)
    log(
        f"test RMSE {evaluation['rmse']:.4g}, MAE {evaluation['mae']:.4g}, R² "
        f"{evaluation['r2'] if evaluation['r2'] is None else round(evaluation['r2'], 4)} "
        f"(training-mean baseline RMSE {baseline['rmse']:.4g}, MAE {baseline['mae']:.4g})"
    )
    return evaluation
