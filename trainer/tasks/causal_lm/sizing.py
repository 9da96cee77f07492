"""What a causal-LM plan says about memory and time before anything runs: the default model for this machine, the
data's token lengths, the estimated peak memory and whether it fits (with the change that makes it fit), and the
wall time. The arithmetic lives in trainer/plan/fit; this module turns a config and the data into its inputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainer.plan.fit import Architecture, Setting, architecture_of, estimate_seconds, gib, throughput
from trainer.plan.fit.fixes import Fit, Job, assess, device_memory
from trainer.plan.hardware import Hardware

# The offline catalog's chat model: what a CPU-only machine fine-tunes when no model is named.
CPU_DEFAULT_MODEL = "smollm2"
# What a CUDA machine is offered when no model is named, largest first: the largest that fits the GPU wins.
GPU_CANDIDATES = (
    "Qwen/Qwen2.5-7B-Instruct",
    "Qwen/Qwen2.5-3B-Instruct",
    "Qwen/Qwen2.5-1.5B-Instruct",
    "Qwen/Qwen2.5-0.5B-Instruct",
)
# Without the model's tokenizer, English text runs about 4 characters a token; each message adds its
# chat-template markers (role name, start and end of turn).
CHARS_PER_TOKEN = 4.0
TEMPLATE_TOKENS_PER_MESSAGE = 5
# Examples tokenized to measure lengths; a larger file is sampled evenly (lengths are a distribution).
MAX_MEASURED = 1000
# Evaluations in a run: about five during training (one per checkpoint) and one at the end.
EVALUATIONS = 6


def sequences(example: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """The conversations the model reads for one example, by the example's shape (a preference pair gives two)."""

    def turns(value: Any, role: str) -> list[dict[str, Any]]:
        if isinstance(value, list):
            return [m for m in value if isinstance(m, dict)]
        return [{"role": role, "content": str(value or "")}]

    if "messages" in example:
        return [turns(example["messages"], "user")]
    prompt = turns(example.get("prompt", []), "user")
    answers = [turns(example[key], "assistant") for key in ("completion", "chosen", "rejected") if key in example]
    return [prompt + answer for answer in answers] or [prompt]


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content)
    return str(content or "")


