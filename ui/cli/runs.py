"""Run commands: list, status, stop, evaluate, compare and serve runs."""

from __future__ import annotations

import argparse
from typing import Any

from trainer.core.errors import UserError
from ui.cli.common import arg, context, emit

SERVE_FLAGS = (
    arg("run", type=int),
    arg("--host", default="127.0.0.1"),
    arg("--port", type=int, default=8000),
    arg(
        "--api-key", help="require 'Authorization: Bearer KEY' on every route but /health (default: $TUNECHAT_API_KEY)"
    ),
    arg("--no-batching", action="store_true", help="one forward pass per request (no dynamic batching)"),
)


def cmd_runs(args: argparse.Namespace) -> int:
    from tools.run_tools import list_runs
    from ui.render.runs import render_runs

    emit(args, list_runs(context()), lambda r: render_runs(r["runs"]))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from tools.run_tools import evaluate_run
    from ui.render.runs import render_evaluation

    result = evaluate_run(context(), args.run)
    emit(args, result, lambda r: render_evaluation(r) + _plot_line(r))
    return 0


def _plot_line(evaluation: dict[str, Any]) -> str:
    """Where the evaluation's plot is: the confusion matrix of a classifier, predicted vs true of a regression,
    the loss curves of a language model."""
    if evaluation.get("scatter_png"):
        return f"\n\nPredicted vs true: {evaluation['scatter_png']}"
    if not evaluation.get("confusion_matrix_png") and evaluation.get("loss_png"):
        return f"\n\nLoss curves: {evaluation['loss_png']}"
    return f"\n\nConfusion matrix: {evaluation.get('confusion_matrix_png')}"


def cmd_status(args: argparse.Namespace) -> int:
    from tools.run_tools import run_status
    from ui.render.runs import render_status

    emit(args, run_status(context(), args.run), render_status)
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from tools.run_tools import stop_run
    from ui.render.runs import render_status

    emit(args, stop_run(context(), args.run), render_status)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from tools.run_tools import compare_runs
    from ui.render.runs import render_comparison

    if args.explain:
        return _explain(args)
    result = compare_runs(context(), args.runs)
    emit(args, result, lambda r: render_comparison(r) + f"\n\nLoss curves: {r.get('plot')}")
    return 0


# The `tunechat train` flag of each setting a proposed next run may change.
TRAIN_FLAGS = {
    "epochs": "--epochs",
    "learning_rate": "--lr",
    "batch_size": "--batch-size",
    "max_length": "--max-length",
    "freeze_layers": "--freeze-layers",
}


def _explain(args: argparse.Namespace) -> int:
    """Why the better of two runs won; its next run is printed as the command that starts it (no chat, no yes)."""
    from tools.explain_tools import explain_comparison
    from ui.render.explain import render_explanation

    ctx = context()
    result = explain_comparison(ctx, args.runs, propose=False)
    proposal = result.get("next_run") or {}
    changes = proposal.get("changes") or {}
    if changes and set(changes) <= set(TRAIN_FLAGS):
        config = ctx.workspace.run_dir(int(proposal["like_run"])) / "config.json"
        flags = " ".join(f"{TRAIN_FLAGS[key]} {value}" for key, value in changes.items())
        result["command"] = f"tunechat train --config {config} {flags}"

    def render(r: dict[str, Any]) -> str:
        text = render_explanation(r) + f"\n\nLoss curves: {r.get('plot')}"
        return text + (f"\n\nStart the next run: `{r['command']}`" if r.get("command") else "")

    emit(args, result, render)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from trainer.serve.options import options_from_args
    from trainer.serve.server import serve_run

    ctx = context()
    run = ctx.registry.get_run(args.run)
    if run["status"] != "succeeded":
        raise UserError(f"Run {args.run} is {run['status']}; only a run that succeeded can be served.")
    serve_run(ctx.workspace.run_dir(args.run), args.host, args.port, options_from_args(args))
    return 0
