"""Hyperparameter search without training: each task's space, the median pruner on hand-made validation values,
a killed search's running trial settled on resume, and the search plan waiting for the user's yes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.images import result_images
from tools.context import ToolContext
from tools.pending import confirm_pending, pending_action
from trainer.core.errors import UserError
from trainer.core.workspace import Workspace
from trainer.plan.config import RunConfig
from trainer.search.space import only, planned_values
from trainer.search.storage import open_study
from trainer.search.study import run_study
from trainer.store.registry import Registry
from trainer.tasks.registry import get_task


def test_each_task_answers_its_space_and_validation_metric() -> None:
    classifier = get_task("text-classification")
    config = RunConfig(task="text-classification", epochs=4, learning_rate=1e-4).to_dict()
    space = {param.name: param for param in classifier.search_space(config)}
    assert set(space) == {"learning_rate", "epochs", "batch_size", "warmup_ratio", "freeze_layers"}
    assert space["learning_rate"].low == pytest.approx(2e-5) and space["learning_rate"].high == pytest.approx(5e-4)
    assert (space["epochs"].low, space["epochs"].high) == (2, 8)
    assert space["freeze_layers"].high == 4  # MiniLM's 6 layers, two left to train
    assert classifier.search_metric == ("eval_macro_f1", 1)
    assert get_task("regression").search_metric == ("eval_rmse", -1)

    sft = get_task("sft")
    lora = {param.name for param in sft.search_space(RunConfig(task="sft", method="lora").to_dict())}
    assert {"learning_rate", "epochs", "warmup_ratio", "lora_r", "lora_alpha"} == lora
    assert "lora_r" not in {param.name for param in sft.search_space(RunConfig(task="sft", method="full").to_dict())}
    assert sft.search_metric == ("eval_loss", -1)

    # "find the best learning rate" searches that one setting; a setting the task does not search is refused.
    assert [param.name for param in only(space.values(), ["learning_rate"])] == ["learning_rate"]
    with pytest.raises(UserError, match="cannot search lora_r"):
        only(space.values(), ["lora_r"])
    # The plan's own values start the search (epochs 4.0 as the whole number 4).
    assert planned_values(config, space.values())["epochs"] == 4


def _study(registry: Registry, name: str, trials: int, params: list[dict[str, Any]] | None = None) -> None:
    config = RunConfig(data="reviews.csv", task="text-classification", epochs=2, learning_rate=1e-4).to_dict()
    space = params or [{"name": "learning_rate", "kind": "log", "low": 1e-5, "high": 1e-3}]
    settings = {"config": config, "space": space, "trials": trials, "minutes": None}
    registry.create_study(name, {**settings, "metric": "eval_macro_f1", "direction": 1, "task": "text-classification"})


class ScriptedRuns:
    """A launch that registers a run whose metrics.jsonl already holds the given validation values; `done` runs
    have succeeded, the others are still running (no process: stopping one just records it)."""

    def __init__(self, ws: Workspace, registry: Registry, script: list[tuple[list[float], bool]]):
        self.ws, self.registry, self.script = ws, registry, script
        self.configs: list[dict[str, Any]] = []
        self.losses: list[float] = []

    def __call__(self, config: dict[str, Any], registered: Callable[[int], None] = lambda run_id: None) -> int:
        values, done = self.script[len(self.configs)]
        self.configs.append(config)
        run_id = self.registry.create_run(config)
        registered(run_id)
        run_dir = self.ws.run_dir(run_id)
        run_dir.mkdir(parents=True)
        loss = self.losses[len(self.configs) - 1] if self.losses else 0.5
        rows = [{"step": i, "epoch": i, "eval_macro_f1": value, "eval_loss": loss} for i, value in enumerate(values, 1)]
        lines = [json.dumps(row) for row in rows]
        (run_dir / "metrics.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.registry.update_run(run_id, run_dir=str(run_dir), status="succeeded" if done else "running")
        return run_id


@pytest.mark.slow  # Optuna's storage and the plot take about 2 s
def test_the_median_pruner_stops_a_trial_below_the_median_from_its_second_validation(
    ws: Workspace, registry: Registry
) -> None:
    _study(registry, "pruning", trials=4)
    script = [([0.8, 0.9], True), ([0.85, 0.7], True), ([0.6, 0.8], True), ([0.1, 0.2], False)]
    runs = ScriptedRuns(ws, registry, script)
    result = run_study(ws, registry, "pruning", runs)

    states = [(row["trial"], row["state"], row["value"], row["evaluations"]) for row in result["trials"]]
    # A classifier keeps its best epoch, so the second trial counts its first validation (0.85), not its last.
    # The fourth trial's first validation (0.1, under that epoch's median 0.8) prunes nothing yet, since a slow
    # start may end well; its second (0.2, under 0.8) does.
    assert states == [
        (0, "complete", 0.9, 2),
        (1, "complete", 0.85, 2),
        (2, "complete", 0.8, 2),
        (3, "pruned", 0.2, 2),
    ]
    pruned = registry.get_run(result["trials"][3]["run_id"])
    assert pruned.status == "cancelled" and "Pruned by pruning" in (pruned.error or "")
    assert result["best"]["trial"] == 0 and result["best"]["value"] == 0.9
    # The first trial is the plan's own learning rate; the best config is the plan with the best trial's settings.
    assert runs.configs[0]["learning_rate"] == 1e-4
    assert result["best"]["config"]["learning_rate"] == result["best"]["params"]["learning_rate"]
    assert registry.study_runs("pruning") == {row["run_id"]: row["trial"] for row in result["trials"]}
    assert registry.get_study("pruning")["status"] == "finished"  # type: ignore[index]
    # Its plot is a PNG the chat may show under the search tool's known key.
    assert result_images("search_status", {"plot": result["plot"]}, ws) == [str(Path(result["plot"]).resolve())]


@pytest.mark.slow  # Optuna's storage and the plot take about 2 s
def test_equal_values_are_ranked_by_validation_loss(ws: Workspace, registry: Registry) -> None:
    _study(registry, "ties", trials=3)
    runs = ScriptedRuns(ws, registry, [([0.9], True), ([0.9], True), ([0.8], True)])
    runs.losses = [0.4, 0.3, 0.1]
    result = run_study(ws, registry, "ties", runs)
    assert [row["eval_loss"] for row in result["trials"]] == [0.4, 0.3, 0.1]
    assert result["best"]["trial"] == 1  # macro-F1 first, then the lower loss


@pytest.mark.slow  # Optuna's storage and the plot take about 2 s
def test_a_trial_left_running_by_a_killed_search_is_failed_and_run_again(ws: Workspace, registry: Registry) -> None:
    _study(registry, "killed", trials=2)
    study = open_study(ws, "killed", 1)
    study.enqueue_trial({"learning_rate": 3e-4})
    left = study.ask()
    left.suggest_float("learning_rate", 1e-5, 1e-3, log=True)
    orphan = ScriptedRuns(ws, registry, [([0.5], False)])(RunConfig(data="reviews.csv").to_dict())
    registry.add_study_run("killed", orphan, left.number)
    left.set_user_attr("run_id", orphan)  # as a driver killed mid-trial leaves it

    runs = ScriptedRuns(ws, registry, [([0.6], True), ([0.7], True)])
    result = run_study(ws, registry, "killed", runs)

    assert registry.get_run(orphan).status == "failed"
    assert "search stopped before this trial finished" in (registry.get_run(orphan).error or "")
    # The interrupted settings ran again as a new trial; two trials finished, none counted twice.
    assert runs.configs[0]["learning_rate"] == pytest.approx(3e-4)
    finished = [row for row in result["trials"] if row["state"] == "complete"]
    assert len(finished) == 2 and len({row["run_id"] for row in finished}) == 2
    assert [row["state"] for row in result["trials"] if row["interrupted"]] == ["fail"]


@pytest.mark.slow  # the plan inspects the data and measures the machine
def test_a_search_plan_waits_for_the_users_yes(
    ws: Workspace, registry: Registry, reviews_tsv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tools.search_tools as search_tools

    started: list[str] = []
    monkeypatch.setattr(search_tools, "start_search", lambda ctx, name: started.append(name) or 4242)
    ctx = ToolContext(ws, registry, session_id="chat-1")
    path = ws.import_file(reviews_tsv, session_id="chat-1")
    plan = search_tools.plan_search(ctx, path.name, params=["learning_rate"], minutes=15)

    assert plan["needs_confirmation"] and plan["budget"] == "15 minutes"
    assert plan["space"] == ["learning_rate 2e-05 to 0.0005 (log)"]
    assert "learning_rate" in plan["plan"] and pending_action(ctx, "search") is not None
    assert registry.list_studies() == [] and registry.list_runs() == [] and started == []

    started_result = confirm_pending(ctx)
    assert started == [plan["study"]] and started_result["study"] == plan["study"]
    study = registry.get_study(plan["study"])
    assert study is not None and study["session_id"] == "chat-1" and study["settings"]["minutes"] == 15
    with pytest.raises(UserError):
        confirm_pending(ctx)  # one yes, one search
    assert started == [plan["study"]]


def test_search_words_in_guided_mode() -> None:
    from agent.intents import classify

    assert (classify("find the best learning rate").name, classify("find the best learning rate").settings) == (
        "search",
        {"params": ["learning_rate"]},
    )
    assert classify("tune the hyperparameters in 15 minutes").settings == {"minutes": 15.0}
    assert classify("find the best lr and epochs in 6 trials").settings == {
        "trials": 6,
        "params": ["learning_rate", "epochs"],
    }
    texts = ("search status", "resume the search", "stop the search", "resume run 2", "stop", "which run is best")
    assert [classify(text).name for text in texts] == [
        "search_status",
        "search_resume",
        "search_stop",
        "resume",
        "stop",
        "best_run",
    ]


@pytest.mark.slow  # inspects the data and plans
def test_find_the_best_learning_rate_in_the_chat_waits_for_yes(
    reviews_tsv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tools.search_tools as search_tools
    from agent.assistant import Assistant
    from ui.render import MARKDOWN

    started: list[str] = []
    monkeypatch.setattr(search_tools, "start_search", lambda ctx, name: started.append(name) or 4242)
    assistant = Assistant(presenter=MARKDOWN)
    session = assistant.new_session()
    reply = assistant.reply(session, "find the best learning rate", files=[reviews_tsv])
    assert "**Plan:** Search learning_rate on" in reply.text and "10 trials" in reply.text
    assert "- learning_rate 2e-05 to 0.0005 (log)" in reply.text and "Waiting for your yes" in reply.text
    assert assistant.registry.list_studies() == [] and started == []

    reply = assistant.reply(session, "yes")
    assert "started search-1 (10 trials)" in reply.text and started == ["search-1"]
    status = assistant.reply(session, "search status").text
    assert "**search-1**" in status and "No trial has started yet." in status
