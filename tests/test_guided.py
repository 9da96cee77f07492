"""Guided mode, end to end through the real tools: upload, plan, change settings, train, status,
evaluate, compare, deploy, list runs; plus the bad inputs and a restart."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from agent.assistant import Assistant
from agent.guided_text import LLM_NOTICE
from trainer.serve.deploy import list_deployments, stop_deployment
from ui.render import MARKDOWN


def wait_for_run(assistant: Assistant, session: str, timeout: float = 240) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = assistant.reply(session, "status").text
        if "**succeeded**" in text or "**failed**" in text or "**cancelled**" in text:
            return text
        time.sleep(1)
    raise AssertionError("run did not finish in time")


@pytest.mark.slow
def test_whole_loop_in_guided_mode(assistant_with_tiny_model, reviews_tsv: Path) -> None:
    assistant, session = assistant_with_tiny_model

    reply = assistant.reply(session, "fine-tune a sentiment classifier on this", files=[reviews_tsv])
    assert "120 rows" in reply.text
    assert "Text column: `text`" in reply.text and "Label column: `label`" in reply.text
    assert "**Plan**" in reply.text and "Estimated run time" in reply.text
    assert reply.text.count(LLM_NOTICE) == 1
    assert [step.name for step in reply.steps] == ["inspect_data", "propose_plan"]

    reply = assistant.reply(session, "use model tiny")
    assert "model → tiny" in reply.text
    reply = assistant.reply(session, "use 6 epochs and learning rate 1e-2")
    assert "| epochs | 6 |" in reply.text and "| learning rate | 0.01 |" in reply.text
    assert LLM_NOTICE not in reply.text  # said once per session

    reply = assistant.reply(session, "go")
    assert "Started **run 1**" in reply.text
    final = wait_for_run(assistant, session)
    assert "Run 1 is **succeeded**" in final
    assert "majority-class baseline" in final and "macro-F1" in final

    evaluation = assistant.reply(session, "what are the results?")
    assert evaluation.images and all(Path(image).is_file() for image in evaluation.images)
    accuracy = assistant.registry.get_run(1)["metrics"]["accuracy"]
    assert accuracy >= 0.9, accuracy  # the toy task is learnable; the baseline is 0.5

    assistant.reply(session, "fine-tune a classifier on this")  # a new plan from the same file
    assistant.reply(session, "use 2 epochs")
    assert "Started **run 2**" in assistant.reply(session, "yes").text
    wait_for_run(assistant, session)

    comparison = assistant.reply(session, "compare run 1 and run 2")
    assert "**epochs** ≠" in comparison.text
    assert comparison.images and Path(comparison.images[0]).read_bytes().startswith(b"\x89PNG")

    planned = assistant.reply(session, "deploy run 1")
    assert "**Waiting for your yes:** Deploy run 1" in planned.text
    assert list_deployments(assistant.workspace, assistant.registry) == []  # only a plan until the user's yes
    deployed = assistant.reply(session, "yes")
    try:
        url = next(d for d in list_deployments(assistant.workspace, assistant.registry) if d["run_id"] == 1)["url"]
        assert url in deployed.text and "curl" in deployed.text
        request = urllib.request.Request(
            url.rstrip("/") + "/predict",
            data=json.dumps({"inputs": ["wonderful food today", "awful service today"]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            predictions = json.loads(response.read())
        assert [p[0]["label"] for p in predictions] == ["pos", "neg"]
    finally:
        stop_deployment(assistant.workspace, assistant.registry, 1)

    runs = assistant.reply(session, "list runs").text
    assert "| 1 | succeeded |" in runs and "| 2 | succeeded |" in runs

    # A restart: a new Assistant on the same workspace sees the history and the runs.
    restarted = Assistant(presenter=MARKDOWN)
    history = restarted.history(session)
    assert history[0]["role"] == "user" and "[uploaded reviews.tsv]" in history[0]["content"]
    assert len(restarted.registry.list_runs()) == 2


def test_go_without_a_plan_and_unknown_runs_get_one_clear_sentence() -> None:
    assistant = Assistant(presenter=MARKDOWN)
    session = assistant.new_session()
    text = assistant.reply(session, "go").text
    assert text.startswith("There is no plan to start yet; upload a data file")
    assert assistant.reply(session, "evaluate run 99").text.startswith("There is no run 99;")
    assert "Upload a CSV, TSV or JSONL file" in assistant.reply(session, "inspect my data").text
    assert assistant.registry.list_runs() == []


def test_bad_files_are_explained_and_nothing_starts(tmp_path: Path) -> None:
    assistant = Assistant(presenter=MARKDOWN)
    session = assistant.new_session()
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "'empty.csv' is empty" in assistant.reply(session, "train on this", files=[empty]).text

    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(bytes(range(256)) * 20)
    assert "binary" in assistant.reply(session, "inspect", files=[garbage]).text

    one_class = tmp_path / "one_class.csv"
    one_class.write_text("text,label\n" + "".join(f"some example number {i},spam\n" for i in range(20)))
    text = assistant.reply(session, "train", files=[one_class]).text
    assert "single class" in text and "'label'" in text
    assert assistant.registry.list_runs() == []


def test_help_and_unknown_messages_list_what_to_say() -> None:
    assistant = Assistant(presenter=MARKDOWN)
    session = assistant.new_session()
    assert "compare run 1 and run 2" in assistant.reply(session, "help").text
    assert assistant.reply(session, "what's the weather like").text.startswith("I did not catch that.")


def test_a_model_path_outside_the_workspace_is_refused(reviews_tsv: Path, tiny_bert: Path) -> None:
    assistant = Assistant(presenter=MARKDOWN)
    session = assistant.new_session()
    assistant.reply(session, "inspect", files=[reviews_tsv])
    text = assistant.reply(session, f"use model {tiny_bert}").text
    assert "is outside the tunechat workspace" in text
