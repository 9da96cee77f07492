"""`merged`: the run's model as one plain Hugging Face folder that transformers, vLLM and TGI load as is.

A LoRA (or QLoRA) run's adapter is merged into its base weights (PEFT's merge_and_unload) in the base checkpoint's
own precision (else the dtype it trained in); a full or frozen-layers run's model is copied as it is. Either way
the folder holds safetensors only, the tokenizer with its chat template, and a generation_config.json that names
every token ending a turn (trainer/tasks/causal_lm/stops.py), so a server stops where training taught it to stop.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.core.fileio import atomic_write_text, read_json
from trainer.export.base import ExportOptions, ExportSource, Progress, Written
from trainer.export.parity import ParityReport
from trainer.tasks.causal_lm.served_weights import DTYPES, trained_dtype

# What a run's model/ holds that a plain model folder does not need (tunechat's own note of what it is).
TUNECHAT_ONLY = ("tunechat.json",)
# Weights that are not safetensors are never exported (pickles run code when loaded).
UNSAFE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


def model_info(run_dir: Path) -> dict[str, Any]:
    """What the run's model/tunechat.json says: {"kind": "adapter"|"full", "base_model", "task"}."""
    path = Path(run_dir) / "model" / "tunechat.json"
    return dict(read_json(path)) if path.is_file() else {"kind": "full"}


def stored_dtype(base_name: str, remote: bool) -> str | None:
    """The dtype the base model's checkpoint is stored in (its config.json), None when it does not say."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(base_name, trust_remote_code=remote)
    except OSError:
        return None
    value = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    name = str(value).removeprefix("torch.") if value is not None else ""
    return name if name in DTYPES else None


def merge_dtype(run_dir: Path, base_name: str, remote: bool) -> tuple[str, str]:
    """The dtype to merge and save in, and why: the base checkpoint's own precision, so a run that trained in bf16
    only for speed (a CPU with bf16 instructions, an fp32 base) keeps the precision the adapter was checked in;
    without it, the dtype the run trained in."""
    trained = trained_dtype(run_dir)
    stored = stored_dtype(base_name, remote)
    if stored is None:
        return trained, f"in {trained}, the dtype it trained in"
    if stored == trained:
        return stored, f"in {stored}, the dtype it trained in and the base model's own"
    return stored, f"in {stored}, the base model's own precision (training ran in {trained})"


def merge_adapter(source: ExportSource, out_dir: Path, progress: Progress) -> list[str]:
    """Load the base model (merge_dtype), put the adapter on it, merge, and save the plain model."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    from trainer.tasks.causal_lm.stops import save_generation_config

    folder = source.run_dir / "model"
    info = model_info(source.run_dir)
    remote = bool(source.config.get("trust_remote_code", False))
    base_name = str(info.get("base_model") or source.config.get("model") or "")
    if not base_name:
        raise UserError(f"Run {source.run_id}'s adapter does not name its base model; train the run again to merge it.")
    dtype, why = merge_dtype(source.run_dir, base_name, remote)
    progress(f"loading the base model {base_name} in {dtype}")
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=remote)
    try:
        base = AutoModelForCausalLM.from_pretrained(
            base_name, use_safetensors=True, dtype=getattr(torch, dtype), trust_remote_code=remote
        )
    except OSError as error:
        raise UserError(
            f"The base model {base_name} of run {source.run_id} could not be loaded ({error}); make it available "
            "again (the folder or the hub id the run trained from), then export again."
        ) from error
    if base.get_input_embeddings().num_embeddings != len(tokenizer):
        base.resize_token_embeddings(len(tokenizer))
    progress("merging the LoRA adapter into the base weights")
    merged = PeftModel.from_pretrained(base, folder).merge_and_unload()
    if (folder / "generation_config.json").is_file():
        merged.generation_config = GenerationConfig.from_pretrained(folder)
    progress("saving safetensors, tokenizer and chat template")
    merged.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    save_generation_config(merged, tokenizer, out_dir)
    notes = [f"LoRA adapter merged into {base_name} {why}."]
    if source.config.get("method") == "qlora":
        notes.append(
            f"QLoRA: the 4-bit base was merged de-quantised, in {dtype}; the merged weights are that precision."
        )
    return notes


