"""The Trainer callback of a causal-LM run: metrics.jsonl (loss, learning rate, grad norm, tokens/s, ETA),
progress.json and the registry row; SIGTERM becomes save-a-checkpoint-and-stop."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from trainer.store.registry import Registry
from trainer.tasks.progress import ProgressWriter


class StopRequest:
    """Set by the SIGTERM handler; honoured at the next step boundary, after a checkpoint is saved."""

    def __init__(self) -> None:
        self.requested = False


def perplexity(loss: float) -> float | None:
    return round(math.exp(loss), 3) if loss < 50 else None


class RunCallback(TrainerCallback):
    """Streams metrics.jsonl, progress.json and the registry row; turns SIGTERM into save-and-stop."""

    def __init__(self, run_dir: Path, registry: Registry, run_id: int, stop: StopRequest, progress: ProgressWriter):
        self.metrics_path = run_dir / "metrics.jsonl"
        self.registry, self.run_id, self.stop, self.progress = registry, run_id, stop, progress
        self.started = time.monotonic()
        self.first_step = 0
        self.last_tokens: tuple[float, int] | None = None

    def _eta(self, state: Any) -> float | None:
        done = state.global_step - self.first_step
        if done <= 0:
            return None
        per_step = (time.monotonic() - self.started) / done
        return round(per_step * max(0, state.max_steps - state.global_step), 1)

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.started = time.monotonic()
        self.first_step = state.global_step
        self.last_tokens = (time.monotonic(), state.num_input_tokens_seen)
        if state.is_world_process_zero:
            self.progress.write(phase="training", step=state.global_step, total_steps=state.max_steps)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.stop.requested:
            control.should_save = True
            control.should_training_stop = True
            control.should_evaluate = False
        elif state.is_world_process_zero and time.monotonic() - self.progress.last_write >= 1.0:
            self.progress.write(step=state.global_step, total_steps=state.max_steps, eta_s=self._eta(state))

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        logs = logs or {}
        epoch = round(float(state.epoch or 0.0), 4)
        record: dict[str, Any] = {"step": state.global_step, "total_steps": state.max_steps, "epoch": epoch}
        if "loss" in logs:
            now, tokens = time.monotonic(), int(state.num_input_tokens_seen)
            speed = None
            if self.last_tokens and now > self.last_tokens[0] and tokens > self.last_tokens[1]:
                speed = round((tokens - self.last_tokens[1]) / (now - self.last_tokens[0]), 1)
            self.last_tokens = (now, tokens)
            grad_norm = logs.get("grad_norm")
            record.update(
                loss=float(logs["loss"]),
                learning_rate=float(logs.get("learning_rate", 0.0)),
                grad_norm=float(grad_norm) if grad_norm is not None else None,
                tokens_per_s=speed,
                tokens_seen=tokens,
                elapsed_s=round(time.monotonic() - self.started, 1),
                eta_s=self._eta(state),
            )
            for key in ("rewards/accuracies", "rewards/margins"):
                if key in logs:
                    record[key.replace("/", "_")] = float(logs[key])
            self.progress.write(step=state.global_step, total_steps=state.max_steps, epoch=epoch, loss=record["loss"])
            self.progress.write(eta_s=record["eta_s"])
            self.registry.update_run(self.run_id, metrics={k: v for k, v in record.items() if k != "total_steps"})
        elif "eval_loss" in logs:
            loss = float(logs["eval_loss"])
            record.update(eval_loss=loss, perplexity=perplexity(loss))
        else:
            return
        with self.metrics_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
