"""The forgetting probe: general ability measured before training and again after it (trainer/evaluate/forgetting.py
turns the figures into a verdict).

Before training the probe keeps, in forgetting_reference.json: the perplexity of the general texts, the base
model's greedy replies to the general questions, and per question prompt its next-token distribution as the TOP_K
most likely tokens' log-probabilities plus the mass of all the others (a whole vocabulary per prompt would be
megabytes). After training it measures the same and adds evaluation.json's "forgetting" record.

Kept cheap: texts cut to MAX_TEXT_TOKENS and scored in batches; prompts of the same token count share one forward
pass (for the KL) and one generate() call (replies of at most REPLY_TOKENS tokens), unpadded. The record says what
the probe cost before and after ("seconds").
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
# Prompts answered per generate() call (those of one token count): a batch costs little more than one reply.
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


def _encoded(tokenizer: Any, prompts: list[list[dict[str, str]]]) -> list[list[int]]:
    """Each chat prompt's token ids, generation prompt added."""
    return [
        list(tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"])
        for p in prompts
    ]


def same_length_batches(ids: list[list[int]], size: int) -> list[list[int]]:
    """The prompts' indices grouped by token count, at most `size` a batch. Nothing is padded, so a batch computes
    what each prompt alone would (padding changed a small model's greedy answers in bf16 on a CPU)."""
    groups: dict[int, list[int]] = {}
    for index, row in enumerate(ids):
        groups.setdefault(len(row), []).append(index)
    return [group[i : i + size] for group in groups.values() for i in range(0, len(group), size)]


def next_token_logps(model: Any, tokenizer: Any, prompts: list[list[dict[str, str]]]) -> Any:
    """The log-probabilities of the model's first reply token after each chat prompt (prompts x vocabulary)."""
    import torch

    ids = _encoded(tokenizer, prompts)
    rows: list[Any] = [None] * len(ids)
    for batch in same_length_batches(ids, BATCH):
        inputs = torch.tensor([ids[i] for i in batch], device=_device(model))
        logps = torch.log_softmax(model(input_ids=inputs).logits[:, -1].float(), dim=-1)
        for row, index in enumerate(batch):
            rows[index] = logps[row]
    return torch.stack(rows)


def greedy_replies(
    model: Any, tokenizer: Any, prompts: list[list[dict[str, str]]], max_new_tokens: int, temperature: float = 0.0
) -> list[str]:
    """Greedy replies to chat prompts (sampled at `temperature` when it is above 0), prompts of the same token count
    generated as one batch (a reply ends at any end-of-turn token)."""
    import torch

    stops = stop_ids(model, tokenizer)
    ids = _encoded(tokenizer, prompts)
    replies = [""] * len(ids)
    # top_k 0 and top_p 1: sampling from the whole distribution, whatever the model's generation config says.
    decoding = {"do_sample": True, "temperature": temperature, "top_p": 1.0, "top_k": 0} if temperature else {}
    for batch in same_length_batches(ids, REPLY_BATCH):
        inputs = torch.tensor([ids[i] for i in batch], device=_device(model))
        output = model.generate(
            input_ids=inputs,
            attention_mask=torch.ones_like(inputs),
            max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=stops or None,
            **(decoding or {"do_sample": False}),
        )
        for row, index in enumerate(batch):
            new = output[row, inputs.shape[1] :].tolist()
            # A reply that ended before the others is followed by padding: cut at its first stop token.
            replies[index] = reply_text(tokenizer, new, stops)[0]
    return replies


def _measure(model: Any, tokenizer: Any, questions: list[str], scoring: Any) -> dict[str, Any]:
    """Perplexity and replies, and for each question `scoring(next-token log-probabilities, index)`."""
    import torch

    was_training = model.training
    model.eval()
    prompts = [_prompt(q) for q in questions]
    try:
        with torch.no_grad():
            perplexity = text_perplexity(model, tokenizer, general_texts())
            logps = next_token_logps(model, tokenizer, prompts)
            scored = [scoring(logps[i], i) for i in range(len(prompts))]
            replies = greedy_replies(model, tokenizer, prompts, REPLY_TOKENS)
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

    def before_training(self, trainer: Any) -> None:
        """Nothing: everything it measures needs only the model."""

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
