"""Try a finished run of this workspace, or a live deployment, on one input: a chat model answers a conversation,
a classifier scores a text, a text pair, an image or a sound clip, a regression model predicts its number. Beside
it, its base model (a chat run's untouched base; a classifier tuned further from another run's model, that run)
and any other run or deployment that reads the same input. What the web UI's playground (ui/playground.py)
calls; nothing here imports Gradio.

Runs answer in this process through the code that serves them (play_models.py keeps them loaded); deployments
answer over their own HTTP API on this machine (play_remote.py). Replies are greedy and short by default, so two
answers differ only by the models. Uploaded files arrive as bytes: nothing here opens a path a user or the data
gave.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from trainer.backends.runs import refreshed_runs
from trainer.core.errors import UserError
from trainer.core.workspace import Workspace
from trainer.serve import play_remote
from trainer.serve.deploy import list_deployments
from trainer.serve.play_models import ModelCache, base_run, load_run_model, run_key
from trainer.serve.play_targets import (
    AUDIO,
    CHAT,
    CLASSIFIER,
    IMAGE,
    MEDIA_KINDS,
    NOUNS,
    REGRESSION,
    RunChoice,
    Target,
    kind_of,
    parse_value,
    reads,
    same_input,
    takes_pairs,
)
from trainer.store.registry import ACTIVE, Registry
from trainer.store.runs import RunRecord
from trainer.tasks.causal_lm.generate import ChatModel, Sampling, base_model_name, load_base_chat_model
from trainer.tasks.registry import task_of

__all__ = ["AUDIO", "CHAT", "CLASSIFIER", "IMAGE", "REGRESSION", "ModelCache", "Playground", "RunChoice", "kind_of"]

# New tokens per reply: enough to read an identity or a short answer, a few seconds each on a CPU.
PLAY_TOKENS = 128
MAX_PLAY_TOKENS = 512
# The files a run's tokenizer is read from: a base model loaded with different ones is a different model.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja")
EMPTY_MESSAGE = "Type a message first; the playground sends it to the run you picked."
EMPTY_INPUTS = {
    IMAGE: "Drop an image first; {who} is an image classifier.",
    AUDIO: "Drop or record a sound clip first; {who} is an audio classifier.",
}
EMPTY_PAIR = "Type both texts first; {who} was trained on text pairs."


@dataclass(frozen=True)
class Given:
    """One input for the playground: a conversation, a text (and its second text), or a file's bytes."""

    text: str = ""
    pair: str | None = None  # the second text, for a model trained on text pairs
    data: bytes = b""  # an image or a sound clip, as uploaded
    messages: tuple[dict[str, Any], ...] = ()  # a conversation so far, ending with the user's message


@dataclass(frozen=True)
class Answer:
    """A chat model's reply."""

    model: str  # who answered, e.g. "run 3 (tuned)" or "base model smollm2"
    text: str
    stopped: bool  # True when the model ended its turn; False when it was cut at the token limit
    seconds: float


@dataclass(frozen=True)
class Scores:
    """A classifier's labels (every one, best first) or a regression model's number, for one input."""

    model: str
    labels: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    value: float | None = None  # a regression model's prediction
    target: str = ""  # what it predicts


@dataclass(frozen=True)
class Absent:
    """No answer from this side, and why (no base classifier, a model that reads another kind of input)."""

    model: str
    reason: str


Outcome = Answer | Scores | Absent


