"""Turn tool results (small JSON-able dicts) into the markdown the chat shows.

Guided mode and the command line print these; the LLM mode lets the model word its own answer.
"""

from __future__ import annotations

from typing import Any


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
    config, reasons = plan["config"], plan.get("reasons", {})
    rows = [
        ["base model", config["model"], reasons.get("model", "")],
        ["epochs", config["epochs"], reasons.get("epochs", "")],
        ["learning rate", config["learning_rate"], reasons.get("learning_rate", "")],
        ["batch size", config["batch_size"], reasons.get("batch_size", "")],
        ["max length", config["max_length"], reasons.get("max_length", "")],
        [
            "split (train/val/test)",
            f"{1 - config['val_fraction'] - config['test_fraction']:.0%}/{config['val_fraction']:.0%}/"
            f"{config['test_fraction']:.0%}",
            reasons.get("split", ""),
        ],
    ]
    if config.get("freeze_layers"):
        rows.append(["frozen layers", config["freeze_layers"], reasons.get("freeze_layers", "")])
    estimate = plan.get("estimate_seconds")
    when = (
        f"Estimated run time on this machine: **about {fmt_seconds(estimate)}**."
        if estimate is not None
        else "The run time of this model can only be estimated once it is loaded."
    )
    return (
        f"**Plan** for `{plan.get('file', config['data'])}` "
        f"(text `{config['text_column']}`, label `{config['label_column']}`):\n\n"
        + table(["setting", "value", "why"], rows)
        + f"\n\n{when}"
    )


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


def render_evaluation(evaluation: dict[str, Any]) -> str:
    baseline = evaluation.get("baseline") or {}
    lines = [
        f"**Run {evaluation.get('run_id', '')} on its test split** ({evaluation.get('test_size', '?')} examples):",
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
        text += f"\n\nBest macro-F1: run {comparison['best_run']}."
    for note in comparison.get("notes") or []:
        text += f"\n\n{note}"
    return text


def render_deployment(deployment: dict[str, Any]) -> str:
    return (
        f"Run {deployment['run_id']} is being served at **{deployment['url']}**.\n\n"
        f"Call it:\n\n```bash\n{deployment['curl']}\n```\n\n"
        f"It answers one list of {{label, score}} per input; `GET {deployment.get('health_url', '/health')}` "
        "checks it is up."
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
