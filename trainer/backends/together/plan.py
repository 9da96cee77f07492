"""Plan a Together fine-tuning job without touching the network: check, convert, split, count, price.

A plan is a folder `<workspace>/datasets/together-plans/<plan_id>/` holding the held-out files tunechat evaluates
on (train, validation and test as chat records, exactly the rows and split a local run of the file uses), the
files to upload in Together's JSONL (upload/train.jsonl, upload/validation.jsonl) and plan.json. The upload
files are checked by the client's own format check (`together.lib.utils.files.check_file`, local). Nothing is
uploaded here: job.confirm_plan does that once the user has said yes.

Together's formats: conversational `{"messages": [...]}`; instruction `{"prompt", "completion"}` (a file of
prompt/completion pairs or Alpaca instructions with single-turn chats); preference pairs for DPO
`{"input": {"messages"}, "preferred_output", "non_preferred_output"}`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from trainer.backends import hosted_common
from trainer.backends.hosted_common import as_dpo, make_suffix
from trainer.backends.together import NAME, PROVIDER
from trainer.backends.together.client import endpoint
from trainer.backends.together.prices import DEFAULT_MODEL, PRICES_FILE, known_model, price_for, price_table
from trainer.core.errors import UserError
from trainer.core.fileio import atomic_write_text
from trainer.core.workspace import Workspace
from trainer.data import kinds
from trainer.data.read import load_table
from trainer.data.shapes import detect_shape
from trainer.evaluate.held_out import for_hosted
from trainer.inspection.rules import MAX_TOKENS_PER_EXAMPLE, example_problems, example_tokens, what_is_wrong
from trainer.plan.config import resolve_config
from trainer.tasks.base import Task
from trainer.tasks.registry import task_for_kind

PLANS = "together-plans"
MIN_EXAMPLES = 10
RECOMMENDED_EXAMPLES = 100
DEFAULT_EPOCHS = 3
# The client's default learning rate.
DEFAULT_LEARNING_RATE = 1e-5
TRAINING_TYPES = ("lora", "full")
INSTRUCTION_SHAPES = (kinds.PROMPT_COMPLETION, kinds.ALPACA)


def _as_instruction(example: dict[str, Any]) -> dict[str, Any] | None:
    """{"prompt", "completion"} from a single-turn chat without a system message, else None."""
    messages = example.get("messages") or []
    if len(messages) == 2 and [m.get("role") for m in messages] == ["user", "assistant"]:
        return {"prompt": str(messages[0]["content"]), "completion": str(messages[1]["content"])}
    return None


def upload_format(shape: str, examples: list[dict[str, Any]], preference: bool) -> str:
    """conversation, instruction or preference: what the upload files hold."""
    if preference:
        return "preference"
    if shape in INSTRUCTION_SHAPES and all(_as_instruction(example) for example in examples):
        return "instruction"
    return "conversation"


def task_for_file(path: Path) -> tuple[Task, str]:
    """The task the file's data is for (and its shape), refused in one sentence when Together cannot train it."""
    shape = detect_shape(load_table(path))
    task = task_for_kind(str(shape["task"]))
    if task is None or not task.hosted_trainable:
        raise UserError(
            f"'{path.name}' looks like {shape['task']} data, which Together fine-tuning does not take here; give "
            "chat examples, prompt/completion pairs, preference pairs, or texts with labels."
        )
    return task, str(shape["shape"])


def _positive(value: Any, name: str, kind: type, default: Any) -> Any:
    if value is None or str(value).strip().lower() in ("", "auto"):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if number <= 0 or (kind is int and number != int(number)):
        raise UserError(f"'{value}' is not a valid {name}; give a positive {kind.__name__}.")
    return int(number) if kind is int else number


