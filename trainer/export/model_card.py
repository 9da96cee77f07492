"""The model card of a hub export: README.md with YAML front matter the Hugging Face Hub reads, then what the
model is, what it learnt from, how it was trained, how it scored against its base and baselines, what it is for,
and how to load it. Everything comes from the run's own files (config.json, evaluation.json, splits/)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from trainer.core.fileio import read_json, read_jsonl
from trainer.export.base import ExportSource

# Columns of the evaluation table besides the tuned model: evaluation.json's key, and its heading.
COMPARED = (("base", "base model"), ("baseline", "majority baseline"), ("linear_probe", "linear probe"))
# Settings shown under "Training" besides the task's own plan settings, when the run set them.
EXTRA_SETTINGS = ("lora_r", "lora_alpha", "lora_dropout", "freeze_layers", "warmup_ratio", "seed", "val_fraction")
# Settings whose 0 means "not used" (no step limit, no frozen layers).
UNSET_WHEN_ZERO = ("max_steps", "freeze_layers")
# How many labels the data section lists before it says "and N more".
LABELS_SHOWN = 20


def _catalog_entry(model: str) -> Any:
    from trainer.models.catalog import get_model, is_known

    return get_model(model) if is_known(model) else None


def hub_id(model: str | None) -> str | None:
    """The base model as a Hugging Face id: a catalog model's hub alias, or a name shaped like org/name that is
    not a folder here; None for a local folder (which means nothing on the Hub)."""
    if not model:
        return None
    known = _catalog_entry(model)
    if known is not None:
        return next((alias for alias in known.aliases if "/" in alias), None)
    shaped = model.count("/") == 1 and not model.startswith((".", "/", "~"))
    return model if shaped and not Path(model).exists() else None


def shown_name(model: str | None) -> str:
    """The base model as the card names it: its hub id, else a local folder's own name (not the user's path)."""
    if not model:
        return "unknown"
    found = hub_id(model)
    if found:
        return found
    return Path(model).name if ("/" in model or Path(model).exists()) else model


def licence_of(model: str | None) -> str | None:
    """The base model's licence as the Hub spells it (apache-2.0), when the offline catalog knows it."""
    known = _catalog_entry(model) if model else None
    return known.licence.lower() if known is not None and known.licence else None


def _yaml(meta: dict[str, Any]) -> str:
    # JSON strings and lists are valid YAML, and quoting every value keeps odd names from changing their meaning.
    lines = ["---"]
    for key, value in meta.items():
        if isinstance(value, list):
            lines.append(f"{key}:")
            lines += [f"- {json.dumps(item)}" for item in value]
        else:
            lines.append(f"{key}: {json.dumps(value)}")
    return "\n".join([*lines, "---"])


def front_matter(source: ExportSource, adapter: bool) -> dict[str, Any]:
    model = source.config.get("model")
    meta: dict[str, Any] = {}
    licence = licence_of(model)
    if licence:
        meta["license"] = licence
    base = hub_id(model)
    if base:
        meta["base_model"] = base
    if source.task.pipeline_tag:
        meta["pipeline_tag"] = source.task.pipeline_tag
    meta["library_name"] = "peft" if adapter else "transformers"
    tags = ["tunechat", source.task.name, str(source.config.get("method") or "full")]
    meta["tags"] = list(dict.fromkeys(tags + (["lora"] if adapter else [])))
    return meta


def _number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "–"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows])


def data_summary(source: ExportSource) -> str:
    """Rows per split and the training labels (or target range), from splits/ or, for chats, evaluation.json."""
    name = Path(str(source.config.get("data") or "the uploaded file")).name
    splits = source.run_dir / "splits"
    sizes: dict[str, int] = {}
    train: list[dict[str, Any]] = []
    for path in sorted(splits.glob("*.jsonl")) if splits.is_dir() else []:
        rows = read_jsonl(path)
        sizes[path.stem] = len(rows)
        train = rows if path.stem == "train" else train
    evaluation = _evaluation(source)
    if not sizes:
        for split in ("train", "validation", "test"):
            if isinstance(evaluation.get(f"{split}_size"), int):
                sizes[split] = evaluation[f"{split}_size"]
    counted = ", ".join(f"{count} {split}" for split, count in sizes.items()) or "sizes unknown"
    lines = [f"From `{name}`: {counted}."]
    labels = [row["label"] for row in train if "label" in row]
    if labels and all(isinstance(label, int | float) and not isinstance(label, bool) for label in labels):
        values = [float(label) for label in labels]
        mean = sum(values) / len(values)
        lines.append(f"Training target: from {min(values):g} to {max(values):g}, mean {mean:.3g}.")
    elif labels:
        counts = Counter(str(label) for label in labels).most_common()
        shown = ", ".join(f"{label} {count}" for label, count in counts[:LABELS_SHOWN])
        more = f", and {len(counts) - LABELS_SHOWN} more" if len(counts) > LABELS_SHOWN else ""
        lines.append(f"Training labels: {shown}{more}.")
    texts = [str(row["text"]) for row in train if "text" in row]
    if texts:
        lines.append(f"Training texts: {sum(len(text) for text in texts) / len(texts):.0f} characters on average.")
    return "\n\n".join(lines)


