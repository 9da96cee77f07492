"""The frozen-encoder baselines of the text encoder tasks: mean-pooled embeddings of the pretrained encoder (taken
before any training step) under a logistic-regression or ridge probe (trainer/evaluate/probe.py).

A probe that fails only costs the report its baseline line, never the run: the failure is logged in one line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from trainer.evaluate.probe import linear_probe, ridge_probe
from trainer.tasks.progress import log

# One text, or a text and its second text.
TextItem = tuple[str, str | None]


def text_embedder(model: Any, tokenizer: Any, max_length: int, batch_size: int = 64) -> Any:
    """`embed(items) -> array (n, hidden)`: the mean over real tokens of the encoder's last hidden states.

    The encoder is the model's `base_model` (BertModel under BertForSequenceClassification), so the fresh head
    plays no part; examples of similar length share a batch, to keep padding small on a CPU.
    """

    def embed(items: Sequence[TextItem]) -> Any:
        import numpy as np
        import torch

        base = getattr(model, "base_model", model)
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        order = sorted(range(len(items)), key=lambda i: len(items[i][0]) + len(items[i][1] or ""))
        rows: list[Any] = [None] * len(items)
        try:
            with torch.inference_mode():
                for start in range(0, len(order), batch_size):
                    batch = order[start : start + batch_size]
                    second = [items[i][1] or "" for i in batch] if items[batch[0]][1] is not None else None
                    encoded = tokenizer(
                        [items[i][0] for i in batch],
                        second,
                        truncation=True,
                        max_length=max_length,
                        padding=True,
                        return_tensors="pt",
                    ).to(device)
                    output = base(**encoded)
                    hidden = getattr(output, "last_hidden_state", None)
                    hidden = (hidden if hidden is not None else output[0]).float()
                    mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
                    for index, row in zip(batch, pooled.cpu().numpy(), strict=True):
                        rows[index] = row
        finally:
            model.train(was_training)
        return np.stack(rows)

    return embed


def items_of(texts: Sequence[str], pairs: Sequence[str] | None) -> list[TextItem]:
    return [(text, pairs[i] if pairs is not None else None) for i, text in enumerate(texts)]


def fitted_probe(
    name: str, source: str, unit: str, fit: Callable[[], dict[str, Any] | None], scores: Callable[[dict], str]
) -> dict[str, Any] | None:
    """The probe `fit()` returns, logged as "<name> on <source> (N training <unit>, S s): test <scores>"; None when
    it could not be fitted (the failure logged in one line: it costs the report a baseline, never the run)."""
    try:
        probe = fit()
    except (RuntimeError, ValueError, MemoryError) as error:
        log(f"{name} skipped: {str(error).splitlines()[0] if str(error) else type(error).__name__}")
        return None
    if probe:
        log(f"{name} on {source} ({probe['train_rows']} training {unit}, {probe['seconds']} s): test {scores(probe)}")
    return probe


def classification_probe(
    embed: Any,
    train: list[TextItem],
    train_labels: list[str],
    test: list[TextItem],
    test_labels: list[str],
    labels: list[str],
    seed: int,
) -> dict[str, Any] | None:
    """The logistic-regression probe's test scores, logged; None when it could not be fitted."""
    return fitted_probe(
        "linear probe",
        "the frozen encoder",
        "rows",
        lambda: linear_probe(embed, train, train_labels, test, test_labels, labels, seed=seed),
        lambda probe: f"accuracy {probe['accuracy']:.4f}, macro-F1 {probe['macro_f1']:.4f}",
    )


def regression_probe(
    embed: Any,
    train: list[TextItem],
    train_values: list[float],
    test: list[TextItem],
    test_values: list[float],
    seed: int,
) -> dict[str, Any] | None:
    """The ridge probe's test scores, logged; None when it could not be fitted."""
    return fitted_probe(
        "ridge probe",
        "the frozen encoder",
        "rows",
        lambda: ridge_probe(embed, train, train_values, test, test_values, seed=seed),
        lambda probe: f"RMSE {probe['rmse']:.4g}, MAE {probe['mae']:.4g}",
    )
