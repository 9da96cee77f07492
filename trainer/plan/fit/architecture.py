"""The shape of a decoder-only language model, from its config.json or from a built-in table of known hub ids.

The fit estimate needs only a handful of numbers (layers, hidden size, MLP size, attention heads, vocabulary,
whether the output head shares the embedding matrix); they are read from the model's config.json when the model
is here (a local folder or a converted catalog model), and otherwise from `KNOWN`, the architectures of the hub
ids the planner proposes, copied from each model's config.json on the Hugging Face Hub (the URL is kept as the
source), so a plan for a GPU machine can be sized offline. Anything else is unknown, and the plan says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

# The linear layers of a Llama-style block, by the names LoRA targets use.
ATTENTION_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP_MODULES = ("gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class Architecture:
    name: str
    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    vocab: int
    tied: bool
    head_dim: int = 0  # 0: hidden / heads
    # A gated MLP (SwiGLU: gate, up and down projections) as in Llama, Qwen and Mistral; False: up and down only.
    gated: bool = True
    # Where the numbers come from: a config.json path or URL.
    source: str = ""
    # Models of the same family, smallest first (hub ids of KNOWN), for "a smaller model of the same family".
    family: str = ""

    @property
    def q_dim(self) -> int:
        return self.heads * (self.head_dim or self.hidden // self.heads)

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * (self.head_dim or self.hidden // self.heads)

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) features of each linear layer of one block, by module name."""
        shapes = {
            "q_proj": (self.hidden, self.q_dim),
            "k_proj": (self.hidden, self.kv_dim),
            "v_proj": (self.hidden, self.kv_dim),
            "o_proj": (self.q_dim, self.hidden),
            "up_proj": (self.hidden, self.intermediate),
            "down_proj": (self.intermediate, self.hidden),
        }
        if self.gated:
            shapes["gate_proj"] = (self.hidden, self.intermediate)
        return shapes

    @property
    def block_linear_parameters(self) -> int:
        return sum(i * o for i, o in self.linear_shapes().values())

    @property
    def embedding_parameters(self) -> int:
        return self.vocab * self.hidden

    @property
    def head_parameters(self) -> int:
        """The output projection's own weights (0 when it is the embedding matrix)."""
        return 0 if self.tied else self.vocab * self.hidden

    @property
    def norm_parameters(self) -> int:
        return (2 * self.layers + 1) * self.hidden

    @property
    def parameters(self) -> int:
        return (
            self.layers * self.block_linear_parameters
            + self.embedding_parameters
            + self.head_parameters
            + self.norm_parameters
        )

    @property
    def matmul_parameters(self) -> int:
        """Parameters that do matmul work per token: the blocks and the output head (embeddings are looked up)."""
        return self.layers * self.block_linear_parameters + self.vocab * self.hidden

    def describe(self) -> str:
        return (
            f"{self.parameters / 1e9:.2f} B parameters, {self.layers} layers, hidden {self.hidden}, "
            f"vocabulary {self.vocab}"
        )


def from_config(config: dict[str, Any], name: str, source: str = "") -> Architecture | None:
    """The architecture in a transformers config.json (Llama-style or GPT-2-style names); None when it lacks one."""
    nested = config.get("text_config")
    text: dict[str, Any] = nested if isinstance(nested, dict) else config
    hidden = text.get("hidden_size") or text.get("n_embd")
    layers = text.get("num_hidden_layers") or text.get("n_layer")
    heads = text.get("num_attention_heads") or text.get("n_head")
    vocab = text.get("vocab_size") or config.get("vocab_size")
    if not (hidden and layers and heads and vocab):
        return None
    gpt2_style = "n_embd" in text and "hidden_size" not in text
    intermediate = text.get("intermediate_size") or text.get("n_inner") or 4 * int(hidden)
    return Architecture(
        name=name,
        layers=int(layers),
        hidden=int(hidden),
        intermediate=int(intermediate),
        heads=int(heads),
        kv_heads=int(text.get("num_key_value_heads") or heads),
        vocab=int(vocab),
        tied=bool(config.get("tie_word_embeddings", text.get("tie_word_embeddings", gpt2_style))),
        head_dim=int(text.get("head_dim") or 0),
        gated=not gpt2_style and str(text.get("hidden_act", "silu")) in ("silu", "swiglu", "gelu_pytorch_tanh"),
        source=source,
    )


