"""Odds-ratio preference optimisation (ORPO) of a causal language model on chosen/rejected answer pairs.

ORPO adds to the SFT loss on the chosen answer a term that raises the odds of the chosen answer over the
rejected one: no reference model, and instruction tuning and preference in one step. DPO trains the same
data (and is what preference pairs get by default); a plan says which suits the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trainer.data import kinds
from trainer.plan.plan import PlanRow
from trainer.tasks.base import PlanRequest
from trainer.tasks.causal_lm import purposes as goals
from trainer.tasks.causal_lm.dpo import PairedPreferenceTask
from trainer.tasks.causal_lm.preference_plan import user_set

if TYPE_CHECKING:
    from trainer.plan.config import RunConfig

# The ORPO paper's full fine-tuning rate (Hong et al. 2024, 8e-6 for Mistral-7B); LoRA keeps the shared 2e-4.
FULL_LEARNING_RATE = 8e-6


class ORPO(PairedPreferenceTask):
    name = "orpo"
    title = "preference tuning without a reference model (ORPO)"
    # DPO is listed first in the registry, so preference pairs go to DPO unless ORPO is asked for by name.
    data_kinds = (kinds.PREFERENCE,)
    purposes = (goals.ORPO,)
    reference_model = False
    # Hosted APIs train DPO on pairs, not ORPO: sending these as DPO would not be what the plan says.
    hosted_trainable = False

    def trainer_class(self) -> Any:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TRL warns that experimental trainers may change
            from trl.experimental.orpo import ORPOTrainer

        return ORPOTrainer

    def trl_args(self, common: dict[str, Any], config: RunConfig, choice: dict[str, Any], tokenizer: Any) -> Any:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from trl.experimental.orpo import ORPOConfig

        # beta is the paper's lambda: the weight of the odds-ratio term beside the SFT loss (0.1 in the paper).
        return ORPOConfig(**common, beta=config.dpo_beta)

    def plan_details(self, proposal: dict[str, Any], request: PlanRequest) -> list[PlanRow]:
        rows = super().plan_details(proposal, request)
        config, reasons = proposal["config"], proposal["reasons"]
        if config["method"] == "full" and not user_set(request.settings, "learning_rate"):
            config["learning_rate"] = FULL_LEARNING_RATE
            reasons["learning_rate"] = "ORPO's paper fine-tunes every weight at 8e-6."
        return rows


TASK = ORPO()
