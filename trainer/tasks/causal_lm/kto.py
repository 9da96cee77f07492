"""Kahneman-Tversky optimisation (KTO) of a causal language model on answers marked good or bad.

KTO needs no pairs: each example is a prompt, one answer and a true/false label (desirable or not), as in
LLaMA-Factory's KTO files ({"messages": [...], "label": true}) or TRL's unpaired preference format ({"prompt",
"completion", "label"}). It needs both kinds of answer; when they are imbalanced the rarer kind weighs more.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.data import kinds
from trainer.data.placeholders import fill_records
from trainer.plan.plan import PlanRow
from trainer.tasks.base import PlanRequest
from trainer.tasks.causal_lm import purposes as goals
from trainer.tasks.causal_lm.closeness_eval import CLOSENESS_METRICS, ClosenessProbe, label_probe
from trainer.tasks.causal_lm.dpo import PREFERENCE_BASE_METRICS
from trainer.tasks.causal_lm.preference_eval import KTO_METRICS, LabelProbe
from trainer.tasks.causal_lm.task import CausalLMTask

if TYPE_CHECKING:
    from trainer.plan.config import RunConfig

# KTO's KL estimate pairs each prompt with another example's answer in the same batch, so a batch needs two.
MIN_BATCH = 2
# TRL's KTO guidance for full fine-tuning (5e-7 to 5e-6); LoRA keeps the shared 2e-4.
FULL_LEARNING_RATE = 5e-6


def load_kto(path: Path) -> list[dict[str, Any]]:
    """{prompt, completion, label} rows in TRL's conversational form, with both labels present."""
    from trainer.data.convert import load_kto_examples
    from trainer.tasks.causal_lm.preference_plan import kto_weights

    examples = load_kto_examples(path)
    if not examples:
        from trainer.core.errors import UserError

        raise UserError(
            f"'{path.name}' has no KTO examples; give rows with 'messages' (or 'prompt' and 'completion') and a "
            "true/false 'label'."
        )
    kto_weights([bool(e["label"]) for e in examples], path)  # refuses a file with one label only
    return examples


class KTO(CausalLMTask):
    name = "kto"
    title = "preference tuning on answers marked good or bad (KTO)"
    data_kinds = (kinds.KTO,)
    aliases = (kinds.KTO,)
    purposes = (goals.KTO,)
    metrics = (*PREFERENCE_BASE_METRICS, *KTO_METRICS, *CLOSENESS_METRICS)
    # KTO compares the model with a frozen copy of itself, as DPO does.
    reference_model = True
    # No hosted fine-tuning API takes answers marked good or bad.
    hosted_trainable = False

    def load_examples(self, path: Path, placeholders: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        examples = load_kto(path)
        return fill_records(examples, placeholders) if placeholders is not None else examples

    def trainer_class(self) -> Any:
        from trl import KTOTrainer

        return KTOTrainer

    def trl_args(self, common: dict[str, Any], config: RunConfig, choice: dict[str, Any], tokenizer: Any) -> Any:
        from trl import KTOConfig

        common = dict(common)
        common["per_device_train_batch_size"] = max(MIN_BATCH, int(common["per_device_train_batch_size"]))
        common["per_device_eval_batch_size"] = max(MIN_BATCH, int(common["per_device_eval_batch_size"]))
        return KTOConfig(
            **common,
            beta=config.dpo_beta,
            desirable_weight=config.kto_desirable_weight,
            undesirable_weight=config.kto_undesirable_weight,
            # The KL term is estimated from neighbours in a fixed-order batch (the rows are shuffled once, by split).
            train_sampling_strategy="sequential",
        )

    def held_out_probe(self, rows: list[dict[str, Any]], config: RunConfig) -> LabelProbe | None:
        return LabelProbe(rows, config.dpo_beta, config.max_length) if rows else None

    def answer_probe(self, rows: list[dict[str, Any]], config: RunConfig) -> ClosenessProbe | None:
        return label_probe(rows)

    def plan_details(self, proposal: dict[str, Any], request: PlanRequest) -> list[PlanRow]:
        from trainer.tasks.causal_lm.preference_plan import kto_weights, user_set

        config, reasons = proposal["config"], proposal["reasons"]
        reasons["task"] = (
            "Answers marked good or bad (true/false label), not pairs: KTO, which raises the likelihood of good "
            "answers and lowers that of bad ones relative to the base model."
        )
        if config["method"] == "full" and not user_set(request.settings, "learning_rate"):
            config["learning_rate"] = FULL_LEARNING_RATE
            reasons["learning_rate"] = "TRL's KTO guidance for full fine-tuning: 5e-7 to 5e-6."
        if config["batch_size"] < MIN_BATCH:
            config["batch_size"] = MIN_BATCH
            reasons["batch_size"] = "KTO compares each answer with another in its batch, so a batch holds two."
        labels = [bool(e["label"]) for e in load_kto(request.path)]
        desirable, undesirable, why = kto_weights(labels, request.path)
        if user_set(request.settings, "kto_desirable_weight", "kto_undesirable_weight"):
            why = "You asked for this."
        else:
            config["kto_desirable_weight"], config["kto_undesirable_weight"] = desirable, undesirable
        reasons["kto_weights"] = why
        weights = f"desirable {config['kto_desirable_weight']}, undesirable {config['kto_undesirable_weight']}"
        return [PlanRow("KTO weights", weights, why)]


TASK = KTO()
