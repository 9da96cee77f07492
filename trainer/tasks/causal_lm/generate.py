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
from trainer.core.fileio import read_json
from trainer.core.workspace import run_id_from_dir
from trainer.tasks.causal_lm.stops import reply_text, stop_ids, streamer_class

DEFAULT_MAX_TOKENS = 128
# The longest reply one request may ask for (the model's context may cut it shorter).
MAX_TOKENS = 4096
# Below this temperature sampling is greedy decoding in all but name; dividing the logits by a smaller one
# overflows them, and sampling from the result fails.
MIN_SAMPLING_TEMPERATURE = 1e-4
# Config fields that give a model's context length, by architecture.
CONTEXT_FIELDS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx")


@dataclass(frozen=True)
class Sampling:
    """How one reply is decoded: greedy at temperature 0, sampled above it."""

    max_new_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 0.0
    top_p: float = 1.0


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


def _run_model_files(run_dir: Path) -> tuple[Path, dict[str, Any], bool]:
    """The run's model/ folder, what tunechat.json says of it, and whether its config trusts remote code."""
    folder = Path(run_dir) / "model"
    if not folder.is_dir():
        raise UserError(f"{run_dir} has no model/ folder; only a causal-LM run that succeeded can be served.")
    info = read_json(folder / "tunechat.json") if (folder / "tunechat.json").is_file() else {"kind": "full"}
    config = read_json(Path(run_dir) / "config.json") if (Path(run_dir) / "config.json").is_file() else {}
    return folder, info, bool(config.get("trust_remote_code", False))


def _base_with_tokenizer(name: str, tokenizer: Any, remote: bool) -> Any:
    """A base model in full precision, its embeddings grown to the run's tokenizer (the default chat template
    may have added its markers)."""
    import torch
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(
        name, use_safetensors=True, dtype=torch.float32, trust_remote_code=remote
    )
    if base.get_input_embeddings().num_embeddings != len(tokenizer):
        base.resize_token_embeddings(len(tokenizer))
    return base


