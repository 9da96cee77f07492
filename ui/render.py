"""Turn tool results (small JSON-able dicts) into the markdown the chat shows.

Guided mode and the command line print these; the LLM mode lets the model word its own answer.
"""

from __future__ import annotations

import json
from typing import Any

from trainer.data import kinds


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    seconds = max(0, int(round(seconds)))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


def fmt_number(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
            return f"{float(mantissa):g}e{int(exponent)}"  # 1e-4, not 0.0001 or 1.00e-04
        return f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:.0f}"
    return str(value)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        return fmt_number(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def render_inspection(report: dict[str, Any]) -> str:
    if report.get("task") not in (None, *kinds.LABELLED_TEXT):
        return render_task_report(report)
    parts = [
        f"**{report.get('file', 'Your file')}**: {report.get('rows', 0)} rows ({report.get('format', '?')}), "
        f"columns {', '.join(f'`{c}`' for c in report.get('columns', []))}.",
        f"- Text column: `{report.get('text_column')}`. {report.get('text_reason', '')}",
        f"- Label column: `{report.get('label_column')}`. {report.get('label_reason', '')}",
    ]
    labels = report.get("labels") or []
    if labels:
        parts.append("")
        parts.append(table(["label", "rows", "share"], [[e["label"], e["count"], f"{e['share']:.1%}"] for e in labels]))

    def count(key: str) -> int:
        return int((report.get(key) or {}).get("count", 0))

    facts = [f"duplicates: {count('duplicates')}", f"empty rows: {count('empty_rows')}"]
    if count("conflicting_duplicates"):
        facts.append(f"same text with different labels: {count('conflicting_duplicates')}")
    if count("bad_lines"):
        facts.append(f"unreadable lines: {count('bad_lines')}")
    parts.append("")
    parts.append("- " + ", ".join(facts) + ".")
    chars = report.get("length_chars") or {}
    tokens = report.get("length_tokens") or {}
    if chars:
        line = (
            f"- Text length in characters: median {chars.get('p50')}, "
            f"95th percentile {chars.get('p95')}, max {chars.get('max')}"
        )
        if tokens:
            line += (
                f"; in tokens: median {tokens.get('p50')}, 95th percentile {tokens.get('p95')}, max {tokens.get('max')}"
            )
        parts.append(line + ".")
    problems = report.get("problems") or []
    if problems:
        parts.append("")
        parts.append("**Problems found:**")
        parts += [
            f"- `{p['code']}`" + (f" ({p['count']} rows)" if p.get("rows") else "") + f": {p['message']}"
            for p in problems
        ]
    return "\n".join(parts)


def render_plan(plan: dict[str, Any]) -> str:
    """A training plan: the settings its task shows, each with its reason, and the time estimate."""
    config = plan["config"]
    subject = f" ({plan['subject']})" if plan.get("subject") else ""
    text = f"**Plan** for `{plan.get('file') or config['data']}`{subject}:\n\n" + table(
        ["setting", "value", "why"], [list(row) for row in plan.get("table") or []]
    )
    estimate = plan.get("estimate_seconds")
    if estimate is not None:
        text += f"\n\nEstimated run time on this machine: **about {fmt_seconds(estimate)}**."
    else:
        text += "\n\nThe run time of this model can only be estimated once it is loaded."
    return text


def render_status(status: dict[str, Any]) -> str:
    run_id, state = status.get("run_id", status.get("id")), status.get("status")
    text = f"Run {run_id} is **{state}**"
    if status.get("phase") and state == "running":
        text += f" ({status['phase']})"
    step, total = status.get("step"), status.get("total_steps")
    if step is not None and total:
        text += f": step {step}/{total} ({step / total:.0%})"
    if status.get("loss") is not None:
        text += f", loss {fmt_number(status['loss'])}"
    if state == "running" and status.get("eta_s") is not None:
        text += f", about {fmt_seconds(status['eta_s'])} left"
    text += "."
    if status.get("error"):
        text += f"\n\nWhat went wrong: {status['error']}"
    return text


def render_llm_evaluation(evaluation: dict[str, Any]) -> str:
    """A causal-LM run (sft/dpo): losses, perplexity and the before/after sample replies."""
    first, final = fmt_number(evaluation.get("first_loss")), fmt_number(evaluation.get("final_loss"))
    lines = [
        f"**Run {evaluation.get('run_id', '')}** ({evaluation.get('task')}, {evaluation.get('method')}): "
        f"training loss {first} → {final} in {evaluation.get('steps')} steps.",
    ]
    if evaluation.get("eval_loss") is not None:
        perplexity = fmt_number(evaluation.get("perplexity"))
        lines.append(f"Validation loss {fmt_number(evaluation['eval_loss'])}, perplexity {perplexity}.")
    samples = evaluation.get("samples") or {}
    rows = [
        [str(prompt[-1].get("content", "")) if prompt else "", before, after]
        for prompt, before, after in zip(
            samples.get("prompts", []), samples.get("before", []), samples.get("after", []), strict=False
        )
    ]
    if rows:
        lines += ["", table(["prompt", "before", "after"], rows)]
    return "\n".join(lines)


def render_evaluation(evaluation: dict[str, Any]) -> str:
    if "accuracy" not in evaluation:  # a language model's record: losses and sample replies, no test accuracy
        return render_llm_evaluation(evaluation)
    baseline = evaluation.get("baseline") or {}
    lines = [
        f"**Run {evaluation.get('run_id', '')} on its test split** ({evaluation.get('test_size', '?')} examples"
        + (
            f"; {evaluation['duplicates_dropped']} exact repeats were dropped before splitting, "
            "so none is both trained on and tested"
            if evaluation.get("duplicates_dropped")
            else ""
        )
        + "):",
        "",
        table(
            ["", "accuracy", "macro-F1"],
            [
                ["fine-tuned model", evaluation.get("accuracy"), evaluation.get("macro_f1")],
                [
                    f"majority-class baseline (always '{baseline.get('label', '?')}')",
                    baseline.get("accuracy"),
                    baseline.get("macro_f1"),
                ],
            ],
        ),
        "",
    ]
    per_class = evaluation.get("per_class") or {}
    if per_class:
        lines.append(
            table(
                ["class", "precision", "recall", "F1", "support"],
                [[label, m["precision"], m["recall"], m["f1"], m["support"]] for label, m in per_class.items()],
            )
        )
    return "\n".join(lines)


def render_comparison(comparison: dict[str, Any]) -> str:
    ids = comparison["run_ids"]
    headers = ["", *[f"run {i}" for i in ids]]
    config_rows = [
        [("**" + row["field"] + "** ≠") if row["differs"] else row["field"], *row["values"]]
        for row in comparison["config_rows"]
    ]
    metric_rows = [[row["metric"], *row["values"]] for row in comparison["metric_rows"]]
    text = "**Settings** (≠ marks a difference):\n\n" + table(headers, config_rows)
    text += "\n\n**Metrics:**\n\n" + table(headers, metric_rows)
    if comparison.get("best_run") is not None:
        metric = {"macro_f1": "macro-F1", "eval_loss": "eval loss"}.get(comparison.get("best_metric", ""), "score")
        text += f"\n\nBest {metric}: run {comparison['best_run']}."
    for note in comparison.get("notes") or []:
        text += f"\n\n{note}"
    return text


def render_deployment(deployment: dict[str, Any]) -> str:
    if deployment.get("chat_url"):
        answers = (
            "It speaks the OpenAI chat-completions API, so the official `openai` client works with "
            f'`base_url="{deployment["url"]}/v1"`:\n\n```python\n{deployment["python"]}\n```'
        )
    else:
        answers = "It answers one list of {label, score} per input"
    return (
        f"Run {deployment['run_id']} is being served at **{deployment['url']}**.\n\n"
        f"Call it:\n\n```bash\n{deployment['curl']}\n```\n\n"
        f"{answers}; `GET {deployment.get('health_url', '/health')}` checks it is up."
    )


def render_runs(runs: list[dict[str, Any]]) -> str:
    if not runs:
        return "There are no runs yet."
    return table(
        ["run", "status", "model", "data", "accuracy", "macro-F1"],
        [
            [
                r["id"],
                r["status"],
                str(r["model"]).rstrip("/").rsplit("/", 1)[-1] if str(r["model"]).startswith("/") else r["model"],
                str(r["data"]).rsplit("/", 1)[-1],
                r.get("accuracy"),
                r.get("macro_f1"),
            ]
            for r in runs
        ],
    )


# ---- hosted fine-tuning jobs ----------------------------------------------------------------


def render_hosted_plan(plan: dict[str, Any]) -> str:
    hyper = plan.get("hyperparameters") or {}
    counts = plan.get("counts") or {}
    cost = plan.get("estimated_cost_usd")
    price = plan.get("price_per_million_tokens")
    rows: list[list[Any]] = [
        ["model", plan.get("model"), f"fine-tuned through the OpenAI API at {plan.get('endpoint')}"],
        [
            "method",
            plan.get("method"),
            plan.get("method_reason", ""),
        ],
        ["epochs", hyper.get("n_epochs"), f"about {plan.get('estimated_epochs')} for the estimate"],
        ["batch size", hyper.get("batch_size"), ""],
        ["learning-rate multiplier", hyper.get("learning_rate_multiplier"), ""],
        ["suffix", plan.get("suffix"), "added to the fine-tuned model's name"],
        [
            "examples (train/validation/test)",
            f"{counts.get('train')}/{counts.get('validation')}/{counts.get('test')}",
            "the test split is held out to evaluate the tuned model",
        ],
        ["training tokens", plan.get("train_tokens"), "approximate, per epoch"],
    ]
    if cost is not None:
        when = (
            f"Estimated cost: **about ${cost:.2f}** ({plan.get('billed_tokens')} billed tokens at ${price} per 1M, "
            f"{plan.get('price_source')})."
        )
    else:
        when = "No cost estimate: the price of this model is unknown."
    notes = "".join(f"\n- {note}" for note in plan.get("notes") or [])
    what = plan.get("task")
    if plan.get("labels"):
        what = f"classification into {', '.join(plan['labels'])}, converted to chat examples"
    return (
        f"**OpenAI fine-tuning plan** for `{plan.get('file')}` ({what}):\n\n"
        + table(["setting", "value", "note"], rows)
        + f"\n\n{when}"
        + notes
    )


def render_hosted_progress(status: dict[str, Any], since: int = 0) -> str:
    """The new job events since the last look, the latest metrics, checkpoints and the tuned model."""
    lines = []
    events = (status.get("events") or [])[since:]
    if events:
        lines.append("\n\nEvents:\n" + "\n".join(f"- {event.get('message')}" for event in events[-15:]))
    metrics = [
        ("training loss", status.get("loss")),
        ("validation loss", status.get("valid_loss")),
        ("training token accuracy", status.get("train_mean_token_accuracy")),
        ("validation token accuracy", status.get("valid_mean_token_accuracy")),
    ]
    known = [f"{name} {fmt_number(value)}" for name, value in metrics if value is not None]
    if known:
        lines.append("\n\nLatest metrics: " + ", ".join(known) + ".")
    if status.get("checkpoints"):
        lines.append(f"\n\nCheckpoints saved by OpenAI: {status['checkpoints']}.")
    if status.get("fine_tuned_model"):
        lines.append(f"\n\nFine-tuned model: `{status['fine_tuned_model']}`.")
    return "".join(lines)


def render_task_report(report: dict[str, Any]) -> str:
    """Inspection of data that is not text classification: task, mapping, counts, lengths, problems."""
    task = str(report.get("task"))
    mapping = ", ".join(f"{role} → `{column}`" for role, column in (report.get("mapping") or {}).items())
    parts = [
        f"**{report.get('file', 'Your file')}**: {report.get('rows', 0)} rows ({report.get('format', '?')}), "
        f"{report.get('usable_rows', 0)} usable.",
        f"- Looks like data for **{kinds.title(task)}** (confidence {report.get('confidence', 0):.0%}). "
        f"{report.get('task_reason', '')}",
    ]
    if mapping:
        parts.append(f"- Columns used: {mapping}.")
    rows: list[list[Any]] = []
    tokens = report.get("length_tokens") or {}
    if tokens:
        rows.append(["tokens per example", tokens.get("p50"), tokens.get("p95"), tokens.get("max")])
    chars = report.get("length_chars") or {}
    if chars:
        rows.append(["characters per example", chars.get("p50"), chars.get("p95"), chars.get("max")])
    turns = report.get("messages_per_example") or {}
    if turns:
        rows.append(["messages per example", turns.get("p50"), turns.get("p95"), turns.get("max")])
    if rows:
        parts += ["", table(["", "median", "95th percentile", "max"], rows), ""]
    if tokens.get("tokens_per_epoch"):
        parts.append(f"- About {fmt_number(tokens['tokens_per_epoch'])} tokens per epoch ({tokens.get('model')}).")
    target = report.get("target") or {}
    if target:
        parts.append(
            f"- Target `{report.get('label_column')}`: from {target.get('min')} to {target.get('max')}, "
            f"mean {target.get('mean')}, {target.get('distinct')} distinct values."
        )
    labels = report.get("labels") or []
    if labels:
        shares = [[e["label"], e["count"], f"{e['share']:.1%}"] for e in labels]
        parts += ["", table(["label", "rows", "share"], shares)]
    problems = report.get("problems") or []
    if problems:
        parts += ["", "**Problems found:**"]
        parts += [f"- `{p['code']}` ({p['count']}): {p['message']}" for p in problems]
    else:
        parts += ["", "No problems found."]
    parts += [f"_{note}_" for note in report.get("notes") or []]
    return "\n".join(parts)


def render_prepared(manifest: dict[str, Any]) -> str:
    """What `prepare_data` did: the steps, counts before and after, the files, and a before/after sample."""
    counts = manifest.get("counts", {})
    parts = [
        f"Prepared **{manifest.get('source', {}).get('file')}** as `{manifest.get('folder') or manifest.get('path')}` "
        f"({manifest.get('format')}): {counts.get('before')} rows before, {counts.get('after')} after. "
        "The original upload is unchanged.",
    ]
    steps = manifest.get("steps") or []
    if steps:
        parts += ["", table(["step", "rows removed", "what"], [[s["step"], s["removed"], s["detail"]] for s in steps])]
    else:
        parts.append("- Nothing needed fixing.")
    splits = counts.get("splits") or {}
    if splits:
        parts.append("- Files: " + ", ".join(f"`{manifest['files'][k]}` ({n} rows)" for k, n in splits.items()) + ".")
    samples = manifest.get("samples") or {}
    for label, key in (("Before", "before"), ("After", "after")):
        rows = samples.get(key) or []
        if rows:
            shown = json.dumps(rows[0], ensure_ascii=False)
            parts.append(f"- {label}: `{shown[:300] + ('…' if len(shown) > 300 else '')}`")
    return "\n".join(parts)


def render_diagnosis(diagnosis: dict[str, Any]) -> str:
    """Why a run failed, the line that shows it, and the proposed changes with their reasons."""
    cause = str(diagnosis["cause"]).replace("_", " ")
    lines = [f"**Run {diagnosis['run_id']} {diagnosis['status']}: {cause}.** {diagnosis['explanation']}"]
    if diagnosis.get("evidence"):
        lines.append(f"\nFrom its record:\n```\n{str(diagnosis['evidence'])[:500]}\n```")
    changes = diagnosis.get("changes") or {}
    if changes:
        old = diagnosis.get("config_before") or {}
        rows = [
            [key, fmt_number(old.get(key, "")), fmt_number(value), diagnosis.get("reasons", {}).get(key, "")]
            for key, value in changes.items()
        ]
        lines.append("\nProposed changes:\n\n" + table(["setting", "was", "new", "why"], rows))
    if diagnosis.get("pip_command"):
        lines.append(f"\nInstall it with `{diagnosis['pip_command']}`, then start the run again.")
    if diagnosis.get("can_relaunch"):
        lines.append("\nSay **fix it** to get the plan for a new run with these changes (it starts on your yes).")
    return "\n".join(lines)


def render_relaunch_plan(plan: dict[str, Any]) -> str:
    """The relaunch waiting for a yes: each change with its reason."""
    rows = [
        [key, fmt_number(value), plan.get("reasons", {}).get(key, "")] for key, value in plan.get("changes", {}).items()
    ]
    text = f"A new run to replace **run {plan['arguments']['from_run']}**"
    return text + (":\n\n" + table(["setting", "new", "why"], rows) if rows else " with the same settings.")
