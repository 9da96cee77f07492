"""Runs as the chat shows them: plans, progress, evaluations, comparisons, deployments, diagnoses."""

from __future__ import annotations

from typing import Any

from ui.render.answers import render_base_vs_tuned, render_closeness
from ui.render.baselines import closing_lines, probe_row, render_warnings
from ui.render.evaluation_extras import render_forgetting, render_judge
from ui.render.export import render_parity
from ui.render.format import fmt_number, fmt_seconds, table
from ui.render.preference import render_preference
from ui.render.regression import is_regression, render_regression_evaluation
from ui.render.safe import code, code_block, data_text, prose


def render_plan(plan: dict[str, Any]) -> str:
    """A training plan: the settings its task shows, each with its reason, and the time estimate."""
    config = plan["config"]
    subject = f" ({prose(plan['subject'])})" if plan.get("subject") else ""
    table_rows = plan.get("table") or []
    rows = [[data_text(setting), data_text(fmt_number(value)), prose(why)] for setting, value, why in table_rows]
    text = f"**Plan** for {code(plan.get('file') or config['data'])}{subject}:\n\n"
    text += table(["setting", "value", "why"], rows)
    text += render_warnings(plan)
    for note in plan.get("notes") or []:  # what the data made the planner leave out (skipped files, ...)
        text += f"\n\n_{prose(note)}_"
    estimate = plan.get("estimate_seconds")
    if estimate is not None:
        text += f"\n\nEstimated run time on this machine: **about {fmt_seconds(estimate)}**."
    else:
        text += "\n\nThe run time of this model can only be estimated once it is loaded."
    return text


def render_status(status: dict[str, Any]) -> str:
    run_id, state = status.get("run_id", status.get("id")), status.get("status")
    text = f"Run {data_text(run_id)} is **{data_text(state)}**"
    if status.get("phase") and state == "running":
        text += f" ({data_text(status['phase'])})"
    step, total = status.get("step"), status.get("total_steps")
    if step is not None and total:
        text += f": step {step}/{total} ({step / total:.0%})"
    if status.get("loss") is not None:
        text += f", loss {fmt_number(status['loss'])}"
    if state == "running" and status.get("eta_s") is not None:
        text += f", about {fmt_seconds(status['eta_s'])} left"
    text += "."
    if status.get("error"):
        text += f"\n\nWhat went wrong: {prose(status['error'])}"
    return text


def render_llm_evaluation(evaluation: dict[str, Any]) -> str:
    """A causal-LM run (sft, dpo, orpo, kto): losses, perplexity, held-out preference figures and the before/after
    sample replies."""
    first, final = fmt_number(evaluation.get("first_loss")), fmt_number(evaluation.get("final_loss"))
    lines = [
        f"**Run {data_text(evaluation.get('run_id', ''))}** ({data_text(evaluation.get('task'))}, "
        f"{data_text(evaluation.get('method'))}): "
        f"training loss {first} → {final} in {evaluation.get('steps')} steps.",
    ]
    if evaluation.get("eval_loss") is not None:
        # A preference loss has no perplexity: the phrase is left out rather than shown empty.
        perplexity = evaluation.get("perplexity")
        tail = f", perplexity {fmt_number(perplexity)}" if perplexity is not None else ""
        lines.append(f"Validation loss {fmt_number(evaluation['eval_loss'])}{tail}.")
    for part in (
        render_base_vs_tuned(evaluation),
        render_preference(evaluation.get("preference")),
        render_closeness(evaluation.get("closeness")),
        render_forgetting(evaluation.get("forgetting")),
        render_judge(evaluation.get("judge")),
    ):
        if part:
            lines += ["", part]
    samples = evaluation.get("samples") or {}
    rows = [
        [data_text(prompt[-1].get("content", "")) if prompt else "", data_text(before), data_text(after)]
        for prompt, before, after in zip(
            samples.get("prompts", []), samples.get("before", []), samples.get("after", []), strict=False
        )
    ]
    if rows:
        lines += ["", table(["prompt", "before", "after"], rows)]
    return "\n".join(lines)


