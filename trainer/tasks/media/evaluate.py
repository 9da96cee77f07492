"""The test-split evaluation of a media classifier: the metrics every classifier reports, its plots, and a gallery
of its worst mistakes (the file, its true label, the predicted one and the model's confidence)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.core.fileio import read_jsonl
from trainer.evaluate.metrics import classification_metrics, majority_baseline
from trainer.evaluate.predictions import write_classification
from trainer.tasks.media.examples import MediaSet
from trainer.tasks.progress import log

if TYPE_CHECKING:
    from trainer.tasks.media.modality import MediaModel, Modality


def evaluate_media(
    modality: Modality,
    model: MediaModel,
    media: MediaSet,
    splits: dict[str, list[int]],
    run_dir: Path,
    run_id: int,
) -> dict[str, Any]:
    from trainer.evaluate.plots import plot_confusion_matrix, plot_loss_curves
    from trainer.tasks.media.gallery import GALLERY_SIZE, plot_mistakes
    from trainer.tasks.media.predict import ItemStore, load_items, predict_probabilities

    labels = model.labels
    test = [media.examples[i] for i in splits["test"]]
    probabilities = predict_probabilities(model, ItemStore(modality, model, test))
    predicted = [labels[max(range(len(row)), key=row.__getitem__)] for row in probabilities]
    truth = [example.label for example in test]
    evaluation = classification_metrics(truth, predicted, labels)
    write_classification(run_dir, [example.name for example in test], truth, predicted, [max(r) for r in probabilities])
    evaluation["baseline"] = majority_baseline([media.examples[i].label for i in splits["train"]], truth, labels)
    evaluation["test_size"] = len(truth)
    evaluation["task"] = modality.kind

    wrong = sorted(
        (i for i in range(len(test)) if predicted[i] != truth[i]),
        key=lambda i: max(probabilities[i]),
        reverse=True,
    )
    evaluation["worst_mistakes"] = [
        {
            "file": test[i].name,
            "true": truth[i],
            "predicted": predicted[i],
            "confidence": round(max(probabilities[i]), 4),
        }
        for i in wrong[:12]
    ]
    # Only the files the gallery shows are decoded again (the test split of a large data set is not kept).
    shown = wrong[:GALLERY_SIZE]
    pictures = load_items(modality, [test[i] for i in shown])
    mistakes = [(item, truth[i], predicted[i], max(probabilities[i])) for item, i in zip(pictures, shown, strict=True)]
    rows = read_jsonl(run_dir / "metrics.jsonl")
    curves = {
        "training loss": [(int(r["step"]), float(r["loss"])) for r in rows if "loss" in r],
        "validation loss": [(int(r["step"]), float(r["eval_loss"])) for r in rows if "eval_loss" in r],
    }
    evaluation["confusion_matrix_png"] = str(
        plot_confusion_matrix(evaluation["confusion_matrix"], labels, run_dir / "confusion_matrix.png")
    )
    evaluation["loss_png"] = str(plot_loss_curves(curves, run_dir / "loss.png", f"Run {run_id}: loss"))
    evaluation["mistakes_png"] = str(plot_mistakes(modality, mistakes, run_dir / "mistakes.png"))
    log(
        f"test accuracy {evaluation['accuracy']:.4f}, macro-F1 {evaluation['macro_f1']:.4f} "
        f"(majority baseline {evaluation['baseline']['accuracy']:.4f} / {evaluation['baseline']['macro_f1']:.4f})"
    )
    return evaluation
