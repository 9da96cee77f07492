"""The tokens that end a model's turn, gathered once for sampling, serving and the saved model.

A model may end its turn with more than one token: Llama-3 with <|eot_id|> or <|end_of_text|>, Qwen with
<|im_end|> or <|endoftext|>. Its generation config lists them (`eos_token_id` may be a list); the tokenizer
names one more as its EOS; and the chat template writes its own marker after every reply (the default ChatML
template's <|im_end|>, which a model that had no template does not know as EOS). Generation stops at any of
them, and no reply shows one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# End-of-turn markers of the common chat templates; each counts only when the model's template writes it and
# the tokenizer has it as one token.
TURN_MARKERS = ("<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|endoftext|>", "<end_of_turn>", "<|end|>", "</s>")


def _ids(value: Any) -> list[int]:
    if value is None:
        return []
    if isinstance(value, int):
        return [value]
    return [int(item) for item in value if item is not None]


def stop_ids(model: Any, tokenizer: Any) -> list[int]:
    """Every token id that ends a turn: the generation config's, the tokenizer's EOS, the template's marker."""
    found: list[int] = []
    config = getattr(model, "generation_config", None)
    found += _ids(getattr(config, "eos_token_id", None))
    found += _ids(getattr(tokenizer, "eos_token_id", None))
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, str):
        vocab = tokenizer.get_vocab()
        found += [vocab[marker] for marker in TURN_MARKERS if marker in template and marker in vocab]
    return list(dict.fromkeys(found))


def stop_texts(tokenizer: Any, stops: list[int]) -> list[str]:
    """The stop tokens as text, to cut from a decoded reply where decoding kept them (not marked special)."""
    texts = [tokenizer.convert_ids_to_tokens(token) for token in stops]
    return [text for text in texts if isinstance(text, str) and text]


def reply_text(tokenizer: Any, new_ids: list[int], stops: list[int]) -> tuple[str, bool]:
    """The reply's text without its end-of-turn marker, and whether the model ended its turn (a stop token)."""
    stopped = next((index for index, token in enumerate(new_ids) if token in stops), None)
    kept = new_ids if stopped is None else new_ids[:stopped]
    text = cut_markers(tokenizer.decode(kept, skip_special_tokens=True), stop_texts(tokenizer, stops))
    if stopped is None:
        # Cut at the token limit, a reply can end inside a character (CJK or emoji bytes split over tokens): drop
        # the half character instead of showing a replacement mark.
        text = text.rstrip("\ufffd")
    return text, stopped is not None


def cut_markers(text: str, markers: list[str]) -> str:
    """The text up to the first end-of-turn marker written out as text (a marker the tokenizer split up)."""
    for marker in markers:
        if marker in text:
            text = text[: text.index(marker)]
    return text


def with_stops(generation_config: Any, stops: list[int], pad_token_id: int | None) -> Any:
    """A copy of a generation config that stops at every one of `stops` and pads with the tokenizer's pad."""
    import copy

    config = copy.deepcopy(generation_config)
    config.eos_token_id = stops[0] if len(stops) == 1 else list(stops)
    if pad_token_id is not None:
        config.pad_token_id = pad_token_id
    return config


def save_generation_config(model: Any, tokenizer: Any, folder: Path) -> None:
    """Write generation_config.json into a saved model folder with every stop token, for serving and export
    (an adapter's folder gets one too: it is what loads the base model's turn ends back)."""
    from transformers import GenerationConfig

    base = getattr(model, "generation_config", None) or GenerationConfig()
    config = with_stops(base, stop_ids(model, tokenizer), tokenizer.pad_token_id)
    # Written as is: save_pretrained would refuse a published config that its strict checks dislike (say a
    # temperature without sampling), which must not fail a run that has finished training.
    config.to_json_file(Path(folder) / "generation_config.json", use_diff=True)
