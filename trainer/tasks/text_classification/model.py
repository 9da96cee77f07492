"""Find, load and partly freeze the base model of a text-classification run.

Weights only ever load from safetensors files (a pickle checkpoint can run code), and a model
repository's own code runs only when the run config says `trust_remote_code`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.core.errors import UserError
from trainer.plan.config import BUNDLED_MODEL, RunConfig

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

# What to tell the user to do when a model cannot be loaded.
_LOAD_ADVICE = f"give a local path to a model folder with safetensors weights, or use the bundled '{BUNDLED_MODEL}'"


def resolve_model_path(name: str) -> str:
    """An offline catalog model's folder (the bundled MiniLM among them), an existing local folder as given, or a
    hub id unchanged."""
    from trainer.models.catalog import resolve

    return resolve(name)


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~")) or "\\" in name or name.count("/") > 1


def _load_error(name: str, error: Exception) -> UserError:
    """One sentence for a model that would not load, naming the likely cause."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    if _looks_like_path(name) and not Path(name).expanduser().exists():
        reason = "there is no such folder"
    elif "safetensors" in str(error).lower():
        reason = "it has no safetensors weights (pickle checkpoints are refused because they can run code)"
    elif "trust_remote_code" in str(error):
        reason = "it needs its own code, which runs only with trust_remote_code=true for a model you trust"
    elif "connect" in str(error).lower() or "offline" in str(error).lower():
        reason = "it is not on this machine and the model hub is unreachable"
    else:
        reason = text.rstrip(".")
    return UserError(f"Could not load model '{name}' ({reason}); {_LOAD_ADVICE}.")


def load_tokenizer(config: RunConfig) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    path = resolve_model_path(config.model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=config.trust_remote_code)
    except (OSError, ValueError, KeyError) as error:
        raise _load_error(config.model, error) from error
    if tokenizer.pad_token is None:
        # Decoder-style tokenizers have no padding token; batching needs one, and EOS is the usual stand-in.
        if tokenizer.eos_token is None:
            raise UserError(
                f"The tokenizer of model '{config.model}' has neither a padding nor an end token; {_LOAD_ADVICE}."
            )
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_classifier(config: RunConfig, labels: list[str]) -> PreTrainedModel:
    """The base model with a fresh classification head for `labels` (in this order)."""
    return load_with_head(
        config,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: index for index, label in enumerate(labels)},
    )


def load_with_head(config: RunConfig, **head: Any) -> PreTrainedModel:
    """The base model with a fresh sequence head set by `head` (num_labels, problem_type, ...)."""
    from transformers import AutoModelForSequenceClassification

    path = resolve_model_path(config.model)
    # config.attention picks the kernel (e.g. eager); empty lets transformers choose.
    extra = {"attn_implementation": config.attention} if config.attention else {}
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            path, **extra, **head, use_safetensors=True, trust_remote_code=config.trust_remote_code
        )
    except (OSError, ValueError, KeyError) as error:
        raise _load_error(config.model, error) from error
    return model


def encoder_layers(model: torch.nn.Module) -> torch.nn.ModuleList | None:
    """The stack of transformer blocks: the largest ModuleList inside the base model.

    Looking for it generically (BERT has `encoder.layer`, DistilBERT `transformer.layer`, GPT-2 `h`,
    Llama `layers`) avoids a table of architectures.
    """
    import torch

    base = getattr(model, "base_model", model)
    best, best_size = None, 0
    for module in base.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) > 0:
            size = sum(p.numel() for p in module.parameters())
            if size > best_size:
                best, best_size = module, size
    return best


def freeze_lower_layers(model: torch.nn.Module, n: int) -> dict[str, int]:
    """Freeze the embeddings and the first `n` encoder layers; return trainable/frozen parameter counts."""
    import torch

    if n <= 0:
        return _parameter_counts(model)
    layers = encoder_layers(model)
    if layers is None:
        raise UserError("This model has no stack of encoder layers that could be frozen; set freeze_layers to 0.")
    if n > len(layers):
        raise UserError(
            f"freeze_layers is {n} but the model has only {len(layers)} encoder layers; "
            f"choose a number from 0 to {len(layers)}."
        )
    base: Any = getattr(model, "base_model", model)
    embeddings = getattr(base, "embeddings", None)
    if not isinstance(embeddings, torch.nn.Module):
        embeddings = base.get_input_embeddings()
    for module in [embeddings, *list(layers)[:n]]:
        for parameter in module.parameters():
            parameter.requires_grad_(False)
    return _parameter_counts(model)


def _parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable": trainable, "frozen": total - trainable}


def predict_labels(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    max_length: int,
    batch_size: int = 64,
    pairs: list[str] | None = None,
) -> list[str]:
    """Predicted label names for `texts` (with their second texts, for pairs)."""
    id2label: dict[Any, Any] = dict(model.config.id2label or {})
    outputs = model_outputs(model, tokenizer, texts, max_length, batch_size, pairs)
    return [str(id2label[int(row.argmax())]) for row in outputs]


def model_outputs(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    max_length: int,
    batch_size: int = 64,
    pairs: list[str] | None = None,
) -> list[torch.Tensor]:
    """The model's logits for each text (or text pair), in order, batching examples of similar length to keep
    padding small on CPU."""
    import torch

    model.eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]) + (len(pairs[i]) if pairs is not None else 0))
    outputs: list[torch.Tensor] = [torch.empty(0)] * len(texts)
    device = next(model.parameters()).device
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            encoded = tokenizer(
                [texts[i] for i in batch],
                [pairs[i] for i in batch] if pairs is not None else None,
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            ).to(device)
            logits = model(**encoded).logits.float().cpu()
            for index, row in zip(batch, logits, strict=True):
                outputs[index] = row
    return outputs


def effective_max_length(config: RunConfig, tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel) -> int:
    """config.max_length, capped by what the tokenizer and the position embeddings allow."""
    limit = config.max_length
    tokenizer_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tokenizer_limit, int) and 0 < tokenizer_limit < 1_000_000:
        limit = min(limit, tokenizer_limit)
    positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        limit = min(limit, positions)
    return limit
