"""One forward pass of an encoder run's model (a classifier or a regression model) over texts from any number of
requests: each text tokenized alone (cut to the model's length when its request allows), the texts sorted by length
and cut into chunks of at most `max_batch` whose padding stays small (PAD_WASTE), each chunk one forward pass, and each
text's logits handed back in its place.

A text tokenized alone and padded with others gets the ids, and so (within float rounding) the logits, it gets in
`Predictor.predict`: batching changes how fast an answer comes, not the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainer.serve.text_inputs import Texts

# A chunk's padded tokens may be at most this many times its real tokens: on a CPU a pass costs about as much per
# token, padding included, so a short text is not padded to the longest of the batch.
PAD_WASTE = 1.25


@dataclass(frozen=True)
class TextItem:
    """One input of a request: a text (with its second text for a pair model), and whether it may be cut."""

    text: str
    pair: str | None
    truncate: bool
    index: int  # its place in its request, for the refusal's sentence


class TooLong(Exception):
    """An input over the model's length whose request said not to cut it."""

    status_code = 413


def text_items(texts: Texts, truncate: bool) -> list[TextItem]:
    pairs: list[str | None] = list(texts.pairs) if texts.pairs is not None else [None] * len(texts.texts)
    return [
        TextItem(text, pair, truncate, index) for index, (text, pair) in enumerate(zip(texts.texts, pairs, strict=True))
    ]


def encoder_logits(predictor: Any, items: list[TextItem], max_batch: int) -> list[list[float] | Exception]:
    """Each item's logits (a list of floats), or TooLong; `predictor` is a Predictor (or a Regressor)."""
    import torch

    tokenizer, limit = predictor.tokenizer, predictor.max_length
    results: list[list[float] | Exception] = [TooLong()] * len(items)
    encoded: list[tuple[int, dict[str, Any]]] = []
    # The Predictor's lock: its tokenizer refuses concurrent calls, and it may serve other callers too.
    with predictor._lock, torch.inference_mode():
        for position, item in enumerate(items):
            ids = tokenizer(item.text, item.pair, truncation=False, verbose=False)
            length = len(ids["input_ids"])
            if length > limit:
                if not item.truncate:
                    results[position] = TooLong(too_long_message(item, length, limit))
                    continue
                ids = tokenizer(item.text, item.pair, truncation=True, max_length=limit)
            encoded.append((position, dict(ids)))
        encoded.sort(key=lambda entry: len(entry[1]["input_ids"]))
        for chunk in chunks(encoded, max_batch):
            batch = tokenizer.pad([features for _, features in chunk], padding=True, return_tensors="pt")
            logits = predictor.model(**batch).logits.float()
            rows = logits.reshape(logits.shape[0], -1).tolist()
            for (position, _), row in zip(chunk, rows, strict=True):
                results[position] = row
    return results


def chunks(encoded: list[tuple[int, dict[str, Any]]], max_batch: int) -> list[list[tuple[int, dict[str, Any]]]]:
    """Consecutive runs of the length-sorted inputs: at most max_batch each, padded tokens within PAD_WASTE."""
    found: list[list[tuple[int, dict[str, Any]]]] = []
    current: list[tuple[int, dict[str, Any]]] = []
    tokens = 0
    for entry in encoded:
        length = len(entry[1]["input_ids"])
        fits = len(current) < max(1, max_batch) and length * (len(current) + 1) <= PAD_WASTE * (tokens + length)
        if current and not fits:
            found.append(current)
            current, tokens = [], 0
        current.append(entry)
        tokens += length
    if current:
        found.append(current)
    return found


def too_long_message(item: TextItem, length: int, limit: int) -> str:
    return (
        f"Input {item.index + 1} has {length} tokens, over this model's limit of {limit}; shorten it, or send "
        '"truncate": true to have it cut'
    )
