"""What every task kind answers: the one interface the rest of tunechat asks about a task.

A task (text classification, SFT, DPO, ...) is one object in the registry (trainer/tasks/registry.py). Code
outside a task's own package never compares a task name with a string: it asks the task. Heavy libraries
(torch, transformers, TRL) are imported inside the methods, so the registry loads fast in the chat.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from trainer.plan.plan import Plan
    from trainer.search.space import SearchParam
    from trainer.serve.http import ServedApi
    from trainer.store.registry import Registry


class Ask(Protocol):
    """Asks a model tuned by a hosted API one chat and returns its answer (the backend binds model and client):
    at most `max_tokens` tokens, greedy; `base=True` asks the model it was tuned from instead."""

    def __call__(self, messages: list[dict[str, Any]], *, max_tokens: int = 16, base: bool = False) -> str: ...


@dataclass(frozen=True)
class MetricSpec:
    """One number a task reports for a finished run (a key of its evaluation.json and run metrics)."""

    name: str
    description: str
    # +1: higher is better, -1: lower is better, 0: neither (context such as time or a baseline).
    direction: int
    # How tables head it ("macro-F1"); the name with spaces when empty.
    label: str = ""

    @property
    def heading(self) -> str:
        return self.label or self.name.replace("_", " ")


@dataclass(frozen=True)
class PlanRequest:
    """What a task's planner gets: the data file and what the user asked for."""

    path: Path
    # Settings the user named (None values left out); they always win over what is proposed.
    settings: dict[str, Any] = field(default_factory=dict)
    # Where measurements of this machine are cached (the workspace root); None measures afresh.
    cache_dir: Path | None = None


@dataclass(frozen=True)
class HostedObjective:
    """What a hosted API trains on a task's examples: the method, by the name the APIs give it, and what it does."""

    # The method's name in hosted fine-tuning APIs (OpenAI's `method.type`).
    method: str
    # What it does, for the plan shown before a job starts.
    description: str
    # True when the examples are preference pairs (prompt, chosen, rejected) rather than chat examples.
    preference: bool = False


SUPERVISED_OBJECTIVE = HostedObjective("supervised", "supervised fine-tuning on chat examples")
DPO_OBJECTIVE = HostedObjective("dpo", "DPO on preference pairs", preference=True)


@dataclass(frozen=True)
class HostedData:
    """A task's data in the form hosted fine-tuning APIs take: chat examples or preference pairs, and splits."""

    # SUPERVISED_OBJECTIVE (chat examples with an assistant answer) or DPO_OBJECTIVE (prompt, chosen, rejected).
    objective: HostedObjective
    examples: list[dict[str, Any]]
    splits: dict[str, list[int]]
    # Rows as a local run of the same task writes them to splits/, so both are tested on the same rows.
    local_rows: list[dict[str, Any]] = field(default_factory=list)
    # Extra facts the plan shows (e.g. labels and the system prompt of a classifier).
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Purpose:
    """One goal a task serves, in the words of someone describing it: what the method advisor
    (trainer/plan/advisor.py) matches a plain description against, and what it answers when it picks it."""

    # What the advice calls it ("text-pair classification").
    title: str
    # The data kind (trainer/data/kinds.py) a file for this goal holds; a file of another kind disagrees.
    kind: str
    # Descriptions people give of such a goal, compared by meaning (MiniLM) when no word cue decides.
    examples: tuple[str, ...]
    # Regular expressions over the lowercased description, matched at word boundaries; each hit is a point.
    cues: tuple[str, ...]
    # The default model (an offline catalog name) and its family in words.
    model: str
    family: str
    # Why this task, model and method suit such a goal: one or two sentences.
    why: str
    # What a file for it holds, for the sentence when the data disagrees ("a column of image files and a label").
    data: str
    # What its label column holds: "categories", "numbers" or "" (no label column to check).
    labels: str = ""
    # A kind that fits such a description just as well (a 1-5 rating: a number or five classes), with the
    # question the advisor asks instead of choosing.
    also_kind: str = ""
    question: str = ""


