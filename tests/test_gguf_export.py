"""GGUF export: llama.cpp's converter on a tiny LoRA run, the run answered by llama.cpp as by transformers, the
Ollama Modelfile said from the chat template, and the parity check catching a planted template and a planted EOS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gguf_export_run import CHATS, SYSTEM, TEMPLATE, TURN_END, rewrite_gguf

from trainer.core.errors import UserError
from trainer.export.base import ExportOptions
from trainer.export.chat_forms import TransformersChat, held_out_prompts
from trainer.export.gguf import QUANTISED_TOLERANCE, combined, wanted_kinds
from trainer.export.llama_chat import LlamaCppChat
from trainer.export.modelfile import SAMPLES, go_template, modelfile, render_go, render_jinja, turn_shape
from trainer.export.parity import compare_chat
from trainer.tasks.causal_lm.templates import DEFAULT_CHAT_TEMPLATE

SMOLLM2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)
TEMPLATES = {
    "chatml": (DEFAULT_CHAT_TEMPLATE, {}),
    "smollm2": (SMOLLM2, {}),
    "llama3": (LLAMA3, {"bos_token": "<|begin_of_text|>"}),
    "tiny": (TEMPLATE, {}),
}


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_the_go_template_renders_every_sample_conversation_as_the_jinja_template_does(name: str) -> None:
    template, specials = TEMPLATES[name]
    go = go_template(turn_shape(template, specials))
    for sample in SAMPLES:
        assert render_go(go, sample) == render_jinja(template, sample, True, specials)
    assert "{{ range .Messages }}" in go and "{{ .Content }}" in go and "{{ .System }}" in go


def test_a_default_system_prompt_and_a_bos_the_runtime_adds_are_placed_as_ollama_needs() -> None:
    smol = go_template(turn_shape(SMOLLM2, {}))
    assert "{{ else }}<|im_start|>system\nYou are a helpful AI assistant named SmolLM" in smol
    llama = go_template(turn_shape(LLAMA3, {"bos_token": "<|begin_of_text|>"}), drop_prefix="<|begin_of_text|>")
    assert "<|begin_of_text|>" not in llama and llama.startswith("{{ if .System }}<|start_header_id|>system")


@pytest.mark.parametrize(
    "template",
    [
        "{% for m in messages %}[{{ loop.index }}] {{ m.role }}: {{ m.content }}\n{% endfor %}",
        "{% for m in messages %}<{{ m.role }}>{{ m.content | upper }}</s>{% endfor %}",
        "{% if messages[0].role == 'system' %}{{ raise_exception('no system role') }}{% endif %}"
        "{% for m in messages %}{{ m.content }}{% endfor %}",
    ],
)
def test_a_template_ollama_cannot_say_is_refused_in_one_sentence(template: str) -> None:
    with pytest.raises(UserError, match="cannot be said in Ollama's template syntax"):
        turn_shape(template, {})


def test_the_modelfile_names_the_file_template_system_prompt_and_every_stop() -> None:
    go = go_template(turn_shape(DEFAULT_CHAT_TEMPLATE, {}))
    text = modelfile("model-q8_0.gguf", go, ["<|im_end|>", "<|endoftext|>", "<|im_end|>"], 'Say "hi".')
    lines = text.splitlines()
    assert lines[0] == "FROM ./model-q8_0.gguf" and lines[1].startswith('TEMPLATE """{{ if .System }}')
    assert 'SYSTEM """Say "hi"."""' in text
    assert [line for line in lines if line.startswith("PARAMETER")] == [
        'PARAMETER stop "<|im_end|>"',
        'PARAMETER stop "<|endoftext|>"',
    ]


def test_f16_is_always_written_and_unknown_quantisations_are_refused() -> None:
    assert wanted_kinds(ExportOptions()) == ("f16", "q8_0", "q4_k_m")
    assert wanted_kinds(ExportOptions(quantisations=("Q4_K_M",))) == ("f16", "q4_k_m")
    with pytest.raises(UserError, match="not q3_k"):
        wanted_kinds(ExportOptions(quantisations=("q3_k",)))


