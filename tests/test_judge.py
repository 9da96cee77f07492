"""The LLM judge against a loopback chat-completions server with a position bias (swapping the answers cancels it),
the judge's plan and its key, and the forgetting remedy offered as a pending rerun."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hosted_runs import CANARY
from openai_server import FakeOpenAI, text

from agent.suggestions import suggest_next
from tools.context import ToolContext
from tools.forgetting_tools import judge_answers, retrain_with_remedy
from tools.pending import confirm_pending, pending_action
from trainer.backends import local
from trainer.core.errors import UserError
from trainer.core.fileio import atomic_write_json, read_json
from trainer.evaluate.judge import Endpoint, judge, outcome, parse_verdict
from trainer.evaluate.metrics import load_evaluation
from trainer.plan.config import resolve_config
from ui.render import MARKDOWN

ANSWERS = [
    # The tuned answer is right, the base one wrong: both orders pick the tuned one.
    {"prompt": "Capital of France?", "reference": "Paris", "base": "Lyon.", "tuned": "Paris."},
    {"prompt": "2 + 2?", "reference": "4", "base": "5", "tuned": "It is 4."},
    # Both wrong: the judge cannot tell and always says "A" (the answer shown first).
    {"prompt": "Colour of snow?", "reference": "white", "base": "Green.", "tuned": "Red."},
    # The base answer is right: both orders pick it.
    {"prompt": "Opposite of hot?", "reference": "cold", "base": "cold", "tuned": "warm"},
    # The same answer: a tie without asking.
    {"prompt": "Who are you?", "reference": "Nova", "base": "I am Nova.", "tuned": "I am  Nova."},
]


def _section(content: str, name: str) -> str:
    return content.split(f"[{name}]\n", 1)[1].split("\n\n[", 1)[0].split("\n\nWhich", 1)[0]


def biased_judge(body: dict[str, Any]) -> dict[str, Any]:
    """Picks the answer containing the reference; when neither or both do, picks the first shown (position bias)."""
    content = body["messages"][-1]["content"]
    reference = _section(content, "Reference answer").lower()
    a, b = _section(content, "Answer A").lower(), _section(content, "Answer B").lower()
    if (reference in a) != (reference in b):
        return text("A" if reference in a else "B")
    return text("A.")


def _finished_sft(ctx: ToolContext, data_file: Path, evaluation: dict[str, Any], **settings: Any) -> int:
    data = ctx.workspace.import_file(data_file, session_id=ctx.session_id)
    config = resolve_config({"task": "sft", "data": str(data), "method": "lora", "learning_rate": 2e-4, **settings})
    run_id = local.create_run(ctx.workspace, ctx.registry, config, ctx.session_id)
    run_dir = ctx.workspace.run_dir(run_id)
    atomic_write_json(run_dir / "evaluation.json", {"task": "sft", "method": "lora", **evaluation})
    ctx.registry.update_run(run_id, status="succeeded", run_dir=str(run_dir))
    return run_id


def test_verdicts_and_outcomes_of_the_two_orders():
    assert [parse_verdict(t) for t in ("A", "b.", "TIE", "Answer A", "I think B is better", "??")] == [
        "A",
        "B",
        "tie",
        "A",
        "B",
        None,
    ]
    assert outcome("tuned", "tuned") == "win" and outcome("base", "base") == "loss"
    assert outcome("base", "tuned") == "inconsistent" and outcome("tie", "tuned") == outcome(None, "base") == "tie"


def test_swapping_the_answers_cancels_the_judges_position_bias():
    with FakeOpenAI([biased_judge] * 8) as server:
        from trainer.evaluate.judge import openai_asker

        result = judge(ANSWERS, openai_asker(Endpoint(server.base_url, "judge-model", "k")))
        assert len(server.requests) == 8  # two per prompt whose answers differ
    outcomes = [row["outcome"] for row in result["per_prompt"]]
    assert outcomes == ["win", "win", "inconsistent", "loss", "tie"]
    assert (result["wins"], result["ties"], result["losses"], result["inconsistent"]) == (2, 2, 1, 1)
    assert result["win_share"] == 0.4 and result["tuned_score"] == 0.6
    # Asked in one order only (base shown first), the biased judge would have counted the third prompt as a loss.
    assert result["per_prompt"][2]["first"] == "base" and result["per_prompt"][2]["second"] == "tuned"


def test_the_judge_runs_only_on_yes_with_the_key_kept_out_of_files(ws, registry, chat_jsonl):
    with FakeOpenAI([biased_judge] * 8) as server:
        ctx = ToolContext(ws, registry, "chat", judge=Endpoint(server.base_url, "judge-model", CANARY))
        run_id = _finished_sft(ctx, chat_jsonl, {"held_out_answers": ANSWERS})
        plan = judge_answers(ctx)
        assert plan["needs_confirmation"] and plan["requests"] == 8 and "8 requests" in plan["plan"]
        assert "judge-model" in plan["plan"] and server.requests == []  # nothing sent before the yes
        assert CANARY not in repr(ctx) and CANARY not in json.dumps(pending_action(ctx))
        result = confirm_pending(ctx)
        assert len(server.requests) == 8 and set(h["authorization"] for h in server.headers) == {f"Bearer {CANARY}"}
    saved = (ws.run_dir(run_id) / "judge.json").read_text()
    assert CANARY not in saved and read_json(ws.run_dir(run_id) / "judge.json")["wins"] == result["wins"] == 2
    shown = MARKDOWN.evaluation(dict(load_evaluation(ws, registry, run_id)))
    assert re.search(r"wins 2, ties 2 and loses 1", shown) and "order swapped" in shown
    assert "wins 2" in MARKDOWN.judge(result)
    # A yes given after the chat's judge changed does not send requests to the new one.
    judge_answers(ctx)
    other = replace(ctx, judge=Endpoint("http://127.0.0.1:9/v1", "another-model"))
    with pytest.raises(UserError, match="not the one the plan named"):
        confirm_pending(other)


def test_no_judge_configured_and_no_answers_are_refused_in_one_sentence(ws, registry, chat_jsonl):
    ctx = ToolContext(ws, registry, "chat")
    _finished_sft(ctx, chat_jsonl, {})
    with pytest.raises(UserError, match="No LLM is configured to judge with"):
        judge_answers(ctx)
    with pytest.raises(UserError, match="no base and tuned answers"):
        judge_answers(replace(ctx, judge=Endpoint("http://127.0.0.1:9/v1", "m")))


FORGOT = {
    "flagged": True,
    "sentence": "General ability dropped: it answers 20 of 36 general questions right, no longer “Paris?”.",
    "remedy": {"changes": {"general_mix": 0.25, "learning_rate": 1e-4}, "summary": "mix", "next_step": "then"},
}


def test_the_remedy_is_offered_as_a_pending_rerun_with_its_changes(ws, registry, chat_jsonl):
    ctx = ToolContext(ws, registry, "chat")
    run_id = _finished_sft(ctx, chat_jsonl, {"forgetting": FORGOT})
    assert f"retrain run {run_id} with the remedy" in suggest_next(ctx, {})
    plan = retrain_with_remedy(ctx)
    waiting = pending_action(ctx)
    assert waiting is not None and waiting["kind"] == "rerun" and plan["like_run"] == run_id
    config = waiting["arguments"]["config"]
    assert config["general_mix"] == 0.25 and config["learning_rate"] == 1e-4 and config["task"] == "sft"
    assert plan["changes"]["general_mix"] == {"from": 0.0, "to": 0.25}
    assert "yes" in MARKDOWN.remedy_plan(plan) and "general mix" in MARKDOWN.remedy_plan(plan)
    # A run whose evaluation did not flag forgetting has no remedy to apply.
    held = _finished_sft(ctx, chat_jsonl, {"forgetting": {"flagged": False, "sentence": "held"}})
    with pytest.raises(UserError, match="did not flag forgetting"):
        retrain_with_remedy(ctx, held)


def test_the_report_shows_the_forgetting_figures_and_the_remedy_when_flagged():
    record = {
        "perplexity_before": 10.0,
        "perplexity_after": 13.0,
        "perplexity_rise": 0.3,
        "kl_mean": 0.8,
        "kl_max": 1.5,
        "questions": 36,
        "right_before": 22,
        "right_after": 20,
        "thresholds": {"perplexity_rise": 0.2, "answers_lost": 2, "kl_mean": 0.5},
        **FORGOT,
    }
    shown = MARKDOWN.evaluation({"task": "sft", "first_loss": 2.0, "final_loss": 0.5, "forgetting": record})
    assert "General ability" in shown and "+30%" in shown and "22 of 36" in shown and "0.8" in shown
    assert "Remedy" in shown and "general mix 0.25" in shown and "retrain with the remedy" in shown
    held = MARKDOWN.evaluation({"task": "sft", "forgetting": {**record, "flagged": False, "sentence": "held"}})
    assert "Remedy" not in held and "held" in held


def test_the_command_line_judges_with_the_flags_endpoint_and_its_key_variable(
    ws, registry, chat_jsonl, monkeypatch, capsys
):
    from ui.cli import main

    monkeypatch.setenv("JUDGE_KEY", CANARY)
    run_id = _finished_sft(ToolContext(ws, registry, None), chat_jsonl, {"held_out_answers": ANSWERS})
    with FakeOpenAI([biased_judge] * 8) as server:
        flags = ["--judge-base-url", server.base_url, "--judge-model", "judge-model", "--judge-key-env", "JUDGE_KEY"]
        assert main(["judge", str(run_id), *flags, "--yes", "--json"]) == 0
        assert {h["authorization"] for h in server.headers} == {f"Bearer {CANARY}"}
    out, err = capsys.readouterr()
    result = json.loads(out.strip().splitlines()[-1])
    assert (result["wins"], result["ties"], result["losses"]) == (2, 2, 1) and "8 requests" in err
    assert CANARY not in out + err


def test_guided_mode_plans_the_remedy_and_says_when_no_judge_is_configured(chat_jsonl):
    from agent.assistant import Assistant

    assistant = Assistant(presenter=MARKDOWN)
    session = assistant.new_session()
    ctx = assistant.context(session)
    run_id = _finished_sft(ctx, chat_jsonl, {"forgetting": FORGOT})
    reply = assistant.reply(session, f"retrain run {run_id} with the remedy")
    waiting = pending_action(ctx)
    assert "general mix 0 → 0.25" in reply.text and waiting is not None and waiting["kind"] == "rerun"
    reply = assistant.reply(session, f"judge run {run_id}")
    assert "No LLM is configured to judge with" in reply.text
