"""The planner pushes back on settings that will clearly hurt (far too few steps, a learning rate 100x off), with the
reason and what it would use instead, and still starts exactly what the user asked for on their yes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from toy_data import make_reviews

from tools.context import ToolContext
from tools.data_tools import propose_plan
from tools.pending import confirm_pending
from trainer.backends import runs
from trainer.plan.plan import Plan, PlanRow
from trainer.plan.pushback import optimizer_steps, push_back
from ui.render import MARKDOWN

USUAL = {"epochs": 4.0, "learning_rate": 1e-4, "batch_size": 16, "val_fraction": 0.1, "test_fraction": 0.1}


def _plan(**changes: Any) -> Plan:
    config = {**USUAL, **changes}
    table = [PlanRow("epochs", config["epochs"], "why"), PlanRow("learning rate", config["learning_rate"], "why")]
    return Plan(config=config, reasons={}, rows=200, table=table)


def test_two_epochs_on_160_training_rows_and_a_rate_100x_the_usual_are_pushed_back() -> None:
    asked: list[dict[str, Any]] = []

    def propose(settings: dict[str, Any]) -> Plan:
        asked.append(settings)
        return _plan(**{key: value for key, value in settings.items() if key in USUAL})

    settings = {"epochs": 2, "learning_rate": 1e-2, "model": "tiny"}
    plan = push_back(_plan(epochs=2.0, learning_rate=1e-2), settings, propose)
    assert asked == [{"model": "tiny"}]  # the plan without the user's training settings, asked for once
    assert plan.config["epochs"] == 2.0 and plan.config["learning_rate"] == 1e-2  # the user's values stay
    warnings = {warning["setting"]: warning for warning in plan.extra["warnings"]}
    assert warnings["epochs"]["value"] == 2.0 and warnings["epochs"]["instead"] == 4.0
    assert "only 20 optimizer steps (160 training rows in batches of 16)" in warnings["epochs"]["reason"]
    assert "the plan's value gives 40 steps" in warnings["epochs"]["reason"]
    assert warnings["learning_rate"]["instead"] == 1e-4
    assert "100 times the 0.0001" in warnings["learning_rate"]["reason"]
    assert warnings["learning_rate"]["sentence"].endswith("the plan keeps your value, so a yes starts it as you asked.")
    assert [row.reason.startswith("why Warning: ") for row in plan.table] == [True, True]
    assert optimizer_steps({**USUAL, "max_steps": 7}, 200) == 7


def test_settings_that_will_not_clearly_hurt_are_left_alone() -> None:
    def propose(settings: dict[str, Any]) -> Plan:
        return _plan()

    for settings in ({"epochs": 3}, {"learning_rate": 5e-4}, {"epochs": 20}, {"model": "tiny"}):
        plan = _plan(**{key: value for key, value in settings.items() if key in USUAL})
        assert "warnings" not in push_back(plan, settings, propose).extra
    # Enough steps already (many rows): two epochs are fine even where the planner would take four.
    big = Plan(config={**USUAL, "epochs": 2.0}, reasons={}, rows=5000)
    assert "warnings" not in push_back(big, {"epochs": 2}, lambda settings: Plan(USUAL, {}, rows=5000)).extra
    # A rate 100x below the usual is pushed back as well.
    low = push_back(_plan(learning_rate=1e-6), {"learning_rate": 1e-6}, propose)
    assert "barely move" in low.extra["warnings"][0]["reason"]


@pytest.mark.slow
def test_the_user_who_insists_gets_the_run_they_asked_for(tmp_path: Path, tiny_bert: Path) -> None:
    ctx = ToolContext.from_env(session_id="insist")
    shutil.copytree(tiny_bert, ctx.workspace.models / "tiny")
    data = tmp_path / "reviews.tsv"
    data.write_text("label\ttext\n" + "".join(f"{y}\t{x}\n" for x, y in make_reviews(200)), encoding="utf-8")
    name = ctx.workspace.import_file(data, session_id="insist").name

    plan = propose_plan(ctx, name, model="tiny", epochs=2, learning_rate=1e-2).to_dict()
    assert {warning["setting"] for warning in plan["warnings"]} == {"epochs", "learning_rate"}
    shown = MARKDOWN.plan(plan)
    assert shown.count("**Warning:**") == 2 and "I would use 4" in shown and "I would use 0.0001" in shown
    started = confirm_pending(ctx, kind="train")
    try:
        launched = json.loads((ctx.workspace.run_dir(started["run_id"]) / "config.json").read_text())
    finally:
        runs.stop_run(ctx.workspace, ctx.registry, started["run_id"], grace_s=5)
    assert launched["epochs"] == 2 and launched["learning_rate"] == 1e-2 and launched == plan["config"]