@pytest.mark.slow
def test_a_tiny_lora_run_exported_to_gguf_answers_in_llama_cpp_token_for_token(
    gguf_run: tuple[Path, Path, Any],
) -> None:
    run_dir, out, written = gguf_run
    assert (out / "model-f16.gguf").is_file() and written.facts["files"] == {"f16": "model-f16.gguf"}
    trained = TransformersChat.trained(run_dir)
    exported = LlamaCppChat(out / "model-f16.gguf", "GGUF f16 (llama.cpp)")
    report = compare_chat(trained, exported, held_out_prompts(run_dir, 8), max_tokens=24)
    exported.close()
    assert report.ok and report.checked == len(CHATS) + 2 and report.agreed == report.checked
    # The answers are the taught ones, ended by the model itself (not cut at the token limit).
    assert {row["exported"] for row in report.details} >= {answer for _, answer in CHATS}
    assert all(row["exported_finish"] == "stop" for row in report.details)
    assert combined({"f16": report}).to_dict()["parity_ok"] is True
    assert QUANTISED_TOLERANCE["q4_k_m"] < QUANTISED_TOLERANCE["q8_0"] < 1


@pytest.mark.slow
def test_the_exported_modelfile_has_the_runs_template_markers_stop_and_system_prompt(
    gguf_run: tuple[Path, Path, Any],
) -> None:
    _, out, written = gguf_run
    text = (out / "Modelfile").read_text()
    assert text.startswith("FROM ./model-f16.gguf\n")
    assert (
        "<|im_start|>user\n{{ .Content }}<|turn_end|>\n" in text and "{{ end }}{{ end }}<|im_start|>assistant\n" in text
    )
    assert f'PARAMETER stop "{TURN_END}"' in text and f'SYSTEM """{SYSTEM}"""' in text
    assert any(command.endswith("ollama create run-1 -f Modelfile") for command in written.commands)


@pytest.mark.slow
def test_parity_blames_a_gguf_with_a_changed_template_on_the_template(
    gguf_run: tuple[Path, Path, Any], tmp_path: Path
) -> None:
    run_dir, out, _ = gguf_run
    planted = rewrite_gguf(
        out / "model-f16.gguf", tmp_path / "planted.gguf", {"tokenizer.chat_template": TEMPLATE.replace("\\n", " ")}
    )
    exported = LlamaCppChat(planted, "planted GGUF")
    report = compare_chat(TransformersChat.trained(run_dir), exported, held_out_prompts(run_dir, 3), max_tokens=24)
    exported.close()
    assert not report.ok and report.cause == "template" and "chat template" in (report.fix or "")
    assert report.first_mismatch is not None and "<|im_start|>user Who" in report.first_mismatch["exported"]


@pytest.mark.slow
def test_parity_blames_a_gguf_whose_eos_is_not_the_turn_end_on_the_stop_token(
    gguf_run: tuple[Path, Path, Any], tmp_path: Path
) -> None:
    run_dir, out, _ = gguf_run
    # The EOS a base model brings (<|endoftext|>, id 0) where the run's turns end with <|turn_end|>: llama.cpp then
    # runs past the end of every turn.
    planted = rewrite_gguf(out / "model-f16.gguf", tmp_path / "planted.gguf", {"tokenizer.ggml.eos_token_id": 0})
    exported = LlamaCppChat(planted, "planted GGUF")
    report = compare_chat(TransformersChat.trained(run_dir), exported, held_out_prompts(run_dir, 3), max_tokens=24)
    exported.close()
    assert not report.ok and report.cause == "stop token"
    assert report.first_mismatch is not None and report.first_mismatch["trained_finish"] == "stop"
    assert report.first_mismatch["exported_finish"] == "length"
    assert json.dumps(report.to_dict())


def test_without_the_sdist_and_without_network_the_error_names_the_command_that_fetches_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainer.export import llamacpp_tools

    monkeypatch.setenv("TUNECHAT_TOOLS", str(tmp_path / "tools"))
    monkeypatch.setattr(llamacpp_tools.subprocess, "run", lambda *args, **kwargs: (_ for _ in ()).throw(OSError()))
    version = llamacpp_tools.llama_cpp_version()
    with pytest.raises(UserError) as caught:
        llamacpp_tools.converter_dir()
    sentence = str(caught.value)
    assert f"pip download --no-deps --no-binary :all: llama-cpp-python=={version}" in sentence
    assert sentence.count(". ") == 0 and not (tmp_path / "tools" / f"llama.cpp-{version}").exists()
