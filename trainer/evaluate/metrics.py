"""Test-split metrics for a classifier (against the majority-class baseline) and for a regression model
(against always predicting the training mean), and reading a finished run's evaluation back."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.core.fileio import read_json
from trainer.core.records import Record
from trainer.core.workspace import Workspace
from trainer.evaluate.judge import JUDGE_FILE
from trainer.store.registry import Registry


def classification_metrics(y_true: list[str], y_pred: list[str], labels: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix (rows = true)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    if not y_true:
        raise ValueError("cannot compute metrics on an empty split")
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    per_class = {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        # Macro over all known labels, so a class the model never predicts counts as F1 0.
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "labels": list(labels),
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def majority_baseline(train_labels: list[str], y_true: list[str], labels: list[str]) -> dict[str, Any]:
    """Scores of always predicting the most common training label (ties: the alphabetically first)."""
    counts = Counter(train_labels)
    top = max(sorted(counts), key=lambda label: counts[label])
    metrics = classification_metrics(y_true, [top] * len(y_true), labels)
    return {"label": top, "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}


def classification_summary(evaluation: dict[str, Any]) -> dict[str, Any]:
    """The numbers of a classifier's evaluation kept in its run's registry row (lists and rankings read them)."""
    baseline = evaluation.get("baseline") or {}
    probe = evaluation.get("linear_probe") or {}
    return {
        "accuracy": evaluation["accuracy"],
        "macro_f1": evaluation["macro_f1"],
        "baseline_accuracy": baseline.get("accuracy"),
        "baseline_macro_f1": baseline.get("macro_f1"),
        "probe_accuracy": probe.get("accuracy"),
        "probe_macro_f1": probe.get("macro_f1"),
        **kept_epoch_summary(evaluation),
        "test_size": evaluation["test_size"],
    }


def kept_epoch_summary(evaluation: dict[str, Any]) -> dict[str, Any]:
    """The kept epoch and the epochs trained (None when the run had no validation split to choose by)."""
    kept = evaluation.get("best_epoch") or {}
    return {"best_epoch": kept.get("epoch"), "epochs_run": kept.get("epochs_run")}


def regression_metrics(y_true: list[float], y_pred: list[float]) -> dict[str, Any]:
    """RMSE, MAE, R², and Spearman's and Pearson's correlations (None where undefined: a constant side)."""
    import numpy as np
    from scipy.stats import pearsonr, spearmanr

    if not y_true:
        raise ValueError("cannot compute metrics on an empty split")
    truth, predicted = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    errors = predicted - truth
    spread = float(np.sum((truth - truth.mean()) ** 2))
    constant = len(truth) < 2 or np.ptp(truth) == 0 or np.ptp(predicted) == 0
    return {
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "mae": float(np.mean(np.abs(errors))),
        "r2": float(1 - np.sum(errors**2) / spread) if spread > 0 else None,
        "spearman": None if constant else float(spearmanr(truth, predicted).statistic),
        "pearson": None if constant else float(pearsonr(truth, predicted).statistic),
    }


def mean_baseline(train_values: list[float], y_true: list[float]) -> dict[str, Any]:
    """Scores of always predicting the training mean: what a regression model must beat."""
    mean = sum(train_values) / len(train_values)
    scores = regression_metrics(y_true, [mean] * len(y_true))
    return {"prediction": mean, "rmse": scores["rmse"], "mae": scores["mae"], "r2": scores["r2"]}


def regression_summary(evaluation: dict[str, Any]) -> dict[str, Any]:
    """The numbers of a regression evaluation kept in its run's registry row (lists and rankings read them)."""
    baseline = evaluation.get("baseline") or {}
    return {
        **{key: evaluation.get(key) for key in ("rmse", "mae", "r2", "spearman", "pearson")},
        "baseline_rmse": baseline.get("rmse"),
        "baseline_mae": baseline.get("mae"),
        "probe_rmse": (evaluation.get("ridge_probe") or {}).get("rmse"),
        "probe_r2": (evaluation.get("ridge_probe") or {}).get("r2"),
        **kept_epoch_summary(evaluation),
        "test_size": evaluation["test_size"],
    }


@dataclass(frozen=True, eq=False)
class Evaluation(Record):
    """A finished run's evaluation.json with its run id: what its task measured (test metrics and a baseline
    for a classifier, losses and sample replies for a language model), flat as the file holds it."""

    run_id: int
    extra: dict[str, Any]


def load_evaluation(ws: Workspace, registry: Registry, run_id: int) -> Evaluation:
    """The evaluation.json of a succeeded run, with its run id; a clear UserError for any other run."""
    run = registry.get_run(run_id)
    status = run["status"]
    if status in ("queued", "running", "validating_files"):
        raise UserError(
            f"Run {run_id} is still {status}, so it has no evaluation yet; wait until it has finished "
            "(ask for its status to follow it)."
        )
    if status == "failed":
        raise UserError(
            f"Run {run_id} failed ({run.get('error') or 'no reason recorded'}), so it has no evaluation; "
            "fix the problem and start a new run."
        )
    if status == "cancelled":
        raise UserError(f"Run {run_id} was cancelled before it finished, so it has no evaluation; start a new run.")
    path = Path(run["run_dir"] or ws.run_dir(run_id)) / "evaluation.json"
    if not path.is_file():
        raise UserError(f"Run {run_id} is {status} but its evaluation file is missing ({path}); train the model again.")
    evaluation = {key: value for key, value in dict(read_json(path)).items() if key != "run_id"}
    judged = path.parent / JUDGE_FILE
    if judged.is_file():  # an LLM judged the run's answers (tunechat judge): shown with the evaluation
        evaluation["judge"] = read_json(judged)
    return Evaluation(run_id, evaluation)
