"""General-data replay: the base model's own answers to general chat prompts, mixed into SFT training rows.

With `general_mix` above 0 the worker asks the model, before its first training step, to answer the general chat
prompts shipped with tunechat (trainer/evaluate/general/chat_prompts.json) (greedy, or sampled: REPLAY_TEMPERATURE),
and adds those chats to the training rows, so that `general_mix` is their share of the rows trained on. The model
rehearses what it already says about general requests while it learns the new data (self-distillation: no outside
data is needed). The rows are kept in replay.json, so a resumed run trains on the same ones.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from trainer.core.fileio import atomic_write_json, read_json
from trainer.evaluate.general import general_chat_prompts
from trainer.tasks.causal_lm.forgetting import greedy_replies

REPLAY_FILE = "replay.json"
# Long enough for a few sentences; a reply cut at this length is trimmed back to its last full sentence.
REPLAY_TOKENS = 64
# 0: greedy replies. Measured on the SmolLM2 identity run (general_mix 0.25, lr 5e-4, against the plain run's 19 of
# 36 general questions right, KL 0.41, perplexity +7%): greedy replay answered 25 (the base model 23, "Paris" kept)
# but sharpened the distribution (KL 0.61, perplexity +15%); replies sampled at temperature 1 kept the distribution
# (KL 0.18, perplexity +3%) but answered 20 ("Paris" lost). Greedy keeps what users notice: the answers.
REPLAY_TEMPERATURE = 0.0


def replay_count(train_count: int, mix: float) -> int:
    """How many replay rows make them `mix` of the training rows: mix = n / (train_count + n)."""
    if mix <= 0 or train_count <= 0:
        return 0
    return max(1, round(train_count * mix / (1.0 - mix)))


def _whole_sentences(text: str) -> str:
    """The reply up to its last sentence end (a reply cut at the token limit ends mid-sentence)."""
    ends = [m.end() for m in re.finditer(r"[.!?](\s|$)", text)]
    return text[: ends[-1]].strip() if ends else text.strip()


def replay_rows(
    model: Any, tokenizer: Any, count: int, path: Path | None = None, seed: int = 0
) -> list[dict[str, Any]]:
    """`count` chats {"messages": [user, assistant]} of the general prompts and the model's answers (the
    prompts repeat when more rows are wanted than there are prompts); read from `path` when a first attempt saved
    them, and saved there otherwise."""
    if count <= 0:
        return []
    if path is not None and path.is_file():
        saved = read_json(path)
        if len(saved.get("rows", [])) == count:
            return list(saved["rows"])
    import torch

    prompts = list(general_chat_prompts())[:count]
    chats_asked = [[{"role": "user", "content": p}] for p in prompts]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            torch.manual_seed(seed)
            replies = greedy_replies(model, tokenizer, chats_asked, REPLAY_TOKENS, REPLAY_TEMPERATURE)
    finally:
        model.train(was_training)
    chats = [
        {"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": _whole_sentences(r)}]}
        for p, r in zip(prompts, replies, strict=True)
        if _whole_sentences(r)
    ]
    rows = [chats[i % len(chats)] for i in range(count)] if chats else []
    if path is not None:
        atomic_write_json(path, {"count": count, "rows": rows})
    return rows


def with_replay(
    task: Any, model: Any, tokenizer: Any, rows: list[dict[str, Any]], mix: float, path: Path | None, seed: int = 0
) -> tuple[list[dict[str, Any]], str | None]:
    """The training rows with replay rows added for `mix` (when the task trains on chats), and a note for the log."""
    if mix <= 0:
        return rows, None
    if not task.replays_general:
        return rows, f"general_mix {mix:g} is ignored: {task.name} does not train on chats, so it cannot replay them"
    extra = replay_rows(model, tokenizer, replay_count(len(rows), mix), path, seed)
    note = (
        f"general_mix {mix:g}: {len(extra)} replay rows (the base model's own answers to general prompts) added to "
        f"{len(rows)} training rows"
    )
    return rows + extra, note