def render_evaluation(evaluation: dict[str, Any]) -> str:
    if is_regression(evaluation):
        return render_regression_evaluation(evaluation)
    if "accuracy" not in evaluation:  # a language model's record: losses and sample replies, no test accuracy
        return render_llm_evaluation(evaluation)
    baseline = evaluation.get("baseline") or {}
    lines = [
        f"**Run {data_text(evaluation.get('run_id', ''))} on its test split** "
        f"({data_text(evaluation.get('test_size', '?'))} examples"
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
                    f"majority-class baseline (always '{data_text(baseline.get('label', '?'))}')",
                    baseline.get("accuracy"),
                    baseline.get("macro_f1"),
                ],
                *[row for row in [probe_row(evaluation)] if row],
            ],
        ),
        "",
    ]
    closing = closing_lines(evaluation)
    if closing:
        lines += ["\n\n".join(closing), ""]
    per_class = evaluation.get("per_class") or {}
    if per_class:
        lines.append(
            table(
                ["class", "precision", "recall", "F1", "support"],
                [
                    [data_text(label), m["precision"], m["recall"], m["f1"], m["support"]]
                    for label, m in per_class.items()
                ],
            )
        )
    return "\n".join(lines)


def render_comparison(comparison: dict[str, Any]) -> str:
    ids = comparison["run_ids"]
    headers = ["", *[f"run {i}" for i in ids]]
    config_rows = [
        [
            ("**" + data_text(row["field"]) + "** ≠") if row["differs"] else data_text(row["field"]),
            *[data_text(fmt_number(value)) for value in row["values"]],
        ]
        for row in comparison["config_rows"]
    ]
    bases = comparison.get("base_models") or []
    metric_rows = [
        [data_text(row["metric"]), *row["values"], *[base["values"][i] for base in bases]]
        for i, row in enumerate(comparison["metric_rows"])
    ]
    held_out = comparison.get("held_out") or []
    if any(held_out):
        shown = [
            f"{data_text(found['split'])}, {found['size']} rows, sha256 {code(found['sha256'])}"
            if found
            else "not recorded"
            for found in held_out
        ]
        metric_rows.append(["held-out rows", *shown, *["" for _ in bases]])
    text = "**Settings** (≠ marks a difference):\n\n" + table(headers, config_rows)
    base_headers = [f"base model {data_text(base['model'])}" for base in bases]
    text += "\n\n**Metrics:**\n\n" + table([*headers, *base_headers], metric_rows)
    if bases:
        text += "\n\nEach base model is the model a run started from, measured on the same held-out rows."
    if comparison.get("best_run") is not None:
        metric = {"macro_f1": "macro-F1", "eval_loss": "eval loss", "rmse": "RMSE"}.get(
            comparison.get("best_metric", ""), "score"
        )
        text += f"\n\nBest {metric}: run {comparison['best_run']}."
    for note in comparison.get("notes") or []:
        text += f"\n\n{prose(note)}"
    return text


def render_deployment(deployment: dict[str, Any]) -> str:
    if deployment.get("handoff"):
        return render_handoff(deployment)
    if deployment.get("chat_url"):
        answers = (
            "It speaks the OpenAI chat-completions API, so the official `openai` client works with "
            f'`base_url="{deployment["url"]}/v1"`:\n\n```python\n{deployment["python"]}\n```'
        )
    else:
        answers = deployment.get("answers") or "It answers one list of {label, score} per input"
    text = (
        f"Run {deployment['run_id']} is being served at **{deployment['url']}**.\n\n"
        f"Call it:\n\n```bash\n{deployment['curl']}\n```\n\n"
        f"{answers}; `GET {deployment.get('health_url', '/health')}` checks it is up."
    )
    parity = deployment.get("parity")
    if isinstance(parity, dict):
        shown = {"parity_ok": parity.get("parity_ok"), "parity_sentence": parity.get("sentence") or parity.get("error")}
        text += "\n\n" + render_parity({**shown, "parity": parity}, form="the server")
    return text


