"""LLM-as-judge: an LLM compares the base model's and the tuned model's answers to the same held-out prompts.

The answers come from evaluation.json's "held_out_answers" ({"prompt", "messages", "reference", "base", "tuned"}).
Judges favour the answer shown first (or second), so each prompt is judged twice with the answers' positions
swapped: the tuned model wins a prompt only when both orders pick it, loses only when both pick the base model, and
anything else is a tie (an "inconsistent" tie when the two orders picked different answers, which is the judge's
position bias showing). Identical answers are ties without asking. The result is saved as judge.json in the run
folder.

The judge is any server speaking OpenAI's chat-completions API (`Endpoint`). Its API key lives only in the
Endpoint in memory: it is not in repr(), judge.json, logs or any child's arguments.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from trainer.core.errors import UserError
from trainer.core.fileio import atomic_write_json, read_json

JUDGE_FILE = "judge.json"
# Held-out answers judged at most (two requests each).
MAX_PROMPTS = 50
# A judge's verdict is one word; a little room for a model that adds a full stop or a word.
VERDICT_TOKENS = 8
TIMEOUT_S = 60.0
PLACEHOLDER_KEY = "not-needed"

SYSTEM = (
    "You are an impartial judge of two AI assistants' answers to the same user message. Judge which answer is more "
    "helpful, correct and appropriate, using the reference answer as a guide to what is wanted. The order in which "
    "the answers are shown must not influence you, nor their length. Reply with exactly one word: A if answer A is "
    "better, B if answer B is better, or TIE if neither is better."
)


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible chat-completions server and the model that judges; the key is never shown."""

    base_url: str
    model: str
    api_key: str = field(default=PLACEHOLDER_KEY, repr=False)

    @property
    def shown(self) -> str:
        """The base URL without any user, password, query or fragment: what plans and judge.json name."""
        parts = urlsplit(self.base_url)
        host = parts.hostname or ""
        netloc = host + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def held_out_answers(run_dir: Path) -> list[dict[str, Any]]:
    """The run's base and tuned answers to held-out prompts (at most MAX_PROMPTS); UserError when it has none."""
    path = Path(run_dir) / "evaluation.json"
    answers = read_json(path).get("held_out_answers") if path.is_file() else None
    if not answers:
        raise UserError(
            f"{Path(run_dir).name} has no base and tuned answers to held-out prompts to judge; only a finished SFT "
            "run that held out examples has them, so train one with enough rows to hold some out."
        )
    return list(answers)[:MAX_PROMPTS]


def _differ(answer: dict[str, Any]) -> bool:
    return " ".join(str(answer.get("base", "")).split()) != " ".join(str(answer.get("tuned", "")).split())


def requests_needed(answers: Sequence[dict[str, Any]]) -> int:
    """Two requests per prompt whose answers differ; identical answers are ties without asking."""
    return 2 * sum(_differ(a) for a in answers)


