"""The chat path for causal LMs: guided mode plans and starts an SFT LoRA run on a dropped chat JSONL."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from agent.assistant import Assistant
from agent.intents import parse_settings
from ui.render import MARKDOWN


def test_method_and_task_words_are_settings():
    assert parse_settings("fine-tune with lora on this") == {"method": "lora"}
    assert parse_settings("use qlora and dpo")["method"] == "qlora"
    assert parse_settings("do a full fine-tune with dpo") == {"method": "full", "task": "dpo"}


def test_early_stopping_is_a_setting_in_plain_words():
    assert parse_settings("train 500 epochs without early stopping") == {"epochs": 500.0, "early_stopping_patience": 0}
    assert parse_settings("no early stopping please")["early_stopping_patience"] == 0
    assert parse_settings("use early stopping patience 3") == {"early_stopping_patience": 3.0}
    assert "early_stopping_patience" not in parse_settings("train for 5 epochs with early stopping")


@pytest.mark.slow
def test_guided_mode_plans_and_starts_lora_sft_on_a_chat_file(tiny_llm: Path, chat_jsonl: Path):
    assistant = Assistant(presenter=MARKDOWN)
    shutil.copytree(tiny_llm, assistant.workspace.models / "tiny-llm")
    session = assistant.new_session()

    reply = assistant.reply(session, "fine-tune with lora on this", files=[chat_jsonl])
    # Without a named model a CPU gets the offline catalog's SmolLM2, announced with what its first use costs.
    assert reply.steps[0].result["config"]["model"] == "smollm2"
    assert "SmolLM2-135M-Instruct" in reply.text

    reply = assistant.reply(session, "use model tiny-llm")
    assert [step.name for step in reply.steps] == ["propose_plan"]
    plan = reply.steps[0].result
    assert plan["config"]["task"] == "sft" and plan["config"]["method"] == "lora"
    assert "lora" in reply.text.lower()

    reply = assistant.reply(session, "go")
    assert "Started **run 1**" in reply.text
    deadline = time.time() + 120
    while assistant.registry.get_run(1)["status"] in ("queued", "running"):
        assert time.time() < deadline
        time.sleep(0.5)
    run = assistant.registry.get_run(1)
    assert run["status"] == "succeeded", run["error"]
    assert run["metrics"]["final_loss"] < run["metrics"]["first_loss"]
    reply = assistant.reply(session, "status")
    assert "training loss" in reply.text and "before" in reply.text
