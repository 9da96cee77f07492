"""compare_runs on run folders written here as the training worker leaves them (real SQLite, real PNG)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trainer.core.errors import UserError
from trainer.core.fileio import atomic_write_json
from trainer.core.workspace import Workspace
from trainer.evaluate.compare import compare_runs
from trainer.plan.config import FIELD_NAMES, RunConfig
from trainer.store.registry import Registry

# matplotlib's first three default line colours: one per run on the shared plot.
RUN_COLOURS = [(0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E), (0x2C, 0xA0, 0x2C)]


def add_run(
    ws: Workspace,
    registry: Registry,
    status: str,
    losses: list[float],
    metrics: dict[str, Any] | None = None,
    evaluation: dict[str, Any] | None = None,
    **settings: Any,
) -> int:
    config = RunConfig(data="uploads/reviews.tsv", text_column="text", label_column="label", **settings)
    run_id = registry.create_run(config.to_dict())
    run_dir = ws.run_dir(run_id)
    run_dir.mkdir(parents=True)
    config.save(run_dir / "config.json")
    lines: list[dict[str, Any]] = []
    for step, loss in enumerate(losses, start=1):
        lines.append({"step": step, "total_steps": 10, "epoch": step / 10, "loss": loss, "elapsed_s": 2.0 * step})
        if step % 2 == 0:  # eval lines carry eval_loss, not loss, and must stay off the training curve
            lines.append({"step": step, "epoch": step / 10, "eval_loss": 9.0, "eval_accuracy": 0.5})
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    if evaluation is not None:
        atomic_write_json(run_dir / "evaluation.json", evaluation)
    registry.update_run(run_id, status=status, run_dir=str(run_dir), metrics=metrics)
    return run_id


def test_compare_marks_differences_fills_metrics_and_plots_every_curve(ws_registry: tuple[Workspace, Registry]) -> None:
    ws, registry = ws_registry
    baseline = {"label": "pos", "accuracy": 0.5, "macro_f1": 0.33}
    first = add_run(
        ws,
        registry,
        "succeeded",
        [0.70, 0.60, 0.50, 0.40],
        metrics={  # the registry row as trainer.tasks.text_classification.train writes it
            "accuracy": 0.9,
            "macro_f1": 0.88,
            "baseline_accuracy": 0.5,
            "baseline_macro_f1": 0.33,
            "final_loss": 0.41,
            "train_seconds": 30.0,
        },
    )
    # Metrics only in evaluation.json (registry row has none): the fallback.
    second = add_run(
        ws,
        registry,
        "succeeded",
        [0.70, 0.50, 0.30, 0.20],
        evaluation={"accuracy": 0.95, "macro_f1": 0.94, "baseline": baseline, "labels": ["neg", "pos"]},
        learning_rate=1e-4,
    )
    running = add_run(ws, registry, "running", [0.70, 0.65], epochs=5.0)

    result = compare_runs(ws, registry, [first, second, running])

    assert result["run_ids"] == [first, second, running]
    rows = {row["field"]: row for row in result["config_rows"]}
    assert [row["field"] for row in result["config_rows"]] == list(FIELD_NAMES)
    assert rows["learning_rate"] == {"field": "learning_rate", "values": [5e-5, 1e-4, 5e-5], "differs": True}
    assert rows["epochs"]["values"] == [3.0, 3.0, 5.0] and rows["epochs"]["differs"] is True
    assert {name for name, row in rows.items() if row["differs"]} == {"learning_rate", "epochs"}

    metrics = {row["metric"]: row["values"] for row in result["metric_rows"]}
    assert metrics["accuracy"] == [0.9, 0.95, None]
    assert metrics["macro_f1"] == [0.88, 0.94, None]
    assert metrics["baseline"] == [0.5, 0.5, None]
    assert metrics["final_loss"] == [0.41, 0.20, 0.65]  # registry value, else the last logged training loss
    assert metrics["train_seconds"] == [30.0, 8.0, None]  # the log's elapsed time stands in for a finished run only
    assert result["best_run"] == second
    assert any(f"Run {running} is still running" in note for note in result["notes"])

    plot = Path(result["plot"])
    assert plot == ws.root / "comparisons" / f"compare-{first}-{second}-{running}.png"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    pixels = (matplotlib.image.imread(plot)[..., :3] * 255).round().astype(int)
    for colour in RUN_COLOURS:  # one line per run, the running run's partial curve included
        assert np.all(np.abs(pixels - np.array(colour)) <= 2, axis=-1).sum() > 20, f"no line in colour {colour}"


def test_compare_needs_two_distinct_known_runs(ws_registry: tuple[Workspace, Registry]) -> None:
    ws, registry = ws_registry
    run_id = add_run(ws, registry, "succeeded", [0.5], metrics={"accuracy": 1.0, "macro_f1": 1.0})
    for ids in ([run_id], [run_id, run_id], []):
        with pytest.raises(UserError, match="at least two different run ids"):
            compare_runs(ws, registry, ids)
    with pytest.raises(UserError, match="There is no run 42"):
        compare_runs(ws, registry, [run_id, 42])
    assert not (ws.root / "comparisons").exists()


def test_compare_runs_that_have_not_trained_yet(ws_registry: tuple[Workspace, Registry]) -> None:
    ws, registry = ws_registry
    queued = add_run(ws, registry, "queued", [])
    failed = add_run(ws, registry, "failed", [0.9, 0.8], batch_size=8)

    result = compare_runs(ws, registry, [queued, failed])

    assert result["best_run"] is None
    others = [row["values"] for row in result["metric_rows"] if row["metric"] != "final_loss"]
    assert others == [[None, None]] * 4
    assert next(row for row in result["metric_rows"] if row["metric"] == "final_loss")["values"] == [None, 0.8]
    assert [row["field"] for row in result["config_rows"] if row["differs"]] == ["batch_size"]
    assert any(f"Run {queued} has not started training yet" in note for note in result["notes"])
    assert any(f"Run {failed} failed" in note for note in result["notes"])
    assert Path(result["plot"]).read_bytes()[:4] == b"\x89PNG"
