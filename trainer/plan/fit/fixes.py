"""Does a run fit this device, and if not, which change makes it fit (tried in order), with the estimate after it.

The order goes from changes that cost nothing in quality to those that change the run most: a smaller micro
batch with gradient accumulation (the effective batch stays the same), a shorter max length (saying how many
examples get truncated), gradient checkpointing (about 20-30% more time), LoRA instead of training every weight,
QLoRA's 4-bit base weights (CUDA with bitsandbytes only), then a smaller model of the same family.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

from trainer.plan.fit.architecture import Architecture, family_members
from trainer.plan.fit.memory import MemoryEstimate, Setting, estimate_memory, gib
from trainer.plan.hardware import Hardware

# Share of the device's memory a run may plan to use: CUDA allocators fragment, and on CPU the page cache and
# the chat process keep some of what /proc/meminfo calls available.
USABLE_SHARE = {"cuda": 0.95, "cpu": 0.85}
SHORTER_LENGTHS = (4096, 2048, 1024, 512, 256, 128)
# Shuffled epochs searched for the largest micro batch (seeded, so a plan says the same each time).
SHUFFLED_EPOCHS = 3


@dataclass(frozen=True)
class Job:
    """A run as the estimate sees it: the model, its setting, and the data's sequence lengths in tokens."""

    architecture: Architecture
    setting: Setting
    lengths: tuple[int, ...] = ()  # tokens of every sequence the model sees (a preference pair gives two)
    max_length: int = 1024
    accumulation: int = 1
    padding_free: bool = True
    sequences_per_example: int = 1  # DPO runs chosen and rejected through the model together

    def sized(self, micro_batch: int | None = None, max_length: int | None = None) -> Job:
        """The job with its micro batch's tokens recomputed from the data (after a change of batch or length)."""
        micro = micro_batch or self.setting.micro_batch
        limit = max_length or self.max_length
        per = self.sequences_per_example
        tokens, longest = batch_tokens(self.lengths, micro, limit, self.padding_free, per)
        setting = self.setting.but(micro_batch=micro, tokens=tokens, longest=longest)
        return replace(self, setting=setting, max_length=limit)


def batch_tokens(
    lengths: tuple[int, ...] | list[int], examples: int, max_length: int, padding_free: bool, per_example: int = 1
) -> tuple[int, int]:
    """(tokens, longest sequence) of the largest micro batch of `examples` examples in SHUFFLED_EPOCHS shuffled
    epochs (seeded), each sequence truncated at max_length: the peak a run meets, not the unlikely batch of the
    data's very longest examples together. A padded batch holds examples x sequences x its longest sequence."""
    groups = [[min(n, max_length) for n in lengths[i : i + per_example]] for i in range(0, len(lengths), per_example)]
    if not groups:
        return max_length * max(1, examples) * per_example, max_length
    rng = random.Random(0)
    worst = (0, 0)
    for _ in range(SHUFFLED_EPOCHS):
        order = list(groups)
        rng.shuffle(order)
        for start in range(0, len(order), max(1, examples)):
            batch = [n for group in order[start : start + max(1, examples)] for n in group]
            longest = max(batch)
            tokens = sum(batch) if padding_free else longest * len(batch)
            worst = max(worst, (tokens, longest))
    return worst


@dataclass(frozen=True)
class Fit:
    """The verdict: the estimate, the memory there is, and the first change that makes it fit when it does not."""

    estimate: MemoryEstimate
    available: float | None  # bytes the run may use on this device; None when unknown
    device: str
    change: str = ""  # what to change, in words ("" when it fits as it is, or nothing found)
    overrides: dict[str, Any] = field(default_factory=dict)  # the config settings of that change
    after: MemoryEstimate | None = None  # the estimate after the change

    @property
    def fits(self) -> bool | None:
        return None if self.available is None else self.estimate.peak <= self.available

    def sentence(self) -> str:
        where = "GPU memory" if self.device == "cuda" else "RAM"
        if self.available is None:
            return f"Estimated peak {gib(self.estimate.peak)}; the {where} available is unknown."
        have = f"{gib(self.available)} of {where} usable"
        if self.fits:
            return f"Fits: estimated peak {gib(self.estimate.peak)}, {have}."
        if not self.change or self.after is None:
            return (
                f"Does not fit: estimated peak {gib(self.estimate.peak)}, {have}; no change tried here makes it fit "
                "(use a machine with more memory, or a smaller model)."
            )
        return (
            f"Does not fit as proposed (estimated peak {gib(self.estimate.peak)}, {have}); {self.change} makes it "
            f"fit: estimated {gib(self.after.peak)} after it."
        )


def device_memory(hardware: Hardware) -> float | None:
    """Bytes of memory a run can have: the smallest GPU's VRAM on CUDA, the RAM available now elsewhere."""
    if hardware.device == "cuda" and hardware.gpus:
        return min(float(gpu["memory_gb"]) for gpu in hardware.gpus) * 2**30
    from trainer.core.memory import cpu_available_bytes

    available = cpu_available_bytes()
    return float(available) if available is not None else None


