"""Bad input to a causal-LM run, one sentence each: max_length above the model's context, examples longer than
max_length, prompts that fill it, a model with no chat template, a template without {% generation %} spans."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from trainer.core.errors import UserError
from trainer.plan.config import RunConfig
from trainer.tasks.causal_lm.lengths import check_lengths, clamp_max_length, model_context

PLAIN_TEMPLATE = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"


def _chat(question: str, answer: str, earlier: bool = False) -> dict[str, Any]:
    turns = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}] if earlier else []
    return {"messages": [*turns, {"role": "user", "content": question}, {"role": "assistant", "content": answer}]}


def _tokenizer(tiny_llm: Path, template: str | None = None) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)
    if template is not None:
        tokenizer.chat_template = template
    return tokenizer


def _run_dir(tmp_path: Path) -> Path:
    (tmp_path / "hardware.json").write_text(json.dumps({"choice": {}, "reasons": {}}))
    return tmp_path


def _model(context: int) -> Any:
    return SimpleNamespace(config=SimpleNamespace(max_position_embeddings=context))


def test_max_length_above_the_models_context_is_lowered_to_it_with_the_reason() -> None:
    assert clamp_max_length(1024, 256) == (
        256,
        "max_length 1024 is above the model's context of 256 tokens, so it was lowered to 256 "
        "(the model has no position embeddings past that).",
    )
    assert clamp_max_length(128, 256) == (128, None) and clamp_max_length(4096, None) == (4096, None)
    assert model_context(SimpleNamespace(text_config=SimpleNamespace(n_positions=2048))) == 2048


def test_long_examples_are_counted_prompts_that_fill_max_length_are_dropped_and_the_log_says_so(
    tiny_llm: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tokenizer = _tokenizer(tiny_llm)
    short = [_chat("what color is the sky", "blue") for _ in range(5)]
    long_answer = [_chat("what color is the sky", " ".join(["blue sky"] * 40)) for _ in range(2)]
    long_prompt = [_chat(" ".join(["what color is the sky"] * 20), "blue")]
    config = RunConfig(task="sft", method="lora", max_length=1000)
    run_dir = _run_dir(tmp_path)
    fitted, train, val = check_lengths(
        run_dir, config, _model(64), tokenizer, short + long_answer + long_prompt, short[:2], short, False
    )
    assert fitted.max_length == 64 and len(train) == 7 and train == short + long_answer and val == short[:2]
    notes = json.loads((run_dir / "hardware.json").read_text())["notes"]
    assert notes[0].startswith("max_length 1000 is above the model's context of 64 tokens")
    assert notes[1] == (
        "1 of 8 training examples were dropped: their prompt alone fills max_length (64 tokens), so no reply is "
        "left to learn from."
    )
    assert notes[2].startswith("2 of 8 training examples are longer than max_length (64 tokens; the longest is ")
    assert notes[2].endswith("and are cut to it, so the end of their replies does not train.") and len(notes) == 3
    log = capsys.readouterr().out
    assert all(f"[tunechat] {note}" in log for note in notes)


def test_when_every_prompt_fills_max_length_the_run_stops_with_one_sentence(tiny_llm: Path, tmp_path: Path) -> None:
    tokenizer = _tokenizer(tiny_llm)
    rows = [_chat(" ".join(["what color is the sky"] * 20), "blue") for _ in range(3)]
    config = RunConfig(task="sft", method="lora", max_length=32)
    with pytest.raises(UserError) as refused:
        check_lengths(_run_dir(tmp_path), config, _model(256), tokenizer, rows, [], rows, False)
    message = str(refused.value)
    assert message.startswith("Every training example's prompt alone fills max_length (32 tokens; the longest")
    assert message.endswith("so nothing is left to learn; raise max_length or shorten the prompts.")


def test_the_default_template_and_a_template_without_generation_spans_are_each_said(
    tiny_llm: Path, tmp_path: Path
) -> None:
    from trainer.tasks.causal_lm.data import to_prompt_completion
    from trainer.tasks.causal_lm.templates import DEFAULT_CHAT_TEMPLATE, ensure_chat_template, has_generation_markers

    chats = [_chat("what color is the sky", "blue", earlier=True), _chat("what color is grass", "green")]
    config = RunConfig(task="sft", method="lora", max_length=128)
    run_dir = _run_dir(tmp_path)
    # A tokenizer without a template gets the default ChatML one, which marks every reply with {% generation %}.
    tokenizer = _tokenizer(tiny_llm)
    tokenizer.chat_template = None
    note = ensure_chat_template(tokenizer)
    assert tokenizer.chat_template == DEFAULT_CHAT_TEMPLATE and has_generation_markers(tokenizer.chat_template)
    check_lengths(run_dir, config, _model(256), tokenizer, chats, [], chats, False, note)
    (default,) = json.loads((run_dir / "hardware.json").read_text())["notes"]
    assert default.startswith("The model has no chat template, so tunechat's default ChatML one is used")
    assert "new tokens the model learns only from this data" in default and "chats sent to it later" in default

    rows = [to_prompt_completion(chat) for chat in chats]
    check_lengths(_run_dir(tmp_path), config, _model(256), _tokenizer(tiny_llm, PLAIN_TEMPLATE), rows, [], chats, True)
    (plain,) = json.loads((run_dir / "hardware.json").read_text())["notes"]
    assert plain == (
        "The model's chat template has no {% generation %} spans, so only the last assistant reply of each chat "
        "trains (1 chat has earlier assistant turns that do not train); to train on every turn, split each chat "
        "into one example per assistant reply, or use a model whose template marks replies with {% generation %}."
    )
