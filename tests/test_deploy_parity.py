"""After every deploy, the server's answers are checked against the run in this process (parity over HTTP)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from toy_data import make_reviews

from trainer.core.workspace import Workspace
from trainer.plan.config import RunConfig
from trainer.serve.deploy import deploy_run, stop_deployment
from trainer.store.registry import Registry
from ui.render import MARKDOWN


@pytest.mark.slow
def test_a_deployed_lora_chat_run_answers_like_the_run_in_process(lora_chat_run: Path) -> None:
    workspace = Workspace(lora_chat_run.parent.parent)
    registry = Registry(workspace.db_path)
    info = deploy_run(workspace, registry, 1)
    try:
        parity = info["parity"]
        # The same held-out prompts through the adapter in this process and the merged weights behind HTTP.
        assert parity["parity_ok"] is True, parity
        assert parity["checked"] == parity["agreed"] >= 3
        assert {row["trained_finish"] for row in parity["details"]} >= {"stop"}  # the check saw replies end
        shown = MARKDOWN.deployment(info)
        assert "Parity (✅ agrees)" in shown and "agrees with the trained model" in shown
    finally:
        stop_deployment(workspace, registry, 1)


@pytest.mark.slow
def test_a_deployed_classifier_gives_the_probabilities_of_the_run_in_process(
    ws_registry: tuple[Workspace, Registry], trained_model: Path
) -> None:
    ws, registry = ws_registry
    config = RunConfig(data="uploads/reviews.tsv", text_column="text", label_column="label", max_length=32)
    run_id = registry.create_run(config.to_dict())
    run_dir = ws.run_dir(run_id)
    (run_dir / "splits").mkdir(parents=True)
    config.save(run_dir / "config.json")
    shutil.copytree(trained_model, run_dir / "model")
    rows = [{"text": text, "label": label} for text, label in make_reviews(6, seed=3)]
    (run_dir / "splits" / "test.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    registry.update_run(run_id, status="succeeded", run_dir=str(run_dir))

    parity = deploy_run(ws, registry, run_id)["parity"]
    assert parity["parity_ok"] is True and parity["checked"] == parity["agreed"] == 4  # the deploy check's 4
    assert all(row["max_gap"] <= 1e-4 for row in parity["details"])
    assert [row["input"] for row in parity["details"]] == [row["text"] for row in rows[:4]]
