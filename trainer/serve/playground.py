"""Try a finished run of this workspace in-process: a chat run answers a message beside its base model, a text
classifier scores a text. What the web UI's playground (ui/playground.py) calls; nothing here imports Gradio.

Models load through the code that serves them (ChatModel and load_chat_model for chat runs, the classifier's
Predictor), and stay loaded in a small cache (a tuned model and its base), so a second message costs only its
generation. Replies are greedy and short by default, so the two answers differ only by the models.
"""

from __future__ import annotations

import gc
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainer.backends.runs import refreshed_runs
from trainer.core.errors import UserError
from trainer.core.workspace import Workspace
from trainer.serve import chat, classifier
from trainer.store.registry import ACTIVE, Registry
from trainer.store.runs import RunRecord
from trainer.tasks.causal_lm.generate import (
    ChatModel,
    Sampling,
    base_model_name,
    load_base_chat_model,
)
from trainer.tasks.registry import task_of
from trainer.tasks.text_classification.predict import Predictor

# What the playground can try, by the API a run is served with (the task says which; no task name is compared).
CHAT, CLASSIFIER = "chat", "classifier"
# New tokens per reply: enough to read an identity or a short answer, a few seconds each on a CPU.
PLAY_TOKENS = 128
MAX_PLAY_TOKENS = 512
# Models kept loaded: a tuned model and its base.
CACHE_SIZE = 2
# The files a run's tokenizer is read from: a base model loaded with different ones is a different model.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")
EMPTY_MESSAGE = "Type a message first; the playground sends it to the run you picked."


def kind_of(run: RunRecord) -> str | None:
    """CHAT or CLASSIFIER for a run the playground can try, by the API its task serves it with; None otherwise."""
    try:
        api = task_of(run).served_api()
    except UserError:  # a plug-in task this process does not know
        return None
    if api is chat.API:
        return CHAT
    if api is classifier.API:
        return CLASSIFIER
    return None