def judge_messages(answer: dict[str, Any], first: str, second: str) -> list[dict[str, str]]:
    """The judge's messages for one order of the two answers."""
    prompt = str(answer.get("prompt") or "")
    reference = str(answer.get("reference") or "")
    user = (
        f"[User message]\n{prompt}\n\n[Reference answer]\n{reference or '(none)'}\n\n"
        f"[Answer A]\n{first}\n\n[Answer B]\n{second}\n\nWhich answer is better? Reply A, B or TIE."
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def parse_verdict(text: str) -> str | None:
    """ "A", "B" or "tie" from the judge's reply; None when it says none of them."""
    words = re.findall(r"[A-Za-z]+", text or "")
    for word in words[:VERDICT_TOKENS]:
        upper = word.upper()
        if upper in ("A", "B"):
            return upper
        if upper in ("TIE", "TIED", "EQUAL", "NEITHER", "BOTH"):
            return "tie"
    return None


def outcome(first_pick: str | None, second_pick: str | None) -> str:
    """The prompt's result from the two orders' picks ("base", "tuned", "tie" or None): "win" only when both
    picked the tuned answer, "loss" only when both picked the base one, "inconsistent" when they picked different
    answers (position bias), else "tie"."""
    if first_pick == second_pick == "tuned":
        return "win"
    if first_pick == second_pick == "base":
        return "loss"
    if {first_pick, second_pick} == {"tuned", "base"}:
        return "inconsistent"
    return "tie"


Ask = Callable[[list[dict[str, str]]], str]


def _pick(reply: str, sides: dict[str, str]) -> str | None:
    """Which answer ("base", "tuned") or "tie" a reply picked, given which model's answer was A and which B."""
    verdict = parse_verdict(reply)
    return "tie" if verdict == "tie" else sides.get(verdict or "")


def openai_asker(endpoint: Endpoint) -> Ask:
    """A function sending one chat to the endpoint and returning the reply's text (one-sentence UserError on
    failure, naming the server but never the key)."""
    import openai

    client = openai.OpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key, timeout=TIMEOUT_S, max_retries=2)

    def ask(messages: list[dict[str, str]]) -> str:
        try:
            reply = client.chat.completions.create(
                model=endpoint.model,
                messages=messages,  # type: ignore[arg-type]  # plain role/content dicts are what the API takes
                temperature=0,
                max_tokens=VERDICT_TOKENS,
            )
        except openai.APIError as error:
            kind = type(error).__name__
            raise UserError(
                f"The judge at {endpoint.shown} ({endpoint.model}) refused or failed a request ({kind}); check the "
                "server, the model name and the key, then ask for the judgement again."
            ) from None
        return reply.choices[0].message.content or ""

    return ask


def judge(answers: Sequence[dict[str, Any]], ask: Ask) -> dict[str, Any]:
    """Judge every prompt in both orders; the counts, shares and per-prompt picks."""
    rows = []
    for answer in answers:
        base, tuned = str(answer.get("base", "")), str(answer.get("tuned", ""))
        if not _differ(answer):
            rows.append({"prompt": answer.get("prompt"), "first": "tie", "second": "tie", "outcome": "tie"})
            continue
        # First order: A is the base model's answer; second order: A is the tuned model's.
        first = _pick(ask(judge_messages(answer, base, tuned)), {"A": "base", "B": "tuned"})
        second = _pick(ask(judge_messages(answer, tuned, base)), {"A": "tuned", "B": "base"})
        picks = {"prompt": answer.get("prompt"), "first": first, "second": second}
        rows.append({**picks, "outcome": outcome(first, second)})
    counts = {key: sum(r["outcome"] == key for r in rows) for key in ("win", "loss", "tie", "inconsistent")}
    total = len(rows)
    ties = counts["tie"] + counts["inconsistent"]
    return {
        "prompts": total,
        "wins": counts["win"],
        "ties": ties,
        "losses": counts["loss"],
        "inconsistent": counts["inconsistent"],
        "win_share": round(counts["win"] / total, 4) if total else None,
        "loss_share": round(counts["loss"] / total, 4) if total else None,
        # Wins plus half the ties: 0.5 means the judge found no difference.
        "tuned_score": round((counts["win"] + 0.5 * ties) / total, 4) if total else None,
        "per_prompt": rows,
    }


def judge_run(run_dir: Path, endpoint: Endpoint, ask: Ask | None = None) -> dict[str, Any]:
    """Judge a run's held-out answers (base against tuned) and save judge.json; returns what it saved."""
    answers = held_out_answers(run_dir)
    result = judge(answers, ask or openai_asker(endpoint))
    result = {
        "judge_model": endpoint.model,
        "judge_url": endpoint.shown,
        "requests": requests_needed(answers),
        "position_swapped": True,
        **result,
    }
    atomic_write_json(Path(run_dir) / JUDGE_FILE, result)
    return result