def _hyperparameters(settings: dict[str, Any], n_validation: int) -> dict[str, Any]:
    asked = settings.get("together_training") or settings.get("training_type") or settings.get("method") or "lora"
    training_type = str(asked).lower()
    if training_type not in TRAINING_TYPES:
        raise UserError(f"Together trains with LoRA or in full, not '{training_type}'; say 'lora' or 'full'.")
    batch = settings.get("together_batch_size", settings.get("batch_size"))
    epochs = _positive(settings.get("n_epochs", settings.get("epochs")), "number of epochs", int, DEFAULT_EPOCHS)
    return {
        "n_epochs": epochs,
        "learning_rate": _positive(settings.get("learning_rate"), "learning rate", float, DEFAULT_LEARNING_RATE),
        "batch_size": "max" if str(batch or "max").lower() == "max" else _positive(batch, "batch size", int, "max"),
        "training_type": training_type,
        # One evaluation on the validation file per epoch, so the follower can record a validation loss.
        "n_evals": min(epochs, 10) if n_validation else 0,
    }


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    atomic_write_text(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return str(path)


def _check_upload(path: Path, name: str) -> None:
    """The client's own local format check of a file to upload, refused in one sentence when it fails."""
    from together.lib.utils.files import check_file

    report = check_file(path, purpose="fine-tune")
    if not report.get("is_check_passed"):
        raise UserError(
            f"Together's format check rejects the converted {name} file ({report.get('message')}); fix those "
            "examples in the data and ask again."
        )


def make_plan(
    ws: Workspace, data_path: Path, model: str | None = None, settings: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Check and convert `data_path`, write the plan's files, and return the plan (no upload)."""
    settings = {k: v for k, v in (settings or {}).items() if v is not None}
    prices, price_source = price_table(ws)
    asked = (model or settings.pop("model", None) or DEFAULT_MODEL).strip()
    settings.pop("model", None)
    model = known_model(asked, prices) or asked
    task, shape = task_for_file(data_path)
    base_config = resolve_config(
        {
            k: settings[k]
            for k in ("val_fraction", "test_fraction", "seed", "text_column", "label_column", "placeholders")
            if k in settings
        }
    )
    data = task.hosted_data(data_path, base_config.to_dict())
    preference = data.objective.preference
    examples = [as_dpo(pair) for pair in data.examples] if preference else data.examples
    splits = data.splits
    if not examples:
        raise UserError(f"'{data_path.name}' has no usable examples; check that it is the file you meant.")
    problems = example_problems(examples, preference=preference)
    if problems:
        first = problems[0]
        raise UserError(
            f"'{data_path.name}' breaks the chat format fine-tuning needs in {sum(p['count'] for p in problems)} "
            f"places, e.g. {what_is_wrong(first['code'])} (example {first['rows'][0]}); fix those examples and "
            "ask again."
        )
    if len(splits["train"]) < MIN_EXAMPLES:
        raise UserError(
            f"Only {len(splits['train'])} examples are left for training after holding out validation and test "
            f"rows, and tunechat asks for at least {MIN_EXAMPLES} for a hosted job; add more examples."
        )
    hyper = _hyperparameters(settings, len(splits["validation"]))
    method = "dpo" if preference else "sft"
    layout = upload_format(shape, examples, preference)
    suffix = make_suffix(str(settings.get("suffix") or data_path.stem))
    train_tokens = sum(min(MAX_TOKENS_PER_EXAMPLE, example_tokens(examples[i])) for i in splits["train"])
    valid_tokens = sum(min(MAX_TOKENS_PER_EXAMPLE, example_tokens(examples[i])) for i in splits["validation"])
    billed = train_tokens * hyper["n_epochs"] + valid_tokens * hyper["n_evals"]
    price = price_for(model, hyper["training_type"], method, prices)
    notes = []
    if len(splits["train"]) < RECOMMENDED_EXAMPLES:
        notes.append(f"{len(splits['train'])} training examples is few; a hundred or more usually helps.")
    if known_model(model, prices) is None:
        notes.append(
            f"{model} is not in tunechat's table of Together's fine-tunable models, so Together may refuse it and "
            f"no price is known; add it to {PRICES_FILE} in the workspace for a cost estimate."
        )

    digest = hashlib.sha256(
        json.dumps(
            [str(data_path), data_path.stat().st_mtime_ns, NAME, model, hyper, suffix]
            + [base_config.val_fraction, base_config.test_fraction, base_config.seed, base_config.placeholders]
        ).encode()
    ).hexdigest()[:12]
    folder = ws.datasets / PLANS / digest
    files = {name: _write_jsonl(folder / f"{name}.jsonl", [examples[i] for i in splits[name]]) for name in splits}

    def convert(example: dict[str, Any]) -> dict[str, Any]:
        return (_as_instruction(example) or example) if layout == "instruction" else example

    upload = {
        name: _write_jsonl(folder / "upload" / f"{name}.jsonl", [convert(examples[i]) for i in splits[name]])
        for name in ("train", "validation")
    }
    _check_upload(Path(upload["train"]), "training")
    if splits["validation"]:
        _check_upload(Path(upload["validation"]), "validation")
    if data.local_rows:  # text/label splits, as a local classifier run writes them
        for name in ("train", "validation", "test"):
            _write_jsonl(folder / "splits" / f"{name}.jsonl", [data.local_rows[i] for i in splits[name]])

    details = data.details
    config = resolve_config(
        {
            "data": str(data_path),
            "task": task.name,
            "backend": NAME,
            "model": model,
            "val_fraction": base_config.val_fraction,
            "test_fraction": base_config.test_fraction,
            "seed": base_config.seed,
            "text_column": details.get("text_column", ""),
            "label_column": details.get("label_column", ""),
            "suffix": suffix,
            "placeholders": base_config.placeholders,
            "n_epochs": str(hyper["n_epochs"]),
            "together_learning_rate": hyper["learning_rate"],
            "together_batch_size": str(hyper["batch_size"]),
            "together_training": hyper["training_type"],
        }
    ).to_dict()
    plan = {
        "plan_id": digest,
        "backend": NAME,
        "provider": PROVIDER,
        "file": data_path.name,
        "data": str(data_path),
        "task": task.name,
        # The objective's name, as an OpenAI plan says it (supervised or dpo), so runs compare; the API's own
        # word for it is in "training_method".
        "method": data.objective.method,
        "training_method": method,
        "method_reason": data.objective.description,
        "upload_format": layout,
        "model": model,
        "hyperparameters": hyper,
        "suffix": suffix,
        "counts": {name: len(splits.get(name, [])) for name in ("train", "validation", "test")},
        "held_out": for_hosted(data),
        "train_tokens": train_tokens,
        "estimated_epochs": hyper["n_epochs"],
        "billed_tokens": billed,
        "price_per_million_tokens": price,
        "price_source": price_source,
        "estimated_cost_usd": round(billed / 1e6 * price, 2) if price is not None else None,
        "endpoint": endpoint(),
        "notes": notes,
        "files": files,
        "upload": upload,
        "config": config,
        "confirmation_required": True,
        **details,
    }
    return hosted_common.write_plan(folder, plan)


def load_plan(ws: Workspace, plan_id: str) -> dict[str, Any]:
    missing = f"There is no Together plan {plan_id}; ask for a new plan (e.g. 'fine-tune this on together')."
    return hosted_common.load_plan(ws, PLANS, plan_id, missing)


def save_plan(ws: Workspace, plan: dict[str, Any]) -> None:
    hosted_common.save_plan(ws, PLANS, plan)
