"""The models Together AI fine-tunes and what a job costs, as a table the user can override.

USD per 1M training tokens (billed tokens = tokens of the training file x epochs, plus validation tokens per
evaluation), by Together's published size tiers: up to 16B parameters, 17B to 69B, and 70B to 100B; LoRA and
full training priced apart, DPO at 2.5 times SFT. Override or add models in <workspace>/together_prices.json:
{"model": 0.5} (both kinds of training) or {"model": {"lora": 0.48, "full": 0.54}}.
"""

from __future__ import annotations

from typing import Any

from trainer.core.errors import UserError
from trainer.core.fileio import read_json
from trainer.core.workspace import Workspace

PRICES_FILE = "together_prices.json"
# (LoRA, full) SFT price per 1M tokens by size tier.
SMALL, MEDIUM, LARGE = (0.48, 0.54), (1.50, 1.65), (2.90, 3.20)
DPO_FACTOR = 2.5

# Fine-tunable base models (Together's list as published); the first is the default.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference": SMALL,
    "meta-llama/Llama-3.2-1B-Instruct": SMALL,
    "meta-llama/Llama-3.2-3B-Instruct": SMALL,
    "meta-llama/Meta-Llama-3.1-70B-Instruct-Reference": LARGE,
    "meta-llama/Llama-3.3-70B-Instruct-Reference": LARGE,
    "Qwen/Qwen2.5-7B-Instruct": SMALL,
    "Qwen/Qwen2.5-14B-Instruct": SMALL,
    "Qwen/Qwen2.5-32B-Instruct": MEDIUM,
    "Qwen/Qwen2.5-72B-Instruct": LARGE,
    "Qwen/Qwen3-8B": SMALL,
    "Qwen/Qwen3-14B": SMALL,
    "Qwen/Qwen3-32B": MEDIUM,
    "mistralai/Mistral-7B-Instruct-v0.2": SMALL,
    "google/gemma-3-4b-it": SMALL,
    "google/gemma-3-27b-it": MEDIUM,
}
DEFAULT_MODEL = next(iter(DEFAULT_PRICES))


def price_table(ws: Workspace) -> tuple[dict[str, tuple[float, float]], str]:
    """The prices in use (model -> (LoRA, full)) and where they came from (the workspace file overrides)."""
    prices = dict(DEFAULT_PRICES)
    path = ws.root / PRICES_FILE
    if not path.is_file():
        return prices, "built-in price table"
    try:
        for name, value in dict(read_json(path)).items():
            if isinstance(value, dict):
                prices[str(name)] = (float(value["lora"]), float(value["full"] if "full" in value else value["lora"]))
            else:
                prices[str(name)] = (float(value), float(value))
    except (ValueError, TypeError, AttributeError, KeyError) as error:
        raise UserError(
            f"{path} is not a JSON object of model name -> USD per 1M training tokens (a number, or "
            f'{{"lora": ..., "full": ...}}) ({error}); fix or delete it.'
        ) from None
    return prices, f"{path.name} in the workspace"


def known_model(name: str | None, prices: dict[str, Any] | None = None) -> str | None:
    """The table's spelling of `name` (case-insensitive), or None when it is not a listed fine-tunable model."""
    if not name:
        return None
    wanted = str(name).strip().lower()
    return next((model for model in (prices or DEFAULT_PRICES) if model.lower() == wanted), None)


def price_for(model: str, training_type: str, method: str, prices: dict[str, tuple[float, float]]) -> float | None:
    """USD per 1M tokens of this job, or None when the model is not in the table."""
    found = known_model(model, prices)
    if found is None:
        return None
    lora, full = prices[found]
    price = full if training_type == "full" else lora
    return round(price * (DPO_FACTOR if method == "dpo" else 1.0), 4)
