"""`tunechat search`: a hyperparameter search in the foreground, one line per trial, resumable by its name."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from ui.cli.common import context, emit


def _params(text: str | None) -> list[str] | None:
    """--params learning_rate,epochs -> ["learning_rate", "epochs"]; the aliases of the train flags work too."""
    if not text:
        return None
    aliases = {"lr": "learning_rate", "warmup": "warmup_ratio", "freeze": "freeze_layers", "rank": "lora_r"}
    names = [name.strip().replace("-", "_") for name in text.split(",") if name.strip()]
    return [aliases.get(name, name) for name in names]


def _progress(record: dict[str, Any]) -> None:
    kind, trial = record["event"], record.get("trial")
    if kind == "trial_started":
        settings = ", ".join(
            f"{key} {value:.3g}" if isinstance(value, float) else f"{key} {value}"
            for key, value in record["params"].items()
        )
        print(f"trial {trial}: run {record['run_id']} with {settings}", file=sys.stderr)
    elif kind == "trial_reported":
        print(f"trial {trial}: evaluation {record['step']}: {record['value']:.4f}", file=sys.stderr)
    elif kind in ("trial_finished", "trial_pruned"):
        print(f"trial {trial}: {kind.removeprefix('trial_')} at {record['value']:.4f}", file=sys.stderr)
    elif kind == "trial_failed":
        print(f"trial {trial}: failed: {record['error']}", file=sys.stderr)


def cmd_search(args: argparse.Namespace) -> int:
    from tools.launch import launch_plan
    from tools.search_tools import budget_words, search_settings
    from trainer.core.processes import process_alive
    from trainer.search.study import check_name, new_name, run_study
    from ui.cli.training import _settings
    from ui.render.search import render_search

    ctx = context()
    name = check_name(args.name) if args.name else new_name(ctx.registry)
    study = ctx.registry.get_study(name)
    if study is None:
        if not args.data:
            raise UserError("Name the data to search on with --data FILE (or --name an earlier search to resume it).")
        path = ctx.workspace.import_file(Path(args.data))
        named = {key: value for key, value in _settings(args).items() if value is not None}
        settings = search_settings(
            ctx, path.name, trials=args.trials, minutes=args.minutes, params=_params(args.params), **named
        )
        ctx.registry.create_study(name, settings)
    else:
        pid = study.get("pid")
        if study["status"] == "running" and pid and pid != os.getpid() and process_alive(int(pid), ("search",)):
            raise UserError(f"{name} is running in another process (pid {pid}); wait for it or stop that process.")
        settings = study["settings"]
        print(f"Resuming {name}.", file=sys.stderr)
    if not args.json:
        print(f"{name}: {budget_words(settings)} for the best validation {settings['metric']}.", file=sys.stderr)
    result = run_study(
        ctx.workspace,
        ctx.registry,
        name,
        lambda config, registered: int(launch_plan(ctx, config, registered=registered)["run_id"]),
        event=None if args.json else _progress,
    )
    emit(args, result, render_search)
    return 0
