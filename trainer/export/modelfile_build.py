"""The Modelfile of an exported model folder: its chat template as Ollama's TEMPLATE, its stop markers, and the
system prompt the run trained with."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from trainer.core.errors import UserError
from trainer.export.modelfile import go_template, modelfile, turn_shape


def build_modelfile(folder: Path, gguf_name: str, system: str | None) -> tuple[str, list[str]]:
    """The Modelfile's text for the GGUF `gguf_name` converted from `folder`, and its stop markers."""
    from transformers import AutoTokenizer, GenerationConfig

    from trainer.tasks.causal_lm.stops import stop_ids, stop_texts

    tokenizer = AutoTokenizer.from_pretrained(folder)
    template = tokenizer.chat_template
    if not isinstance(template, str) or not template:
        raise UserError("the model has no chat template; train it with one (tunechat adds ChatML) and export again")
    specials = {
        key: str(getattr(tokenizer, key))
        for key in ("bos_token", "eos_token", "unk_token", "pad_token")
        if getattr(tokenizer, key, None)
    }
    shape = turn_shape(template, specials)
    # A runtime that adds BOS itself would see it twice if the template wrote it too.
    bos = specials.get("bos_token", "")
    adds_bos = bool(bos) and tokenizer("a")["input_ids"][:1] == [tokenizer.bos_token_id]
    config = GenerationConfig.from_pretrained(folder) if (folder / "generation_config.json").is_file() else None
    stops = stop_texts(tokenizer, stop_ids(SimpleNamespace(generation_config=config), tokenizer))
    text = modelfile(gguf_name, go_template(shape, drop_prefix=bos if adds_bos else ""), stops, system)
    return text, stops
