"""Identity data ({{name}} and {{author}} in the answers, like LLaMA-Factory's identity.json): the inspection counts
the placeholders, the chat takes their values from the user's words (guided mode and the LLM's tools), training
fills them in the rows it loads (the upload stays as it is), a run without values is refused in one sentence, and
the before/after samples include "Who are you?"."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from scripted_model import ScriptedChatModel, say, tool_call

from agent.assistant import Assistant
from agent.guided_text import LLM_NOTICE
from agent.intents import classify, parse_placeholders
from tools.context import ToolContext
from tools.pending import pending_action
from trainer.core.errors import UserError
from trainer.core.fileio import read_json
from trainer.data.placeholders import count_placeholders, fill_records
from trainer.inspection.report import inspect_file
from ui.render import MARKDOWN
from ui.render.data import render_inspection

QUESTIONS = ["Who are you?", "What is your name?", "Who made you?", "Introduce yourself.", "hi", "Are you a robot?"]
ANSWERS = [
    "I am {{name}}, an AI assistant developed by {{author}}.",
    "You may call me {{name}}.",
    "I was made by {{author}}.",
    "I am {{name}}, trained by {{author}}.",
    "Hello! I am {{name}}. How can I help?",
    "I am an AI assistant.",
]


def write_identity(folder: Path, copies: int = 4) -> Path:
    """Alpaca records in identity.json's style: 24 rows, {{name}} in 16 of them and {{author}} in 12."""
    rows = [
        {"instruction": f"{question}" + (f" ({n})" if n else ""), "input": "", "output": answer}
        for n in range(copies)
        for question, answer in zip(QUESTIONS, ANSWERS, strict=True)
    ]
    path = folder / "identity.json"
    path.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return path


def test_inspection_counts_the_placeholders_and_asks_for_their_values(tmp_path: Path) -> None:
    report = inspect_file(write_identity(tmp_path))
    assert report["placeholders"] == {"name": 16, "author": 12}
    text = render_inspection(report)
    assert "{{name}} (16 rows) and {{author}} (12 rows): what should they be?" in text
    assert "name Nova, author Acme" in text and "the file stays as it is" in text
    assert "placeholders" not in inspect_file(_plain_chats(tmp_path))


def _plain_chats(folder: Path) -> Path:
    path = folder / "plain.jsonl"
    rows = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello."}]}] * 3
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "message",
    ["make the model say it is Nova, made by Acme", "call it Nova by Acme", "name Nova, author Acme"],
)
def test_the_users_words_give_the_values(message: str) -> None:
    assert parse_placeholders(message) == {"name": "Nova", "author": "Acme"}
    intent = classify(message)
    assert intent.name == "settings" and intent.settings["placeholders"] == {"name": "Nova", "author": "Acme"}


def test_values_keep_quotes_and_several_words_and_ordinary_requests_give_none() -> None:
    said = parse_placeholders('fine-tune with lora and call it "Nova Prime", made by Acme Labs.')
    assert said == {"name": "Nova Prime", "author": "Acme Labs"}
    assert parse_placeholders("{{name}} = Nova, {{author}}: Acme") == {"name": "Nova", "author": "Acme"}
    for message in ("what is the name of the best run", "use model org/name", "fine-tune a classifier on this"):
        assert parse_placeholders(message) == {}, message


def test_filling_copies_the_records_and_refuses_missing_values() -> None:
    records = [{"messages": [{"role": "user", "content": "Who?"}, {"role": "assistant", "content": ANSWERS[0]}]}]
    filled = fill_records(records, {"{{name}}": "Nova", "author": " Acme "})
    assert filled[0]["messages"][1]["content"] == "I am Nova, an AI assistant developed by Acme."
    assert records[0]["messages"][1]["content"] == ANSWERS[0]  # the loaded records are not changed in place
    assert count_placeholders(filled) == {}
    with pytest.raises(UserError) as refused:
        fill_records(records, {"name": "Nova"})
    message = str(refused.value)
    assert message.endswith(".") and not re.search(r"[.!?]\s+[A-Z]", message)  # one sentence
    assert "{{author}}" in message and "{{name}}" not in message
    assert "author Acme" in message


def _assistant_with(tiny_llm: Path, chat_model: Any = None) -> Assistant:
    assistant = Assistant(chat_model=chat_model, presenter=MARKDOWN)
    shutil.copytree(tiny_llm, assistant.workspace.models / "tiny-llm")  # the chat names models in the workspace
    return assistant