def usable_bytes(device: str, total: float | None) -> float | None:
    return None if total is None else total * USABLE_SHARE.get(device, 0.85)


def _fits(job: Job, available: float) -> tuple[bool, MemoryEstimate]:
    estimate = estimate_memory(job.architecture, job.setting)
    return estimate.peak <= available, estimate


def _candidates(job: Job, qlora: bool) -> list[tuple[str, dict[str, Any], Job]]:
    """Each single change, in the order they are tried."""
    s = job.setting
    out: list[tuple[str, dict[str, Any], Job]] = []
    effective = s.micro_batch * job.accumulation
    micro = s.micro_batch // 2
    while micro >= 1:
        accumulation = -(-effective // micro)
        words = (
            f"a micro batch of {micro} with gradient accumulation {accumulation} "
            f"(the effective batch of {effective} is kept)"
        )
        out.append(
            (words, {"batch_size": micro, "gradient_accumulation_steps": accumulation}, job.sized(micro_batch=micro))
        )
        micro //= 2
    for length in SHORTER_LENGTHS:
        if length < job.max_length and job.lengths:
            examples = len(job.lengths) // max(1, job.sequences_per_example)
            cut = sum(1 for n in job.lengths if n > length) // max(1, job.sequences_per_example)
            words = f"max length {length} ({cut} of {examples} examples get truncated)"
            out.append((words, {"max_length": length}, job.sized(max_length=length)))
    if not s.gradient_checkpointing:
        words = "gradient checkpointing (recomputes activations: about 25% more time)"
        out.append((words, {"gradient_checkpointing": "on"}, replace(job, setting=s.but(gradient_checkpointing=True))))
    if s.method in ("full", "freeze"):
        out.append(
            ("LoRA instead of training every weight", {"method": "lora"}, replace(job, setting=s.but(method="lora")))
        )
    if qlora and s.method != "qlora":
        out.append(("QLoRA (4-bit base weights)", {"method": "qlora"}, replace(job, setting=s.but(method="qlora"))))
    return out


def _smaller_models(job: Job, qlora: bool) -> list[tuple[str, dict[str, Any], Job]]:
    """A smaller model of the family, largest first, with adapters and checkpointing (the lightest setting)."""
    method = "qlora" if qlora or job.setting.method == "qlora" else "lora"
    light = job.sized(micro_batch=1).setting.but(method=method, gradient_checkpointing=True)
    effective = job.setting.micro_batch * job.accumulation
    overrides = {
        "method": method,
        "gradient_checkpointing": "on",
        "batch_size": 1,
        "gradient_accumulation_steps": effective,
    }
    smaller = [a for a in family_members(job.architecture) if a.parameters < job.architecture.parameters]
    return [
        (
            f"the smaller {a.name} ({a.parameters / 1e9:.1f} B parameters; {method.upper()}, micro batch 1, "
            "gradient checkpointing)",
            {**overrides, "model": a.name},
            replace(job, architecture=a, setting=light),
        )
        for a in reversed(smaller)
    ]


def _combined(job: Job, available: float, qlora: bool) -> tuple[bool, MemoryEstimate, str, dict[str, Any]]:
    """Micro batch 1 with accumulation and checkpointing, with adapters (LoRA, then 4-bit when offered)."""
    effective = job.setting.micro_batch * job.accumulation
    adapters = "lora" if job.setting.method in ("full", "freeze") else job.setting.method
    methods = [adapters] + (["qlora"] if qlora and adapters != "qlora" else [])
    sized = job.sized(micro_batch=1)
    ok, after, words, overrides = False, estimate_memory(job.architecture, job.setting), "", {}
    for method in methods:
        combined = replace(sized, setting=sized.setting.but(method=method, gradient_checkpointing=True))
        overrides = {"batch_size": 1, "gradient_accumulation_steps": effective, "gradient_checkpointing": "on"}
        words = f"a micro batch of 1 with gradient accumulation {effective}, gradient checkpointing"
        if method != job.setting.method:
            overrides["method"] = method
            words += f" and {method.upper()}"
        ok, after = _fits(combined, available)
        if ok:
            break
    return ok, after, words, overrides


def assess(job: Job, total: float | None, *, qlora: bool = False) -> Fit:
    """Whether the job fits `total` bytes of device memory; when not, the first change (or combination) that does.

    `qlora`: 4-bit QLoRA can be offered (CUDA with bitsandbytes installed).
    """
    device = job.setting.device
    estimate = estimate_memory(job.architecture, job.setting)
    available = usable_bytes(device, total)
    if available is None or estimate.peak <= available:
        return Fit(estimate, available, device)
    singles = _candidates(job, qlora)
    for words, overrides, changed in singles:
        ok, after = _fits(changed, available)
        if ok:
            return Fit(estimate, available, device, words, overrides, after)
    # No single change is enough: every change that keeps the data whole, together.
    ok, after, words, overrides = _combined(job, available, qlora)
    if ok:
        return Fit(estimate, available, device, words, overrides, after)
    for words, overrides, changed in _smaller_models(job, qlora):
        ok, after = _fits(changed, available)
        if ok:
            return Fit(estimate, available, device, words, overrides, after)
    return Fit(estimate, available, device)
