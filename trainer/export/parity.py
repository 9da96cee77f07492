"""Does the deployed form answer like the trained model? The same prompts or inputs through both, compared.

Chat models: the chat template rendered the same way, the greedy answers token for token for their first
tokens, and the same stop behaviour. Classifiers: the same label and probabilities within a tolerance. Any
form (merged weights in transformers, a GGUF in llama.cpp, an ONNX file in onnxruntime, a server over HTTP)
takes part through a small responder; the comparison and its diagnosis live here, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Messages = list[dict[str, Any]]

# Two float32 forms of the same weights (a server, an ONNX graph) give probabilities this close.
FP32_TOLERANCE = 1e-4
# A deployment's check is shorter than an export's: a smoke test of the same weights behind HTTP, run right after
# every deploy while the user waits.
DEPLOY_PROMPTS = 4
DEPLOY_TOKENS = 16

# Why two forms disagree, as the report names it.
Cause = Literal["template", "stop token", "quantisation", "tokens", "labels", "probabilities"]

FIXES: dict[str, str] = {
    "template": (
        "The export renders prompts with a different chat template than training did; export again, or copy the "
        "run's chat template (model/tokenizer_config.json or chat_template.jinja) into the export"
    ),
    "stop token": (
        "The export does not stop where the trained model stops, so its end-of-turn token is missing from its "
        "stop list; export again so that generation_config.json (or the Modelfile's PARAMETER stop lines) names it"
    ),
    "quantisation": (
        "The quantised export drifts further from the trained model than its tolerance allows; use a wider "
        "quantisation (q8_0 or f16)"
    ),
    "tokens": (
        "The export's greedy answers differ from the trained model's with the same template and stops, so its "
        "weights differ; export again from the run's model folder"
    ),
    "labels": (
        "The export's label names or their order differ from the trained model's; export again so the label "
        "map (config.json id2label) travels with it"
    ),
    "probabilities": (
        "The export's probabilities differ from the trained model's by more than the tolerance; export again "
        "in full precision"
    ),
}


@dataclass(frozen=True)
class ChatAnswer:
    """One greedy answer of at most the asked number of tokens."""

    text: str
    # "stop" when the model ended its turn, "length" when it was cut at the token limit.
    finish_reason: str
    # The answer's token ids when the form exposes them (not over HTTP).
    token_ids: tuple[int, ...] | None = None


class ChatResponder(Protocol):
    """One form of a chat model, answering greedily."""

    label: str  # "trained model (transformers)", "GGUF q8_0 (llama.cpp)", "server at http://127.0.0.1:8001"

    def render(self, messages: Messages) -> str | None:
        """The prompt text the chat template renders for `messages` (generation prompt added); None when the
        form does not expose it (a server)."""
        ...

    def answer(self, messages: Messages, max_tokens: int) -> ChatAnswer:
        """The greedy answer to `messages`, at most `max_tokens` tokens."""
        ...


class ScoreResponder(Protocol):
    """One form of a classifier: every label with its probability, for each input."""

    label: str

    def scores(self, inputs: Sequence[Any]) -> list[dict[str, float]]:
        """For each input (a text, a (text, text) pair, or a media file path), {label: probability}."""
        ...


@dataclass
class ParityReport:
    """The verdict of one parity check, with what differed first and how to fix it."""

    ok: bool
    trained: str  # the reference form's label
    exported: str  # the checked form's label
    checked: int  # prompts or inputs compared
    agreed: int
    # Per prompt or input: {"input", "trained", "exported", "agree", ...} (answers or top labels, cut for show).
    details: list[dict[str, Any]] = field(default_factory=list)
    first_mismatch: dict[str, Any] | None = None
    cause: str | None = None
    fix: str | None = None
    # What the check allowed, when it allowed anything ("quantised: 60% of the first tokens may differ").
    tolerance: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "parity_ok": self.ok,
            "trained": self.trained,
            "exported": self.exported,
            "checked": self.checked,
            "agreed": self.agreed,
            "details": self.details,
            "first_mismatch": self.first_mismatch,
            "cause": self.cause,
            "fix": self.fix,
            "tolerance": self.tolerance,
        }

    @property
    def sentence(self) -> str:
        """The verdict in one sentence."""
        if self.checked == 0:
            return f"Parity was not checked: there were no held-out examples to run through {self.exported}."
        if self.ok:
            within = f" ({self.tolerance})" if self.tolerance else ""
            return f"{self.exported} agrees with the {self.trained} on {self.agreed} of {self.checked}{within}."
        return (
            f"{self.exported} disagrees with the {self.trained} on {self.checked - self.agreed} of {self.checked} "
            f"(likely cause: {self.cause}). {self.fix}."
        )


def _shown(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _common_prefix(a: Sequence[Any], b: Sequence[Any]) -> int:
    count = 0
    for left, right in zip(a, b, strict=False):
        if left != right:
            break
        count += 1
    return count


def _answers_agree(trained: ChatAnswer, exported: ChatAnswer) -> bool:
    if trained.token_ids is not None and exported.token_ids is not None:
        same = trained.token_ids == exported.token_ids
    else:
        same = trained.text.strip() == exported.text.strip()
    return same and trained.finish_reason == exported.finish_reason


def _prefix_share(trained: ChatAnswer, exported: ChatAnswer) -> float:
    """How much of the trained answer the export repeats before it first differs (tokens, else characters)."""
    if trained.token_ids is not None and exported.token_ids is not None:
        a: Sequence[Any] = trained.token_ids
        b: Sequence[Any] = exported.token_ids
    else:
        a, b = trained.text.strip(), exported.text.strip()
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else _common_prefix(a, b) / longest


def _stop_differs(trained: ChatAnswer, exported: ChatAnswer) -> bool:
    """The two forms agree up to where one of them stops, and there the other goes on (or stopped earlier)."""
    if trained.finish_reason == exported.finish_reason:
        return False
    a, b = trained.text.strip(), exported.text.strip()
    return a.startswith(b) or b.startswith(a)


def compare_chat(
    trained: ChatResponder,
    exported: ChatResponder,
    prompts: Sequence[Messages],
    max_tokens: int = 24,
    quantised_tolerance: float | None = None,
) -> ParityReport:
    """Both forms on every prompt: the rendered template, then the greedy answer of at most `max_tokens`.

    Without a tolerance every answer must agree exactly (tokens and finish reason). A quantised export passes
    when its template and stops agree and its answers repeat, on average, at least `quantised_tolerance` of
    the trained answers before they first differ.
    """
    details: list[dict[str, Any]] = []
    first: dict[str, Any] | None = None
    cause: str | None = None
    shares: list[float] = []
    for messages in prompts:
        prompt = str(messages[-1].get("content", "")) if messages else ""
        mine, theirs = trained.render(messages), exported.render(messages)
        if mine is not None and theirs is not None and mine != theirs:
            row = {"input": _shown(prompt), "agree": False, "cause": "template"}
            row.update({"trained": _shown(mine), "exported": _shown(theirs)})
            details.append(row)
            first, cause = first or row, cause or "template"
            continue
        a, b = trained.answer(messages, max_tokens), exported.answer(messages, max_tokens)
        agree = _answers_agree(a, b)
        row = {"input": _shown(prompt), "trained": _shown(a.text), "exported": _shown(b.text), "agree": agree}
        row.update({"trained_finish": a.finish_reason, "exported_finish": b.finish_reason})
        if not agree:
            row["cause"] = "stop token" if _stop_differs(a, b) else "tokens"
        details.append(row)
        shares.append(_prefix_share(a, b))
        if not agree and first is None:
            first = row
        if not agree and row["cause"] == "stop token":
            cause = cause if cause == "template" else "stop token"
    hard = cause in ("template", "stop token")
    tolerance = None
    if quantised_tolerance is None:
        ok = all(row["agree"] for row in details)
        cause = cause or (None if ok else "tokens")
    else:
        mean_share = sum(shares) / len(shares) if shares else 1.0
        tolerance = (
            f"quantised: the answers may differ once {quantised_tolerance:.0%} of each has agreed on average; "
            f"they agreed for {mean_share:.0%}"
        )
        ok = not hard and mean_share >= quantised_tolerance
        cause = cause if hard else (None if ok else "quantisation")
    return _report(trained.label, exported.label, details, ok, None if ok else first, cause, tolerance)


def _report(
    trained: str,
    exported: str,
    details: list[dict[str, Any]],
    ok: bool,
    first: dict[str, Any] | None,
    cause: str | None,
    tolerance: str | None,
) -> ParityReport:
    """The report of compared rows (each with "agree"), the fix looked up from the cause."""
    agreed = sum(1 for row in details if row["agree"])
    fix = FIXES[cause] if cause else None
    return ParityReport(ok, trained, exported, len(details), agreed, details, first, cause, fix, tolerance)


def _top(scores: dict[str, float]) -> str:
    return max(scores, key=lambda label: scores[label]) if scores else ""


def compare_scores(
    trained: ScoreResponder, exported: ScoreResponder, inputs: Sequence[Any], tolerance: float = 1e-4
) -> ParityReport:
    """Both forms on every input: the same top label, and every probability within `tolerance`."""
    if not inputs:
        return ParityReport(ok=True, trained=trained.label, exported=exported.label, checked=0, agreed=0)
    mine, theirs = trained.scores(inputs), exported.scores(inputs)
    details: list[dict[str, Any]] = []
    first: dict[str, Any] | None = None
    cause: str | None = None
    for item, a, b in zip(inputs, mine, theirs, strict=True):
        shown = _shown(str(item), 80)
        if set(a) != set(b):
            row = {"input": shown, "trained": _top(a), "exported": _top(b), "agree": False, "cause": "labels"}
        else:
            gap = max((abs(a[label] - b[label]) for label in a), default=0.0)
            same_label = _top(a) == _top(b)
            agree = same_label and gap <= tolerance
            row = {"input": shown, "trained": _top(a), "exported": _top(b), "agree": agree, "max_gap": gap}
            if not agree:
                row["cause"] = "labels" if not same_label and gap > 0.5 else "probabilities"
        details.append(row)
        if not row["agree"]:
            first = first or row
            cause = "labels" if row["cause"] == "labels" else (cause or "probabilities")
    ok = all(row["agree"] for row in details)
    return _report(trained.label, exported.label, details, ok, first, cause, f"probabilities within {tolerance:g}")
