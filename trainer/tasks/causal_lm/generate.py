"""Load a finished causal-LM run and generate chat replies with it (what its OpenAI-compatible server calls).

Torch and Transformers are imported only when a model is loaded, so the server claims its port first.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.core.workspace import run_id_from_dir
from trainer.tasks.causal_lm.choices import ChoiceText, Event, feeder, finish_all, seeded, usage
from trainer.tasks.causal_lm.served_weights import (
    base_model_name,
    load_base_chat_model,
    load_chat_model,
    served_weights,
)
from trainer.tasks.causal_lm.stops import reply_text, stop_ids

# Loading lives in served_weights; these names stay importable from here, where callers have always found them.
__all__ = [
    "DEFAULT_MAX_TOKENS",
    "MAX_CHOICES",
    "MAX_TOKENS",
    "ChatModel",
    "GenerationFailed",
    "Limits",
    "ModelBusy",
    "Sampling",
    "base_model_name",
    "generate",
    "load_base_chat_model",
    "load_chat_model",
]

DEFAULT_MAX_TOKENS = 128
# The longest reply one request may ask for (the model's context may cut it shorter).
MAX_TOKENS = 4096
# The most choices (`n`) one request may ask for: each is one more row in the batch that generates them.
MAX_CHOICES = 8
# Below this temperature sampling is greedy decoding in all but name; dividing the logits by a smaller one
# overflows them, and sampling from the result fails.
MIN_SAMPLING_TEMPERATURE = 1e-4
# Config fields that give a model's context length, by architecture.
CONTEXT_FIELDS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx")


@dataclass(frozen=True)
class Sampling:
    """How one request's replies are decoded: greedy at temperature 0, sampled above it (from `seed` when
    given); `n` replies, each ending at an end-of-turn token, before the first of the `stop` strings, or at
    `max_new_tokens`."""

    max_new_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Limits:
    """How long one request may hold the model, or wait for it, so no request can stall the ones after it."""

    token_s: float = 120.0  # a stream that gets no new text for this long has stalled: it ends with an error
    generation_s: float = 300.0  # the longest one generation runs; it then ends as if it reached max_tokens
    busy_s: float = 300.0  # the longest a request waits while another one generates, then is told to retry


class ModelBusy(UserError):
    """Another request held the model for longer than Limits.busy_s."""


class GenerationFailed(RuntimeError):
    """A streamed generation stalled or raised; the stream has started, so this ends it with an error event."""


class ChatModel:
    """Generation behind the API: the chat template, greedy or sampled decoding, token counts.

    One generation at a time (a lock), which is what a CPU can do anyway. The lock is held only while
    `generate` runs, by the thread that runs it, and every generation is bounded in time (`limits`): a request
    that fails, stalls or is abandoned by its client never keeps the next one waiting for longer than that.
    """

    def __init__(
        self, model: Any, tokenizer: Any, model_id: str, run_id: int | None = None, limits: Limits | None = None
    ):
        self.model, self.tokenizer, self.model_id = model, tokenizer, model_id
        self.run_id = run_id  # reported by /health so deploy_run knows it reached this run
        self.limits = limits or Limits()
        self.lock = threading.Lock()
        self.stops = stop_ids(model, tokenizer)  # every end-of-turn token: generation stops at any of them
        self.weights = "the model given"  # which weights are served, in words (from_run says which of the run's)

    @classmethod
    def from_run(cls, run_dir: Path) -> ChatModel:
        model, tokenizer = load_chat_model(run_dir)
        chat = cls(model, tokenizer, f"tunechat-{Path(run_dir).name}", run_id_from_dir(Path(run_dir)))
        chat.weights = served_weights(Path(run_dir))
        return chat

    @property
    def context_length(self) -> int | None:
        """How many tokens the model reads at most (prompt and reply together), when its config says."""
        config = getattr(self.model, "config", None)
        for source in (config, getattr(config, "text_config", None)):
            for field in CONTEXT_FIELDS:
                value = getattr(source, field, None)
                if isinstance(value, int) and value > 0:
                    return value
        return None

    def _inputs(self, messages: list[dict[str, Any]]) -> Any:
        """The prompt as tensors; UserError when the chat template cannot render it or the model cannot read it."""
        try:
            inputs = self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
        except Exception as error:  # jinja's own errors, or the template's raise_exception, or a TypeError
            detail = " ".join(str(error).split())[:200].rstrip(".").replace(". ", ", ") or type(error).__name__
            raise UserError(
                f"The model's chat template cannot render these messages ({detail}); check their roles and order"
            ) from None
        prompt_tokens, context = int(inputs["input_ids"].shape[1]), self.context_length
        if context is not None and prompt_tokens >= context:
            raise UserError(
                f"The conversation is {prompt_tokens} tokens long, and this model reads at most {context} "
                "(its reply included); send a shorter conversation"
            )
        return inputs.to(self.model.device)

    def _generate_kwargs(self, sampling: Sampling, prompt_tokens: int) -> dict[str, Any]:
        room = MAX_TOKENS if self.context_length is None else self.context_length - prompt_tokens
        kwargs: dict[str, Any] = {
            "max_new_tokens": max(1, min(sampling.max_new_tokens, MAX_TOKENS, room)),
            "max_time": self.limits.generation_s,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.stops or None,
            "do_sample": sampling.temperature >= MIN_SAMPLING_TEMPERATURE,
        }
        if kwargs["do_sample"]:
            kwargs["temperature"] = sampling.temperature
            kwargs["top_p"] = sampling.top_p
        return kwargs

    def _acquire(self) -> None:
        if not self.lock.acquire(timeout=self.limits.busy_s):
            raise ModelBusy(
                f"The model has been busy with other requests for {self.limits.busy_s:g} s; try again in a minute"
            )

    def _prepare(self, messages: list[dict[str, Any]], sampling: Sampling) -> tuple[Any, int, dict[str, Any], Any]:
        """The prompt's tensors (one row per choice when sampled), its length, generate's arguments, and the
        choices (greedy decoding answers every choice alike, so one row feeds them all)."""
        inputs = self._inputs(messages)
        prompt_tokens = int(inputs["input_ids"].shape[1])
        kwargs = self._generate_kwargs(sampling, prompt_tokens)
        rows = sampling.n if kwargs["do_sample"] else 1
        if rows > 1:
            inputs = {name: tensor.repeat(rows, 1) for name, tensor in inputs.items()}
        choices = [ChoiceText(self.tokenizer, self.stops, sampling.stop) for _ in range(sampling.n)]
        return inputs, prompt_tokens, kwargs, (rows, choices)

    def complete(self, messages: list[dict[str, Any]], sampling: Sampling) -> dict[str, Any]:
        """One chat.completion object with `sampling.n` choices."""
        import torch
        from transformers import StoppingCriteriaList

        inputs, prompt_tokens, kwargs, (rows, choices) = self._prepare(messages, sampling)
        criteria = StoppingCriteriaList([feeder(choices, rows, threading.Event(), None)])
        self._acquire()
        try:
            with torch.no_grad(), seeded(sampling.seed if kwargs["do_sample"] else None):
                self.model.generate(**inputs, **kwargs, stopping_criteria=criteria)
        finally:
            self.lock.release()
        finish_all(choices)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model_id,
            "choices": [
                {
                    "index": index,
                    "message": {"role": "assistant", "content": choice.text},
                    "logprobs": None,
                    "finish_reason": choice.finish,
                }
                for index, choice in enumerate(choices)
            ],
            "usage": usage(prompt_tokens, choices),
        }

    def stream(
        self, messages: list[dict[str, Any]], sampling: Sampling, include_usage: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Start a generation and return the chat.completion.chunk dicts it yields as tokens come (with
        `include_usage`, a last chunk with the usage and no choices, as OpenAI sends it).

        What can be refused is refused here, before any chunk: UserError for the prompt, ModelBusy. Once
        chunks flow, a generation that raises, or makes no step for `limits.token_s`, ends the iterator with
        GenerationFailed. Closing the iterator early (the client went away) stops the generation at its next
        token; one never read at all still ends by itself, bounded like any other.
        """
        import torch
        from transformers import StoppingCriteriaList

        inputs, prompt_tokens, kwargs, (rows, choices) = self._prepare(messages, sampling)
        events: queue.Queue[list[Event] | None] = queue.Queue()
        cancelled = threading.Event()
        failures: list[BaseException] = []
        criteria = StoppingCriteriaList([feeder(choices, rows, cancelled, events)])

        def run() -> None:
            try:
                with torch.no_grad(), seeded(sampling.seed if kwargs["do_sample"] else None):
                    self.model.generate(**inputs, **kwargs, stopping_criteria=criteria)
                events.put(finish_all(choices))
            except BaseException as error:
                failures.append(error)
            finally:
                events.put(None)  # the end, after any failure was recorded
                self.lock.release()

        self._acquire()
        try:
            threading.Thread(target=run, name="generate", daemon=True).start()
        except BaseException:
            self.lock.release()
            raise
        return self._chunks(events, cancelled, failures, choices, prompt_tokens, include_usage)

    def _chunks(
        self,
        events: queue.Queue[list[Event] | None],
        cancelled: threading.Event,
        failures: list[BaseException],
        choices: list[ChoiceText],
        prompt_tokens: int,
        include_usage: bool,
    ) -> Iterator[dict[str, Any]]:
        ident, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        # With include_usage every chunk carries "usage": null but the last, as OpenAI's do.
        extra: dict[str, Any] = {"usage": None} if include_usage else {}

        def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
            return {**self._chunk_head(ident, created), "choices": [choice], **extra}

        try:
            for index in range(len(choices)):
                yield chunk(index, {"role": "assistant", "content": ""})
            while (news := self._next_step(events)) is not None:
                for index, piece, finish in news:
                    if piece:
                        yield chunk(index, {"content": piece})
                    if finish is not None:
                        yield chunk(index, {}, finish)
            if failures:
                error = failures[0]
                raise GenerationFailed(
                    f"The model failed while generating this reply ({type(error).__name__}); see the server's log"
                ) from error
        finally:
            cancelled.set()  # stops the generation at its next token when the reader is gone or gave up
        if include_usage:
            yield {**self._chunk_head(ident, created), "choices": [], "usage": usage(prompt_tokens, choices)}

    def _chunk_head(self, ident: str, created: int) -> dict[str, Any]:
        return {"id": ident, "object": "chat.completion.chunk", "created": created, "model": self.model_id}

    def _next_step(self, events: queue.Queue[list[Event] | None]) -> list[Event] | None:
        try:
            return events.get(timeout=self.limits.token_s)
        except queue.Empty:
            raise GenerationFailed(
                f"The model produced no text for {self.limits.token_s:g} s, so the reply was cut off; "
                "try again, or send a shorter conversation"
            ) from None