def training_table(source: ExportSource) -> str:
    names = [*source.task.shown_settings, *EXTRA_SETTINGS]
    rows = []
    for name in dict.fromkeys(names):
        value = source.config.get(name)
        if name == "model":
            value = shown_name(str(value))
        elif name in UNSET_WHEN_ZERO and not value:
            continue
        rows.append([name.replace("_", " "), _number(value)])
    return _table(["setting", "value"], [row for row in rows if row[1] not in ("–", "", "None", "[]", "{}")])


def _evaluation(source: ExportSource) -> dict[str, Any]:
    path = source.run_dir / "evaluation.json"
    return dict(read_json(path)) if path.is_file() else {}


def evaluation_table(source: ExportSource) -> str:
    """Each metric the task reports: the tuned model beside its base model and baselines where evaluation.json
    has them."""
    evaluation = _evaluation(source)
    others = [(heading, evaluation[key]) for key, heading in COMPARED if isinstance(evaluation.get(key), dict)]
    rows = []
    for spec in source.task.metrics:
        value = evaluation.get(spec.name)
        if not isinstance(value, int | float) or isinstance(value, bool) or spec.name == "train_seconds":
            continue
        rows.append([spec.heading, _number(value), *[_number(found.get(spec.name)) for _, found in others]])
    if not rows:
        return "The run wrote no evaluation figures."
    size = evaluation.get("test_size") or evaluation.get("validation_size")
    where = f" on {size} held-out examples" if size else " on the held-out split"
    return f"Measured by tunechat{where}:\n\n" + _table(["metric", "tuned", *[name for name, _ in others]], rows)


def limits(source: ExportSource) -> str:
    evaluation = _evaluation(source)
    lines = [
        f"A {source.task.title} model fine-tuned on one data set; it knows what that data showed it and inherits "
        f"the abilities, biases and licence of `{shown_name(source.config.get('model'))}`.",
        "Check it on your own examples before relying on it, and keep a person in the loop for decisions that matter.",
    ]
    forgetting = evaluation.get("forgetting")
    if isinstance(forgetting, dict) and forgetting.get("sentence"):
        lines.append(f"General ability after training: {forgetting['sentence']}")
    return "\n\n".join(lines)


def how_to_load(source: ExportSource, repo: str, adapter: bool, chat: bool) -> str:
    base = hub_id(source.config.get("model")) or f"path/to/{shown_name(source.config.get('model'))}"
    if adapter:
        return f"""```python
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("{repo}")  # the chat template and any tokens training added
base = AutoModelForCausalLM.from_pretrained("{base}")
base.resize_token_embeddings(len(tokenizer))
model = PeftModel.from_pretrained(base, "{repo}").merge_and_unload()
```

`generation_config.json` names every token that ends a turn; pass it on (`model.generation_config`) so replies
stop where training taught them to."""
    if chat:
        return f"""```python
from transformers import pipeline

chat = pipeline("text-generation", model="{repo}")
print(chat([{{"role": "user", "content": "Hello!"}}], max_new_tokens=64))
```"""
    tag = source.task.pipeline_tag or "text-classification"
    model_config = source.run_dir / "model" / "config.json"
    own = dict(read_json(model_config)).get("tunechat_architecture") if model_config.is_file() else None
    if own:
        return (
            f"The network is tunechat's own `{own}` (config.json names it), which transformers does not know: load "
            "it with tunechat (`tunechat serve RUN` answers `POST /predict` like the Hugging Face Inference API)."
        )
    return f"""```python
from transformers import pipeline

classify = pipeline("{tag}", model="{repo}")
```

Or serve it with tunechat: `tunechat serve RUN` answers `POST /predict` like the Hugging Face Inference API."""


def model_card(source: ExportSource, repo: str | None, adapter: bool, chat: bool) -> str:
    """README.md of a hub folder: front matter, then the sections."""
    title = repo or f"tunechat run {source.run_id}"
    sections = [
        _yaml(front_matter(source, adapter)),
        f"# {title}",
        f"## Task\n\n{source.task.title.capitalize()}, fine-tuned with tunechat "
        f"({source.config.get('method') or 'full'}{', a LoRA adapter' if adapter else ''}).",
        f"## Base model\n\n`{shown_name(source.config.get('model'))}`"
        + (f" (licence: {licence_of(source.config.get('model'))})" if licence_of(source.config.get("model")) else ""),
        f"## Data\n\n{data_summary(source)}",
        f"## Training\n\n{training_table(source)}",
        f"## Evaluation\n\n{evaluation_table(source)}",
        f"## Intended use and limits\n\n{limits(source)}",
        f"## How to load\n\n{how_to_load(source, repo or 'path/to/this/folder', adapter, chat)}",
    ]
    return "\n\n".join(sections) + "\n"
