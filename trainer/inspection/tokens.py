"""Token lengths for inspection reports, counted with the tokenizer training will use, offline only.

A tokenizer that cannot be loaded offline costs the report its token statistics and adds a note
saying why, never the report itself. Above TOKEN_SAMPLE texts a seeded random sample is counted.

The reports only ask how long a text is up to max_length, so a text is cut before it is tokenized
(tokenizing one 20 MB field took 30 s and 2.7 GB): its count is then at least the one shown, the result
says how many were cut (`cut_texts`) and a note says so.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from typing import Any

from trainer.inspection.problems import stats
from trainer.plan.config import BUNDLED_MODEL

TOKEN_SAMPLE = 2000  # texts tokenized for the length statistics; enough for a stable p95
# Characters kept per token of max_length (plus a margin): real text averages 3-6 characters per token, so a
# text cut there still counts more than max_length tokens whenever it is too long.
CHARS_PER_TOKEN = 16
CUT_MARGIN = 64

TokenCounter = Callable[[list[str]], list[int]]


def counter_or_note(model: str, notes: list[str]) -> TokenCounter | None:
    """The model's token counter, or None with a note saying why it could not be loaded."""
    try:
        return token_counter(model)
    except Exception as error:  # any loading failure only costs the token statistics, never the report
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        notes.append(
            f"Token lengths were skipped because the tokenizer of '{model}' could not be loaded offline ({reason}); "
            "name a local model folder to get them."
        )
        return None


def token_lengths(texts: list[str], model: str | None, max_length: int, notes: list[str]) -> dict[str, Any] | None:
    """Percentiles of the texts' token counts and how many exceed max_length (classification reports)."""
    name = model or BUNDLED_MODEL
    count_tokens = counter_or_note(name, notes)
    if count_tokens is None:
        return None
    keep = cut_length(max_length)
    sampled = len(texts) > TOKEN_SAMPLE
    sample = random.Random(0).sample(texts, TOKEN_SAMPLE) if sampled else texts
    lengths = count_tokens(cut_texts(sample, keep))
    result: dict[str, Any] = stats(lengths)
    over = sum(length > max_length for length in lengths)
    cut = sum(len(text) > keep for text in sample)
    if sampled:
        # The longest texts by characters are where the true maximum hides; a random sample misses them.
        longest = sorted(texts, key=len, reverse=True)[:20]
        result["max"] = max(result["max"], *count_tokens(cut_texts(longest, keep)))
        over = round(over / len(sample) * len(texts))
        cut = max(cut, sum(len(text) > keep for text in longest))
    result[f"truncated_at_{max_length}"] = over
    result.update({"sample_size": len(sample), "estimated": sampled, "model": name})
    _say_cut(result, cut, keep, notes)
    return result


def token_stats(
    texts: list[tuple[int, str]],
    count_tokens: TokenCounter | None,
    model: str,
    max_length: int,
    notes: list[str] | None = None,
) -> dict[str, Any] | None:
    """Token percentiles, examples over max_length (with their lines) and tokens per epoch, for (line, text)."""
    if count_tokens is None or not texts:
        return None
    keep = cut_length(max_length)
    sampled = len(texts) > TOKEN_SAMPLE
    sample = random.Random(0).sample(texts, TOKEN_SAMPLE) if sampled else texts
    lengths = count_tokens(cut_texts([t for _, t in sample], keep))
    result: dict[str, Any] = stats(lengths)
    long_lines = sorted(line for (line, _), n in zip(sample, lengths, strict=True) if n > max_length)
    over = len(long_lines)
    if sampled:
        over = round(over / len(sample) * len(texts))
    result[f"truncated_at_{max_length}"] = over
    result["tokens_per_epoch"] = round(sum(lengths) / len(lengths) * len(texts))
    result.update({"sample_size": len(sample), "estimated": sampled, "model": model, "long_lines": long_lines})
    _say_cut(result, sum(len(t) > keep for _, t in sample), keep, notes)
    return result


def cut_length(max_length: int) -> int:
    """The characters of a text worth tokenizing to tell whether it exceeds max_length tokens."""
    return (max(1, max_length) + CUT_MARGIN) * CHARS_PER_TOKEN


def cut_texts(texts: list[str], keep: int) -> list[str]:
    return [text if len(text) <= keep else text[:keep] for text in texts]


def _say_cut(result: dict[str, Any], cut: int, keep: int, notes: list[str] | None) -> None:
    """Mark token counts of cut texts as lower bounds, in the result and (when given) the report's notes."""
    if not cut:
        return
    result["cut_texts"] = cut
    if notes is not None:
        many = cut != 1
        notes.append(
            f"{cut} text{'s' if many else ''} longer than {keep:,} characters {'were' if many else 'was'} tokenized "
            f"only that far, so {'their' if many else 'its'} token count (and the max) is at least what is shown."
        )


@functools.lru_cache(maxsize=8)
def token_counter(model: str) -> TokenCounter:
    """A function giving each text's token count, special tokens included (as training sees it)."""
    if model == BUNDLED_MODEL:
        from trainer.models.catalog import model_folder

        folder = model_folder(BUNDLED_MODEL)
        tokenizer_json = folder / "tokenizer.json"
        if tokenizer_json.is_file():
            # The `tokenizers` backend gives the same counts as AutoTokenizer for this model (tested),
            # without importing transformers and torch, which alone takes ~3 s on a 2-core CPU.
            from tokenizers import Tokenizer

            backend = Tokenizer.from_file(str(tokenizer_json))
            backend.no_truncation()
            backend.no_padding()
            return lambda texts: [len(e.ids) for e in backend.encode_batch(texts)]
        model = str(folder)
    else:
        from trainer.models.catalog import folder_if_present

        # A catalog model already converted in the workspace counts with its own tokenizer; inspecting a file
        # never installs or converts one.
        model = folder_if_present(model) or model
    return _auto_counter(model)


def _auto_counter(model: str) -> TokenCounter:
    from transformers import AutoTokenizer

    # local_files_only: inspecting a file must never download; trust_remote_code stays off here.
    tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=True, trust_remote_code=False)

    def count(texts: list[str]) -> list[int]:
        encoded = tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    return count