class ModelCache:
    """The last `size` models used, each loaded once while it stays; one load at a time (a model is loaded once
    even when two requests ask for it together)."""

    def __init__(self, size: int = CACHE_SIZE):
        self.size = size
        self._models: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.loads: list[Hashable] = []  # every key loaded, in order

    def __contains__(self, key: Hashable) -> bool:
        return key in self._models

    def get(self, key: Hashable, load: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            if len(self._models) >= self.size:
                # Dropped before the next one loads, so no more than `size` models are ever in memory.
                while len(self._models) >= self.size:
                    self._models.popitem(last=False)
                gc.collect()
            model = load()
            self.loads.append(key)
            self._models[key] = model
            return model


@dataclass(frozen=True)
class RunChoice:
    """A run as the playground lists it."""

    run_id: int
    label: str
    kind: str | None  # CHAT, CLASSIFIER or None (the playground cannot try it)
    status: str


@dataclass(frozen=True)
class Answer:
    """One model's reply to the message."""

    model: str  # who answered, e.g. "run 3 (tuned)" or "base model smollm2"
    text: str
    stopped: bool  # True when the model ended its turn; False when it was cut at the token limit
    seconds: float


@dataclass(frozen=True)
class Scores:
    """A text classifier's scores for one text: every label, best first."""

    model: str
    labels: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


class Playground:
    """The runs of one workspace, tried in this process."""

    def __init__(self, workspace: Workspace, registry: Registry, cache: ModelCache | None = None):
        self.workspace, self.registry = workspace, registry
        self.cache = cache or ModelCache()

    def runs(self) -> list[RunChoice]:
        """Every run of the workspace, newest first (active ones brought up to date by their backend first)."""
        choices = []
        for run in reversed(refreshed_runs(self.workspace, self.registry)):
            task = _task_title(run)
            model = Path(str(run.get("model") or "")).name or "?"
            label = f"run {run['id']} · {task} · {model} · {Path(str(run.get('data') or '')).name} · {run['status']}"
            choices.append(RunChoice(int(run["id"]), label, kind_of(run), str(run["status"])))
        return choices

    def check(self, run_id: int) -> tuple[RunRecord, Path, str]:
        """The run, its folder and its kind; UserError (one sentence) when the playground cannot try it."""
        run = self.registry.get_run(run_id)
        status = run["status"]
        if status in ACTIVE:
            shown = status.replace("_", " ")
            raise UserError(f"Run {run_id} is still {shown}, not finished; try it here once it has succeeded.")
        if status != "succeeded":
            ended = status if status == "failed" else f"was {status}"
            raise UserError(f"Run {run_id} {ended}, so it has no model to try; pick a run that succeeded.")
        kind = kind_of(run)
        if kind is None:
            title = _task_title(run)
            article = "an" if title[:1] in "aeiou" else "a"
            raise UserError(
                f"Run {run_id} is {article} {title} run, which the playground cannot try yet; "
                "pick a chat run (SFT, DPO, ORPO or KTO) or a text classifier."
            )
        run_dir = self.workspace.run_dir_of(run)
        if not task_of(run).has_model(run_dir):
            raise UserError(
                f"Run {run_id} has no trained model in {run_dir / 'model'} (its files are missing); "
                "train it again to try it."
            )
        return run, run_dir, kind

    def is_loaded(self, run_id: int, base: bool = False) -> bool:
        """True when the run's model (or its base) is in the cache, so answering needs no load."""
        run, run_dir, kind = self.check(run_id)
        return (self._base_key(run_dir) if base else self._run_key(run_dir, kind)) in self.cache

    def reply(self, run_id: int, message: str, base: bool = False, max_new_tokens: int = PLAY_TOKENS) -> Answer:
        """The greedy reply of a chat run's model (or of its base model, with `base`) to one user message."""
        text = _message(message)
        run, run_dir, kind = self.check(run_id)
        if kind != CHAT:
            raise UserError(f"Run {run_id} is a text classifier, not a chat model; it scores texts instead.")
        if base:
            model = self.cache.get(self._base_key(run_dir), lambda: _load_base(run_id, run_dir))
            who = f"base model {Path(base_model_name(run_dir) or '?').name}"
        else:
            model = self.cache.get(self._run_key(run_dir, kind), lambda: _load(run_id, run_dir, ChatModel.from_run))
            who = f"run {run_id} (tuned)"
        tokens = max(1, min(int(max_new_tokens), MAX_PLAY_TOKENS))
        started = time.monotonic()
        completion = model.complete([{"role": "user", "content": text}], Sampling(max_new_tokens=tokens))
        choice = completion["choices"][0]
        seconds = time.monotonic() - started
        return Answer(who, choice["message"]["content"], choice["finish_reason"] == "stop", seconds)

    def replies(self, run_id: int, message: str, max_new_tokens: int = PLAY_TOKENS) -> tuple[Answer, Answer]:
        """The tuned model's reply and its base model's reply to the same message."""
        tuned = self.reply(run_id, message, max_new_tokens=max_new_tokens)
        return tuned, self.reply(run_id, message, base=True, max_new_tokens=max_new_tokens)

    def scores(self, run_id: int, text: str) -> Scores:
        """A text classifier's scores for one text (a model trained on pairs takes the second text on the lines
        after the first)."""
        text = _message(text)
        run, run_dir, kind = self.check(run_id)
        if kind != CLASSIFIER:
            raise UserError(f"Run {run_id} is a chat model, not a classifier; it answers messages instead.")
        predictor: Predictor = self.cache.get(
            self._run_key(run_dir, kind), lambda: _load(run_id, run_dir, Predictor.from_run)
        )
        started = time.monotonic()
        if predictor.pairs:
            first, _, second = text.partition("\n")
            labels = predictor.predict([first], pairs=[second.strip()])[0]
        else:
            labels = predictor.predict([text])[0]
        return Scores(f"run {run_id}", labels, time.monotonic() - started)

    def _run_key(self, run_dir: Path, kind: str) -> Hashable:
        # The model folder's time: a run folder replaced under the same id is a different model.
        return (kind, str(run_dir.resolve()), _mtime(run_dir / "model"))

    def _base_key(self, run_dir: Path) -> Hashable:
        """A base model is shared by the runs that read it with the same tokenizer (its embeddings follow it)."""
        digest = hashlib.sha256()
        for name in TOKENIZER_FILES:
            path = run_dir / "model" / name
            if path.is_file():
                digest.update(name.encode() + b"\0" + path.read_bytes())
        return ("base", base_model_name(run_dir), digest.hexdigest())


def _task_title(run: RunRecord) -> str:
    try:
        return task_of(run).title
    except UserError:
        return str(run.get("task") or "unknown task")


def _message(text: str | None) -> str:
    text = (text or "").strip()
    if not text:
        raise UserError(EMPTY_MESSAGE)
    return text


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def _load(run_id: int, run_dir: Path, load: Callable[[Path], Any]) -> Any:
    """The run's model, loaded by the code that serves it; a folder it cannot read is one sentence."""
    try:
        return load(run_dir)
    except UserError:
        raise
    except (OSError, ValueError, KeyError) as error:
        raise UserError(
            f"Run {run_id}'s model in {run_dir / 'model'} cannot be loaded ({type(error).__name__}); "
            "its files may be missing or damaged, so train it again to try it."
        ) from error


def _load_base(run_id: int, run_dir: Path) -> ChatModel:
    name = base_model_name(run_dir)
    try:
        model, tokenizer = load_base_chat_model(run_dir)
    except UserError:
        raise
    except (OSError, ValueError, KeyError) as error:
        raise UserError(
            f"The base model of run {run_id} ({name}) cannot be loaded ({type(error).__name__}); "
            "put it back where the run found it to compare against it."
        ) from error
    return ChatModel(model, tokenizer, f"base-{Path(str(name)).name}")
