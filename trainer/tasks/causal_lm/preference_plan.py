"""What the plans of the preference tasks (DPO, ORPO, KTO) say beyond the shared causal-LM plan: which method
suits the model, and KTO's class weights from the balance of its labels."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError

# Words in a model's name that mean it has been instruction-tuned already (the offline catalog's smollm2 is
# SmolLM2-135M-Instruct).
INSTRUCT_WORDS = ("instruct", "chat", "-it", "smollm2")


def instruction_tuned(model: str) -> bool | None:
    """True when the model was instruction-tuned (a local folder with a chat template, or a name saying so),
    False for a local folder without one (a base model), None when it cannot be told offline."""
    folder = Path(model).expanduser()
    if folder.is_dir():
        config = folder / "tokenizer_config.json"
        if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
            return True
        if config.is_file():
            try:
                return bool(json.loads(config.read_text(encoding="utf-8")).get("chat_template"))
            except (OSError, ValueError):
                return None
        return None
    name = model.lower()
    return True if any(word in name for word in INSTRUCT_WORDS) else None


DPO_OR_ORPO = (
    "DPO suits a model already instruction-tuned: it keeps it close to a frozen copy of itself (the reference). "
    "ORPO (task orpo) needs no reference model and does SFT and preference in one step: better for a base model "
    "not yet instruction-tuned."
)


def pair_method_reason(reference: bool, model: str) -> str:
    """Why DPO (`reference`: trains against a frozen reference model) or ORPO (no reference), for this model."""
    tuned = instruction_tuned(model)
    name = Path(model).name
    chosen = "DPO" if reference else "ORPO"
    if tuned is True:
        advice = "DPO fits it." if reference else "DPO (task dpo) would keep it closer to how it answers now."
        fact = f" '{name}' is instruction-tuned (it has a chat template): {advice}"
    elif tuned is False:
        advice = "ORPO fits it." if not reference else "ORPO (task orpo) would teach it to answer and prefer at once."
        fact = f" '{name}' has no chat template, so it looks like a base model: {advice}"
    else:
        fact = ""
    return f"Preference pairs (chosen/rejected): {chosen}. {DPO_OR_ORPO}{fact}"


def kto_weights(labels: list[bool], path: Path) -> tuple[float, float, str]:
    """KTO's desirable and undesirable weights for these labels, and why.

    TRL (after the KTO paper, eq. 8) wants desirable_weight * n_desirable / (undesirable_weight * n_undesirable)
    in [1, 4/3]; the rarer class is weighted up so that holds, the other keeps weight 1.
    """
    good = sum(1 for label in labels if label)
    bad = len(labels) - good
    if not good or not bad:
        have, missing = ("desirable", "undesirable") if good else ("undesirable", "desirable")
        raise UserError(
            f"'{path.name}' has only {have} answers ({len(labels)} marked {str(bool(good)).lower()}), and KTO needs "
            f"both: add some {missing} ones (marked {str(not good).lower()}), or train SFT on the good answers."
        )
    if good == bad:
        return 1.0, 1.0, f"{good} desirable and {bad} undesirable answers: balanced, so both weigh 1."
    # Rounded to two decimals in the direction that keeps the ratio at 1 or just above it, never below.
    if good < bad:
        rarer, weight = "desirable", math.ceil(bad / good * 100) / 100
    else:
        rarer, weight = "undesirable", math.floor(good / bad * 100) / 100
    why = (
        f"{good} desirable vs {bad} undesirable answers: {rarer} ones weigh {weight} so both kinds count about "
        "equally (TRL's guidance: desirable weight x desirable / (undesirable weight x undesirable) in [1, 4/3])."
    )
    return (weight, 1.0, why) if good < bad else (1.0, weight, why)


def user_set(request_settings: dict[str, Any], *names: str) -> bool:
    return any(request_settings.get(name) is not None for name in names)