# Tokens per sample reply: enough to see the tuned model's style, cheap on a CPU.
SAMPLE_TOKENS = 24


def generate(
    model: Any,
    tokenizer: Any,
    prompts: list[list[dict[str, Any]]],
    max_new_tokens: int = SAMPLE_TOKENS,
    batch_size: int = 1,
) -> list[str]:
    """Greedy replies to chat prompts (a few tokens each unless `max_new_tokens` says), for the before/after
    comparisons. `batch_size` prompts are answered together, padded on the left so each ends where its reply
    starts: on a CPU a batch of eight costs little more than one prompt. In float32 the replies are those of one
    prompt at a time; in bfloat16 a near tie between two tokens can fall the other way in a batch, so a long reply
    may part from the unbatched one after a few dozen tokens (base and tuned models are answered alike)."""
    import torch

    replies = []
    stops = stop_ids(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (stops[0] if stops else 0)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(prompts), max(1, batch_size)):
            encoded = [
                list(tokenizer.apply_chat_template(m, add_generation_prompt=True, return_dict=True)["input_ids"])
                for m in prompts[start : start + max(1, batch_size)]
            ]
            width = max(len(ids) for ids in encoded)
            input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in encoded], device=model.device)
            mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in encoded], device=model.device)
            output = model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=pad,
                eos_token_id=stops or None,
            )
            replies += [reply_text(tokenizer, row[width:].tolist(), stops)[0] for row in output]
    if was_training:
        model.train()
    return replies
