"""The `tunechat` command: every chat action as one command, calling the same tool functions."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agent.backends import FLAGS, KINDS
from trainer.backends.registry import backend_names
from trainer.core.errors import UserError
from trainer.tasks.registry import task_names


def _context(session_id: str | None = None) -> Any:
    from tools.context import ToolContext

    return ToolContext.from_env(session_id=session_id, allow_any_model_path=True)


def _emit(args: argparse.Namespace, result: dict[str, Any], render: Callable[[dict[str, Any]], str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(result, default=str))
    else:
        print(render(result))


def cmd_inspect(args: argparse.Namespace) -> int:
    from tools.data_tools import inspect_data
    from ui.render import render_inspection

    ctx = _context()
    columns = {"text_column": args.text_column, "label_column": args.label_column, "task": args.task}
    if Path(args.file).is_dir() or args.model or args.max_length:
        # A folder (Hugging Face save_to_disk, one folder per class) is read in place; a named model's
        # tokenizer gives the token lengths.
        from trainer.inspection.report import inspect_file

        source = Path(args.file) if Path(args.file).is_dir() else ctx.workspace.import_file(Path(args.file))
        report = inspect_file(source, model=args.model, max_length=args.max_length, **columns)
    else:
        path = ctx.workspace.import_file(Path(args.file))
        report = inspect_data(ctx, path.name, **columns)
    _emit(args, report, render_inspection)
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from tools.data_tools import prepare_data
    from ui.render import render_prepared

    ctx = _context()
    options = {
        "task": args.task,
        "dedupe": args.dedupe,
        "split": args.split,
        "to": args.to,
        "text_column": args.text_column,
        "label_column": args.label_column,
    }
    if Path(args.file).is_dir():
        from trainer.data.prepare import prepare_dataset

        manifest = prepare_dataset(Path(args.file), ctx.workspace, **options)
    else:
        path = ctx.workspace.import_file(Path(args.file))
        manifest = prepare_data(ctx, path.name, **options)
    _emit(args, manifest, render_prepared)
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
        **({"method": args.method} if getattr(args, "method", None) else {}),
        **({"task": args.task} if getattr(args, "task", None) else {}),
    }


def cmd_train(args: argparse.Namespace) -> int:
    from tools.data_tools import plan_training
    from tools.launch import launch_plan
    from tools.run_tools import evaluate_run
    from trainer.backends.registry import hosted_for
    from trainer.plan.config import resolve_config
    from ui.render import render_evaluation, render_plan

    if hosted_for(args.backend, args.model) is not None:
        return cmd_train_hosted(args)
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
        # The plan shown here is the one launched below: this command is the user's own go.
        plan = plan_training(ctx, path.name, **_settings(args)).to_dict()
        if not args.json:
            print(render_plan(plan), file=sys.stderr)
    started = launch_plan(ctx, plan["config"], plan.get("estimate_seconds"))
    run_id = started["run_id"]
    print(f"Run {run_id} started; its folder is {ctx.workspace.run_dir(run_id)}", file=sys.stderr)
    final = _follow_with_progress_bar(ctx, run_id, quiet=args.json)
    if final["status"] != "succeeded":
        raise UserError(f"Run {run_id} {final['status']}: {final.get('error') or 'see train.log in its folder'}")
    evaluation = evaluate_run(ctx, run_id)
    if "accuracy" not in evaluation:  # a language model: losses and sample replies
        evaluation["run_id"] = run_id
        _emit(args, {"status": final["status"], **evaluation}, _render_llm_result)
        return 0
    result = {"run_id": run_id, "status": final["status"], **evaluation}
    result["run_id"] = run_id
    _emit(args, result, lambda r: f"Run {run_id} succeeded.\n\n" + render_evaluation(r))
    return 0


def _render_llm_result(result: dict[str, Any]) -> str:
    lines = [f"Run {result['run_id']} succeeded ({result.get('task')}, {result.get('method')})."]
    first, final = result.get("first_loss"), result.get("final_loss")
    lines.append(f"Training loss {first} -> {final} in {result.get('steps')} steps.")
    if result.get("eval_loss") is not None:
        lines.append(f"Validation loss {result['eval_loss']:.4f}, perplexity {result.get('perplexity')}.")
    samples = result.get("samples") or {}
    for prompt, before, after in zip(
        samples.get("prompts", []), samples.get("before", []), samples.get("after", []), strict=False
    ):
        lines.append(f"- {prompt[-1].get('content') if prompt else ''!r}: before {before!r} / after {after!r}")
    return "\n".join(lines)


def cmd_resume(args: argparse.Namespace) -> int:
    from trainer.backends.runs import resume_run

    ctx = _context()
    resume_run(ctx.workspace, ctx.registry, args.run)
    print(f"Run {args.run} resumed from its newest complete checkpoint.", file=sys.stderr)
    final = _follow_with_progress_bar(ctx, args.run, quiet=args.json)
    if final["status"] != "succeeded":
        raise UserError(f"Run {args.run} {final['status']}: {final.get('error') or 'see train.log in its folder'}")
    _emit(args, {"run_id": args.run, **final}, lambda r: f"Run {args.run} succeeded after resuming.")
    return 0


def cmd_train_hosted(args: argparse.Namespace) -> int:
    """Plan a hosted job, ask (or take --yes), upload and create it, then follow it to the end."""
    from tools.hosted_tools import confirm_hosted_job, plan_hosted_job
    from tools.run_tools import evaluate_run
    from ui.render import render_evaluation, render_hosted_plan

    if not args.data:
        raise UserError("Name the data to fine-tune on with --data FILE.")
    ctx = _context()
    path = ctx.workspace.import_file(Path(args.data))
    plan = plan_hosted_job(
        ctx,
        path.name,
        args.backend,
        model=args.model,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate_multiplier=args.lr_multiplier,
        suffix=args.suffix,
        text_column=args.text_column,
        label_column=args.label_column,
    )
    print(render_hosted_plan(plan), file=sys.stderr)
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserError(
                "Nothing was uploaded: the OpenAI job costs money and this input cannot confirm it; "
                "run the command again with --yes to accept the plan above."
            )
        answer = input("Upload the files and start this OpenAI job? [y/N] ").strip().lower()
        if answer not in ("y", "yes", "go"):
            print("Nothing was uploaded.", file=sys.stderr)
            return 1
    started = confirm_hosted_job(ctx, plan["plan_id"])
    run_id = started["run_id"]
    print(
        f"Run {run_id}: OpenAI job {started['job_id']} created; following it (Ctrl-C cancels the job).", file=sys.stderr
    )
    final = _follow_hosted(ctx, run_id, quiet=args.json)
    if final["status"] != "succeeded":
        raise UserError(f"Run {run_id} {final['status']}: {final.get('error') or 'see follow.log in its folder'}")
    result: dict[str, Any] = {
        "run_id": run_id,
        "status": "succeeded",
        "fine_tuned_model": final.get("fine_tuned_model"),
    }
    if (ctx.registry.get_run(run_id)["metrics"] or {}).get("accuracy") is not None:  # a classifier was evaluated
        result.update(evaluate_run(ctx, run_id))
        result["run_id"] = run_id
    _emit(
        args,
        result,
        lambda r: (
            f"Run {run_id} succeeded: {r['fine_tuned_model']}."
            + ("\n\n" + render_evaluation(r) if "accuracy" in r else "")
        ),
    )
    return 0


def _follow_hosted(ctx: Any, run_id: int, quiet: bool) -> dict[str, Any]:
    import os
    import time

    from trainer.backends import runs as runner

    shown = 0
    try:
        while True:
            status = runner.run_status(ctx.workspace, ctx.registry, run_id)
            events = status.get("events") or []
            if not quiet:
                for event in events[shown:]:
                    print(f"  [{status['status']}] {event.get('message')}", file=sys.stderr)
            shown = len(events)
            if status["status"] in ("succeeded", "failed", "cancelled"):
                return status
            time.sleep(min(2.0, float(os.environ.get("TUNECHAT_OPENAI_POLL_S") or 2.0)))
    except KeyboardInterrupt:
        print(f"\nCancelling the OpenAI job of run {run_id}…", file=sys.stderr)
        return runner.stop_run(ctx.workspace, ctx.registry, run_id)


def _follow_with_progress_bar(ctx: Any, run_id: int, quiet: bool) -> dict[str, Any]:
    from tqdm import tqdm

    from trainer.backends import runs as runner

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
    from tools.run_tools import list_runs
    from ui.render import render_runs

    _emit(args, list_runs(_context()), lambda r: render_runs(r["runs"]))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from tools.run_tools import evaluate_run
    from ui.render import render_evaluation

    result = evaluate_run(_context(), args.run)
    _emit(args, result, lambda r: render_evaluation(r) + f"\n\nConfusion matrix: {r.get('confusion_matrix_png')}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from tools.run_tools import run_status
    from ui.render import render_status

    _emit(args, run_status(_context(), args.run), render_status)
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from tools.run_tools import stop_run
    from ui.render import render_status

    _emit(args, stop_run(_context(), args.run), render_status)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from tools.run_tools import compare_runs
    from ui.render import render_comparison

    result = compare_runs(_context(), args.runs)
    _emit(args, result, lambda r: render_comparison(r) + f"\n\nLoss curves: {r.get('plot')}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from trainer.serve.server import serve_run

    ctx = _context()
    run = ctx.registry.get_run(args.run)
    if run["status"] != "succeeded":
        raise UserError(f"Run {args.run} is {run['status']}; only a run that succeeded can be served.")
    serve_run(ctx.workspace.run_dir(args.run), args.host, args.port)
    return 0


def _reattach_openai_followers() -> None:
    """Follow again every OpenAI job still running when tunechat was last closed."""
    from trainer.backends.runs import reattach_all

    ctx = _context()
    reattach_all(ctx.workspace, ctx.registry)


def _llm_flags(args: argparse.Namespace) -> dict[str, Any]:
    return {name: getattr(args, name, None) for name in FLAGS}


def _assistant(args: argparse.Namespace) -> Any:
    """The assistant with the backend the --llm flags choose (over the environment and the settings file)."""
    from agent.assistant import Assistant
    from agent.backends import resolve_backend

    return Assistant(backend=resolve_backend(_llm_flags(args)))


def _add_llm_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--llm",
        choices=KINDS,
        help="chat backend (default: environment, then ~/.tunechat/settings.json, else guided)",
    )
    p.add_argument("--llm-model", help="model name for openai / openai-compatible (e.g. gpt-4.1-mini, qwen2.5:7b)")
    p.add_argument("--llm-base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:11434/v1 (no key needed)")
    p.add_argument("--llm-path", help="local Transformers chat model folder (safetensors) for --llm local")


def cmd_chat(args: argparse.Namespace) -> int:
    from ui.terminal import chat

    assistant = _assistant(args)
    _reattach_openai_followers()

    return chat(args.message, session_id=args.session, files=args.file or [], assistant=assistant)


def cmd_ui(args: argparse.Namespace) -> int:
    from ui.web import launch

    assistant = _assistant(args)
    _reattach_openai_followers()
    launch(host=args.host, port=args.port, assistant=assistant)
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    """Show the chat backend, where each value came from; --set section.key=value edits settings.json."""
    from agent.backends import resolve_backend, settings_path, write_setting

    path = settings_path()
    for assignment in args.set or []:
        key, sep, value = assignment.partition("=")
        if not sep:
            raise UserError(f"Write --set as key=value, e.g. --set llm.model=qwen2.5:7b (got {assignment!r}).")
        write_setting(key.strip(), value.strip(), path)
        print(f"{path}: {key.strip()} = {value.strip() or '(removed)'}", file=sys.stderr)
    choice = resolve_backend(_llm_flags(args))
    result = {"settings_file": str(path), **choice.to_dict(), "description": choice.describe()}
    _emit(args, result, _render_backend)
    return 0


def _render_backend(result: dict[str, Any]) -> str:
    lines = [result["description"], f"settings file: {result['settings_file']}"]
    sources = result.get("sources") or {}
    for name in ("kind", "model", "base_url", "path", "api_key_env", "max_new_tokens"):
        value = result.get(name)
        if name in sources and value is not None:
            lines.append(f"  {name}: {value}  ({sources[name]})")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tunechat", description="Fine-tune models by talking to an assistant, or one command at a time."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ui", help="start the chat in the browser")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860)
    _add_llm_flags(p)
    p.set_defaults(func=cmd_ui)

    p = sub.add_parser("chat", help="the same assistant in the terminal")
    p.add_argument("message", nargs="?", help="one message; without it, an interactive chat")
    p.add_argument("--session", default=None, help="session id to continue (default: the terminal session)")
    p.add_argument("--file", action="append", help="a data file to drop into the chat (repeatable)")
    _add_llm_flags(p)
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("settings", help="show the chat backend and where it came from; --set edits settings.json")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="e.g. llm.model=qwen2.5:7b (empty removes)")
    _add_llm_flags(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_settings)

    p = sub.add_parser("inspect", help="profile a data file")
    p.add_argument("file")
    p.add_argument("--text-column")
    p.add_argument("--label-column")
    p.add_argument("--task", help="what the data is for, when not what tunechat detects (e.g. regression)")
    p.add_argument("--model", help="count tokens with this model's tokenizer (local folder; default MiniLM)")
    p.add_argument("--max-length", type=int, help="report examples longer than this many tokens")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("prepare", help="repair, convert and split a data file into a new dataset in the workspace")
    p.add_argument("file")
    p.add_argument("--task", help="what the data is for, when not what tunechat detects (e.g. regression, sft)")
    p.add_argument("--text-column")
    p.add_argument("--label-column")
    p.add_argument("--dedupe", action="store_true", help="drop exact duplicates (the first copy is kept)")
    p.add_argument("--split", help="train,validation,test fractions, e.g. 0.8,0.1,0.1 (stratified for labels)")
    p.add_argument("--to", choices=["chat-jsonl", "jsonl"], help="output format; chat-jsonl turns labels into chats")
    p.add_argument("--json", action="store_true", help="print the manifest as one JSON object")
    p.set_defaults(func=cmd_prepare)

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
    p.add_argument("--task", choices=task_names(), help="what to train (default: from the data)")
    p.add_argument("--method", choices=["full", "freeze", "lora", "qlora"], help="how much of the model trains")
    p.add_argument("--json", action="store_true", help="print one JSON object with run_id and test metrics")
    p.add_argument("--backend", choices=backend_names(), help="where to train: local (default) or a hosted API")
    p.add_argument("--yes", action="store_true", help="openai: accept the plan without asking (it costs money)")
    p.add_argument("--suffix", help="openai: text added to the fine-tuned model's name")
    p.add_argument("--lr-multiplier", type=float, help="openai: learning-rate multiplier (default auto)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("resume", help="continue a killed or stopped sft/dpo run from its newest checkpoint")
    p.add_argument("run", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_resume)

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
