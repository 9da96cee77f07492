"""Sentences compared by meaning, offline: the bundled all-MiniLM-L6-v2's mean-pooled, normalised embeddings.
The method advisor and guided mode's intents (agent/meaning.py) share this one loader.

Loaded once per process on first use (a second or two on a CPU); the same text always gives the same vector, so
what is compared with it is deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _encoder() -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer

    from trainer.models.entries import minilm_folder

    folder = minilm_folder()
    model = AutoModel.from_pretrained(folder)
    model.eval()
    return AutoTokenizer.from_pretrained(folder), model


def tokenizer() -> Any:
    """The encoder's tokenizer (its vocabulary tells a known word from a misspelling)."""
    return _encoder()[0]


def embed(texts: Sequence[str]) -> Any:
    """One unit-length row per text (a torch tensor): cosine similarity is a dot product."""
    import torch

    tokenizer, model = _encoder()
    batch = tokenizer(list(texts), padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)


@lru_cache(maxsize=64)
def _embedded(texts: tuple[str, ...]) -> Any:
    return embed(texts)


def nearest(text: str, groups: Sequence[tuple[str, ...]]) -> list[tuple[float, str]]:
    """For each group of example sentences, the best cosine similarity of `text` to one of them and that
    example (0.0 and "" for an empty group), rounded to 4 places so ties compare the same on every machine."""
    flat = tuple(example for group in groups for example in group)
    if not flat:
        return [(0.0, "") for _ in groups]
    scores = (_embedded(flat) @ embed([text])[0]).tolist()
    found, start = [], 0
    for group in groups:
        part = scores[start : start + len(group)]
        start += len(group)
        if not part:
            found.append((0.0, ""))
            continue
        best = max(range(len(part)), key=part.__getitem__)
        found.append((round(float(part[best]), 4), group[best]))
    return found
