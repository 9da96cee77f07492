"""Propose hyperparameters for a dataset, each with a one-line reason, and estimate the run time.

The estimate is honest arithmetic, not a promise: training FLOPs (about 6 x parameters x tokens)
divided by the throughput this machine measured on a real matmul, corrected by a factor
calibrated on the bundled model on a 2-core CPU.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from trainer.evaluate.selection import propose_patience
from trainer.plan.config import BUNDLED_MODEL, field_doc, resolve_config

# Parameters of the bundled all-MiniLM-L6-v2 encoder that do matmul work per token: its 22.7 M
# less the 11.9 M of embedding tables, which are only looked up.
BUNDLED_COMPUTE_PARAMETERS = 10_700_000
# Calibration of 6 x parameters x tokens (which leaves out attention and the optimizer) against
# the measured 1024x1024 matmul rate. Calibrated on the SMS spam set (5,574 rows, 2 epochs,
# MiniLM): `tunechat train` took 188 s end to end on 2 idle cores measuring about 138 GFLOP/s;
# this value estimates 197 s.
CPU_EFFICIENCY = 1.0
# Length-grouped batches are padded only to their longest text: about 10% above the mean length.
PADDING_FACTOR = 1.1
# The matmul measurement is redone after this many seconds, so a reading taken while the machine
# was busy does not stick.
GFLOPS_CACHE_SECONDS = 600
# Fixed cost of a run: starting the process, loading the model, evaluating the splits.
OVERHEAD_SECONDS = 25.0


def machine_gflops(cache_dir: Path | None = None) -> float:
    """Measure this machine's float32 matmul throughput once, and cache it in the workspace."""
    cache = (cache_dir / "machine.json") if cache_dir else None
    if cache and cache.exists():
        try:
            cached = json.loads(cache.read_text())
            if time.time() - float(cached["measured_at"]) < GFLOPS_CACHE_SECONDS:
                return float(cached["gflops"])
        except (ValueError, KeyError):
            pass
    import torch

    size = 1024
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):  # the first calls pay for starting the thread pool
        torch.mm(a, b)
    repeats = 10
    start = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    seconds = time.perf_counter() - start
    gflops = 2 * size**3 * repeats / seconds / 1e9
    if cache:
        from trainer.core.fileio import atomic_write_json

        atomic_write_json(cache, {"gflops": gflops, "cpus": os.cpu_count(), "measured_at": time.time()})
    return gflops


def propose(report: dict[str, Any], user: dict[str, Any] | None = None, *, gflops: float | None = None) -> dict:
    """Return a plan: the resolved config, a reason per choice, and a time estimate.

    `report` is what trainer.inspection.report.inspect_file returned for the data; `user` holds what the
    user asked for, which always wins over what is proposed here.
    """
    rows = int(report.get("usable_rows") or report.get("rows") or 0)
    p95_tokens = int((report.get("length_tokens") or {}).get("p95") or 64)
    mean_tokens = float((report.get("length_tokens") or {}).get("mean") or p95_tokens / 2)
    num_classes = int(report.get("num_classes") or 2)
    pair_column = report.get("text_pair_column") or ""
    if pair_column:
        # The lengths are measured on the first text; a pair is read as one input of both texts.
        p95_tokens, mean_tokens = 2 * p95_tokens, 2 * mean_tokens

    proposed: dict[str, Any] = {
        "data": report.get("path") or report.get("file"),
        "text_column": report.get("text_column"),
        "label_column": report.get("label_column"),
        "text_pair_column": pair_column,
    }
    reasons: dict[str, str] = {}

    proposed["model"] = BUNDLED_MODEL
    reasons["model"] = "all-MiniLM-L6-v2 is small (22 M parameters), pretrained on sentences and trains fast on a CPU."

    if rows < 1000:
        proposed["epochs"] = 4
        reasons["epochs"] = f"{rows} rows is small, so a few more passes help the new classification head settle."
    elif rows < 20000:
        proposed["epochs"] = 2
        reasons["epochs"] = (
            f"With {rows} rows, two passes reach a good fit on a pretrained encoder without overfitting."
        )
    else:
        proposed["epochs"] = 1
        reasons["epochs"] = f"{rows} rows give enough steps in one pass and keep the run short on this machine."

    proposed["learning_rate"] = 1e-4
    reasons["learning_rate"] = (
        "Small encoders like MiniLM fine-tune well at 1e-4, higher than the 2e-5 used for BERT-base."
    )

    batch_and_length(rows, p95_tokens, bool(pair_column), proposed, reasons)

    small_classes = min((entry["count"] for entry in report.get("labels", [])), default=rows)
    proposed["val_fraction"], proposed["test_fraction"] = 0.1, 0.1
    reasons["split"] = (
        f"80/10/10, stratified with seed 42, so each of the {num_classes} classes (smallest: {small_classes} rows) "
        "appears in every split."
    )

    propose_patience(proposed, reasons, user)
    config = resolve_config(proposed, user)
    chosen = {key: value for key, value in (user or {}).items() if value is not None}
    for key in chosen:
        reasons[key] = "You asked for this."

    train_rows = rows * (1 - config.val_fraction - config.test_fraction)
    estimate = estimate_seconds(
        train_rows=train_rows,
        eval_rows=rows - train_rows,
        epochs=config.epochs,
        tokens_per_row=min(mean_tokens * PADDING_FACTOR, config.max_length),
        gflops=gflops if gflops is not None else machine_gflops(),
        parameters=BUNDLED_COMPUTE_PARAMETERS if config.model == BUNDLED_MODEL else None,
    )
    return {
        "config": config.to_dict(),
        "reasons": reasons,
        "docs": {name: field_doc(name) for name in ("epochs", "learning_rate", "batch_size", "max_length")},
        "estimate_seconds": estimate,
        "rows": rows,
    }


def estimate_seconds(
    *,
    train_rows: float,
    eval_rows: float,
    epochs: float,
    tokens_per_row: float,
    gflops: float,
    parameters: int | None,
) -> float | None:
    """Wall-clock estimate of a run; None for a model whose size is unknown before loading it."""
    if parameters is None:
        return None
    train_tokens = train_rows * epochs * tokens_per_row
    eval_tokens = eval_rows * tokens_per_row * (epochs + 1)  # validation per epoch, then the test
    flops = 6 * parameters * train_tokens + 2 * parameters * eval_tokens
    return OVERHEAD_SECONDS + flops / (gflops * 1e9 * CPU_EFFICIENCY)


def batch_and_length(
    rows: int, p95_tokens: int, pairs: bool, proposed: dict[str, Any], reasons: dict[str, str]
) -> None:
    """Batch size and max length of an encoder run (classifier or regressor), each with its reason."""
    proposed["batch_size"] = 16 if rows < 500 else 32
    reasons["batch_size"] = (
        "Small data: 16 gives more optimizer steps."
        if rows < 500
        else "32 uses the CPU well and keeps gradients stable."
    )
    # Twice the power of two above the 95th percentile: batches are padded only to their longest
    # text, so a roomy cap costs little and keeps the long tail (where spam often hides) whole.
    max_length = min(512, max(32, 2 << (max(p95_tokens, 16) - 1).bit_length()))
    proposed["max_length"] = max_length
    measured = f"pairs of texts (twice the first text's {p95_tokens // 2})" if pairs else "texts"
    reasons["max_length"] = (
        f"95% of {measured} are at most {p95_tokens} tokens; {max_length} keeps longer ones whole at little cost, "
        "since each batch is padded only to its longest text."
    )