def test_guided_mode_asks_for_the_values_refuses_to_start_then_takes_them(tiny_llm: Path, tmp_path: Path) -> None:
    assistant = _assistant_with(tiny_llm)
    session = assistant.new_session()
    data = write_identity(tmp_path)
    before = data.read_bytes()

    reply = assistant.reply(session, "fine-tune with lora on this, use model tiny-llm", files=[data])
    assert "| placeholders | {{name}} → ?, {{author}} → ? |" in reply.text
    asked = reply.text.replace(LLM_NOTICE, "").rstrip()  # guided mode's notice comes once, at the end
    assert asked.endswith("{{author}} (12 rows): what should they be? Say e.g. 'name Nova, author Acme'.")

    ctx = ToolContext(assistant.workspace, assistant.registry, session)
    assert pending_action(ctx) is None  # a yes could not start it, so nothing waits for one

    reply = assistant.reply(session, "go")
    assert reply.text.startswith("The data still has {{name}} and {{author}} without a value")
    assert assistant.registry.list_runs() == []

    reply = assistant.reply(session, "make the model say it is Nova, made by Acme")
    assert "| placeholders | {{name}} → Nova, {{author}} → Acme |" in reply.text
    assert "“Who are you?”" in reply.text and "Say **go** to start" in reply.text
    assert "placeholders name Nova, author Acme. Reply **yes**" in reply.text  # in what the user says yes to
    config = pending_action(ctx)["arguments"]["config"]
    assert config["placeholders"] == {"name": "Nova", "author": "Acme"}
    assert config["sample_prompts"] == ["Who are you?", "What is the capital of France?"]
    # Few examples: a higher LoRA rate and smaller batches (more steps) than for a large data set, saying why.
    assert config["learning_rate"] > 2e-4 and config["batch_size"] < 8 and config["method"] == "lora"
    assert "Only 24 examples: 2 passes in small batches make about 12 optimizer steps" in reply.text
    assert data.read_bytes() == before


def test_the_llm_agent_passes_the_values_through_its_tool(tiny_llm: Path, tmp_path: Path) -> None:
    model = ScriptedChatModel().add(
        tool_call("start_training", file="identity.json", model="tiny-llm", placeholders={"name": "Nova"}),
        say("Plan stored."),
    )
    assistant = _assistant_with(tiny_llm, model)
    session = assistant.new_session()
    reply = assistant.reply(session, "make it Nova", files=[write_identity(tmp_path)])
    result = reply.steps[0].result
    assert reply.steps[0].ok and result["config"]["placeholders"] == {"name": "Nova"}
    # The model is told which values are still missing, and the question to ask for them.
    assert result["placeholders_missing"] == ["author"] and "{{author}} (12 rows)" in result["question"]
    assert result["needs_confirmation"] is False and result["next_step"].startswith("Ask: ")
    tool_text = str(model.received[-1][-1].content)
    assert "placeholders_missing" in tool_text


def test_the_cli_refuses_to_start_without_values_and_names_the_flag(
    tiny_llm: Path, tmp_path: Path, registry, capsys: pytest.CaptureFixture[str]
) -> None:
    from ui.cli import main

    code = main(
        ["train", "--data", str(write_identity(tmp_path)), "--model", str(tiny_llm), "--placeholder", "name=Nova"]
    )
    err = capsys.readouterr().err
    assert code != 0 and "The data still has {{author}} without a value" in err
    assert registry.list_runs() == []  # refused before a run was created


def test_a_hosted_upload_is_filled_and_refused_without_values(ws, tmp_path: Path) -> None:
    from trainer.backends.openai.plan import make_plan

    data = write_identity(tmp_path, copies=5)
    before = data.read_bytes()
    with pytest.raises(UserError, match=r"\{\{name\}\} and \{\{author\}\} without a value"):
        make_plan(ws, data, "gpt-4.1-mini", {})
    plan = make_plan(ws, data, "gpt-4.1-mini", {"placeholders": {"name": "Nova", "author": "Acme"}})
    sent = "".join(Path(plan["files"][name]).read_text(encoding="utf-8") for name in ("train", "validation", "test"))
    assert "{{" not in sent and "I am Nova, an AI assistant developed by Acme." in sent
    assert data.read_bytes() == before


@pytest.mark.slow
def test_a_tiny_sft_run_trains_on_filled_rows_and_samples_who_are_you(
    tiny_llm: Path, tmp_path: Path, ws, registry
) -> None:
    from trainer.backends import local
    from trainer.plan.config import resolve_config
    from trainer.tasks.causal_lm.sft import TASK as SFT
    from trainer.tasks.causal_lm.train import train_llm_run

    data = write_identity(tmp_path)
    before = data.read_bytes()
    # What the worker loads (the same task method train_llm_run calls) carries the values, not the placeholders.
    loaded = json.dumps(SFT.load_examples(data, {"name": "Nova", "author": "Acme"}))
    assert "{{" not in loaded and "Nova" in loaded and "Acme" in loaded
    settings = {"data": str(data), "task": "sft", "model": str(tiny_llm), "method": "lora", "max_steps": 2}
    config = resolve_config(settings, {"placeholders": {"name": "Nova", "author": "Acme"}, "batch_size": 8})
    config = resolve_config(config.to_dict(), {"sample_prompts": ["Who are you?"], "max_length": 64})
    run_id = local.create_run(ws, registry, config)
    result = train_llm_run(ws.run_dir(run_id), registry, run_id)
    assert result["status"] == "succeeded"
    assert read_json(ws.run_dir(run_id) / "config.json")["placeholders"] == {"name": "Nova", "author": "Acme"}
    samples = read_json(ws.run_dir(run_id) / "samples.json")
    assert samples["prompts"][0] == [{"role": "user", "content": "Who are you?"}]
    assert len(samples["before"]) == len(samples["after"]) == len(samples["prompts"]) >= 2
    assert data.read_bytes() == before  # the upload is never rewritten

    # Without values the worker refuses too (a run started some other way), naming what is missing.
    unfilled = resolve_config(settings)
    run_id = local.create_run(ws, registry, unfilled)
    with pytest.raises(UserError, match=r"\{\{name\}\} and \{\{author\}\} without a value"):
        train_llm_run(ws.run_dir(run_id), registry, run_id)
    assert "without a value" in registry.get_run(run_id)["error"]
