"""The forgetting probe: general ability measured before training and again after it (trainer/evaluate/forgetting.py
turns the figures into a verdict).

Before training the probe keeps, in forgetting_reference.json: the perplexity of the general texts, the base
model's greedy replies to the general questions, and per question prompt its next-token distribution as the TOP_K
most likely tokens' log-probabilities plus the mass of all the others (a whole vocabulary per prompt would be
megabytes). After training it measures the same and adds evaluation.json's "forgetting" record.

Kept cheap: texts cut to MAX_TEXT_TOKENS and scored in batches, one forward pass per prompt for the KL, replies of
at most REPLY_TOKENS tokens. On a CPU with SmolLM2-135M the whole probe takes seconds before and after.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from trainer.core.fileio import atomic_write_json, read_json
from trainer.evaluate.forgetting import TOP_K, kl_from_top_k, verdict
from trainer.evaluate.general import general_questions, general_texts
from trainer.tasks.causal_lm.stops import reply_text, stop_ids

MAX_TEXT_TOKENS = 128
BATCH = 8
# A short answer ("Paris", "4", "blue") fits in a few tokens; a model that starts "The capital of France is" too.
REPLY_TOKENS = 16
# Questions answered per generate() call (left-padded): one batch of all 36 costs little more than one reply.
REPLY_BATCH = 36


def _device(model: Any) -> Any:
    return next(model.parameters()).device


def text_perplexity(model: Any, tokenizer: Any, texts: tuple[str, ...] | list[str]) -> float:
    """exp(mean negative log-likelihood per token) of the texts, each cut to MAX_TEXT_TOKENS, scored in batches."""
    import torch

    total, count = 0.0, 0
    side = tokenizer.padding_side
    tokenizer.padding_side = "right"
    try:
        for start in range(0, len(texts), BATCH):
            batch = tokenizer(
                list(texts[start : start + BATCH]),
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=MAX_TEXT_TOKENS,
            ).to(_device(model))
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1].float()
            targets = batch["input_ids"][:, 1:]
            mask = batch["attention_mask"][:, 1:].bool()
            logps = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            total -= float(logps[mask].sum())
            count += int(mask.sum())
    finally:
        tokenizer.padding_side = side
    return math.exp(total / max(count, 1))


def _prompt(question: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}]


def _left_padded(tokenizer: Any, prompts: list[list[dict[str, str]]], device: Any) -> dict[str, Any]:
    """Chat prompts (generation prompt added) as one left-padded batch, so every prompt ends at the last column."""
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        texts = [tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts]
        return tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
    finally:
        tokenizer.padding_side = side


def next_token_logps(model: Any, tokenizer: Any, prompts: list[list[dict[str, str]]]) -> Any:
    """The log-probabilities of the model's first reply token after each chat prompt (prompts x vocabulary)."""
    import torch

    batch = _left_padded(tokenizer, prompts, _device(model))
    # Positions count from each prompt's first real token, as if it were unpadded.
    positions = (batch["attention_mask"].cumsum(-1) - 1).clamp(min=0)
    logits = (
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], position_ids=positions)
        .logits[:, -1]
        .float()
    )
    return torch.log_softmax(logits, dim=-1)


def greedy_replies(model: Any, tokenizer: Any, prompts: list[list[dict[str, str]]], max_new_tokens: int) -> list[str]:
    """Greedy replies to chat prompts, generated as one batch (a reply ends at any end-of-turn token)."""
    stops = stop_ids(model, tokenizer)
    batch = _left_padded(tokenizer, prompts, _device(model))
    output = model.generate(
        **batch,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=stops or None,
    )
    width = batch["input_ids"].shape[1]
    return [
        reply_text(tokenizer, [t for t in row[width:].tolist() if t != tokenizer.pad_token_id], stops)[0]
        for row in output
    ]


def _measure(model: Any, tokenizer: Any, questions: list[str], scoring: Any) -> dict[str, Any]:
    """Perplexity and replies, and for each question `scoring(next-token log-probabilities, index)`."""
    import torch

    was_training = model.training
    model.eval()
    prompts = [_prompt(q) for q in questions]
    try:
        with torch.no_grad():
            perplexity = text_perplexity(model, tokenizer, general_texts())
            logps = torch.cat(
                [next_token_logps(model, tokenizer, prompts[i : i + BATCH]) for i in range(0, len(prompts), BATCH)]
            )
            scored = [scoring(logps[i], i) for i in range(len(prompts))]
            replies = []
            for i in range(0, len(prompts), REPLY_BATCH):
                replies += greedy_replies(model, tokenizer, prompts[i : i + REPLY_BATCH], REPLY_TOKENS)
    finally:
        model.train(was_training)
    return {"perplexity": perplexity, "scored": scored, "replies": replies}


def top_k(logps: Any, k: int = TOP_K) -> dict[str, Any]:
    """The k most likely tokens, their log-probabilities and the probability of all the others."""
    values, ids = logps.topk(min(k, logps.shape[-1]))
    tail = max(0.0, 1.0 - float(values.exp().sum()))
    return {"ids": ids.tolist(), "logps": [round(v, 6) for v in values.tolist()], "tail": tail}


class ForgettingProbe:
    """General ability before and after training: perplexity, next-token KL, general questions."""

    reference_file = "forgetting_reference.json"
    phase = "checking general ability"

    def __init__(self, config: dict[str, Any], mixes_general: bool) -> None:
        self.config, self.mixes_general = config, mixes_general
        self.questions = list(general_questions())
        self.reference: dict[str, Any] = {}

    def start(self, model: Any, tokenizer: Any, path: Path) -> None:
        if path.is_file():
            self.reference = read_json(path)
            return
        texts = [q.question for q in self.questions]
        started = time.monotonic()
        measured = _measure(model, tokenizer, texts, lambda logps, _: top_k(logps))
        self.reference = {
            "seconds": round(time.monotonic() - started, 1),
            "perplexity": measured["perplexity"],
            "questions": texts,
            "expected": [list(q.answers) for q in self.questions],
            "replies": measured["replies"],
            "next_token": measured["scored"],
        }
        atomic_write_json(path, self.reference)

    def finish(self, model: Any, tokenizer: Any) -> dict[str, Any]:
        reference = self.reference["next_token"]

        def kl(logps: Any, index: int) -> float:
            kept = reference[index]
            tuned = logps[kept["ids"]].tolist()
            return kl_from_top_k(kept["logps"], kept["tail"], tuned)

        started = time.monotonic()
        measured = _measure(model, tokenizer, self.reference["questions"], kl)
        seconds = round(time.monotonic() - started, 1)
        after = {**self.reference, "perplexity": measured["perplexity"], "replies": measured["replies"]}
        record = verdict(self.reference, after, measured["scored"], self.config, self.mixes_general)
        # What the check cost, before and after training (it should stay a small part of a run).
        record["seconds"] = {"before": self.reference.get("seconds"), "after": seconds}
        record["replies"] = [
            {"question": q, "base": b, "tuned": t}
            for q, b, t in zip(self.reference["questions"], self.reference["replies"], measured["replies"], strict=True)
        ]
        return {"forgetting": record}
