"""What the playground can try, and what each takes: finished runs of this workspace (in this process) and live
deployments (over HTTP on this machine), by the kind of input their model reads.

The kind comes from the API the run's task is served with (`task.served_api()`) or, for media classifiers, the
task's modality and its data kind; no task name is compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainer.core.errors import UserError
from trainer.data import kinds
from trainer.serve import chat, classifier, regressor
from trainer.store.runs import RunRecord
from trainer.tasks.registry import task_of

# The kinds of model the playground tries, by what they read and answer.
CHAT = "chat"  # a conversation in, a reply out
CLASSIFIER = "classifier"  # a text (or a text pair) in, every label with its probability out
REGRESSION = "regression"  # a text (or a text pair) in, a number out
IMAGE = "image"  # an image file in, labels out
AUDIO = "audio"  # a sound file in, labels out
TEXT_KINDS = (CLASSIFIER, REGRESSION)
MEDIA_KINDS = (IMAGE, AUDIO)
LABEL_KINDS = (CLASSIFIER, IMAGE, AUDIO)
# What a picked deployment's value starts with (a run's value is its id).
DEPLOYED = "served:"

NOUNS = {
    CHAT: "chat model",
    CLASSIFIER: "text classifier",
    REGRESSION: "text regression model",
    IMAGE: "image classifier",
    AUDIO: "audio classifier",
}
INPUTS = {CHAT: "messages", CLASSIFIER: "texts", REGRESSION: "texts", IMAGE: "images", AUDIO: "sound clips"}


def kind_of(run: RunRecord) -> str | None:
    """The kind of a run's model, or None when the playground cannot try it (a plug-in it does not know)."""
    try:
        task = task_of(run)
        api = task.served_api()
    except UserError:  # a plug-in task this process does not know
        return None
    if api is chat.API:
        return CHAT
    if api is classifier.API:
        return CLASSIFIER
    if api is regressor.API:
        return REGRESSION
    modality = getattr(task, "modality", None)  # media classifiers name theirs
    media = {kinds.IMAGE_CLASSIFICATION: IMAGE, kinds.AUDIO_CLASSIFICATION: AUDIO}
    return media.get(str(getattr(modality, "kind", "")))


def takes_pairs(run: RunRecord) -> bool:
    """True when a text run was trained on text pairs (so it reads two texts)."""
    return bool((run.get("config") or {}).get("text_pair_column"))


@dataclass(frozen=True)
class Target:
    """What answers in the playground: a run's own model in this process, or a live deployment of a run."""

    run_id: int
    url: str | None = None  # a live deployment's address; None for the run's model loaded here

    @property
    def value(self) -> str:
        """How a picker names it."""
        return str(self.run_id) if self.url is None else DEPLOYED + self.url

    @property
    def name(self) -> str:
        """Who answered, as the playground shows it."""
        return f"run {self.run_id}" if self.url is None else f"deployment {self.url} (run {self.run_id})"


@dataclass(frozen=True)
class RunChoice:
    """A run or a deployment as the playground lists it."""

    run_id: int
    label: str
    kind: str | None  # CHAT, CLASSIFIER, ...; None when the playground cannot try it
    status: str
    value: str = ""  # the picker's value: the run's id, or DEPLOYED + the deployment's URL

    def __post_init__(self) -> None:
        if not self.value:
            object.__setattr__(self, "value", str(self.run_id))


def parse_value(value: Any) -> tuple[int | None, str | None]:
    """(run id, None) for a run's value, (None, URL) for a deployment's; UserError for anything else."""
    text = str(value if value is not None else "").strip()
    if text.startswith(DEPLOYED):
        return None, text.removeprefix(DEPLOYED)
    try:
        return int(text), None
    except ValueError:
        raise UserError("Pick a run from the list first; the playground tries one run at a time.") from None


def reads(kind: str, pairs: bool) -> str:
    """What a model of `kind` reads, in a few words."""
    if kind in (CLASSIFIER, REGRESSION):
        return "text pairs" if pairs else "single texts"
    return {CHAT: "conversations", IMAGE: "images", AUDIO: "sound clips"}[kind]


def same_input(first: str, pairs_first: bool, second: str, pairs_second: bool) -> bool:
    """True when two models read the same input, so one input can be sent to both."""
    if first in TEXT_KINDS and second in TEXT_KINDS:
        return pairs_first == pairs_second
    return first == second
