"""A user's own GGUF file as the base model: planned, converted once into the workspace's model cache, loaded and
generating; and the one sentence for a GGUF that transformers cannot de-quantise."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import toy_catalog

from trainer.core.errors import UserError
from trainer.core.workspace import Workspace
from trainer.models import catalog, local_gguf
from trainer.store.registry import Registry


@pytest.mark.slow
def test_a_gguf_file_converts_once_into_the_model_cache_and_generates(offline_workspace: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainer.tasks.causal_lm.generate import ChatModel, Sampling

    gguf = toy_catalog.write_tiny_gguf(tmp_path / "upload" / "My-Tiny.Q8.gguf")
    note = catalog.first_use_note(str(gguf))
    assert note is not None and "convert 'My-Tiny.Q8.gguf' once" in note
    assert catalog.folder_if_present(str(gguf)) is None

    messages: list[str] = []
    folder = Path(catalog.resolve(str(gguf), progress=messages.append))
    assert folder.parent == offline_workspace / "models" and folder.name.startswith("gguf-my-tiny-q8-")
    assert len(messages) == 1 and "My-Tiny.Q8.gguf" in messages[0]
    names = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"} <= names
    assert "<|im_start|>" in (folder / "chat_template.jinja").read_text()
    # Converted once: the folder with one .gguf names the same copy, found without converting again.
    made = (folder / "config.json").stat().st_mtime_ns
    assert catalog.resolve(str(gguf.parent), progress=messages.append) == str(folder) and len(messages) == 1
    assert (folder / "config.json").stat().st_mtime_ns == made
    assert catalog.first_use_note(str(gguf)) is None and catalog.folder_if_present(str(gguf)) == str(folder)
    assert [p.name for p in folder.parent.iterdir() if ".converting-" in p.name] == []

    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    chat = ChatModel(model, tokenizer, "tunechat-gguf")
    reply = chat.complete([{"role": "user", "content": "the"}], Sampling(max_new_tokens=6))
    assert reply["usage"]["completion_tokens"] >= 1 and chat.stops == [tokenizer.convert_tokens_to_ids("<|im_end|>")]

    # A changed file is another model: it converts again, into a folder of its own.
    os.utime(gguf, ns=(made, made + 10**9))
    assert catalog.first_use_note(str(gguf)) is not None


def test_a_plan_on_a_gguf_file_says_it_converts_once_and_the_chat_may_name_one_in_the_workspace(
    ws: Workspace, registry: Registry, chat_jsonl: Path, tmp_path: Path
) -> None:
    from tools.context import ToolContext
    from tools.data_tools import plan_training
    from tools.validation import check_model_reference

    gguf = toy_catalog.write_gguf_of(tmp_path / "elsewhere" / "tiny.gguf", "llama")
    cli = ToolContext(ws, registry, None, allow_any_model_path=True)
    data = ws.import_file(chat_jsonl).name
    plan = plan_training(cli, data, model=str(gguf), method="lora")
    assert plan.config["model"] == str(gguf.resolve())
    assert "First use: tunechat will convert 'tiny.gguf' once into the workspace's model cache" in plan.reasons["model"]
    rwkv = toy_catalog.write_gguf_of(tmp_path / "elsewhere" / "rwkv.gguf", "rwkv6")
    with pytest.raises(UserError, match="'rwkv6' architecture, which transformers cannot de-quantise"):
        plan_training(cli, data, model=str(rwkv), method="lora")

    chat = ToolContext(ws, registry, "s1")
    with pytest.raises(UserError, match="outside the tunechat workspace"):
        check_model_reference(chat, str(gguf))
    ws.models.mkdir(parents=True, exist_ok=True)
    (ws.models / "tiny.gguf").write_bytes(gguf.read_bytes())
    assert check_model_reference(chat, "tiny.gguf") == str((ws.models / "tiny.gguf").resolve())


def test_a_gguf_of_an_architecture_transformers_cannot_read_is_one_sentence_naming_it(tmp_path: Path) -> None:
    gguf = toy_catalog.write_gguf_of(tmp_path / "rwkv.gguf", "rwkv6")
    for attempt in (lambda: catalog.first_use_note(str(gguf)), lambda: catalog.resolve(str(gguf))):
        with pytest.raises(UserError) as refused:
            attempt()
        message = str(refused.value)
        assert "'rwkv6' architecture" in message and "cannot de-quantise" in message and "instead" in message
        assert message.count(". ") == 0 and message.endswith(".")
    assert not (tmp_path / "tunechat-home" / "models").exists() or not any(
        p.name.startswith("gguf-") for p in (tmp_path / "tunechat-home" / "models").iterdir()
    )

    t5 = toy_catalog.write_gguf_of(tmp_path / "t5" / "flan.gguf", "t5")
    with pytest.raises(UserError, match="not a causal language model"):
        catalog.resolve(str(t5.parent))
    (tmp_path / "broken.gguf").write_bytes(b"GGUF\x03\x00")
    with pytest.raises(UserError, match="not a readable GGUF file"):
        catalog.resolve(str(tmp_path / "broken.gguf"))


def test_a_folder_of_several_gguf_files_asks_which_one(tmp_path: Path) -> None:
    for name in ("a.Q4.gguf", "a.Q8.gguf"):
        (tmp_path / "quants" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "quants" / name).write_bytes(b"GGUF")
    with pytest.raises(UserError, match=r"holds 2 GGUF files \(a.Q4.gguf, a.Q8.gguf\); give the path of the one"):
        catalog.resolve(str(tmp_path / "quants"))
    # A Hugging Face folder that also holds a .gguf is loaded as the folder it is.
    (tmp_path / "quants" / "config.json").write_text("{}")
    assert catalog.resolve(str(tmp_path / "quants")) == str(tmp_path / "quants")
    assert local_gguf.gguf_file_of(str(tmp_path / "quants" / "a.Q4.gguf")) == tmp_path / "quants" / "a.Q4.gguf"