def copy_model(source: ExportSource, out_dir: Path, progress: Progress) -> list[str]:
    """A full or frozen-layers run: its model/ folder as it is (safetensors, tokenizer, generation config)."""
    folder = source.run_dir / "model"
    progress(f"copying run {source.run_id}'s model as it trained")
    for path in sorted(folder.iterdir()):
        if path.name in TUNECHAT_ONLY or path.name.startswith("."):
            continue
        if path.suffix in UNSAFE_SUFFIXES:
            raise UserError(
                f"Run {source.run_id}'s model has {path.name}, which is not safetensors; only safetensors are "
                "exported, so train the run again with this version of tunechat."
            )
        target = out_dir / path.name
        if path.is_dir():
            shutil.copytree(path, target)
        else:
            shutil.copy2(path, target)
    return [f"The {source.config.get('method') or 'full'} run's weights, copied as they trained."]


def stop_tokens(out_dir: Path) -> list[str]:
    """The end-of-turn tokens the written generation config names, as text (for the README)."""
    config = read_json(out_dir / "generation_config.json") if (out_dir / "generation_config.json").is_file() else {}
    ids = config.get("eos_token_id")
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    tokenizer = read_json(out_dir / "tokenizer.json") if (out_dir / "tokenizer.json").is_file() else {}
    names = {int(item["id"]): str(item["content"]) for item in tokenizer.get("added_tokens", []) if "id" in item}
    return [names.get(int(token), str(token)) for token in ids]


def readme(source: ExportSource, out_dir: Path) -> str:
    stops = ", ".join(f"`{token}`" for token in stop_tokens(out_dir)) or "the tokenizer's EOS"
    return f"""# Run {source.run_id}, merged

{source.task.title.capitalize()} of `{source.config.get("model")}` ({source.config.get("method") or "full"}), \
written by tunechat as a plain Hugging Face model: safetensors weights, the tokenizer with its chat template, and
`generation_config.json` with every token that ends a turn ({stops}).

```python
from transformers import AutoModelForCausalLM, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")
model = AutoModelForCausalLM.from_pretrained("path/to/this/folder")
prompt = tokenizer.apply_chat_template([{{"role": "user", "content": "Hello!"}}], add_generation_prompt=True,
                                       return_tensors="pt", return_dict=True)
print(tokenizer.decode(model.generate(**prompt, max_new_tokens=64)[0], skip_special_tokens=True))
```

vLLM: `vllm serve path/to/this/folder`; TGI: `--model-id path/to/this/folder`. Both read the chat template and
the stop tokens from these files. `manifest.json` lists every file with its sha256 and the parity check: the
same held-out prompts answered by the run as it trained and by this folder, token for token.
"""


class MergedFormat:
    name = "merged"
    summary = "the model as one plain Hugging Face folder (LoRA merged in): transformers, vLLM, TGI"

    def refusal(self, source: ExportSource) -> str | None:
        if self.name in source.task.exports:
            return None
        offered = ", ".join(source.task.exports) or "none"
        return (
            f"{source.task.title.capitalize()} runs have no merged-weights export; export run {source.run_id} as "
            f"one of: {offered}."
        )

    def write(self, source: ExportSource, out_dir: Path, options: ExportOptions, progress: Progress) -> Written:
        adapter = model_info(source.run_dir).get("kind") == "adapter"
        notes = merge_adapter(source, out_dir, progress) if adapter else copy_model(source, out_dir, progress)
        atomic_write_text(out_dir / "README.md", readme(source, out_dir))
        size = sum(path.stat().st_size for path in out_dir.glob("*.safetensors"))
        notes.append(f"{size / 1e6:.1f} MB of safetensors; stop tokens: {', '.join(stop_tokens(out_dir)) or 'EOS'}.")
        return Written(
            notes=notes,
            commands=[f"vllm serve {out_dir}", f"text-generation-launcher --model-id {out_dir}"],
            facts={"merged_adapter": adapter, "stop_tokens": stop_tokens(out_dir)},
        )

    def parity(self, source: ExportSource, out_dir: Path, options: ExportOptions) -> ParityReport | None:
        from trainer.export.chat_forms import folder_parity

        return folder_parity(source, out_dir, "merged model (transformers)", options)


FORMAT = MergedFormat()
