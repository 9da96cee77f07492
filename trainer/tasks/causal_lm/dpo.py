"""Direct preference optimisation (DPO) of a causal language model on chosen/rejected answer pairs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.data import kinds
from trainer.plan.plan import PlanRow
from trainer.tasks.base import DPO_OBJECTIVE, HostedData, PlanRequest
from trainer.tasks.causal_lm import purposes as goals
from trainer.tasks.causal_lm.closeness_eval import CLOSENESS_METRICS, ClosenessProbe, pair_probe
from trainer.tasks.causal_lm.preference_eval import PAIR_METRICS, PairProbe
from trainer.tasks.causal_lm.task import CausalLMTask, hosted_split

if TYPE_CHECKING:
    from trainer.plan.config import RunConfig

# A preference loss says nothing about how surprised the model is by an answer: no perplexity.
PREFERENCE_BASE_METRICS = tuple(spec for spec in CausalLMTask.metrics if spec.name != "perplexity")


class PairedPreferenceTask(CausalLMTask):
    """What DPO and ORPO share: preference pairs in, reward accuracy on held-out pairs out."""

    metrics = (*PREFERENCE_BASE_METRICS, *PAIR_METRICS, *CLOSENESS_METRICS)
    # The loss compares the model with a frozen copy of itself (DPO); ORPO has no reference model.
    reference_model = True

    def load_examples(self, path: Path, placeholders: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        from trainer.tasks.causal_lm.data import load_pairs

        return load_pairs(path, placeholders)

    def held_out_probe(self, rows: list[dict[str, Any]], config: RunConfig) -> PairProbe | None:
        return PairProbe(rows, config.dpo_beta, config.max_length) if rows else None

    def answer_probe(self, rows: list[dict[str, Any]], config: RunConfig) -> ClosenessProbe | None:
        return pair_probe(rows)

    def plan_details(self, proposal: dict[str, Any], request: PlanRequest) -> list[PlanRow]:
        from trainer.tasks.causal_lm.preference_plan import pair_method_reason

        proposal["reasons"]["task"] = pair_method_reason(self.reference_model, str(proposal["config"]["model"]))
        return []


class DPO(PairedPreferenceTask):
    name = "dpo"
    title = "preference tuning (DPO)"
    data_kinds = (kinds.PREFERENCE,)
    aliases = (kinds.PREFERENCE,)
    purposes = (goals.DPO,)

    def trainer_class(self) -> Any:
        from trl import DPOTrainer

        return DPOTrainer

    def trl_args(self, common: dict[str, Any], config: RunConfig, choice: dict[str, Any], tokenizer: Any) -> Any:
        from trl import DPOConfig

        return DPOConfig(**common, beta=config.dpo_beta)

    def hosted_data(self, path: Path, config: dict[str, Any]) -> HostedData:
        """Preference pairs as {"prompt", "chosen", "rejected"} message lists (each API turns them into its own
        preference format)."""
        from trainer.data.convert import load_preference_pairs

        pairs = list(load_preference_pairs(path))
        return HostedData(objective=DPO_OBJECTIVE, examples=pairs, splits=hosted_split(len(pairs), config))


TASK = DPO()
