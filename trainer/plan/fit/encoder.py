"""The lighter fit check for encoder plans (text classification, regression): peak memory and whether it fits.

A BERT-style encoder trained in float32 with AdamW: weights, gradients and two AdamW states for the trained
parameters, activations of a full batch padded to max length (the worst batch; eager attention keeps its scores
per head), and the runtime. Their time estimate lives in each task's plan.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trainer.plan.fit.fixes import device_memory, usable_bytes
from trainer.plan.fit.memory import CPU_RUNTIME_BYTES, CUDA_RUNTIME_BYTES, gib

# Positions a BERT-style encoder embeds when its config does not say.
DEFAULT_POSITIONS = 512


def _config(model: str, root: Path | None) -> dict[str, Any] | None:
    from trainer.models.catalog import folder_if_present

    folder = folder_if_present(model, root) or model
    path = Path(folder).expanduser() / "config.json"
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def encoder_memory(config: dict[str, Any], *, batch: int, length: int, freeze_layers: int, device: str) -> dict | None:
    """Bytes by part of a training step of a BERT-style encoder; None when the config lacks its shape."""
    hidden, layers = config.get("hidden_size"), config.get("num_hidden_layers")
    heads, vocab = config.get("num_attention_heads"), config.get("vocab_size")
    if not (hidden and layers and heads and vocab):
        return None
    inter = int(config.get("intermediate_size") or 4 * hidden)
    positions = int(config.get("max_position_embeddings") or DEFAULT_POSITIONS)
    per_layer = 4 * hidden * hidden + 2 * hidden * inter + 9 * hidden + inter
    embeddings = (vocab + positions + 2) * hidden
    parameters = layers * per_layer + embeddings
    trained_layers = max(0, layers - freeze_layers)
    trainable = trained_layers * per_layer + (embeddings if freeze_layers == 0 else 0)
    tokens = batch * length
    # float32: q, k, v, context, two norms, dropouts, the MLP's two sides and its activation; eager attention
    # keeps scores, probabilities and the dropout mask per head and pair of tokens.
    per_token_layer = 4 * (10 * hidden + 2 * inter) + 9 * heads * length
    return {
        "weights": 4.0 * parameters,
        "gradients": 4.0 * trainable,
        "optimizer states": 8.0 * trainable,
        "activations": float(tokens * per_token_layer * max(1, trained_layers)),
        "runtime": CUDA_RUNTIME_BYTES if device == "cuda" else CPU_RUNTIME_BYTES,
    }


def encoder_fit_rows(run: dict[str, Any], root: Path | None = None) -> list[tuple[str, str, str]]:
    """Plan rows (setting, value, reason) for an encoder run's peak memory and whether it fits this machine."""
    from trainer.plan.hardware import detect_hardware

    model = str(run["model"])
    config = _config(model, root)
    hardware = detect_hardware()
    device = "cuda" if hardware.device == "cuda" else "cpu"
    parts = None
    if config is not None:
        parts = encoder_memory(
            config,
            batch=int(run["batch_size"]),
            length=int(run["max_length"]),
            freeze_layers=int(run.get("freeze_layers") or 0),
            device=device,
        )
    if parts is None:
        why = f"The architecture of '{model}' is unknown before it is loaded (no config.json here): not estimated."
        return [("peak memory", "unknown", why), ("fits", "unknown", why)]
    peak = sum(parts.values())
    shown = ", ".join(f"{name} {gib(value)}" for name, value in parts.items())
    reason = (
        f"Estimate for a batch of {run['batch_size']} texts padded to {run['max_length']} tokens (the worst "
        f"batch), float32 with AdamW: {shown}."
    )
    available = usable_bytes(device, device_memory(hardware))
    where = "GPU memory" if device == "cuda" else "RAM"
    if available is None:
        return [("peak memory", gib(peak), reason), ("fits", "unknown", f"The {where} available is unknown.")]
    if peak <= available:
        verdict = ("yes", f"Fits: estimated peak {gib(peak)}, {gib(available)} of {where} usable.")
    else:
        verdict = (
            "no",
            f"Does not fit: estimated peak {gib(peak)}, {gib(available)} of {where} usable; a smaller batch size "
            "or max length lowers the activations.",
        )
    return [("peak memory", gib(peak), reason), ("fits", *verdict)]
