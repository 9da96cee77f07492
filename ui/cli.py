"""The `tunechat` command: every chat action as one command, calling the same tool functions."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from trainer.errors import UserError


def _context(session_id: str | None = None) -> Any:
    from tools.context import ToolContext

    return ToolContext.from_env(session_id=session_id, allow_any_model_path=True)


def _emit(args: argparse.Namespace, result: dict[str, Any], render: Callable[[dict[str, Any]], str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(result, default=str))
    else:
        print(render(result))


def cmd_inspect(args: argparse.Namespace) -> int:
    from agent.render import render_inspection
    from tools.data_tools import inspect_data

    ctx = _context()
    path = ctx.workspace.import_file(Path(args.file))
    report = inspect_data(ctx, path.name, text_column=args.text_column, label_column=args.label_column)
    _emit(args, report, render_inspection)
    return 0


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "model": args.model,
        "epochs": args.epochs,
        "learning_rate": args.lr,
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "freeze_layers": args.freeze_layers,
        "text_column": args.text_column,
        "label_column": args.label_column,
    }


def cmd_train(args: argparse.Namespace) -> int:
    from agent.render import render_evaluation, render_plan
    from tools.data_tools import propose_plan
    from tools.run_tools import evaluate_run, launch_plan
    from trainer.config import resolve_config

    ctx = _context()
    if args.config:
        config_layers = [json.loads(Path(args.config).read_text(encoding="utf-8"))]
        data = args.data or config_layers[0].get("data")
        if not data:
            raise UserError("The config names no data file; add --data FILE.")
        config_layers[0]["data"] = str(ctx.workspace.import_file(Path(data)))
        settings = {k: v for k, v in _settings(args).items() if v is not None}
        config = resolve_config(*config_layers, settings).to_dict()
        plan: dict[str, Any] = {"config": config, "estimate_seconds": None}
    else:
        if not args.data:
            raise UserError("Name the data to train on with --data FILE (or give --config runs/<id>/config.json).")
        path = ctx.workspace.import_file(Path(args.data))
        plan = propose_plan(ctx, path.name, **_settings(args))
        if not args.json:
            print(render_plan(plan), file=sys.stderr)
    started = launch_plan(ctx, plan["config"], plan.get("estimate_seconds"))
    run_id = started["run_id"]
    print(f"Run {run_id} started; its folder is {ctx.workspace.run_dir(run_id)}", file=sys.stderr)
    final = _follow_with_progress_bar(ctx, run_id, quiet=args.json)
    if final["status"] != "succeeded":
        raise UserError(f"Run {run_id} {final['status']}: {final.get('error') or 'see train.log in its folder'}")
    evaluation = evaluate_run(ctx, run_id)
    result = {"run_id": run_id, "status": final["status"], **evaluation}
    result["run_id"] = run_id
    _emit(args, result, lambda r: f"Run {run_id} succeeded.\n\n" + render_evaluation(r))
    return 0


def _follow_with_progress_bar(ctx: Any, run_id: int, quiet: bool) -> dict[str, Any]:
    from tqdm import tqdm

    from trainer import runner

    bar = tqdm(total=None, unit="step", disable=quiet, file=sys.stderr, desc=f"run {run_id}")

    def on_progress(status: dict[str, Any]) -> None:
        total, step = status.get("total_steps"), status.get("step")
        if total and bar.total != total:
            bar.total = total
        if step is not None and step > bar.n:
            bar.update(step - bar.n)
        postfix = {k: status[k] for k in ("phase", "loss") if status.get(k) is not None}
        if postfix:
            bar.set_postfix(postfix, refresh=False)
        bar.refresh()

    try:
        return runner.follow(ctx.workspace, ctx.registry, run_id, on_progress=on_progress)
    except KeyboardInterrupt:
        bar.close()
        print(f"\nStopping run {run_id}…", file=sys.stderr)
        return runner.stop_run(ctx.workspace, ctx.registry, run_id)
    finally:
        bar.close()


def cmd_runs(args: argparse.Namespace) -> int:
    from agent.render import render_runs
    from tools.run_tools import list_runs

    _emit(args, list_runs(_context()), lambda r: render_runs(r["runs"]))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from agent.render import render_evaluation
    from tools.run_tools import evaluate_run

    result = evaluate_run(_context(), args.run)
    _emit(args, result, lambda r: render_evaluation(r) + f"\n\nConfusion matrix: {r.get('confusion_matrix_png')}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from agent.render import render_status
    from tools.run_tools import run_status

    _emit(args, run_status(_context(), args.run), render_status)
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from agent.render import render_status
    from tools.run_tools import stop_run

    _emit(args, stop_run(_context(), args.run), render_status)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from agent.render import render_comparison
    from tools.run_tools import compare_runs

    result = compare_runs(_context(), args.runs)
    _emit(args, result, lambda r: render_comparison(r) + f"\n\nLoss curves: {r.get('plot')}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from trainer.serving import serve_forever

    ctx = _context()
    run = ctx.registry.get_run(args.run)
    if run["status"] != "succeeded":
        raise UserError(f"Run {args.run} is {run['status']}; only a run that succeeded can be served.")
    serve_forever(ctx.workspace.run_dir(args.run), args.host, args.port)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from ui.terminal import chat

    return chat(args.message, session_id=args.session, files=args.file or [])


def cmd_ui(args: argparse.Namespace) -> int:
    from ui.web import launch

    launch(host=args.host, port=args.port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tunechat", description="Fine-tune models by talking to an assistant, or one command at a time."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ui", help="start the chat in the browser")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860)
    p.set_defaults(func=cmd_ui)

    p = sub.add_parser("chat", help="the same assistant in the terminal")
    p.add_argument("message", nargs="?", help="one message; without it, an interactive chat")
    p.add_argument("--session", default=None, help="session id to continue (default: the terminal session)")
    p.add_argument("--file", action="append", help="a data file to drop into the chat (repeatable)")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("inspect", help="profile a data file")
    p.add_argument("file")
    p.add_argument("--text-column")
    p.add_argument("--label-column")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("train", help="fine-tune in the foreground with a progress bar")
    p.add_argument("--data", help="CSV, TSV or JSONL file of labelled texts")
    p.add_argument("--config", help="a run's config.json to reproduce (flags override it)")
    p.add_argument("--model", help="base model: Hugging Face id or local folder (default all-MiniLM-L6-v2)")
    p.add_argument("--epochs", type=float)
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--max-length", type=int)
    p.add_argument("--freeze-layers", type=int, help="keep the encoder's lowest N layers frozen")
    p.add_argument("--text-column")
    p.add_argument("--label-column")
    p.add_argument("--json", action="store_true", help="print one JSON object with run_id and test metrics")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("runs", help="list runs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("status", help="a run's status and progress")
    p.add_argument("run", type=int, nargs="?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("stop", help="stop a running run")
    p.add_argument("run", type=int, nargs="?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stop)

    p = sub.add_parser("eval", help="a run's test-split evaluation")
    p.add_argument("run", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("compare", help="compare runs: configs, metrics, loss curves")
    p.add_argument("runs", type=int, nargs="+")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("serve", help="serve a run's model over HTTP (POST /predict)")
    p.add_argument("run", type=int)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
