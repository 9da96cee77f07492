"""What a search found: its trials as a table (settings, validation value, state, run), the best trial's config,
and a plot of the validation value against each searched setting."""

from __future__ import annotations

from typing import Any

from trainer.core.workspace import Workspace
from trainer.plan.config import resolve_config
from trainer.search.space import LOG, SearchParam
from trainer.search.storage import open_study, seconds_spent
from trainer.store.registry import Registry

# Where the plot of a search is drawn, inside the workspace (a folder whose PNGs the chat may show).
PLOTS = "comparisons"


def plot_path(ws: Workspace, name: str) -> Any:
    return ws.root / PLOTS / f"{name}.png"


def trial_rows(study: Any, registry: Registry) -> list[dict[str, Any]]:
    """One row per trial that started a run: number, state, settings, validation value (the last reported one for
    a pruned trial), its run, and that run's test metrics once it has them."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        run_id = trial.user_attrs.get("run_id")
        if run_id is None and not trial.params:
            continue  # queued, not started
        value = trial.value
        if value is None and trial.intermediate_values:
            value = trial.intermediate_values[max(trial.intermediate_values)]
        run = registry.get_run(int(run_id)) if run_id is not None else None
        rows.append(
            {
                "trial": trial.number,
                "state": trial.state.name.lower(),
                "params": dict(trial.params),
                "value": value,
                "evaluations": len(trial.intermediate_values),
                "run_id": run_id,
                "run_status": run.status if run is not None else None,
                "test_metrics": dict(run.metrics or {}) if run is not None and run.status == "succeeded" else {},
                "eval_loss": trial.user_attrs.get("eval_loss"),
                "interrupted": bool(trial.user_attrs.get("interrupted")),
                "planned": bool(trial.user_attrs.get("planned")),
            }
        )
    return rows


def best_trial(rows: list[dict[str, Any]], direction: int) -> dict[str, Any] | None:
    """The finished trial with the best value; among equal values (common with few validation rows), the one with
    the lower validation loss at the epoch it kept, then the earlier one."""
    complete = [row for row in rows if row["state"] == "complete" and row["value"] is not None]
    if not complete:
        return None

    def rank(row: dict[str, Any]) -> tuple[float, float, int]:
        loss = row.get("eval_loss")
        return (direction * float(row["value"]), -float(loss) if loss is not None else float("-inf"), -row["trial"])

    return max(complete, key=rank)


def summary(ws: Workspace, registry: Registry, name: str) -> dict[str, Any]:
    """The search as the chat and `tunechat search --json` show it: budget, space, trials, the best trial (its
    settings, config and validation value) and the plot."""
    row = registry.get_study(name)
    if row is None:
        from trainer.core.errors import UserError

        raise UserError(f"There is no search named '{name}'; say 'list searches' to see them.")
    settings = row["settings"]
    direction = int(settings["direction"])
    study = open_study(ws, name, direction)
    rows = trial_rows(study, registry)
    best = best_trial(rows, direction)
    space = [SearchParam.from_dict(param) for param in settings["space"]]
    result: dict[str, Any] = {
        "study": name,
        "status": row["status"],
        "error": row["error"],
        "metric": settings["metric"],
        "direction": "maximize" if direction > 0 else "minimize",
        "space": [param.describe() for param in space],
        "budget": {"trials": settings.get("trials"), "minutes": settings.get("minutes")},
        "seconds_spent": round(seconds_spent(study), 1),
        "trials": rows,
        "best": None,
        "plot": None,
    }
    planned = next((trial for trial in rows if trial["planned"] and trial["state"] == "complete"), None)
    if planned is not None:
        result["planned_value"] = planned["value"]
    if best is not None:
        config = resolve_config(settings["config"], best["params"]).to_dict()
        result["best"] = {**best, "metric": settings["metric"], "config": config}
    plotted = [
        {**trial, "best": best is not None and trial["trial"] == best["trial"]}
        for trial in rows
        if trial["value"] is not None
    ]
    if plotted and space:
        result["plot"] = str(plot_trials(plotted, space, settings["metric"], plot_path(ws, name)))
    return result


def plot_trials(rows: list[dict[str, Any]], space: list[SearchParam], metric: str, path: Any) -> Any:
    """One panel per searched setting: the validation value of each trial against that setting's value (filled:
    finished, hollow: pruned, star: the best)."""
    from matplotlib.figure import Figure

    from trainer.evaluate import plots

    figure = Figure(figsize=(3.6 * len(space), 3.2))
    axes = figure.subplots(1, len(space), squeeze=False)[0]
    for axis, param in zip(axes, space, strict=True):
        for state, marker, face in (("complete", "o", "tab:blue"), ("pruned", "o", "none")):
            points = [(row["params"][param.name], row["value"]) for row in rows if row["state"] == state]
            points = [point for point in points if point[0] is not None]
            if points:
                xs = [str(x) for x, _ in points] if isinstance(points[0][0], str) else [x for x, _ in points]
                axis.scatter(
                    xs, [y for _, y in points], marker=marker, facecolors=face, edgecolors="tab:blue", label=state
                )
        best = [row for row in rows if row.get("best")]
        if best and best[0]["params"].get(param.name) is not None:
            axis.scatter(
                [best[0]["params"][param.name]], [best[0]["value"]], marker="*", s=180, color="tab:orange", label="best"
            )
        if param.kind == LOG:
            from matplotlib.ticker import NullFormatter

            axis.set_xscale("log")
            axis.xaxis.set_minor_formatter(NullFormatter())  # the minor ticks' labels overlap
        axis.set_xlabel(param.name.replace("_", " "))
        axis.grid(alpha=0.3)
    axes[0].set_ylabel(metric.replace("_", " "))
    axes[0].legend(fontsize=8)
    figure.suptitle(f"{metric.replace('_', ' ')} of each trial")
    return plots._save(figure, path)
