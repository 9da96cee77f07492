"""Token lengths against max_length and the model's context, and what the chat template means for the loss.

Before a causal-LM run trains, every example is tokenized with the model's chat template once and:
- max_length above the model's context (max_position_embeddings) is clamped to it, with the reason;
- examples longer than max_length are counted: they are truncated, and the log says how many;
- an example whose prompt alone fills max_length leaves no reply to learn from: it is dropped and counted, and
  when every example is, the run stops with one sentence saying to raise max_length or shorten the prompts;
- the default ChatML template (the model had none) and a template without {% generation %} spans (only the
  last assistant reply of each chat trains) are each said in one sentence.
The sentences go to the run's log and into hardware.json's "notes", beside the other choices.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.core.fileio import atomic_write_json, read_json
from trainer.plan.config import RunConfig

# Config fields that give a model's context length, by architecture.
CONTEXT_FIELDS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx")


def model_context(model_config: Any) -> int | None:
    """How many tokens the model reads at most, when its config says."""
    for source in (model_config, getattr(model_config, "text_config", None)):
        for name in CONTEXT_FIELDS:
            value = getattr(source, name, None)
            if isinstance(value, int) and value > 0:
                return value
    return None


def clamp_max_length(max_length: int, context: int | None) -> tuple[int, str | None]:
    """max_length, no longer than the model's context, and the sentence saying so when it was cut."""
    if context is None or max_length <= context:
        return max_length, None
    return context, (
        f"max_length {max_length} is above the model's context of {context} tokens, so it was lowered to {context} "
        "(the model has no position embeddings past that)."
    )


@dataclass
class Lengths:
    """Token counts of a set of examples: each whole example, and its prompt (what no loss is taken on)."""

    total: list[int] = field(default_factory=list)
    prompt: list[int] = field(default_factory=list)


def chat_length(
    tokenizer: Any, messages: list[dict[str, Any]], tools: Any = None, generation_prompt: bool = False
) -> int:
    """Tokens of a conversation rendered with the model's chat template (and the assistant's opening, if asked)."""
    encoded = tokenizer.apply_chat_template(
        messages, tools=tools, tokenize=True, return_dict=True, add_generation_prompt=generation_prompt
    )
    return len(encoded["input_ids"])


def measure(rows: list[dict[str, Any]], tokenizer: Any) -> Lengths:
    """Token counts of chats ({messages}: the prompt is what comes before the first assistant reply), prompt and
    completion rows ({prompt, completion}) and preference pairs ({prompt, chosen, rejected}: the longer answer)."""
    lengths = Lengths()
    for row in rows:
        tools = row.get("tools")
        if "messages" in row:
            messages = row["messages"]
            first = next((i for i, m in enumerate(messages) if m.get("role") == "assistant"), len(messages))
            lengths.total.append(chat_length(tokenizer, messages, tools, False))
            lengths.prompt.append(chat_length(tokenizer, messages[:first], tools, True) if first else 0)
            continue
        prompt = list(row.get("prompt") or [])
        answers = [row[key] for key in ("completion", "chosen", "rejected") if isinstance(row.get(key), list)]
        lengths.prompt.append(chat_length(tokenizer, prompt, tools, True) if prompt else 0)
        lengths.total.append(
            max((chat_length(tokenizer, prompt + answer, tools, False) for answer in answers), default=0)
        )
    return lengths


def fit_rows(
    rows: list[dict[str, Any]], lengths: Lengths, max_length: int, split: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows that leave something to learn within max_length, and a sentence for each kind of cut."""
    kept = [row for row, prompt in zip(rows, lengths.prompt, strict=True) if prompt < max_length]
    notes = []
    dropped = len(rows) - len(kept)
    if dropped:
        notes.append(
            f"{dropped} of {len(rows)} {split} examples were dropped: their prompt alone fills max_length "
            f"({max_length} tokens), so no reply is left to learn from."
        )
    pairs = zip(lengths.total, lengths.prompt, strict=True)
    truncated = [total for total, prompt in pairs if prompt < max_length < total]
    if truncated:
        notes.append(
            f"{len(truncated)} of {len(rows)} {split} examples are longer than max_length ({max_length} tokens; the "
            f"longest is {max(truncated)}) and are cut to it, so the end of their replies does not train."
        )
    return kept, notes


def template_notes(template_note: str, last_reply_only: bool, rows: list[dict[str, Any]]) -> list[str]:
    """What the chat template means for training: the default one (`template_note` from ensure_chat_template),
    and, when the task trains on the last assistant reply only (`last_reply_only`), which turns do not train."""
    from trainer.tasks.causal_lm.templates import DEFAULT_TEMPLATE_NOTE

    notes = [template_note] if template_note == DEFAULT_TEMPLATE_NOTE else []
    if last_reply_only:
        earlier = sum(1 for row in rows if "messages" in row and _assistant_turns(row["messages"]) > 1)
        chats = "1 chat has" if earlier == 1 else f"{earlier} chats have"
        turns = f" ({chats} earlier assistant turns that do not train)" if earlier else ""
        notes.append(
            "The model's chat template has no {% generation %} spans, so only the last assistant reply of each "
            f"chat trains{turns}; to train on every turn, split each chat into one example per assistant reply, "
            "or use a model whose template marks replies with {% generation %}."
        )
    return notes


def _assistant_turns(messages: list[dict[str, Any]]) -> int:
    return sum(1 for message in messages if message.get("role") == "assistant")


def check_lengths(
    run_dir: Path,
    config: RunConfig,
    model: Any,
    tokenizer: Any,
    train_rows: list[dict[str, Any]],
    val_rows: list[dict[str, Any]],
    originals: list[dict[str, Any]],
    last_reply_only: bool,
    template_note: str = "",
) -> tuple[RunConfig, list[dict[str, Any]], list[dict[str, Any]]]:
    """Clamp max_length, drop and count what does not fit, say what the template means; log every sentence and
    add it to hardware.json's "notes". `originals` are the chats before any reshaping (for counting turns),
    `template_note` what ensure_chat_template said."""
    from trainer.tasks.progress import log

    train_lengths = measure(train_rows, tokenizer)
    max_length, notes = fit_max_length(config.max_length, getattr(model, "config", None), train_lengths)
    kept_train, train_notes = fit_rows(train_rows, train_lengths, max_length, "training")
    kept_val, val_notes = fit_rows(val_rows, measure(val_rows, tokenizer), max_length, "validation")
    notes += train_notes + val_notes + template_notes(template_note, last_reply_only, originals)
    for note in notes:
        log(note)
    if notes and (run_dir / "hardware.json").is_file():
        hardware = read_json(run_dir / "hardware.json")
        atomic_write_json(run_dir / "hardware.json", {**hardware, "notes": [*hardware.get("notes", []), *notes]})
    return replace(config, max_length=max_length), kept_train, kept_val


def fit_max_length(max_length: int, model_config: Any, lengths: Lengths) -> tuple[int, list[str]]:
    """max_length within the model's context, with its sentence when lowered; UserError when every training
    row's prompt fills it. A plan can call this (the model's config, `measure(rows, tokenizer)`) and `fit_rows`
    to say the same before a run."""
    max_length, clamped = clamp_max_length(max_length, model_context(model_config))
    prompts = lengths.prompt
    if prompts and min(prompts) >= max_length:
        raise UserError(
            f"Every training example's prompt alone fills max_length ({max_length} tokens; the longest prompt is "
            f"{max(prompts)}), so nothing is left to learn; raise max_length or shorten the prompts."
        )
    return max_length, [clamped] if clamped else []
