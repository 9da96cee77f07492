"""Finished runs written the way the training worker leaves them (config.json, metrics.jsonl, the registry row with
test metrics), for the rooms' tests: no training, so a comparison is there in milliseconds."""

from __future__ import annotations

import json
from typing import Any

from trainer.core.workspace import Workspace
from trainer.plan.config import RunConfig
from trainer.store.registry import Registry


def finished_run(
    ws: Workspace,
    registry: Registry,
    losses: list[float],
    macro_f1: float,
    session_id: str | None = None,
    **settings: Any,
) -> int:
    """A succeeded text-classification run with its loss curve (a validation line every other step, which must stay
    off the training curve) and its test metrics."""
    config = RunConfig(data="uploads/reviews.tsv", text_column="text", label_column="label", **settings)
    run_id = registry.create_run(config.to_dict(), session_id=session_id)
    run_dir = ws.run_dir(run_id)
    run_dir.mkdir(parents=True)
    config.save(run_dir / "config.json")
    lines: list[dict[str, Any]] = []
    for step, loss in enumerate(losses, start=1):
        lines.append({"step": step, "total_steps": len(losses), "epoch": step / 2, "loss": loss, "elapsed_s": step})
        if step % 2 == 0:
            lines.append({"step": step, "epoch": step / 2, "eval_loss": 9.0, "eval_macro_f1": 0.5})
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    metrics = {"accuracy": macro_f1 + 0.02, "macro_f1": macro_f1, "baseline_accuracy": 0.5, "final_loss": losses[-1]}
    registry.update_run(run_id, status="succeeded", run_dir=str(run_dir), metrics=metrics)
    return run_id
