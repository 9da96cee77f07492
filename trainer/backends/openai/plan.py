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
import re
from pathlib import Path
from typing import Any

from trainer.backends import hosted_common
from trainer.backends.hosted_common import as_dpo, make_suffix
from trainer.backends.openai import NAME, PROVIDER
from trainer.backends.openai.client import endpoint
from trainer.backends.openai.models import model_notes
from trainer.core.errors import UserError
from trainer.core.fileio import atomic_write_text, read_json
from trainer.core.workspace import Workspace
from trainer.data.read import load_table
from trainer.data.shapes import detect_shape
from trainer.evaluate.held_out import for_hosted
from trainer.inspection.rules import MAX_TOKENS_PER_EXAMPLE, example_problems, example_tokens, what_is_wrong
from trainer.plan.config import resolve_config
from trainer.tasks.base import Task
from trainer.tasks.registry import task_for_kind

# USD per 1M training tokens of the models OpenAI still fine-tunes (until self-serve fine-tuning closes on
# 2027-01-06; see models.py for the deprecation sources). The figures are OpenAI's last published fine-tuning
# prices for these models (its pricing page no longer lists the GPT-4.x family); override per model in
# <workspace>/openai_prices.json, e.g. {"gpt-4.1-mini": 5.0}. Longest matching prefix wins, so dated snapshots
# ("gpt-4.1-mini-2025-04-14") take their family's price. gpt-4.1-nano, gpt-3.5-turbo and o4-mini were shut down
# on 2026-10-23, so they are gone from the table.
DEFAULT_PRICES: dict[str, float] = {
    "gpt-4.1": 25.0,
    "gpt-4.1-mini": 5.0,
    "gpt-4o": 25.0,
    "gpt-4o-mini": 3.0,
}
PRICES_FILE = "openai_prices.json"
# The folder under the workspace's datasets that holds OpenAI plans.
PLANS = "openai-plans"
# The dated snapshot fine-tuning takes (the alias is deprecated too; both shut down on 2027-01-14).
DEFAULT_MODEL = "gpt-4.1-mini-2025-04-14"
# Model names that mean "the OpenAI backend" when a user names them in the chat.
OPENAI_MODEL = re.compile(r"^(gpt-[\w.-]+|o\d[\w.-]*|ft:[\w.:-]+|davinci-002|babbage-002)$", re.IGNORECASE)

# OpenAI's format rules (fine-tuning guide) and the "auto" epoch heuristic of its data-prep cookbook.
MIN_EXAMPLES = 10
RECOMMENDED_EXAMPLES = 50
TARGET_EPOCHS, MIN_EPOCHS, MAX_EPOCHS = 3, 1, 25
MIN_TARGET_EXAMPLES, MAX_TARGET_EXAMPLES = 100, 25_000


def is_openai_model(name: str | None) -> bool:
    return bool(name) and bool(OPENAI_MODEL.match(str(name).strip()))


# ---- tokens and prices ----------------------------------------------------------------------


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


# ---- reading the data -----------------------------------------------------------------------


def task_for_file(path: Path) -> Task:
    """The task the file's data is for, refused in one sentence when the OpenAI API cannot train it."""
    kind = str(detect_shape(load_table(path))["task"])
    task = task_for_kind(kind)
    if task is None or not task.hosted_trainable:
        raise UserError(
            f"'{path.name}' looks like {kind} data, which OpenAI fine-tuning does not take here; give chat examples, "
            "preference pairs, or texts with labels."
        )
    return task


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
    task = task_for_file(data_path)
    base_config = resolve_config(
        {
            k: settings[k]
            for k in ("val_fraction", "test_fraction", "seed", "text_column", "label_column", "placeholders")
            if k in settings
        }
    )
    val_fraction, test_fraction, seed = base_config.val_fraction, base_config.test_fraction, base_config.seed
    data = task.hosted_data(data_path, base_config.to_dict())
    preference = data.objective.preference
    examples = [as_dpo(pair) for pair in data.examples] if preference else data.examples
    splits, rows, labels_info = data.splits, data.local_rows, data.details
    if not examples:
        raise UserError(f"'{data_path.name}' has no usable examples; check that it is the file you meant.")

    problems = example_problems(examples, preference=preference)
    if problems:
        first = problems[0]
        raise UserError(
            f"'{data_path.name}' breaks OpenAI's fine-tuning format in {sum(p['count'] for p in problems)} places, "
            f"e.g. {what_is_wrong(first['code'])} (example {first['rows'][0]}); fix those examples and ask again."
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
    if preference and not model.startswith(("gpt-4.1", "gpt-4o")):
        notes.append("DPO is offered for gpt-4.1 and gpt-4o models; the API may refuse this model.")
    notes += model_notes(ws, model)

    digest = hashlib.sha256(
        json.dumps(
            [str(data_path), data_path.stat().st_mtime_ns, model, hyper, suffix, val_fraction, test_fraction, seed]
            + ([base_config.placeholders] if base_config.placeholders else [])
        ).encode()
    ).hexdigest()[:12]
    folder = ws.datasets / PLANS / digest
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
            "task": task.name,
            "backend": NAME,
            "model": model,
            "val_fraction": val_fraction,
            "test_fraction": test_fraction,
            "seed": seed,
            "text_column": labels_info.get("text_column", ""),
            "label_column": labels_info.get("label_column", ""),
            "suffix": suffix,
            "placeholders": base_config.placeholders,
            **{k: str(v) for k, v in hyper.items() if k != "batch_size"},
            "openai_batch_size": str(hyper["batch_size"]),
        }
    ).to_dict()
    plan = {
        "plan_id": digest,
        "backend": NAME,
        "provider": PROVIDER,
        "file": data_path.name,
        "data": str(data_path),
        "task": task.name,
        "method": data.objective.method,
        "method_reason": data.objective.description,
        "model": model,
        "hyperparameters": hyper,
        "suffix": suffix,
        "counts": {name: len(splits[name]) for name in ("train", "validation", "test")},
        "held_out": for_hosted(data),
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
    return hosted_common.write_plan(folder, plan)


def load_plan(ws: Workspace, plan_id: str) -> dict[str, Any]:
    missing = f"There is no OpenAI plan {plan_id}; ask for a new plan (e.g. 'fine-tune gpt-4.1-mini on this')."
    return hosted_common.load_plan(ws, PLANS, plan_id, missing)


def save_plan(ws: Workspace, plan: dict[str, Any]) -> None:
    hosted_common.save_plan(ws, PLANS, plan)
