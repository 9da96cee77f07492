"""The playground: a finished tiny LoRA SFT run answers a message beside its base model (each its own model, each
loaded once), a text classifier scores a text, and a run it cannot try gets one sentence; through its web handlers
and the web app's API too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from trainer.backends import local
from trainer.core.errors import UserError
from trainer.core.workspace import Workspace
from trainer.plan.config import RunConfig, resolve_config
from trainer.serve import playground as playground_module
from trainer.serve.playground import CHAT, CLASSIFIER, ModelCache, Playground
from trainer.store.registry import Registry

IDENTITY = [
    ("who are you?", "I am Nova, made by Acme."),
    ("what is your name?", "My name is Nova."),
    ("who made you?", "Acme made me."),
]


def _data(folder: Path) -> Path:
    rows = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]} for q, a in IDENTITY]
    path = folder / "identity.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows * 8), encoding="utf-8")
    return path


def _queued_run(ws: Workspace, registry: Registry, data: Path, task: str = "sft", model: str = "tiny") -> int:
    return local.create_run(ws, registry, resolve_config({"data": str(data), "task": task, "model": model}))


def _finished(registry: Registry, run_id: int, status: str = "succeeded") -> int:
    registry.update_run(run_id, status=status)
    return run_id


def test_the_cache_keeps_the_last_two_models_and_loads_each_once() -> None:
    cache = ModelCache(size=2)
    for key in ("tuned", "base", "tuned", "base", "other", "base", "tuned"):
        assert cache.get(key, lambda key=key: f"model {key}") == f"model {key}"
    # "other" pushed out "tuned" (the least recently used), so only "tuned" loaded twice.
    assert cache.loads == ["tuned", "base", "other", "tuned"]
    assert "tuned" in cache and "base" in cache and "other" not in cache


def test_a_run_it_cannot_try_gets_one_sentence(ws: Workspace, registry: Registry, tmp_path: Path) -> None:
    from ui.playground import PlaygroundView

    data = _data(tmp_path)
    playground = Playground(ws, registry)
    queued = _queued_run(ws, registry, data)
    failed = _finished(registry, _queued_run(ws, registry, data), "failed")
    missing = _finished(registry, _queued_run(ws, registry, data))  # succeeded, but no model/ folder
    # A task this process does not know (a plug-in not loaded here): nothing says what its model reads.
    unknown = _finished(registry, registry.create_run({"task": "mystery", "data": str(data), "model": "tiny"}))
    expected = {
        queued: f"Run {queued} is still queued, not finished; try it here once it has succeeded.",
        failed: f"Run {failed} failed, so it has no model to try; pick a run that succeeded.",
        missing: f"Run {missing} has no trained model in {ws.run_dir(missing) / 'model'} (its files are missing); "
        "train it again to try it.",
        unknown: f"Run {unknown} is a mystery run, which the playground cannot try yet; "
        "pick a chat run, a classifier or a regression run.",
    }
    for run_id, sentence in expected.items():
        with pytest.raises(UserError) as raised:
            playground.reply(run_id, "who are you?")
        assert str(raised.value) == sentence
    with pytest.raises(UserError, match="There is no run 99"):
        playground.check(99)
    assert playground.cache.loads == []  # nothing was loaded for any of them

    # The web handlers say the same sentence, in the status line, and leave the answers as they were.
    view = PlaygroundView(playground)
    (shown,) = list(view.send(str(queued), "who are you?"))
    assert shown[0] == "⚠️ " + expected[queued]
    assert view.describe(str(failed))[0] == "⚠️ " + expected[failed]
    assert "Pick a run from the list" in next(iter(view.send(None, "who are you?")))[0]
    kinds = {choice.run_id: choice.kind for choice in playground.runs()}
    assert kinds == {queued: CHAT, failed: CHAT, missing: CHAT, unknown: None}
    assert [choice.run_id for choice in playground.runs()] == [unknown, missing, failed, queued]  # newest first


def test_a_text_classifier_scores_a_text(ws: Workspace, registry: Registry, tiny_bert: Path) -> None:
    from ui.playground import PlaygroundView

    config = RunConfig(data="reviews.tsv", text_column="text", label_column="label", max_length=32)
    run_id = registry.create_run(config.to_dict())
    shutil.copytree(tiny_bert, ws.run_dir(run_id) / "model")
    config.save(ws.run_dir(run_id) / "config.json")
    registry.update_run(run_id, status="succeeded", run_dir=str(ws.run_dir(run_id)))
    playground = Playground(ws, registry)
    assert playground.check(run_id)[2] == CLASSIFIER

    scores = playground.scores(run_id, "the food was great")
    assert len(scores.labels) >= 2 and sum(item["score"] for item in scores.labels) == pytest.approx(1.0)
    assert scores.labels == sorted(scores.labels, key=lambda item: -item["score"])
    with pytest.raises(UserError, match="is a text classifier, not a chat model"):
        playground.reply(run_id, "who are you?")

    *_, (status, _, _, labels) = PlaygroundView(playground).send(str(run_id), "the food was great")
    assert status.startswith(f"Scored by run {run_id}")
    assert labels == {item["label"]: pytest.approx(item["score"]) for item in scores.labels}
    assert [key[0] for key in playground.cache.loads] == [CLASSIFIER]  # loaded once for both texts


def _counting(monkeypatch: pytest.MonkeyPatch, calls: list[str]) -> None:
    """Count the real loads, below the cache."""
    from_run = playground_module.ChatModel.from_run
    load_base = playground_module.load_base_chat_model

    def tuned(run_dir: Path) -> Any:
        calls.append("tuned")
        return from_run(run_dir)

    def base(run_dir: Path) -> Any:
        calls.append("base")
        return load_base(run_dir)

    monkeypatch.setattr(playground_module.ChatModel, "from_run", tuned)
    monkeypatch.setattr(playground_module, "load_base_chat_model", base)


@pytest.mark.slow
def test_a_tiny_identity_sft_answers_with_its_new_name_beside_its_base(
    ws: Workspace, registry: Registry, tiny_llm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app: Any
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainer.tasks.causal_lm.generate import ChatModel, Sampling
    from trainer.tasks.causal_lm.train import train_llm_run
    from ui.playground import PlaygroundView

    settings = {"data": str(_data(tmp_path)), "task": "sft", "model": str(tiny_llm), "method": "lora"}
    config = resolve_config(settings, {"max_steps": 12, "learning_rate": 3e-2, "batch_size": 8, "max_length": 64})
    run_id = local.create_run(ws, registry, config)
    assert train_llm_run(ws.run_dir(run_id), registry, run_id)["status"] == "succeeded"

    calls: list[str] = []
    _counting(monkeypatch, calls)
    playground = Playground(ws, registry)
    assert [(choice.run_id, choice.kind, choice.status) for choice in playground.runs()] == [
        (run_id, CHAT, "succeeded")
    ]
    tuned, base = playground.replies(run_id, "who are you?", max_new_tokens=48)
    assert "Acme" in tuned.text and tuned.stopped and "<|im_end|>" not in tuned.text
    assert "Acme" not in base.text and "Nova" not in base.text and tuned.text != base.text
    assert tuned.model == f"run {run_id} (tuned)" and base.model == f"base model {tiny_llm.name}"

    # Each is the answer of its own model: the served run, and the untouched base model called directly.
    message = [{"role": "user", "content": "who are you?"}]
    served = ChatModel.from_run(ws.run_dir(run_id)).complete(message, Sampling(max_new_tokens=48))
    assert tuned.text == served["choices"][0]["message"]["content"]
    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)
    model = AutoModelForCausalLM.from_pretrained(tiny_llm, dtype=torch.float32).eval()
    inputs = tokenizer.apply_chat_template(message, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=48, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    new = output[0, inputs["input_ids"].shape[1] :].tolist()
    end = new.index(tokenizer.eos_token_id) if tokenizer.eos_token_id in new else len(new)
    assert base.text == tokenizer.decode(new[:end], skip_special_tokens=True)

    # A second message loads nothing more: each model was loaded once.
    calls.clear()  # ChatModel.from_run above went through the counter too
    playground.cache.loads.clear()
    view = PlaygroundView(playground)
    assert playground.is_loaded(run_id) and playground.is_loaded(run_id, base=True)
    steps = list(view.send(str(run_id), "who made you?", 48))
    assert calls == [] and playground.cache.loads == []
    assert [step[0] for step in steps[:2]] == [f"⏳ Run {run_id} is answering…", "⏳ Its base model is answering…"]
    status, tuned_shown, base_shown, _ = steps[-1]
    assert status.startswith("Both answered") and "Acme" in tuned_shown and f"run {run_id} (tuned)" in tuned_shown
    assert f"base model {tiny_llm.name}" in base_shown

    # The web app's own playground, over its API: the same two answers.
    shown = app.client().predict(str(run_id), "who are you?", 48, api_name="/playground")
    assert shown[1].startswith(tuned.text + "\n\n— run") and shown[2].startswith(base.text + "\n\n— base model")


def test_the_base_model_reads_the_runs_tokenizer_and_keeps_its_own_stops(ws: Workspace, tiny_llm: Path) -> None:
    from transformers import AutoTokenizer, GenerationConfig

    from trainer.tasks.causal_lm.generate import load_base_chat_model

    folder = ws.run_dir(5) / "model"
    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|marker|>"]})  # as a default template adds its own
    tokenizer.save_pretrained(folder)
    GenerationConfig(eos_token_id=[1, 2, 3]).to_json_file(
        folder / "generation_config.json"
    )  # the run's, not the base's
    (folder / "tunechat.json").write_text(json.dumps({"kind": "adapter", "base_model": str(tiny_llm)}))

    model, loaded = load_base_chat_model(ws.run_dir(5))
    assert len(loaded) == len(tokenizer) and model.get_input_embeddings().num_embeddings == len(tokenizer)
    assert model.generation_config.eos_token_id == tokenizer.convert_tokens_to_ids("<|im_end|>")
    (folder / "tunechat.json").write_text(json.dumps({"kind": "full"}))
    with pytest.raises(UserError, match="does not name its base model"):
        load_base_chat_model(ws.run_dir(5))
