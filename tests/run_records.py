"""Run records and served processes as the confirmation tests set them up and look for them."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path
from typing import Any

from agent.assistant import Assistant
from trainer.plan.config import RunConfig


def make_run(assistant: Assistant, model: Path | None, status: str = "succeeded", data: str = "reviews.tsv") -> int:
    """A registry row and a run folder as the worker leaves them (model/ copied from a real fine-tune)."""
    config = RunConfig(data=data, text_column="text", label_column="label", max_length=32)
    run_id = assistant.registry.create_run(config.to_dict())
    run_dir = assistant.workspace.run_dir(run_id)
    run_dir.mkdir(parents=True)
    config.save(run_dir / "config.json")
    if model is not None:
        shutil.copytree(model, run_dir / "model")
    assistant.registry.update_run(run_id, status=status, run_dir=str(run_dir))
    return run_id


def server_processes(run_dir: Path) -> list[int]:
    """Live processes serving `run_dir` (found in /proc, not through tunechat's own bookkeeping)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and b"trainer.serve" in command and str(run_dir).encode() in command:
            found.append(int(proc.name))
    return found


def health(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=10) as response:
        return dict(json.loads(response.read()))


# Few, short steps; no evaluation or checkpoint inside the run (the final evaluation still runs).
QUICK_LLM = {"batch_size": 8, "max_length": 64, "save_steps": 1000, "val_fraction": 0.25}


def train_llm_here(settings: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """A causal-LM run (QUICK_LLM under `settings`) created in the environment's workspace and trained in this
    process, the worker's own entry point; its folder and evaluation.json."""
    from tools.context import ToolContext
    from trainer.backends import local
    from trainer.core.fileio import read_json
    from trainer.plan.config import resolve_config
    from trainer.tasks.causal_lm.train import train_llm_run

    ctx = ToolContext.from_env()
    config = resolve_config({**QUICK_LLM, **settings})
    run_id = local.create_run(ctx.workspace, ctx.registry, config)
    run_dir = ctx.workspace.run_dir(run_id)
    result = train_llm_run(run_dir, ctx.registry, run_id)
    assert result["status"] == "succeeded", result
    return run_dir, dict(read_json(run_dir / "evaluation.json"))