class Playground:
    """The runs and deployments of one workspace, tried on the same input."""

    def __init__(self, workspace: Workspace, registry: Registry, cache: ModelCache | None = None):
        self.workspace, self.registry = workspace, registry
        self.cache = cache or ModelCache()

    # ---- what can be picked ----------------------------------------------------------------------------------

    def runs(self) -> list[RunChoice]:
        """Every run of the workspace, newest first (active ones brought up to date by their backend first)."""
        choices = []
        for run in reversed(refreshed_runs(self.workspace, self.registry)):
            label = f"run {run['id']} · {_describe(run)} · {Path(str(run.get('data') or '')).name} · {run['status']}"
            choices.append(RunChoice(int(run["id"]), label, kind_of(run), str(run["status"])))
        return choices

    def deployments(self) -> list[RunChoice]:
        """Every live deployment of this workspace's runs (a server whose process has gone is forgotten)."""
        choices = []
        for row in list_deployments(self.workspace, self.registry, check_health=False):
            run = self.registry.get_run(int(row["run_id"]))
            label = f"deployment {row['url']} · run {run['id']} · {_describe(run)}"
            target = Target(int(run["id"]), str(row["url"]))
            choices.append(RunChoice(target.run_id, label, kind_of(run), "served", target.value))
        return choices

    def choices(self) -> list[RunChoice]:
        """Live deployments first, then every run, newest first."""
        return [*self.deployments(), *self.runs()]

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
            raise UserError(
                f"Run {run_id} is {_a(_task_title(run))} run, which the playground cannot try yet; "
                "pick a chat run, a classifier or a regression run."
            )
        run_dir = self.workspace.run_dir_of(run)
        if not task_of(run).has_model(run_dir):
            raise UserError(
                f"Run {run_id} has no trained model in {run_dir / 'model'} (its files are missing); "
                "train it again to try it."
            )
        return run, run_dir, kind

    def target(self, value: Any) -> tuple[Target, str, bool]:
        """A picked value as a target, its kind and whether it reads text pairs; UserError (one sentence) for a
        run it cannot try or a deployment that is no longer live. A deployment is found by its address in the
        deployments table, so no caller can name another address."""
        run_id, url = parse_value(value)
        if url is not None:
            live = {str(row["url"]): int(row["run_id"]) for row in self._live()}
            if url not in live:
                raise UserError(f"There is no live deployment at {url} any more; refresh the list and pick again.")
            run_id = live[url]
            play_remote.check_loopback(url)
        assert run_id is not None  # parse_value gives one or the other
        run, _, kind = self.check(run_id)
        return Target(run_id, url), kind, takes_pairs(run)

    def check_input(self, value: Any, given: Given) -> None:
        """UserError (one sentence) when `given` lacks what the picked model reads."""
        target, kind, pairs = self.target(value)
        _check_given(target, kind, pairs, given)

    def _live(self) -> list[dict[str, Any]]:
        return list_deployments(self.workspace, self.registry, check_health=False)

    def is_loaded(self, run_id: int, base: bool = False) -> bool:
        """True when the run's model (or its base chat model) is in the cache, so answering needs no load."""
        run, run_dir, kind = self.check(run_id)
        if base and kind != CHAT:
            other = base_run(self.workspace, self.registry, run)
            return other is None or run_key(self.workspace.run_dir_of(other), kind) in self.cache
        return (self._base_key(run_dir) if base else run_key(run_dir, kind)) in self.cache

    # ---- answers ---------------------------------------------------------------------------------------------

    def answer(self, value: Any, given: Given, max_new_tokens: int = PLAY_TOKENS) -> Answer | Scores:
        """The picked run's (or deployment's) answer to one input."""
        target, kind, pairs = self.target(value)
        _check_given(target, kind, pairs, given)
        if target.url is not None:
            return self._remote(target, kind, given, max_new_tokens)
        run, run_dir, _ = self.check(target.run_id)
        model = self.cache.get(run_key(run_dir, kind), lambda: load_run_model(run, run_dir))
        return _local(model, f"{target.name} (tuned)", kind, given, max_new_tokens)

    def base(self, value: Any, given: Given, max_new_tokens: int = PLAY_TOKENS) -> Outcome:
        """The base model's answer to the same input: a chat run's base model, or the run a classifier was tuned
        further from; Absent (with the reason) when there is none."""
        target, kind, pairs = self.target(value)
        _check_given(target, kind, pairs, given)
        run, run_dir, _ = self.check(target.run_id)
        if kind == CHAT:
            model = self.cache.get(self._base_key(run_dir), lambda: _load_base(target.run_id, run_dir))
            who = f"base model {Path(base_model_name(run_dir) or '?').name}"
            return _local(model, who, kind, given, max_new_tokens)
        other = base_run(self.workspace, self.registry, run)
        started = Path(str(run.get("model") or "?")).name
        if other is None or kind_of(other) != kind or takes_pairs(other) != pairs:
            return Absent(f"base model {started}", no_base_reason(target.run_id, kind, started))
        return replace(self.answer(str(other["id"]), given, max_new_tokens), model=f"run {other['id']} (its base)")

    def compare(self, value: Any, other: Any, given: Given, max_new_tokens: int = PLAY_TOKENS) -> Outcome:
        """Another run's (or deployment's) answer to the same input; Absent when it reads another kind of input."""
        target, kind, pairs = self.target(value)
        second, other_kind, other_pairs = self.target(other)
        if not same_input(kind, pairs, other_kind, other_pairs):
            return Absent(
                second.name,
                f"{second.name.capitalize()} reads {reads(other_kind, other_pairs)}, not the "
                f"{reads(kind, pairs)} {target.name} reads; pick a run of the same kind to compare.",
            )
        return self.answer(other, given, max_new_tokens)

    # ---- the earlier single-message calls --------------------------------------------------------------------

    def reply(self, run_id: int, message: str, base: bool = False, max_new_tokens: int = PLAY_TOKENS) -> Answer:
        """The greedy reply of a chat run's model (or of its base model, with `base`) to one user message."""
        text = _message(message)
        _, _, kind = self.check(run_id)
        if kind != CHAT:
            raise UserError(f"Run {run_id} is {_a(NOUNS[kind])}, not a chat model; it scores its inputs instead.")
        given = Given(text=text, messages=({"role": "user", "content": text},))
        outcome = self.base(run_id, given, max_new_tokens) if base else self.answer(run_id, given, max_new_tokens)
        assert isinstance(outcome, Answer)  # a chat run answers with a chat model
        return outcome

    def replies(self, run_id: int, message: str, max_new_tokens: int = PLAY_TOKENS) -> tuple[Answer, Answer]:
        """The tuned model's reply and its base model's reply to the same message."""
        tuned = self.reply(run_id, message, max_new_tokens=max_new_tokens)
        return tuned, self.reply(run_id, message, base=True, max_new_tokens=max_new_tokens)

    def scores(self, run_id: int, text: str) -> Scores:
        """A text model's scores for one text (a model trained on pairs takes the second text on the lines after
        the first)."""
        text = _message(text)
        run, _, kind = self.check(run_id)
        if kind == CHAT:
            raise UserError(f"Run {run_id} is a chat model, not a classifier; it answers messages instead.")
        first, _, second = text.partition("\n")
        given = Given(first, second.strip()) if takes_pairs(run) else Given(text)
        outcome = self.answer(run_id, given)
        assert isinstance(outcome, Scores)
        return outcome

    def _remote(self, target: Target, kind: str, given: Given, tokens: int) -> Answer | Scores:
        url, who = str(target.url), target.name
        started = time.monotonic()
        if kind == CHAT:
            text, stopped = play_remote.chat(url, list(given.messages), _tokens(tokens))
            return Answer(who, text, stopped, time.monotonic() - started)
        if kind in MEDIA_KINDS:
            return Scores(who, play_remote.predict_file(url, given.data), time.monotonic() - started)
        row = play_remote.predict_texts(url, given.text, given.pair)
        if kind == REGRESSION:
            target_name = str(self.registry.get_run(target.run_id)["config"].get("label_column") or "")
            return Scores(who, [], time.monotonic() - started, float(row["score"]), target_name)
        return Scores(who, list(row), time.monotonic() - started)

    def _base_key(self, run_dir: Path) -> Any:
        """A base model is shared by the runs that read it with the same tokenizer (its embeddings follow it)."""
        digest = hashlib.sha256()
        for name in TOKENIZER_FILES:
            path = run_dir / "model" / name
            if path.is_file():
                digest.update(name.encode() + b"\0" + path.read_bytes())
        return ("base", base_model_name(run_dir), digest.hexdigest())