class Task(ABC):
    """One kind of fine-tuning. Subclasses set the class attributes and implement the methods."""

    name: ClassVar[str]
    # How the chat names it, e.g. "text classification".
    title: ClassVar[str]
    # The data kinds (trainer/data/kinds.py) this task trains on; the first task claiming a kind wins.
    data_kinds: ClassVar[tuple[str, ...]] = ()
    # Other words people use for it ("chat" for SFT), matched whole.
    aliases: ClassVar[tuple[str, ...]] = ()
    # Training methods it supports; the first is the default.
    methods: ClassVar[tuple[str, ...]] = ("full",)
    # Whether a stopped or killed run continues from its newest complete checkpoint.
    resumable: ClassVar[bool] = False
    # What a finished run reports, and the one metric that picks the best of several runs.
    metrics: ClassVar[tuple[MetricSpec, ...]] = ()
    rank_metric: ClassVar[str] = ""
    # What a hyperparameter search optimises: a validation number the run writes each epoch into metrics.jsonl,
    # and +1 when higher is better, -1 when lower is.
    search_metric: ClassVar[tuple[str, int]] = ("eval_loss", -1)
    # True when a run keeps its best epoch by that metric (not its last), so a trial's value is its best validation.
    keeps_best_epoch: ClassVar[bool] = False
    # True when the planner picks text and label columns by inspecting the data, which the chat shows first.
    columns_from_inspection: ClassVar[bool] = False
    # True when hosted fine-tuning APIs can train it (hosted_data turns its data into their form).
    hosted_trainable: ClassVar[bool] = False
    # True when `dry_run` tries a plan before the real run (load, tokenize, two steps on the longest examples).
    dry_runnable: ClassVar[bool] = False
    # The export formats a finished run can be written in (names in trainer/export/registry.py), and the Hugging
    # Face pipeline tag its model card names ("text-generation", "text-classification"; "" for none).
    exports: ClassVar[tuple[str, ...]] = ("hub",)
    pipeline_tag: ClassVar[str] = ""
    # One line for the chat after inspecting data of this task, e.g. "Say **fine-tune ...** for a plan."
    inspect_hint: ClassVar[str] = ""
    # The goals it serves, for the method advisor; a task without purposes is only chosen by name or data.
    purposes: ClassVar[tuple[Purpose, ...]] = ()
    # The run settings a one-line plan names, in this order (those a config leaves empty are skipped).
    shown_settings: ClassVar[tuple[str, ...]] = (
        "model",
        "method",
        "epochs",
        "max_steps",
        "learning_rate",
        "batch_size",
        "max_length",
    )

    @property
    def adapters(self) -> bool:
        """True when the task can train small adapters (LoRA) instead of every weight."""
        return "lora" in self.methods

    def metric(self, name: str) -> MetricSpec | None:
        return next((spec for spec in self.metrics if spec.name == name), None)

    def headline(self, metrics: dict[str, Any]) -> str:
        """A finished run's result in a few words, by the metric that ranks runs ("macro-F1 0.912"); "" for none."""
        spec = self.metric(self.rank_metric)
        value = metrics.get(self.rank_metric)
        if spec is None or not isinstance(value, int | float) or isinstance(value, bool):
            return ""
        return f"{spec.heading} {value:.3f}"

    @abstractmethod
    def propose(self, request: PlanRequest) -> Plan:
        """Defaults for this data with one reason each, resolved into a config, and a time estimate."""

    @abstractmethod
    def train(self, run_dir: Path, registry: Registry, run_id: int, resume: bool = False) -> dict[str, Any]:
        """Train run `run_id` in this process (the worker); record progress, evaluation and the final status.

        Returns {"status", "run_id", ...}; a stop request ends with status "cancelled".
        """

    def launch_command(self, run_dir: Path, db_path: Path, run_id: int, resume: bool = False) -> list[str]:
        """The command line that trains a run: one worker process; a task that can spread over several GPUs
        wraps it in `accelerate launch` (and records how in the run folder)."""
        from trainer.plan.launch import worker_command

        return worker_command(run_dir, db_path, run_id, resume=resume)

    def dry_run(self, run_dir: Path) -> dict[str, Any]:
        """Try the config in `run_dir` on its worst case without registering a run (the worker's `--dry-run`).

        Writes and returns the report: "steps", "seconds_per_step", "peak_memory_bytes", "projected_seconds",
        "error" (None when all went well) and what else the task measured. Tasks with `dry_runnable` implement it.
        """
        from trainer.core.errors import UserError

        raise UserError(f"{self.title.capitalize()} has no dry run; start the run itself and watch its status.")

    def search_space(self, config: dict[str, Any]) -> list[SearchParam]:
        """The settings a hyperparameter search varies around the plan `config`, each with its range: by default
        the learning rate (a fifth to five times the plan's), whole epochs and the warmup share."""
        from trainer.search import space

        return [
            space.log_range("learning_rate", float(config.get("learning_rate") or 5e-5), 5.0),
            space.epoch_range(config.get("epochs") or 1),
            space.warmup_range(),
        ]

    def resume_step(self, run_dir: Path) -> int | None:
        """The training step a resumed run continues from (its newest complete checkpoint), None for none."""
        return None

    def has_model(self, run_dir: Path) -> bool:
        """True when a run's folder holds its trained model (model/ with weights, or an adapter)."""
        folder = Path(run_dir) / "model"
        return (folder / "config.json").is_file() or (folder / "adapter_config.json").is_file()

    @abstractmethod
    def served_api(self) -> ServedApi:
        """The HTTP API a finished run is served with (trainer/serve/): its app, model loader and how to call it."""

    def summary_metrics(self, evaluation: dict[str, Any]) -> dict[str, Any]:
        """The numbers of an evaluation kept in the run's registry row (what lists and rankings read)."""
        return {
            spec.name: evaluation[spec.name]
            for spec in self.metrics
            if isinstance(evaluation.get(spec.name), int | float) and not isinstance(evaluation[spec.name], bool)
        }

    def check_start(self, data_path: Path, config: dict[str, Any]) -> None:
        """Refuse (UserError, one sentence) a config that cannot start, before a run is created; default: none."""
        return None

    def hosted_data(self, path: Path, config: dict[str, Any]) -> HostedData:
        """The data as a hosted fine-tuning API takes it; tasks no hosted API trains refuse with a UserError."""
        from trainer.core.errors import UserError

        raise UserError(f"{self.title.capitalize()} cannot be trained through a hosted API; train it locally.")

    def evaluate_hosted(self, run_dir: Path, record: dict[str, Any], ask: Ask) -> dict[str, Any] | None:
        """Evaluate a model tuned by a hosted API on the held-out split; `ask(messages) -> str` calls it.

        None when the task has no such evaluation (its training and validation losses are the record).
        """
        return None
