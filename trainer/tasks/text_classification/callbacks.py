"""The Trainer callback of an encoder run (classification, regression): metrics.jsonl, progress.json, and a
clean stop on request."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from trainer.store.registry import Registry
from trainer.tasks.progress import ProgressWriter
from trainer.tasks.run_guard import StopFlag

# progress.json is rewritten at most this often between log lines (seconds).
PROGRESS_INTERVAL_S = 1.0


class RunCallback(TrainerCallback):
    """Streams metrics.jsonl and progress.json, and turns a stop request into a clean stop."""

    def __init__(self, run_dir: Path, registry: Registry, run_id: int, flag: StopFlag, progress: ProgressWriter):
        self.metrics_path = run_dir / "metrics.jsonl"
        self.registry = registry
        self.run_id = run_id
        self.flag = flag
        self.progress = progress
        self.started = time.monotonic()

    def _timing(self, state: Any) -> tuple[float, float | None]:
        elapsed = time.monotonic() - self.started
        if state.global_step <= 0:
            return elapsed, None
        per_step = elapsed / state.global_step
        return elapsed, round(per_step * max(0, state.max_steps - state.global_step), 1)

    def _append(self, record: dict[str, Any]) -> None:
        with self.metrics_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def _stop_if_requested(self, control: Any) -> None:
        if self.flag.requested:
            control.should_training_stop = True
            control.should_save = False
            control.should_evaluate = False

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.started = time.monotonic()
        self.registry.update_run(self.run_id, status="running")
        self.progress.write(phase="training", step=0, total_steps=state.max_steps)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._stop_if_requested(control)
        if time.monotonic() - self.progress.last_write >= PROGRESS_INTERVAL_S:
            _, eta = self._timing(state)
            self.progress.write(step=state.global_step, total_steps=state.max_steps, epoch=state.epoch, eta_s=eta)

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._stop_if_requested(control)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        logs = logs or {}
        elapsed, eta = self._timing(state)
        epoch = round(float(state.epoch or 0.0), 4)
        if "loss" in logs:
            record = {
                "step": state.global_step,
                "total_steps": state.max_steps,
                "epoch": epoch,
                "loss": float(logs["loss"]),
                "learning_rate": float(logs.get("learning_rate", 0.0)),
                "elapsed_s": round(elapsed, 1),
                "eta_s": eta,
            }
            self._append(record)
            self.progress.write(
                step=state.global_step, total_steps=state.max_steps, epoch=epoch, loss=record["loss"], eta_s=eta
            )
        elif "eval_loss" in logs:
            # Every validation number the task computes (accuracy and macro-F1, or RMSE and R²), not the timings.
            scores = {
                key: float(value)
                for key, value in logs.items()
                if key.startswith("eval_")
                and isinstance(value, int | float)
                and not key.endswith(("_runtime", "per_second"))
            }
            self._append({"step": state.global_step, "epoch": epoch, **scores})
