"""Together AI's fine-tuning API as a backend: plan, confirm, follow, cancel, and its own failure causes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainer.backends.hosted_backend import WiredHostedBackend
from trainer.backends.together import NAME, PROVIDER, job, plan
from trainer.backends.together.prices import DEFAULT_MODEL, known_model
from trainer.core.workspace import Workspace
from trainer.store.registry import FINISHED

# "on Together", "with together.ai", "Together AI": "together" alone is an everyday word ("train them together").
NAMED = re.compile(r"\b(?:on|with|via|through|using|at|to)\s+together\b|\btogether(?:\.ai|\s+ai)\b", re.IGNORECASE)
# A hub-style model id ("org/name") in a message that names Together.
HUB_ID = re.compile(r"\b([\w.-]+/[\w.-]*\w)")


class TogetherBackend(WiredHostedBackend):
    name = NAME
    title = "Together AI's fine-tuning API"
    provider = PROVIDER
    default_model = DEFAULT_MODEL
    # Settings only a Together job uses; the local training settings do not apply.
    own_fields = ("suffix", "n_epochs", "together_learning_rate", "together_batch_size", "together_training")

    steps = job.STEPS
    plans = plan.PLANS

    def owns_model(self, model: str | None) -> bool:
        # Only Together's own "-Reference" names: the other base models in its table are hub ids a local run
        # trains too, so naming one alone keeps the run local.
        return bool(model) and "-reference" in str(model).lower()

    def named_in(self, message: str) -> bool:
        return bool(NAMED.search(message))

    def model_in(self, message: str) -> str | None:
        for found in HUB_ID.findall(message):
            if self.owns_model(found) or (self.named_in(message) and "." not in found.split("/")[0]):
                return known_model(found) or found
        return None

    def plan(self, ws: Workspace, path: Path, model: str | None, settings: dict[str, Any]) -> dict[str, Any]:
        return plan.make_plan(ws, path, model, settings)

    def diagnose(self, run: Mapping[str, Any]) -> dict[str, Any] | None:
        run_id, error = run["id"], str(run.get("error") or "")
        if run["status"] == "cancelled":
            return {
                "cause": "together_cancelled",
                "explanation": (
                    f"The Together job of run {run_id} was cancelled before it finished, so no model was made; "
                    "relaunching makes a new plan (with its cost) for the same data and model, which starts only "
                    "on your yes."
                ),
                "can_relaunch": True,
            }
        if run["status"] not in FINISHED or run["status"] == "succeeded":
            return None
        return {
            "cause": "together_failed",
            "explanation": (
                f"The Together job of run {run_id} failed on Together's side: {error or 'no reason was given'} "
                "Fix what it names (usually the data or the model), then ask for a new plan."
            ),
            "can_relaunch": False,
        }

    def replan_hint(self, run: Mapping[str, Any]) -> str | None:
        return f"Run {run['id']} was a Together job; say e.g. 'fine-tune {run['model']} on together' for a new plan."


BACKEND = TogetherBackend()
