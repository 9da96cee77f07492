"""Plan an OpenAI fine-tuning job without touching the network: check, convert, split, count, price.

A plan is a folder `<workspace>/datasets/openai-plans/<plan_id>/` holding the chat JSONL files
(train, validation, and a held-out test split for evaluation) and plan.json. Nothing is uploaded
here: job.confirm_plan does that once the user has said yes.

Data shapes:
- a table of texts and labels (CSV/TSV/JSONL): converted to chat examples (a system prompt listing
  the labels, the text as the user turn, the label as the assistant turn), split exactly like a local
  classifier run (same stratified split and seed), so both can be compared on the same test rows;
- chat examples ({"messages": [...]}) -> supervised fine-tuning;
- preference pairs -> DPO ({"input": {"messages"}, "preferred_output", "non_preferred_output"}).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import shutil
from pathlib import Path
from typing import Any

from trainer.backends.openai.client import endpoint
from trainer.core.config import resolve_config
from trainer.core.errors import UserError
from trainer.core.fileio import atomic_write_json, atomic_write_text, read_json
from trainer.core.workspace import Workspace

# USD per 1M training tokens (OpenAI's published fine-tuning prices; override per model in
# <workspace>/openai_prices.json, e.g. {"gpt-4.1-mini": 5.0}). Longest matching prefix wins, so
# dated snapshots ("gpt-4.1-mini-2025-04-14") take their family's price.
DEFAULT_PRICES: dict[str, float] = {
    "gpt-4.1": 25.0,
    "gpt-4.1-mini": 5.0,
    "gpt-4.1-nano": 1.5,
    "gpt-4o": 25.0,
    "gpt-4o-mini": 3.0,
    "gpt-3.5-turbo": 8.0,
    "davinci-002": 6.0,
    "babbage-002": 0.4,
}
PRICES_FILE = "openai_prices.json"
DEFAULT_MODEL = "gpt-4.1-mini"
# Model names that mean "the OpenAI backend" when a user names them in the chat.
OPENAI_MODEL = re.compile(r"^(gpt-[\w.-]+|o\d[\w.-]*|ft:[\w.:-]+|davinci-002|babbage-002)$", re.IGNORECASE)

# OpenAI's format rules (fine-tuning guide) and the "auto" epoch heuristic of its data-prep cookbook.
MIN_EXAMPLES = 10
RECOMMENDED_EXAMPLES = 50
MAX_TOKENS_PER_EXAMPLE = 65_536
ROLES = {"system", "developer", "user", "assistant", "tool"}
MESSAGE_KEYS = {"role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call", "refusal"}
TARGET_EPOCHS, MIN_EPOCHS, MAX_EPOCHS = 3, 1, 25
MIN_TARGET_EXAMPLES, MAX_TARGET_EXAMPLES = 100, 25_000


def is_openai_model(name: str | None) -> bool:
    return bool(name) and bool(OPENAI_MODEL.match(str(name).strip()))


# ---- tokens and prices ----------------------------------------------------------------------


def approx_tokens(text: str) -> int:
    """A tokenizer-free estimate (about 4 characters or one word piece per token); plans say "about"."""
    if not text:
        return 0
    pieces = len(re.findall(r"\w+|[^\w\s]", text))
    return max(pieces, math.ceil(len(text) / 4))


def example_tokens(example: dict[str, Any]) -> int:
    """Tokens of one training example as billed: every message plus a few tokens of framing each."""
    if "messages" in example:
        messages = example["messages"]
    else:  # DPO: the input plus both answers
        messages = [*example["input"]["messages"], *example["preferred_output"], *example["non_preferred_output"]]
    total = 3
    for message in messages:
        content = message.get("content")
        text = content if isinstance(content, str) else json.dumps(content or "")
        if message.get("tool_calls"):
            text += json.dumps(message["tool_calls"])
        total += 4 + approx_tokens(text)
    return total


def auto_epochs(n_examples: int) -> int:
    """What n_epochs="auto" works out to (OpenAI's heuristic), for the cost estimate."""
    epochs = TARGET_EPOCHS
    if n_examples * epochs < MIN_TARGET_EXAMPLES:
        epochs = min(MAX_EPOCHS, math.ceil(MIN_TARGET_EXAMPLES / max(1, n_examples)))
    elif n_examples * epochs > MAX_TARGET_EXAMPLES:
        epochs = max(MIN_EPOCHS, MAX_TARGET_EXAMPLES // max(1, n_examples))
    return epochs


def price_table(ws: Workspace) -> tuple[dict[str, float], str]:
    """The prices in use and where they came from (the workspace file overrides the built-in table)."""
    prices = dict(DEFAULT_PRICES)
    path = ws.root / PRICES_FILE
    if not path.is_file():
        return prices, "built-in price table"
    try:
        override = read_json(path)
        prices.update({str(k): float(v) for k, v in dict(override).items()})
    except (ValueError, TypeError, AttributeError) as error:
        raise UserError(
            f"{path} is not a JSON object of model name -> USD per 1M training tokens ({error}); fix or delete it."
        ) from None
    return prices, f"{path.name} in the workspace"


def price_for(model: str, prices: dict[str, float]) -> float | None:
    name = model.removeprefix("ft:").split(":")[0].lower()
    matches = [prefix for prefix in prices if name == prefix.lower() or name.startswith(prefix.lower() + "-")]
    return prices[max(matches, key=len)] if matches else None


# ---- format checks --------------------------------------------------------------------------


def _problem(problems: dict[str, dict[str, Any]], code: str, row: int, message: str) -> None:
    entry = problems.setdefault(code, {"code": code, "count": 0, "rows": [], "message": message})
    entry["count"] += 1
    if len(entry["rows"]) < 10:
        entry["rows"].append(row)


def _check_messages(messages: Any, row: int, problems: dict[str, dict[str, Any]], need_assistant: bool) -> None:
    if not isinstance(messages, list) or not messages:
        _problem(problems, "no_messages", row, "the example has no 'messages' list")
        return
    for message in messages:
        if not isinstance(message, dict):
            _problem(problems, "bad_message", row, "a message is not a JSON object")
            continue
        role = message.get("role")
        if role not in ROLES:
            _problem(problems, "bad_role", row, f"a message's role is not one of {', '.join(sorted(ROLES))}")
        extra = set(message) - MESSAGE_KEYS
        if extra:
            _problem(
                problems, "unknown_key", row, f"a message has keys OpenAI does not accept ({', '.join(sorted(extra))})"
            )
        content = message.get("content")
        if role == "assistant" and (message.get("tool_calls") or message.get("function_call")):
            pass  # an assistant tool call may have no content
        elif not (isinstance(content, str) and content.strip()) and not isinstance(content, list):
            _problem(problems, "empty_content", row, "a message has no text content")
        if "weight" in message and (role != "assistant" or message["weight"] not in (0, 1)):
            _problem(problems, "bad_weight", row, "'weight' is allowed only on assistant messages, as 0 or 1")
    if need_assistant and not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
        _problem(problems, "no_assistant", row, "the example has no assistant message to learn from")


def check_examples(examples: list[dict[str, Any]], method: str) -> list[dict[str, Any]]:
    """OpenAI's format rules, as a list of problems {code, count, rows, message} (rows are 1-based)."""
    problems: dict[str, dict[str, Any]] = {}
    for row, example in enumerate(examples, start=1):
        if method == "dpo":
            source = example.get("input") if isinstance(example.get("input"), dict) else {}
            messages = source.get("messages") if isinstance(source, dict) else None
            _check_messages(messages, row, problems, need_assistant=False)
            if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
                if messages[-1].get("role") != "user":
                    _problem(problems, "input_not_user_last", row, "a DPO input must end with a user message")
            for key in ("preferred_output", "non_preferred_output"):
                output = example.get(key)
                if not (isinstance(output, list) and len(output) == 1 and isinstance(output[0], dict)):
                    _problem(problems, "bad_output", row, f"'{key}' must be a list with one assistant message")
                else:
                    _check_messages(output, row, problems, need_assistant=True)
            if example.get("preferred_output") == example.get("non_preferred_output"):
                _problem(problems, "same_outputs", row, "the preferred and non-preferred answers are identical")
        else:
            _check_messages(example.get("messages"), row, problems, need_assistant=True)
        if example_tokens(example) > MAX_TOKENS_PER_EXAMPLE:
            _problem(problems, "too_long", row, f"the example is longer than {MAX_TOKENS_PER_EXAMPLE} tokens")
    return list(problems.values())


# ---- reading the data -----------------------------------------------------------------------


def classification_system_prompt(labels: list[str]) -> str:
    return "Classify the text. Answer with exactly one of these labels: " + ", ".join(labels) + "."


def classification_example(text: str, label: str | None, system_prompt: str) -> dict[str, Any]:
    messages = [{"role": "system", "content": system_prompt}, {"role": "user", "content": text}]
    if label is not None:
        messages.append({"role": "assistant", "content": label})
    return {"messages": messages}


def _load_chat(path: Path) -> list[dict[str, Any]]:
    """Chat examples in OpenAI's form from any SFT shape trainer.data.shapes knows (messages, Alpaca, ShareGPT...)."""
    from trainer.data.shapes import load_chat_examples

    return list(load_chat_examples(path))


def _load_pairs(path: Path) -> list[dict[str, Any]]:
    """Preference pairs as OpenAI DPO examples."""
    from trainer.data.shapes import load_preference_pairs

    return [_as_dpo(pair) for pair in load_preference_pairs(path)]


def _as_dpo(pair: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's DPO record from {prompt, chosen, rejected} (strings or message lists) or an OpenAI record."""
    if "input" in pair and "preferred_output" in pair:
        return {k: pair[k] for k in ("input", "preferred_output", "non_preferred_output") if k in pair}

    def as_messages(value: Any, role: str) -> list[dict[str, Any]]:
        if isinstance(value, list):
            return [dict(m) for m in value]
        return [{"role": role, "content": str(value)}]

    prompt = pair.get("prompt") or pair.get("messages") or ""
    chosen, rejected = (
        as_messages(pair.get("chosen", ""), "assistant"),
        as_messages(pair.get("rejected", ""), "assistant"),
    )
    return {
        "input": {"messages": as_messages(prompt, "user")},
        "preferred_output": [m for m in chosen if m.get("role") == "assistant"][-1:],
        "non_preferred_output": [m for m in rejected if m.get("role") == "assistant"][-1:],
    }


def detect_shape(path: Path) -> str:
    """'chat', 'preference' or 'table' (texts with labels), as trainer.data.shapes recognises the file."""
    from trainer.data.read import load_table
    from trainer.data.shapes import SFT_TASKS
    from trainer.data.shapes import detect_shape as detect

    task = detect(load_table(path))["task"]
    if task in SFT_TASKS:
        return "chat"
    if task == "preference":
        return "preference"
    if task == "text-classification":
        return "table"
    raise UserError(
        f"'{path.name}' looks like {task} data, which OpenAI fine-tuning does not take here; give chat examples, "
        "preference pairs, or texts with labels."
    )


def _random_split(n: int, val_fraction: float, test_fraction: float, seed: int) -> dict[str, list[int]]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_test, n_val = round(n * test_fraction), round(n * val_fraction)
    return {"test": order[:n_test], "validation": order[n_test : n_test + n_val], "train": order[n_test + n_val :]}


# ---- the plan -------------------------------------------------------------------------------


def _hyper(value: Any, name: str, kind: type) -> Any:
    """'auto' or a positive number of the right kind, with a one-sentence error otherwise."""
    if value is None or str(value).strip().lower() in ("", "auto"):
        return "auto"
    try:
        number = kind(float(value)) if kind is int else float(value)
    except (TypeError, ValueError):
        number = None
    if number is None or number <= 0 or (kind is int and float(value) != int(float(value))):
        raise UserError(f"'{value}' is not a valid {name}; give 'auto' or a positive {kind.__name__}.")
    return number


def make_suffix(text: str) -> str:
    """A model-name suffix from a file name: lowercase letters, digits and dashes, at most 40 characters."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return cleaned[:40].strip("-") or "tunechat"


def make_plan(
    ws: Workspace,
    data_path: Path,
    model: str | None = None,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Check and convert `data_path`, write the JSONL files of the plan, and return the plan (no upload)."""
    settings = {k: v for k, v in (settings or {}).items() if v is not None}
    model = (model or settings.pop("model", None) or DEFAULT_MODEL).strip()
    settings.pop("model", None)
    shape = detect_shape(data_path)
    base_config = resolve_config(
        {
            k: settings[k]
            for k in ("val_fraction", "test_fraction", "seed", "text_column", "label_column")
            if k in settings
        }
    )
    val_fraction, test_fraction, seed = base_config.val_fraction, base_config.test_fraction, base_config.seed
    labels_info: dict[str, Any] = {}
    if shape == "table":
        from trainer.data.read import load_examples, load_table, pick_columns, stratified_split

        columns = pick_columns(load_table(data_path), base_config.text_column or None, base_config.label_column or None)
        texts, labels = load_examples(data_path, columns["text_column"], columns["label_column"])
        # The same split a local classifier run of this file makes, so both are tested on the same rows.
        splits = stratified_split(labels, val_fraction, test_fraction, seed)
        label_names = sorted(set(labels))
        system = classification_system_prompt(label_names)
        examples = [classification_example(t, y, system) for t, y in zip(texts, labels, strict=True)]
        task, method = "text-classification", "supervised"
        labels_info = {"labels": label_names, "system_prompt": system, **columns}
        rows: list[dict[str, Any]] = [{"text": t, "label": y} for t, y in zip(texts, labels, strict=True)]
    else:
        examples = _load_pairs(data_path) if shape == "preference" else _load_chat(data_path)
        task, method = ("dpo", "dpo") if shape == "preference" else ("sft", "supervised")
        splits = _random_split(len(examples), val_fraction, test_fraction, seed)
        rows = []
    if not examples:
        raise UserError(f"'{data_path.name}' has no usable examples; check that it is the file you meant.")

    problems = check_examples(examples, method)
    if problems:
        first = problems[0]
        raise UserError(
            f"'{data_path.name}' breaks OpenAI's fine-tuning format in {sum(p['count'] for p in problems)} places, "
            f"e.g. {first['message']} (example {first['rows'][0]}); fix those examples and ask again."
        )
    if len(splits["train"]) < MIN_EXAMPLES:
        raise UserError(
            f"Only {len(splits['train'])} examples are left for training after holding out validation and test "
            f"rows, and OpenAI needs at least {MIN_EXAMPLES}; add more examples."
        )

    hyper = {
        "n_epochs": _hyper(settings.get("n_epochs", settings.get("epochs")), "n_epochs", int),
        "batch_size": _hyper(settings.get("openai_batch_size", settings.get("batch_size")), "batch_size", int),
        "learning_rate_multiplier": _hyper(settings.get("learning_rate_multiplier"), "learning_rate_multiplier", float),
    }
    suffix = make_suffix(str(settings.get("suffix") or data_path.stem))
    train_tokens = sum(min(MAX_TOKENS_PER_EXAMPLE, example_tokens(examples[i])) for i in splits["train"])
    epochs = hyper["n_epochs"] if hyper["n_epochs"] != "auto" else auto_epochs(len(splits["train"]))
    prices, price_source = price_table(ws)
    price = price_for(model, prices)
    billed = train_tokens * epochs
    notes = []
    if len(splits["train"]) < RECOMMENDED_EXAMPLES:
        notes.append(
            f"{len(splits['train'])} training examples is few; OpenAI recommends at least {RECOMMENDED_EXAMPLES}."
        )
    if price is None:
        notes.append(f"No price is known for {model}; add it to {PRICES_FILE} in the workspace for a cost estimate.")
    if method == "dpo" and not model.startswith(("gpt-4.1", "gpt-4o")):
        notes.append("DPO is offered for gpt-4.1 and gpt-4o models; the API may refuse this model.")

    digest = hashlib.sha256(
        json.dumps(
            [str(data_path), data_path.stat().st_mtime_ns, model, hyper, suffix, val_fraction, test_fraction, seed]
        ).encode()
    ).hexdigest()[:12]
    folder = ws.datasets / "openai-plans" / digest
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name in ("train", "validation", "test"):
        path = folder / f"{name}.jsonl"
        atomic_write_text(path, "".join(json.dumps(examples[i], ensure_ascii=False) + "\n" for i in splits[name]))
        files[name] = str(path)
    if rows:
        for name in ("train", "validation", "test"):
            lines = "".join(json.dumps(rows[i], ensure_ascii=False) + "\n" for i in splits[name])
            atomic_write_text(folder / "splits" / f"{name}.jsonl", lines)

    config = resolve_config(
        {
            "data": str(data_path),
            "task": task,
            "backend": "openai",
            "model": model,
            "val_fraction": val_fraction,
            "test_fraction": test_fraction,
            "seed": seed,
            "text_column": labels_info.get("text_column", ""),
            "label_column": labels_info.get("label_column", ""),
            "suffix": suffix,
            **{k: str(v) for k, v in hyper.items() if k != "batch_size"},
            "openai_batch_size": str(hyper["batch_size"]),
        }
    ).to_dict()
    plan = {
        "plan_id": digest,
        "backend": "openai",
        "file": data_path.name,
        "data": str(data_path),
        "task": task,
        "method": method,
        "model": model,
        "hyperparameters": hyper,
        "suffix": suffix,
        "counts": {name: len(splits[name]) for name in ("train", "validation", "test")},
        "train_tokens": train_tokens,
        "estimated_epochs": epochs,
        "billed_tokens": billed,
        "price_per_million_tokens": price,
        "price_source": price_source,
        "estimated_cost_usd": round(billed / 1e6 * price, 2) if price is not None else None,
        "endpoint": endpoint(),
        "notes": notes,
        "files": files,
        "config": config,
        "confirmation_required": True,
        **labels_info,
    }
    existing = folder / "plan.json"
    if existing.is_file():
        plan["run_id"] = read_json(existing).get("run_id")  # a plan already confirmed stays tied to its run
    atomic_write_json(existing, plan)
    return plan


def load_plan(ws: Workspace, plan_id: str) -> dict[str, Any]:
    if not re.fullmatch(r"[0-9a-f]{12}", str(plan_id)):
        raise UserError(f"'{plan_id}' is not a plan id; ask for a new plan.")
    path = ws.datasets / "openai-plans" / plan_id / "plan.json"
    if not path.is_file():
        raise UserError(
            f"There is no OpenAI plan {plan_id}; ask for a new plan (e.g. 'fine-tune gpt-4.1-mini on this')."
        )
    return dict(read_json(path))


def save_plan(ws: Workspace, plan: dict[str, Any]) -> None:
    atomic_write_json(ws.datasets / "openai-plans" / plan["plan_id"] / "plan.json", plan)


def copy_plan_files(plan: dict[str, Any], target: Path) -> dict[str, str]:
    """Copy the plan's JSONL files (and the text/label splits) into a run folder; return the new paths."""
    target.mkdir(parents=True, exist_ok=True)
    copied = {}
    for name, source in plan["files"].items():
        destination = target / f"{name}.jsonl"
        shutil.copyfile(source, destination)
        copied[name] = str(destination)
    return copied