def no_base_reason(run_id: int, kind: str, started: str) -> str:
    """Why a tuned run that is not a chat model has no base to compare with."""
    head = "number" if kind == REGRESSION else "classification"
    return (
        f"There is no base {NOUNS[kind]} to compare: run {run_id} put a new {head} head on {started}, "
        "which cannot answer before training; pick another run to compare with."
    )


def _local(model: Any, who: str, kind: str, given: Given, tokens: int) -> Answer | Scores:
    started = time.monotonic()
    if kind == CHAT:
        completion = model.complete(list(given.messages), Sampling(max_new_tokens=_tokens(tokens)))
        choice = completion["choices"][0]
        seconds = time.monotonic() - started
        return Answer(who, choice["message"]["content"], choice["finish_reason"] == "stop", seconds)
    if kind in MEDIA_KINDS:
        return Scores(who, model.predict([given.data])[0], time.monotonic() - started)
    rows = model.predict([given.text], pairs=[given.pair]) if given.pair is not None else model.predict([given.text])
    if kind == REGRESSION:
        return Scores(who, [], time.monotonic() - started, float(rows[0]["score"]), str(getattr(model, "target", "")))
    return Scores(who, list(rows[0]), time.monotonic() - started)


def _check_given(target: Target, kind: str, pairs: bool, given: Given) -> None:
    """One sentence when the input is missing what the model reads."""
    who = target.name
    if kind in MEDIA_KINDS:
        if not given.data:
            raise UserError(EMPTY_INPUTS[kind].format(who=who.capitalize()))
    elif kind == CHAT:
        if not given.messages or not str(given.messages[-1].get("content") or "").strip():
            raise UserError(EMPTY_MESSAGE)
    elif not given.text.strip():
        raise UserError(EMPTY_MESSAGE)
    elif pairs and not (given.pair or "").strip():
        raise UserError(EMPTY_PAIR.format(who=who.capitalize()))


def _a(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _tokens(tokens: int) -> int:
    return max(1, min(int(tokens), MAX_PLAY_TOKENS))


def _describe(run: RunRecord) -> str:
    model = Path(str(run.get("model") or "")).name or "?"
    return f"{_task_title(run)} · {model}"


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
