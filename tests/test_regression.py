"""Text regression end to end: `tunechat train --data` in a worker process, the evaluation against the training-mean
baseline, the predicted-vs-true plot the chat shows, the served model's scores, guided chat's plan, bad targets."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from http_probe import predict
from toy_data import FILLER, POSITIVE

from agent.assistant import Assistant
from agent.images import result_images
from trainer.core.errors import UserError
from trainer.core.fileio import read_jsonl
from trainer.core.workspace import Workspace
from trainer.data.read import load_table
from trainer.evaluate.compare import compare_runs
from trainer.evaluate.metrics import mean_baseline, regression_metrics
from trainer.inspection.report import inspect_file
from trainer.plan.config import RunConfig
from trainer.serve.http import ModelSlot
from trainer.serve.listen import Server
from trainer.serve.regressor import create_regressor_app
from trainer.store.registry import Registry
from trainer.tasks.registry import task_for_data
from trainer.tasks.text_regression.data import left_out_sentence, regression_examples
from trainer.tasks.text_regression.predict import Regressor
from ui.render import MARKDOWN

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
METRICS = ("rmse", "mae", "r2", "spearman", "pearson")


def write_scores(path: Path, n: int = 120, extra: list[str] | None = None) -> Path:
    """Texts whose score is 10 + 1.5 x the number of glowing words in them (0 to 4), with a little noise."""
    rng = random.Random(0)
    lines = ["text,score"]
    for i in range(n):
        glowing = i % 5
        words = rng.sample(POSITIVE, glowing) + rng.sample(FILLER, 5 - glowing)
        rng.shuffle(words)
        lines.append(f"{' '.join(words)},{10 + 1.5 * glowing + rng.uniform(-0.2, 0.2):.3f}")
    path.write_text("\n".join([*lines, *(extra or [])]) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow
def test_cli_trains_a_regression_run_that_beats_the_mean_and_serves_scores(tmp_path: Path, tiny_bert: Path) -> None:
    data = write_scores(tmp_path / "scores.csv", extra=["the food was great,lots"])
    command = [sys.executable, "-m", "ui.cli", "train", "--data", str(data), "--model", str(tiny_bert)]
    command += ["--epochs", "10", "--lr", "3e-3", "--batch-size", "8", "--json"]
    result = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy(), timeout=300)
    assert result.returncode == 0, result.stderr
    trained = json.loads(result.stdout)
    assert trained["status"] == "succeeded"

    ws = Workspace.from_env()
    run_dir = ws.run_dir(trained["run_id"])
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    assert set(METRICS) <= set(evaluation) and all(isinstance(evaluation[key], float) for key in METRICS)
    baseline = evaluation["baseline"]
    assert {"prediction", "rmse", "mae"} <= set(baseline) and 12 < baseline["prediction"] < 14
    assert evaluation["rmse"] < 0.5 * baseline["rmse"] and evaluation["mae"] < 0.5 * baseline["mae"]
    assert evaluation["r2"] > 0.7 and evaluation["spearman"] > 0.7
    # The row whose score is a word was left out with one sentence naming the column and its line.
    assert evaluation["left_out"] == (
        "1 row has a 'score' that is not a number (line 122), so it is left out; fix or delete it to use it."
    )
    logged = read_jsonl(run_dir / "metrics.jsonl")
    losses = [row["loss"] for row in logged if "loss" in row]
    assert sum(losses[-2:]) / 2 < 0.5 * sum(losses[:2]) / 2
    # Validation is scored in the target's units each epoch.
    assert {"eval_loss", "eval_rmse", "eval_r2"} <= set(next(row for row in logged if "eval_loss" in row))
    scatter = Path(evaluation["scatter_png"])
    assert scatter.parent == run_dir and scatter.read_bytes()[:8] == PNG_MAGIC
    # The chat shows the plot: its key is one the evaluation tool's images are taken from.
    assert str(scatter.resolve()) in result_images("evaluate_run", evaluation, ws)
    row = Registry(ws.db_path).get_run(trained["run_id"])
    assert row["task"] == "text-regression" and row["metrics"]["rmse"] == evaluation["rmse"]
    assert "baseline (always the training mean" in MARKDOWN.evaluation({**evaluation, "run_id": 1})

    regressor = Regressor.from_run(run_dir)
    with Server(create_regressor_app(ModelSlot(regressor)), "127.0.0.1", 0, quiet=True) as server:
        status, one = predict(server.url, {"inputs": "great lovely excellent wonderful the"})
        assert status == 200 and list(one[0]) == ["score"] and len(one) == 1
        status, two = predict(server.url, {"inputs": ["great lovely excellent wonderful the", "the food"]})
        assert status == 200 and len(two) == 2
        assert two[0]["score"] > two[1]["score"] + 2  # four glowing words score about 6 more than none
        status, refused = predict(server.url, {"inputs": {"text": "a", "text_pair": "b"}})
        assert status == 400 and refused["error"].startswith("This model was trained on single texts, not pairs;")


def test_guided_chat_routes_a_file_of_scores_to_a_regression_plan(tmp_path: Path) -> None:
    assistant = Assistant(presenter=MARKDOWN)
    session = assistant.new_session()
    reply = assistant.reply(session, "fine-tune on this", files=[write_scores(tmp_path / "scores.csv")])
    assert [step.name for step in reply.steps] == ["inspect_data", "propose_plan"]
    assert "regression" in reply.text and "**Plan**" in reply.text
    assert "| target | score (standardised) |" in reply.text and "original units" in reply.text
    assert "Train text regression on scores.csv" in reply.text
    plan = reply.steps[-1].result
    assert plan["config"]["task"] == "text-regression" and plan["config"]["label_column"] == "score"


def test_a_target_that_is_not_a_number_is_one_sentence_naming_the_column_and_line(tmp_path: Path) -> None:
    path = write_scores(tmp_path / "scores.csv", n=40, extra=["the food was great,lots", "the staff,n/a"])
    report = inspect_file(path)
    problem = next(p for p in report["problems"] if p["code"] == "non_numeric_labels")
    assert "'score'" in problem["message"] and "lines 42, 43" in problem["message"]
    found = regression_examples(load_table(path), "text", "score")
    assert found.not_numbers == [42, 43] and len(found.values) == 40
    sentence = left_out_sentence(found, "score")
    assert sentence is not None and sentence.count(". ") == 0 and "'score'" in sentence and "lines 42, 43" in sentence

    words = tmp_path / "words.csv"
    words.write_text("text,score\nthe food was great,high\nthe staff was awful,low\n", encoding="utf-8")
    with pytest.raises(UserError) as refused:
        regression_examples(load_table(words), "text", "score")
    assert "'score'" in str(refused.value) and "line 2" in str(refused.value)


def test_regression_metrics_and_the_training_mean_baseline() -> None:
    scores = regression_metrics([1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 2.5, 5.0])
    assert scores["rmse"] == pytest.approx((0.25 + 0 + 0.25 + 1) ** 0.5 / 2)
    assert scores["mae"] == pytest.approx(0.5)
    assert scores["r2"] == pytest.approx(1 - 1.5 / 5)
    assert scores["spearman"] == pytest.approx(1.0) and 0.9 < scores["pearson"] < 1
    baseline = mean_baseline([2.0, 4.0], [1.0, 5.0])
    assert baseline == {"prediction": 3.0, "rmse": 2.0, "mae": 2.0, "r2": 0.0}
    # A constant prediction has no correlation: None, not NaN in evaluation.json.
    assert regression_metrics([1.0, 2.0], [3.0, 3.0])["spearman"] is None


def listed_runs(ws: Workspace, registry: Registry) -> list[dict[str, Any]]:
    from tools.context import ToolContext
    from tools.run_tools import list_runs

    return list(list_runs(ToolContext(ws, registry))["runs"])


def test_compare_ranks_regression_runs_by_the_lowest_rmse(ws_registry: tuple[Workspace, Registry]) -> None:
    ws, registry = ws_registry
    ids = []
    for rmse in (0.9, 0.4):
        config = RunConfig(data="uploads/scores.csv", task="text-regression", text_column="text", label_column="score")
        run_id = registry.create_run(config.to_dict())
        ws.run_dir(run_id).mkdir(parents=True)
        config.save(ws.run_dir(run_id) / "config.json")
        metrics = {"rmse": rmse, "mae": rmse / 2, "r2": 1 - rmse, "baseline_rmse": 2.0, "final_loss": 0.1}
        registry.update_run(run_id, status="succeeded", run_dir=str(ws.run_dir(run_id)), metrics=metrics)
        ids.append(run_id)
    result = compare_runs(ws, registry, ids)
    assert result["best_metric"] == "rmse" and result["best_run"] == ids[1]
    rows = {row["metric"]: row for row in result["metric_rows"]}
    assert rows["rmse"]["values"] == [0.9, 0.4] and rows["r2"]["best_run"] == ids[1]
    assert rows["baseline_rmse"]["best_run"] is None  # context, not a score
    assert "Best RMSE: run 2." in MARKDOWN.comparison(result)
    assert task_for_data(write_scores(ws.root / "scores.csv")).rank_metric == "rmse"
    # The runs list shows each run's result by its task's own metric, not a classifier's empty columns.
    listed = {run["id"]: run for run in listed_runs(ws, registry)}
    assert listed[ids[0]]["result"] == "RMSE 0.900" and listed[ids[1]]["result"] == "RMSE 0.400"


def test_training_takes_only_the_cores_other_processes_leave_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    from trainer.tasks import encoder_run

    monkeypatch.setattr(encoder_run, "physical_cores", lambda: 4)
    monkeypatch.setattr(encoder_run.os, "getloadavg", lambda: (0.4, 0.0, 0.0))
    assert encoder_run.training_threads() == 4  # an idle machine: every core
    monkeypatch.setattr(encoder_run.os, "getloadavg", lambda: (2.5, 0.0, 0.0))
    assert encoder_run.training_threads() == 2
    monkeypatch.setattr(encoder_run.os, "getloadavg", lambda: (9.0, 0.0, 0.0))
    assert encoder_run.training_threads() == 1  # never none


def test_treat_it_as_regression_turns_whole_star_ratings_into_a_regression_plan(tmp_path: Path) -> None:
    stars = tmp_path / "stars.csv"
    rng = random.Random(1)
    rows = [f"{' '.join(rng.sample(FILLER, 3) + rng.sample(POSITIVE, i % 5))},{i % 5 + 1}" for i in range(60)]
    stars.write_text("review,stars\n" + "\n".join(rows) + "\n", encoding="utf-8")
    assistant = Assistant(presenter=MARKDOWN)
    session = assistant.new_session()
    reply = assistant.reply(session, "inspect this", files=[stars])
    assert "Label column: `stars`" in reply.text  # five whole numbers look like classes
    assistant.reply(session, "treat it as regression")
    reply = assistant.reply(session, "fine-tune on this")
    plan = reply.steps[-1].result
    assert reply.steps[-1].name == "propose_plan" and plan["config"]["task"] == "text-regression"
    assert plan["config"]["label_column"] == "stars" and "| target | stars (standardised) |" in reply.text
