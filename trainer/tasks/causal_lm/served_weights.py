"""Which weights a causal-LM run is served with, loaded once: the run's merged export when it has one, else its
LoRA adapter merged into the base model at load (PEFT merge_and_unload, so no token pays for the adapter's extra
matrix products), else its full weights; in float32 on a CPU (serving_dtype says why).

Torch and Transformers are imported only when a model is loaded, so the server claims its port first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.core.fileio import read_json

# Where the export of the merged model lands (a plain transformers folder with its manifest.json).
MERGED_EXPORT = Path("export") / "merged"
DTYPES = ("float32", "bfloat16", "float16")


def _run_model_files(run_dir: Path) -> tuple[Path, dict[str, Any], bool]:
    """The run's model/ folder, what tunechat.json says of it, and whether its config trusts remote code."""
    folder = Path(run_dir) / "model"
    if not folder.is_dir():
        raise UserError(f"{run_dir} has no model/ folder; only a causal-LM run that succeeded can be served.")
    info = read_json(folder / "tunechat.json") if (folder / "tunechat.json").is_file() else {"kind": "full"}
    config = read_json(Path(run_dir) / "config.json") if (Path(run_dir) / "config.json").is_file() else {}
    return folder, info, bool(config.get("trust_remote_code", False))


def merged_export(run_dir: Path) -> Path | None:
    """The run's merged export when it is complete (its manifest is written last), else None."""
    folder = Path(run_dir) / MERGED_EXPORT
    complete = (folder / "manifest.json").is_file() and (folder / "config.json").is_file()
    return folder if complete else None


def trained_dtype(run_dir: Path) -> str:
    """The dtype the run trained in, as its hardware.json recorded the choice (float32 when it says nothing)."""
    path = Path(run_dir) / "hardware.json"
    choice = read_json(path).get("choice", {}) if path.is_file() else {}
    dtype = choice.get("dtype") if isinstance(choice, dict) else None
    return dtype if dtype in DTYPES else "float32"


def serving_dtype(run_dir: Path) -> str:
    """The dtype the served model computes in. On a CPU, float32: the parity check's reference (the run as trained,
    trainer/export/chat_forms.py) and the merged export load in float32 too, so what is served answers token for
    token like them; a bfloat16 CPU server saved about a tenth of the time per token, not worth answers that drift
    on long replies. On a GPU, the dtype the run trained in (float16 included)."""
    import torch

    return trained_dtype(run_dir) if torch.cuda.is_available() else "float32"


def served_weights(run_dir: Path) -> str:
    """In words, which weights load_chat_model serves for this run."""
    if merged_export(run_dir) is not None:
        return f"the merged export in {MERGED_EXPORT}"
    _, info, _ = _run_model_files(run_dir)
    return "the LoRA adapter merged into its base model" if info.get("kind") == "adapter" else "the run's weights"


def _base_with_tokenizer(name: str, tokenizer: Any, remote: bool) -> Any:
    """A base model in full precision, its embeddings grown to the run's tokenizer (the default chat template
    may have added its markers)."""
    import torch
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(
        name, use_safetensors=True, dtype=torch.float32, trust_remote_code=remote
    )
    if base.get_input_embeddings().num_embeddings != len(tokenizer):
        base.resize_token_embeddings(len(tokenizer))
    return base


def load_chat_model(run_dir: Path) -> tuple[Any, Any]:
    """The run's served model and tokenizer (see the module's docstring for which weights), in eval mode."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    folder, info, remote = _run_model_files(run_dir)
    dtype = getattr(torch, serving_dtype(run_dir))
    merged = merged_export(run_dir)
    if merged is not None:
        folder = merged  # its tokenizer, chat template and generation config are the run's, exported with it
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=remote)
        model = AutoModelForCausalLM.from_pretrained(
            folder, use_safetensors=True, dtype=dtype, trust_remote_code=remote
        )
    elif info.get("kind") == "adapter":
        from peft import PeftModel

        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=remote)
        # Merged in float32, then cast: the adapter's small updates are not rounded away before they are added.
        base = _base_with_tokenizer(info["base_model"], tokenizer, remote)
        model = PeftModel.from_pretrained(base, folder).merge_and_unload().to(dtype)
    else:
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=remote)
        model = AutoModelForCausalLM.from_pretrained(
            folder, use_safetensors=True, dtype=dtype, trust_remote_code=remote
        )
    if (folder / "generation_config.json").is_file():
        # The run's own stop tokens (an adapter's base model would otherwise bring only its own).
        model.generation_config = GenerationConfig.from_pretrained(folder)
    model.eval()
    return model, tokenizer


def base_model_name(run_dir: Path) -> str | None:
    """The model a causal-LM run started from, as its saved model names it (None when it does not say)."""
    _, info, _ = _run_model_files(run_dir)
    name = info.get("base_model")
    return str(name) if name else None


def load_base_chat_model(run_dir: Path) -> tuple[Any, Any]:
    """The model the run started from, untouched by its training, with the run's tokenizer (so both read the
    same chat template) and the base model's own generation config: what the run is compared against."""
    from transformers import AutoTokenizer

    folder, _, remote = _run_model_files(run_dir)
    name = base_model_name(run_dir)
    if name is None:
        raise UserError(f"{folder} does not name its base model; train the run again to compare it with its base.")
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=remote)
    model = _base_with_tokenizer(name, tokenizer, remote)
    model.eval()
    return model, tokenizer