def load_chat_model(run_dir: Path) -> tuple[Any, Any]:
    """The run's model/ folder: a LoRA adapter (merged into its base for speed) or full weights."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, info, remote = _run_model_files(run_dir)
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=remote)
    if info.get("kind") == "adapter":
        from peft import PeftModel

        base = _base_with_tokenizer(info["base_model"], tokenizer, remote)
        model = PeftModel.from_pretrained(base, folder).merge_and_unload()
    else:
        model = AutoModelForCausalLM.from_pretrained(
            folder, use_safetensors=True, dtype=torch.float32, trust_remote_code=remote
        )
    if (folder / "generation_config.json").is_file():
        from transformers import GenerationConfig

        # The run's own stop tokens (an adapter's base model would otherwise bring only its own).
        model.generation_config = GenerationConfig.from_pretrained(folder)
    model.eval()
    return model, tokenizer


def base_model_name(run_dir: Path) -> str | None:
    """The model a causal-LM run started from, as its saved model names it (None when it does not say)."""
    _, info, _ = _run_model_files(run_dir)
    name = info.get("base_model")
    return str(name) if name else None


def load_base_chat_model(run_dir: Path) -> tuple[Any, Any]:
    """The model the run started from, untouched by its training, with the run's tokenizer (so both read the
    same chat template) and the base model's own generation config: what the run is compared against."""
    from transformers import AutoTokenizer

    folder, _, remote = _run_model_files(run_dir)
    name = base_model_name(run_dir)
    if name is None:
        raise UserError(f"{folder} does not name its base model; train the run again to compare it with its base.")
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=remote)
    model = _base_with_tokenizer(name, tokenizer, remote)
    model.eval()
    return model, tokenizer


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

    @classmethod
    def from_run(cls, run_dir: Path) -> ChatModel:
        model, tokenizer = load_chat_model(run_dir)
        return cls(model, tokenizer, f"tunechat-{Path(run_dir).name}", run_id_from_dir(Path(run_dir)))

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

    def complete(self, messages: list[dict[str, Any]], sampling: Sampling) -> dict[str, Any]:
        """One chat.completion object."""
        import torch

        inputs = self._inputs(messages)
        prompt_tokens = int(inputs["input_ids"].shape[1])
        kwargs = self._generate_kwargs(sampling, prompt_tokens)
        self._acquire()
        try:
            with torch.no_grad():
                output = self.model.generate(**inputs, **kwargs)
        finally:
            self.lock.release()
        new = output[0, prompt_tokens:].tolist()
        text, finished = reply_text(self.tokenizer, new, self.stops)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model_id,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop" if finished else "length",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": int(len(new)),
                "total_tokens": prompt_tokens + int(len(new)),
            },
        }

    def stream(self, messages: list[dict[str, Any]], sampling: Sampling) -> Iterator[dict[str, Any]]:
        """Start a generation and return the chat.completion.chunk dicts it yields as tokens come.

        What can be refused is refused here, before any chunk: UserError for the prompt, ModelBusy. Once
        chunks flow, a generation that raises, or yields no text for `limits.token_s`, ends the iterator with
        GenerationFailed. Closing the iterator early (the client went away) stops the generation at its next
        token; one never read at all still ends by itself, bounded like any other.
        """
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        inputs = self._inputs(messages)
        kwargs = self._generate_kwargs(sampling, int(inputs["input_ids"].shape[1]))
        streamer = streamer_class()(
            self.tokenizer, self.stops, skip_prompt=True, skip_special_tokens=True, timeout=self.limits.token_s
        )
        cancelled = threading.Event()
        failures: list[BaseException] = []

        class StopWhenCancelled(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), cancelled.is_set(), dtype=torch.bool)

        def run() -> None:
            try:
                with torch.no_grad():
                    self.model.generate(
                        **inputs,
                        **kwargs,
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([StopWhenCancelled()]),
                    )
            except BaseException as error:
                failures.append(error)
                streamer.text_queue.put(streamer.stop_signal)  # the reader stops instead of waiting for text
            finally:
                self.lock.release()

        self._acquire()
        try:
            threading.Thread(target=run, name="generate", daemon=True).start()
        except BaseException:
            self.lock.release()
            raise
        return self._chunks(streamer, cancelled, failures)

    def _chunks(
        self, streamer: Any, cancelled: threading.Event, failures: list[BaseException]
    ) -> Iterator[dict[str, Any]]:
        ident, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.model_id,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        try:
            yield chunk({"role": "assistant", "content": ""})
            try:
                for piece in streamer:
                    if piece:
                        yield chunk({"content": piece})
            except queue.Empty:
                raise GenerationFailed(
                    f"The model produced no text for {self.limits.token_s:g} s, so the reply was cut off; "
                    "try again, or send a shorter conversation"
                ) from None
            if failures:
                error = failures[0]
                raise GenerationFailed(
                    f"The model failed while generating this reply ({type(error).__name__}); see the server's log"
                ) from error
        finally:
            cancelled.set()  # stops the generation at its next token when the reader is gone or gave up
        yield chunk({}, "stop")


# Tokens per sample reply: enough to see the tuned model's style, cheap on a CPU.
SAMPLE_TOKENS = 24


def generate(
    model: Any, tokenizer: Any, prompts: list[list[dict[str, Any]]], max_new_tokens: int = SAMPLE_TOKENS
) -> list[str]:
    """Greedy replies to chat prompts (a few tokens each), for the before/after comparison."""
    import torch

    replies = []
    stops = stop_ids(model, tokenizer)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for messages in prompts:
            inputs = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            ).to(model.device)
            output = model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=stops or None,
            )
            replies.append(reply_text(tokenizer, output[0, inputs["input_ids"].shape[1] :].tolist(), stops)[0])
    if was_training:
        model.train()
    return replies
