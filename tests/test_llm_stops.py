"""Stop tokens: generation ends at every end-of-turn id a model's generation config lists (not only the
tokenizer's EOS), in the run's sample generations, the chat API and a run's saved model; no reply shows one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from http_probe import COMPLETIONS, post
from toy_models import STOP_CHAINS, build_two_stop_llm

from trainer.serve.chat import create_chat_app
from trainer.serve.http import ModelSlot
from trainer.serve.listen import Server
from trainer.tasks.causal_lm.generate import ChatModel, Sampling, generate, load_chat_model

MARKERS = ("<|eot|>", "<|end|>")


def _load(folder: Path) -> tuple[object, object]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)


def _asks(word: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": word}]


@pytest.mark.slow
def test_samples_and_the_chat_model_stop_at_each_end_of_turn_id_of_the_generation_config(tmp_path: Path) -> None:
    model, tokenizer = _load(build_two_stop_llm(tmp_path / "two-stop"))
    # The tokenizer's EOS is <|eot|> only; <|end|> ends a turn because the generation config lists it.
    assert tokenizer.eos_token == "<|eot|>" and len(model.generation_config.eos_token_id) == 2
    assert generate(model, tokenizer, [_asks("alpha"), _asks("beta")]) == ["one two", "three"]

    chat = ChatModel(model, tokenizer, "tunechat-run-1")
    for word, reply in (("alpha", "one two"), ("beta", "three")):
        answer = chat.complete(_asks(word), Sampling(max_new_tokens=10))
        assert answer["choices"][0]["message"]["content"] == reply
        assert answer["choices"][0]["finish_reason"] == "stop"
        assert answer["usage"]["completion_tokens"] == len(STOP_CHAINS[word]) < 10  # the stop token counts
        streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chat.stream(_asks(word), Sampling()))
        assert streamed == reply
    endless = chat.complete(_asks("gamma"), Sampling(max_new_tokens=5))
    assert endless["choices"][0]["finish_reason"] == "length" and endless["usage"]["completion_tokens"] == 5


@pytest.mark.slow
def test_the_server_stops_at_the_end_of_turn_token_and_never_shows_it(tmp_path: Path) -> None:
    model, tokenizer = _load(build_two_stop_llm(tmp_path / "two-stop"))
    served = ChatModel(model, tokenizer, "tunechat-run-2", 2)
    with Server(create_chat_app(ModelSlot(served)), "127.0.0.1", 0, quiet=True) as server:
        answer = post(server.url, COMPLETIONS, {"messages": _asks("beta"), "max_tokens": 12})
        streamed = post(server.url, COMPLETIONS, {"messages": _asks("alpha"), "max_tokens": 12, "stream": True})
    assert answer.status == 200
    reply = answer.json()
    assert reply["choices"][0]["finish_reason"] == "stop" and reply["choices"][0]["message"]["content"] == "three"
    assert reply["usage"]["completion_tokens"] < 12
    events = streamed.events()
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events if isinstance(e, dict))
    assert text == "one two" and not any(marker in streamed.body.decode() for marker in MARKERS)


@pytest.mark.slow
def test_a_saved_adapter_carries_its_stop_tokens_and_chat_template_and_is_served_with_them(tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model

    from trainer.plan.config import RunConfig
    from trainer.tasks.causal_lm.train import _save_model

    base = build_two_stop_llm(tmp_path / "two-stop")
    model, tokenizer = _load(base)
    adapter = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM"))
    run_dir = tmp_path / "runs" / "run-3"
    run_dir.mkdir(parents=True)
    config = RunConfig(task="sft", method="lora", model=str(base))
    config.save(run_dir / "config.json")
    _save_model(adapter, tokenizer, run_dir, config)

    saved = json.loads((run_dir / "model" / "generation_config.json").read_text())
    ids = tokenizer.convert_tokens_to_ids(list(MARKERS))
    assert sorted(saved["eos_token_id"]) == sorted(ids) and saved["pad_token_id"] == tokenizer.pad_token_id
    assert "m.role" in (run_dir / "model" / "chat_template.jinja").read_text()
    # The base model's own config now knows only the tokenizer's EOS: what is served comes from the run's folder.
    base_config = json.loads((base / "generation_config.json").read_text())
    (base / "generation_config.json").write_text(json.dumps({**base_config, "eos_token_id": ids[0]}))
    served_model, served_tokenizer = load_chat_model(run_dir)
    chat = ChatModel(served_model, served_tokenizer, "tunechat-run-3")
    assert sorted(chat.stops) == sorted(ids)
    answer = chat.complete(_asks("beta"), Sampling(max_new_tokens=8))
    assert answer["choices"][0]["finish_reason"] == "stop" and answer["choices"][0]["message"]["content"] == "three"


class _ByteTokenizer:
    """Token ids are UTF-8 bytes (999 is the end-of-turn token), so a reply can stop inside a character."""

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return bytes(token for token in ids if token < 256).decode("utf-8", errors="replace")

    def convert_ids_to_tokens(self, token: int) -> str:
        return "<eot>"


def test_a_reply_cut_by_the_token_limit_inside_a_character_drops_the_half_character() -> None:
    from trainer.tasks.causal_lm.stops import reply_text

    half = list("Nova é".encode())[:-1]  # the last byte of "é" never came
    assert reply_text(_ByteTokenizer(), half, [999]) == ("Nova ", False)
    whole = list("Nova é".encode()) + [999]
    assert reply_text(_ByteTokenizer(), whole, [999]) == ("Nova é", True)
