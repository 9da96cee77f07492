"""Training commands: train in the foreground (locally or through a hosted API) and resume."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from ui.cli.common import context, emit


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
        **({"tracker": args.tracker} if getattr(args, "tracker", None) else {}),
        **({"task": args.task} if getattr(args, "task", None) else {}),
        **({"group_split": False} if getattr(args, "no_group_split", False) else {}),
        **({"placeholders": _placeholders(args.placeholder)} if getattr(args, "placeholder", None) else {}),
    }


def _placeholders(items: list[str]) -> dict[str, str]:
    """--placeholder name=Nova --placeholder author=Acme -> {"name": "Nova", "author": "Acme"}."""
    values = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise UserError(
                f"'{item}' is not a placeholder value; give it as NAME=VALUE, e.g. --placeholder name=Nova."
            )
        values[name.strip().strip("{}").strip()] = value.strip()
    return values


def cmd_train(args: argparse.Namespace) -> int:
    from tools.data_tools import plan_training
    from tools.launch import launch_plan
    from tools.run_tools import evaluate_run
    from trainer.backends.registry import hosted_for
    from trainer.plan.config import resolve_config
    from ui.render.regression import is_regression
    from ui.render.runs import render_evaluation, render_plan

    if hosted_for(args.backend, args.model) is not None:
        return cmd_train_hosted(args)
    ctx = context()
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
        try:
            plan = plan_training(ctx, path.name, **_settings(args)).to_dict()
        except UserError as error:
            if not getattr(args, "dry_run", False):
                raise
            return _dry_run_report(args, {"dry_run": True, "steps": 0, "error": str(error)})
        if not args.json:
            print(render_plan(plan), file=sys.stderr)
    if getattr(args, "dry_run", False):
        return _dry_run(args, ctx, plan["config"])
    started = launch_plan(ctx, plan["config"], plan.get("estimate_seconds"))
    run_id = started["run_id"]
    print(f"Run {run_id} started; its folder is {ctx.workspace.run_dir(run_id)}", file=sys.stderr)
    final = _follow_with_progress_bar(ctx, run_id, quiet=args.json)
    if final["status"] != "succeeded":
        raise UserError(f"Run {run_id} {final['status']}: {final.get('error') or 'see train.log in its folder'}")
    evaluation = dict(evaluate_run(ctx, run_id))
    if "accuracy" not in evaluation and not is_regression(evaluation):  # a language model: losses and replies
        evaluation["run_id"] = run_id
        emit(args, {"status": final["status"], **evaluation}, _render_llm_result)
        return 0
    result = {"run_id": run_id, "status": final["status"], **evaluation}
    result["run_id"] = run_id
    emit(args, result, lambda r: f"Run {run_id} succeeded.\n\n" + render_evaluation(r))
    return 0


def _dry_run(args: argparse.Namespace, ctx: Any, config: dict[str, Any]) -> int:
    """Try the plan in a child process and print its report; exit 1 when the dry run found an error."""
    from trainer.backends.dry_run import dry_run

    if not args.json:
        print("Dry run: loading the model and trying two steps on the longest examples…", file=sys.stderr)
    return _dry_run_report(args, dry_run(ctx.workspace, config))


def _dry_run_report(args: argparse.Namespace, report: dict[str, Any]) -> int:
    from ui.render.dry_run import render_dry_run

    emit(args, report, render_dry_run)
    return 0 if report.get("error") is None else 1


def _render_llm_result(result: dict[str, Any]) -> str:
    lines = [f"Run {result['run_id']} succeeded ({result.get('task')}, {result.get('method')})."]
    first, final = result.get("first_loss"), result.get("final_loss")
    lines.append(f"Training loss {first} -> {final} in {result.get('steps')} steps.")
    if result.get("eval_loss") is not None:
        lines.append(f"Validation loss {result['eval_loss']:.4f}, perplexity {result.get('perplexity')}.")
    if result.get("preference"):
        from ui.render.preference import render_preference

        lines.append(render_preference(result["preference"]))
    from ui.render.answers import render_base_vs_tuned, render_closeness

    lines += [part for part in (render_base_vs_tuned(result), render_closeness(result.get("closeness"))) if part]
    samples = result.get("samples") or {}
    for prompt, before, after in zip(
        samples.get("prompts", []), samples.get("before", []), samples.get("after", []), strict=False
    ):
        lines.append(f"- {prompt[-1].get('content') if prompt else ''!r}: before {before!r} / after {after!r}")
    return "\n".join(lines)


def cmd_resume(args: argparse.Namespace) -> int:
    from trainer.backends.runs import resume_run

    ctx = context()
    resume_run(ctx.workspace, ctx.registry, args.run)
    print(f"Run {args.run} resumed from its newest complete checkpoint.", file=sys.stderr)
    final = _follow_with_progress_bar(ctx, args.run, quiet=args.json)
    if final["status"] != "succeeded":
        raise UserError(f"Run {args.run} {final['status']}: {final.get('error') or 'see train.log in its folder'}")
    emit(args, {"run_id": args.run, **final}, lambda r: f"Run {args.run} succeeded after resuming.")
    return 0


def cmd_train_hosted(args: argparse.Namespace) -> int:
    """Plan a hosted job, ask (or take --yes), upload and create it, then follow it to the end."""
    from tools.hosted_tools import confirm_hosted_job, plan_hosted_job
    from tools.run_tools import evaluate_run
    from trainer.backends.registry import hosted_for
    from ui.render.hosted import render_hosted_plan
    from ui.render.runs import render_evaluation

    if not args.data:
        raise UserError("Name the data to fine-tune on with --data FILE.")
    ctx = context()
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
        learning_rate=args.lr,
        method=args.method,
        text_column=args.text_column,
        label_column=args.label_column,
    )
    print(render_hosted_plan(plan), file=sys.stderr)
    provider = hosted_for(plan["backend"], None)
    company = provider.provider if provider is not None else "hosted"
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserError(
                f"Nothing was uploaded: the {company} job costs money and this input cannot confirm it; "
                "run the command again with --yes to accept the plan above."
            )
        answer = input(f"Upload the files and start this {company} job? [y/N] ").strip().lower()
        if answer not in ("y", "yes", "go"):
            print("Nothing was uploaded.", file=sys.stderr)
            return 1
    started = confirm_hosted_job(ctx, plan["plan_id"])
    run_id = started["run_id"]
    print(
        f"Run {run_id}: {company} job {started['job_id']} created; following it (Ctrl-C cancels the job).",
        file=sys.stderr,
    )
    final = _follow_hosted(ctx, run_id, quiet=args.json, company=company)
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
    emit(
        args,
        result,
        lambda r: (
            f"Run {run_id} succeeded: {r['fine_tuned_model']}."
            + ("\n\n" + render_evaluation(r) if "accuracy" in r else "")
        ),
    )
    return 0


def _follow_hosted(ctx: Any, run_id: int, quiet: bool, company: str) -> Mapping[str, Any]:
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
            time.sleep(0.5)
    except KeyboardInterrupt:
        print(f"\nCancelling the {company} job of run {run_id}…", file=sys.stderr)
        return runner.stop_run(ctx.workspace, ctx.registry, run_id)


def _follow_with_progress_bar(ctx: Any, run_id: int, quiet: bool) -> Mapping[str, Any]:
    from tqdm import tqdm

    from trainer.backends import runs as runner

    bar = tqdm(total=None, unit="step", disable=quiet, file=sys.stderr, desc=f"run {run_id}")

    def on_progress(status: Mapping[str, Any]) -> None:
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
