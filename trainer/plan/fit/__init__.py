"""Whether a causal-LM run fits this machine, and how long it takes, before anything runs (estimates)."""

from trainer.plan.fit.architecture import Architecture, architecture_of, family_members, from_config, known
from trainer.plan.fit.memory import MemoryEstimate, Setting, estimate_memory, gib
from trainer.plan.fit.speed import estimate_seconds, step_flops, throughput

__all__ = [
    "Architecture",
    "MemoryEstimate",
    "Setting",
    "architecture_of",
    "estimate_memory",
    "estimate_seconds",
    "family_members",
    "from_config",
    "gib",
    "known",
    "step_flops",
    "throughput",
]