def _tokenizer_folder(model: str, root: Path | None) -> str | None:
    from trainer.models.catalog import folder_if_present

    folder = folder_if_present(model, root)
    if folder:
        return folder
    local = Path(model).expanduser()
    has_tokenizer = any((local / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json"))
    return str(local) if local.is_dir() and has_tokenizer else None


def token_lengths(examples: list[dict[str, Any]], model: str, root: Path | None) -> tuple[list[int], int, str]:
    """(tokens of every sequence, sequences per example, how they were counted) for the examples."""
    step = max(1, -(-len(examples) // MAX_MEASURED))
    measured = examples[::step]
    conversations = [sequences(example) for example in measured]
    per_example = max((len(c) for c in conversations), default=1)
    flat = [conversation for group in conversations for conversation in group]
    sampled = f" (every {step}th of {len(examples)} examples)" if step > 1 else ""
    folder = _tokenizer_folder(model, root)
    if folder is not None:
        try:
            return _tokenized(flat, folder), per_example, f"counted with the model's tokenizer{sampled}"
        except Exception:  # a tokenizer without a usable chat template: fall back to characters
            pass
    lengths = [
        int(
            sum(len(_text(m)) for m in conversation) / CHARS_PER_TOKEN + TEMPLATE_TOKENS_PER_MESSAGE * len(conversation)
        )
        for conversation in flat
    ]
    how = f"estimated from characters (about {CHARS_PER_TOKEN:.0f} a token; the model's tokenizer is not here){sampled}"
    return lengths, per_example, how


def _tokenized(conversations: list[list[dict[str, Any]]], folder: str) -> list[int]:
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("no chat template")
    from trainer.tasks.causal_lm.lengths import chat_length

    return [chat_length(tokenizer, conversation) for conversation in conversations]


def job_for(
    architecture: Architecture,
    config: dict[str, Any],
    choice: dict[str, Any],
    hardware: Hardware,
    lengths: list[int],
    per_example: int,
    reference_model: bool,
) -> Job:
    """The estimate's view of a run from its config and the hardware choices (dtype, checkpointing, batches)."""
    device = "cuda" if hardware.device == "cuda" else "cpu"
    method = str(config["method"])
    setting = Setting(
        method=method,
        dtype=str(choice.get("dtype", "float32")),
        device=device,
        micro_batch=int(choice.get("per_device_batch_size", config["batch_size"])),
        gradient_checkpointing=bool(choice.get("gradient_checkpointing")),
        lora_r=int(config["lora_r"]),
        lora_targets=str(config["lora_target_modules"]),
        lora_dropout=float(config["lora_dropout"]),
        freeze_layers=int(config["freeze_layers"]),
        attention="eager" if choice.get("attention") == "eager" else "sdpa",
        reference_model=reference_model and method in ("full", "freeze"),
    )
    job = Job(
        architecture,
        setting,
        tuple(lengths),
        max_length=int(config["max_length"]),
        accumulation=int(config["gradient_accumulation_steps"]),
        padding_free=bool(choice.get("padding_free", True)),
        sequences_per_example=per_example,
    )
    return job.sized()


# Changes the default-model search may make to its own proposal: they keep the model, the method and the data.
HARMLESS_CHANGES = {"batch_size", "gradient_accumulation_steps", "gradient_checkpointing"}


def default_model(hardware: Hardware, fit_of: Any, method: str | None) -> tuple[str, str, str, dict[str, Any]]:
    """(model, method, reason, config changes) when the user named no model: SmolLM2 on CPU, the largest Qwen2.5
    that fits a GPU (with a smaller micro batch or checkpointing when that is what makes it fit).

    `fit_of(model, method)` is the Fit of the run with that model and method (None when it cannot be sized).
    """
    if hardware.device != "cuda":
        fit = fit_of(CPU_DEFAULT_MODEL, method or "lora")
        changes: dict[str, Any] = {}
        memory = ""
        if fit is not None:
            harmless = fit.after is not None and set(fit.overrides) <= HARMLESS_CHANGES
            changes = dict(fit.overrides) if not fit.fits and harmless else {}
            peak = fit.after if changes and fit.after is not None else fit.estimate
            memory = f" (estimated peak {gib(peak.peak)}" + (f" with {fit.change})" if changes else ")")
        reason = (
            "SmolLM2-135M-Instruct, the offline catalog's chat model: small enough to fine-tune on this CPU"
            f"{memory}; name another with --model (a Hugging Face id or a local folder)."
        )
        return CPU_DEFAULT_MODEL, method or "lora", reason, changes
    vram = min(float(gpu["memory_gb"]) for gpu in hardware.gpus)
    methods = [method] if method else ["lora"] + (["qlora"] if hardware.bitsandbytes else [])
    for model in GPU_CANDIDATES:
        lora_fit = None
        for candidate in methods:
            fit = fit_of(model, candidate)
            harmless = fit is not None and fit.after is not None and set(fit.overrides) <= HARMLESS_CHANGES
            if fit is None or not (fit.fits or harmless):
                lora_fit = lora_fit or fit
                continue
            peak = fit.estimate if fit.fits else fit.after
            name = model.split("/")[-1]
            reason = (
                f"{name}: the largest Qwen2.5 chat model whose {candidate.upper()} run fits this {vram:.0f} GB GPU "
                f"(estimated peak {gib(peak.peak if peak else 0)}" + ("" if fit.fits else f" with {fit.change}") + ")"
            )
            if candidate == "qlora" and lora_fit is not None:
                reason += f"; QLoRA's 4-bit weights make it fit, LoRA would need {gib(lora_fit.estimate.peak)}"
            return model, candidate, reason + ".", {} if fit.fits else dict(fit.overrides)
    smallest = GPU_CANDIDATES[-1]
    reason = f"{smallest.split('/')[-1]}: the smallest Qwen2.5; even it may not fit {vram:.0f} GB."
    return smallest, method or "lora", reason, {}


def fit_rows(
    job: Job | None,
    fit: Fit | None,
    hardware: Hardware,
    *,
    model: str,
    lengths_note: str,
    train_tokens: float,
    eval_tokens: float,
    gflops: float,
) -> tuple[list[tuple[str, str, str]], float | None]:
    """Plan rows (setting, value, reason) for peak memory, fit and time, and the time estimate in seconds."""
    if job is None or fit is None:
        unknown = (
            f"The architecture of '{model}' is unknown offline (no config.json here and not in the built-in "
            "table), so memory and time are not estimated rather than guessed."
        )
        return [("peak memory", "unknown", unknown), ("fits", "unknown", unknown), ("time", "unknown", unknown)], None
    s = job.setting
    per = job.sequences_per_example
    sequences_note = f" ({per * s.micro_batch} sequences)" if per > 1 else ""
    batch = (
        f"micro batch of {s.micro_batch} examples{sequences_note}, "
        f"{s.tokens} tokens in the largest one of three shuffled epochs"
    )
    memory_reason = (
        f"Estimate for {job.architecture.describe()}; {s.method}, {s.dtype}, {batch} "
        f"(token lengths {lengths_note}); {fit.estimate.describe()}."
    )
    fits_value = "unknown" if fit.fits is None else ("yes" if fit.fits else "no")
    rows = [("peak memory", gib(fit.estimate.peak), memory_reason), ("fits", fits_value, fit.sentence())]
    gpu = hardware.gpus[0]["name"] if hardware.gpus else ""
    rate = throughput(s.device, gflops=gflops, gpu_name=gpu, gpus=max(1, hardware.num_gpus))
    seconds = estimate_seconds(
        job.architecture, s, train_tokens=train_tokens, eval_tokens=eval_tokens, flops_per_second=rate
    )
    where = f"{gpu} at an assumed utilisation" if s.device == "cuda" else f"this CPU's measured {gflops:.0f} GFLOP/s"
    time_reason = (
        f"An estimate, not a promise: {train_tokens:,.0f} training tokens at about {rate / 1e9:,.0f} GFLOP/s "
        f"({where}), plus evaluations and loading."
    )
    rows.append(("time", _duration(seconds), time_reason))
    return rows, seconds


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"about {seconds:.0f} s"
    if seconds < 5400:
        return f"about {seconds / 60:.0f} min"
    return f"about {seconds / 3600:.1f} h"


class Sizer:
    """Sizes runs of one data file on this machine: token lengths are counted once per tokenizer."""

    def __init__(
        self,
        hardware: Hardware,
        examples: list[dict[str, Any]],
        *,
        root: Path | None,
        reference_model: bool,
        gflops: float,
    ) -> None:
        self.hardware, self.examples, self.root = hardware, examples, root
        self.reference_model, self.gflops = reference_model, gflops
        self._lengths: dict[str | None, tuple[list[int], int, str]] = {}

    def lengths(self, model: str) -> tuple[list[int], int, str]:
        key = _tokenizer_folder(model, self.root)
        if key not in self._lengths:
            self._lengths[key] = token_lengths(self.examples, model, self.root)
        return self._lengths[key]

    def job(self, config: dict[str, Any], choice: dict[str, Any]) -> Job | None:
        architecture = architecture_of(str(config["model"]), self.root)
        if architecture is None:
            return None
        lengths, per_example, _ = self.lengths(str(config["model"]))
        return job_for(architecture, config, choice, self.hardware, lengths, per_example, self.reference_model)

    def fit(self, config: dict[str, Any], choice: dict[str, Any]) -> Fit | None:
        job = self.job(config, choice)
        if job is None:
            return None
        qlora = self.hardware.device == "cuda" and self.hardware.bitsandbytes
        return assess(job, device_memory(self.hardware), qlora=qlora)

    def size(self, config: dict[str, Any], choice: dict[str, Any]) -> dict[str, Any]:
        """Rows, estimate_seconds and the Fit a plan shows for this config and these hardware choices."""
        model = str(config["model"])
        lengths, per_example, note = self.lengths(model)
        job = self.job(config, choice)
        fit = None
        if job is not None:
            qlora = self.hardware.device == "cuda" and self.hardware.bitsandbytes
            fit = assess(job, device_memory(self.hardware), qlora=qlora)
        share = 1 - float(config["val_fraction"])
        measured_examples = max(1, len(lengths) // max(1, per_example))
        total = sum(lengths) * len(self.examples) / measured_examples
        rows, seconds = fit_rows(
            job,
            fit,
            self.hardware,
            model=model,
            lengths_note=note,
            train_tokens=total * share * float(config["epochs"]),
            eval_tokens=total * (1 - share) * EVALUATIONS,
            gflops=self.gflops,
        )
        return {"rows": rows, "estimate_seconds": seconds, "fit": fit}