def render_handoff(deployment: dict[str, Any]) -> str:
    """A chat run on a GPU machine: the commands that serve it, which tunechat shows and never runs."""
    parts = [
        f"Run {deployment['run_id']} is a language model and this machine has {data_text(deployment['hardware'])}: "
        "a GPU server serves it far better than tunechat's own. Run one of these (tunechat does not start them):"
    ]
    for handoff in deployment["handoff"]:
        parts.append(
            f"**{data_text(handoff['tool'])}**: {prose(handoff['why'])}.\n\n{code_block(handoff['command'])}\n\n"
            f"It answers OpenAI's chat API at {code(handoff['url'])} as model {code(handoff['model'])}."
        )
    parts.append(f"tunechat's own server stays one command away: {code(deployment['own_server'])}.")
    return "\n\n".join(parts)


def render_runs(runs: list[dict[str, Any]]) -> str:
    if not runs:
        return "There are no runs yet."
    return table(
        ["run", "status", "model", "data", "accuracy", "result"],
        [
            [
                r["id"],
                data_text(r["status"]),
                data_text(
                    str(r["model"]).rstrip("/").rsplit("/", 1)[-1] if str(r["model"]).startswith("/") else r["model"]
                ),
                data_text(str(r["data"]).rsplit("/", 1)[-1]),
                r.get("accuracy"),
                data_text(r.get("result") or ""),
            ]
            for r in runs
        ],
    )


def render_diagnosis(diagnosis: dict[str, Any]) -> str:
    """Why a run failed, the line that shows it, and the proposed changes with their reasons."""
    cause = data_text(str(diagnosis["cause"]).replace("_", " "))
    run = f"{data_text(diagnosis['run_id'])} {data_text(diagnosis['status'])}"
    lines = [f"**Run {run}: {cause}.** {prose(diagnosis['explanation'])}"]
    if diagnosis.get("evidence"):
        lines.append(f"\nFrom its record:\n{code_block(str(diagnosis['evidence'])[:500])}")
    changes = diagnosis.get("changes") or {}
    if changes:
        old = diagnosis.get("config_before") or {}
        rows = [
            [
                data_text(key),
                data_text(fmt_number(old.get(key, ""))),
                data_text(fmt_number(value)),
                prose(diagnosis.get("reasons", {}).get(key, "")),
            ]
            for key, value in changes.items()
        ]
        lines.append("\nProposed changes:\n\n" + table(["setting", "was", "new", "why"], rows))
    if diagnosis.get("pip_command"):
        lines.append(f"\nInstall it with {code(diagnosis['pip_command'])}, then start the run again.")
    if diagnosis.get("can_relaunch"):
        lines.append("\nSay **fix it** to get the plan for a new run with these changes (it starts on your yes).")
    return "\n".join(lines)


def render_relaunch_plan(plan: dict[str, Any]) -> str:
    """The relaunch waiting for a yes: each change with its reason."""
    rows = [
        [data_text(key), data_text(fmt_number(value)), prose(plan.get("reasons", {}).get(key, ""))]
        for key, value in plan.get("changes", {}).items()
    ]
    text = f"A new run to replace **run {data_text(plan['arguments']['from_run'])}**"
    return text + (":\n\n" + table(["setting", "new", "why"], rows) if rows else " with the same settings.")


# How the chat names the metrics runs are ranked by.
METRIC_NAMES = {"macro_f1": "test macro-F1", "eval_loss": "eval loss", "accuracy": "test accuracy", "rmse": "test RMSE"}


def render_best_run(found: dict[str, Any]) -> str:
    """ "The best run is run 3 (highest test macro-F1: 0.93; run 1: 0.71)" from find_runs(which="best")."""
    metric = found["metric"]
    runs = found["runs"]
    others = "; ".join(f"run {run['id']}: {run[metric]:.3g}" for run in runs[1:4])
    best = runs[0]
    how = "highest" if found.get("higher_is_better", True) else "lowest"
    return (
        f"The best run is **run {best['id']}** ({how} {METRIC_NAMES.get(metric, metric)}: {best[metric]:.3g}"
        + (f"; {others}" if others else "")
        + ")."
    )