def _hf(repo: str) -> str:
    return f"https://huggingface.co/{repo}/blob/main/config.json"


def _known(repo: str, family: str, *shape: int, tied: bool, head_dim: int = 0) -> Architecture:
    layers, hidden, intermediate, heads, kv_heads, vocab = shape
    return Architecture(
        repo, layers, hidden, intermediate, heads, kv_heads, vocab, tied, head_dim, True, _hf(repo), family
    )


# The architectures the planner may propose or that the published figures were measured on, from each
# config.json on the Hub: (layers, hidden, intermediate, heads, kv heads, vocabulary).
KNOWN: dict[str, Architecture] = {
    a.name.lower(): a
    for a in (
        _known("HuggingFaceTB/SmolLM2-135M-Instruct", "smollm2", 30, 576, 1536, 9, 3, 49152, tied=True),
        _known("HuggingFaceTB/SmolLM2-360M-Instruct", "smollm2", 32, 960, 2560, 15, 5, 49152, tied=True),
        _known("HuggingFaceTB/SmolLM2-1.7B-Instruct", "smollm2", 24, 2048, 8192, 32, 32, 49152, tied=True),
        _known("Qwen/Qwen2.5-0.5B-Instruct", "qwen2.5", 24, 896, 4864, 14, 2, 151936, tied=True),
        _known("Qwen/Qwen2.5-1.5B-Instruct", "qwen2.5", 28, 1536, 8960, 12, 2, 151936, tied=True),
        _known("Qwen/Qwen2.5-3B-Instruct", "qwen2.5", 36, 2048, 11008, 16, 2, 151936, tied=True),
        _known("Qwen/Qwen2.5-7B-Instruct", "qwen2.5", 28, 3584, 18944, 28, 4, 152064, tied=False),
        _known("meta-llama/Llama-3.2-1B-Instruct", "llama3", 16, 2048, 8192, 32, 8, 128256, tied=True, head_dim=64),
        _known("meta-llama/Llama-3.2-3B-Instruct", "llama3", 28, 3072, 8192, 24, 8, 128256, tied=True, head_dim=128),
        _known("meta-llama/Llama-3.1-8B-Instruct", "llama3", 32, 4096, 14336, 32, 8, 128256, tied=False),
        _known("meta-llama/Llama-3.1-70B-Instruct", "llama3", 80, 8192, 28672, 64, 8, 128256, tied=False),
        _known("huggyllama/llama-65b", "llama1", 80, 8192, 22016, 64, 64, 32000, tied=False),
    )
}
# The offline catalog's chat model is SmolLM2-135M-Instruct (its converted folder, when present, is read instead).
CATALOG_ALIASES = {"smollm2": "huggingfacetb/smollm2-135m-instruct"}


def known(name: str) -> Architecture | None:
    key = name.strip().lower()
    return KNOWN.get(CATALOG_ALIASES.get(key, key))


def family_members(architecture: Architecture) -> list[Architecture]:
    """The built-in models of the same family, smallest first (empty for a model outside the table)."""
    if not architecture.family:
        return []
    return sorted((a for a in KNOWN.values() if a.family == architecture.family), key=lambda a: a.parameters)


def architecture_of(model: str, root: Path | None = None) -> Architecture | None:
    """The architecture of a model: its config.json when it is here, else the built-in table; None if unknown."""
    from trainer.models.catalog import folder_if_present

    folder = folder_if_present(model, root) if model else None
    path = Path(folder) if folder else Path(model).expanduser()
    config_file = path / "config.json"
    if model and config_file.is_file():
        try:
            config = json.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            config = {}
        found = from_config(config, model, str(config_file))
        table = known(model)
        if found is not None:
            return found if table is None else replace(found, family=table.family)
    return known(model) if model else None
