"""The OpenAI fine-tuning API as a backend: plan, confirm, follow, cancel, and its own failure causes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainer.backends.hosted_backend import WiredHostedBackend
from trainer.backends.openai import NAME, PROVIDER, job, plan
from trainer.backends.openai.errors import CLOSED_CODE
from trainer.core.workspace import Workspace
from trainer.store.registry import FINISHED

# "on OpenAI", "through the OpenAI API": fine-tune through the API rather than on this machine.
NAMED = re.compile(r"\b(open ?ai|via the api|through the api|hosted)\b", re.IGNORECASE)
# An OpenAI model named anywhere in a message picks this backend.
MODEL_IN_TEXT = re.compile(r"\b(gpt-[\w.-]*\w|ft:[\w.:-]*\w|o4-mini[\w.-]*|davinci-002|babbage-002)\b", re.IGNORECASE)


class OpenAIBackend(WiredHostedBackend):
    name = NAME
    title = "the OpenAI fine-tuning API"
    provider = PROVIDER
    default_model = plan.DEFAULT_MODEL
    # Settings only an OpenAI job uses ("auto" lets the API choose); the local training settings do not apply.
    own_fields = ("suffix", "n_epochs", "openai_batch_size", "learning_rate_multiplier")

    steps = job.STEPS
    plans = plan.PLANS

    def owns_model(self, model: str | None) -> bool:
        return plan.is_openai_model(model)

    def named_in(self, message: str) -> bool:
        return bool(NAMED.search(message))

    def model_in(self, message: str) -> str | None:
        found = MODEL_IN_TEXT.search(message)
        return found.group(1) if found else None

    def plan(self, ws: Workspace, path: Path, model: str | None, settings: dict[str, Any]) -> dict[str, Any]:
        return plan.make_plan(ws, path, model, settings)

    def diagnose(self, run: Mapping[str, Any]) -> dict[str, Any] | None:
        run_id, error = run["id"], str(run.get("error") or "")
        if run["status"] == "cancelled":
            return {
                "cause": "openai_cancelled",
                "explanation": (
                    f"The OpenAI fine-tuning job of run {run_id} was cancelled before it finished, so no model was "
                    "made; relaunching makes a new plan (with its cost) for the same data and model, which starts "
                    "only on your yes."
                ),
                "can_relaunch": True,
            }
        if run["status"] not in FINISHED or run["status"] == "succeeded":
            return None
        if CLOSED_CODE in error:
            return {
                "cause": "openai_closed",
                "explanation": (
                    f"OpenAI refused to create the job of run {run_id} because this organisation may no longer "
                    "fine-tune there (no job was made and nothing is retried); ask for the same plan on another "
                    "provider or on this machine."
                ),
                "can_relaunch": False,
            }
        return {
            "cause": "openai_failed",
            "explanation": (
                f"The OpenAI job of run {run_id} failed on OpenAI's side: {error or 'no reason was given'} "
                "Fix what it names (usually the data), then ask for a new plan."
            ),
            "can_relaunch": False,
        }

    def replan_hint(self, run: Mapping[str, Any]) -> str | None:
        return (
            f"Run {run['id']} was an OpenAI job; say e.g. 'fine-tune {run['model']} on this' for a new plan and cost."
        )


BACKEND = OpenAIBackend()
