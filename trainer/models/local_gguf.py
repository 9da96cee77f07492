"""A user's own GGUF file as a base model: `--model path/to/model.gguf`, or a folder holding one .gguf.

It is converted once (de-quantised by transformers, see trainer/models/gguf.py) into the workspace's model
cache, `models/gguf-<name>-<key>/`, where the key is taken from the file's path, size and modification time,
so a changed file converts again and the same file never twice. Whether transformers can read the file's
architecture is checked from its header first, which takes milliseconds, so a plan refuses such a file at
once instead of a run failing after loading it.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from trainer.core.errors import UserError
from trainer.models import staging

SUFFIX = ".gguf"
# Architectures transformers names differently in its GGUF tables than llama.cpp writes in the header.
ALIASES = {"qwen2moe": "qwen2_moe", "qwen3moe": "qwen3_moe", "gpt-oss": "gpt_oss", "minimax-m2": "minimax_m2"}
# Readable by transformers, but encoder-decoder models: nothing a chat fine-tune can start from.
NOT_CAUSAL = ("t5", "umt5", "t5encoder")


def gguf_file_of(name_or_path: str) -> Path | None:
    """The GGUF file a model name means: a .gguf file, or the one .gguf in a folder without config.json."""
    path = Path(name_or_path).expanduser()
    if path.is_file() and path.suffix.lower() == SUFFIX:
        return path
    if not path.is_dir() or (path / "config.json").is_file():
        return None
    found = sorted(child for child in path.iterdir() if child.is_file() and child.suffix.lower() == SUFFIX)
    if len(found) > 1:
        names = ", ".join(child.name for child in found[:4]) + (", ..." if len(found) > 4 else "")
        raise UserError(
            f"'{path}' holds {len(found)} GGUF files ({names}); give the path of the one to fine-tune, "
            f"e.g. --model {found[0]}."
        )
    return found[0] if found else None


def cache_folder(gguf: Path, models: Path) -> Path:
    """Where the converted copy of `gguf` lives in the model cache `models` (it may not exist yet)."""
    gguf = gguf.resolve()
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    name = re.sub(r"[^a-z0-9]+", "-", gguf.stem.lower()).strip("-")[:48] or "model"
    return models / f"gguf-{name}-{key}"


def architecture(gguf: Path) -> str:
    """The `general.architecture` written in the file's header (read without loading any tensor)."""
    try:
        with open(gguf, "rb") as handle:
            if handle.read(4) != b"GGUF":
                raise ValueError("no GGUF magic number")
            _version, _tensors, entries = struct.unpack("<IQQ", _exactly(handle, 20))
            for _ in range(entries):
                key = _string(handle)
                kind = struct.unpack("<I", _exactly(handle, 4))[0]
                if key == "general.architecture" and kind == STRING:
                    return _string(handle)
                _skip(handle, kind)
    except (OSError, ValueError, struct.error) as error:
        raise UserError(
            f"'{gguf.name}' is not a readable GGUF file ({error}); check that it was copied whole, or give the "
            "model's Hugging Face id or a safetensors folder instead."
        ) from error
    raise UserError(
        f"'{gguf.name}' does not say its architecture (no general.architecture in its header); give the model's "
        "Hugging Face id or a safetensors folder instead."
    )


STRING, ARRAY = 8, 9
# Byte sizes of GGUF's fixed-size value types, by type number.
SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def _exactly(handle: BinaryIO, count: int) -> bytes:
    data = handle.read(count)
    if len(data) != count:
        raise ValueError("the header ends early")
    return data


def _string(handle: BinaryIO) -> str:
    length = struct.unpack("<Q", _exactly(handle, 8))[0]
    return _exactly(handle, length).decode("utf-8", errors="replace")


def _skip(handle: BinaryIO, kind: int) -> None:
    if kind in SIZES:
        handle.seek(SIZES[kind], 1)
    elif kind == STRING:
        handle.seek(struct.unpack("<Q", _exactly(handle, 8))[0], 1)
    elif kind == ARRAY:
        item, count = struct.unpack("<IQ", _exactly(handle, 12))
        if item in SIZES:
            handle.seek(SIZES[item] * count, 1)
        else:
            for _ in range(count):
                _skip(handle, item)
    else:
        raise ValueError(f"unknown value type {kind}")


def supported_architectures() -> set[str]:
    """The GGUF architectures this transformers de-quantises into a causal language model."""
    from transformers.integrations.ggml import GGUF_CONFIG_MAPPING

    names = set(GGUF_CONFIG_MAPPING) - {"general", "tokenizer", *NOT_CAUSAL}
    try:
        from transformers.integrations.gguf import GGUF_CONFIG_ARCHS

        names |= set(GGUF_CONFIG_ARCHS)
    except ImportError:  # older transformers read only the table above
        pass
    return names


def check_supported(gguf: Path) -> str:
    """The file's architecture; one sentence naming it and what to do when transformers cannot de-quantise it."""
    found = architecture(gguf)
    name = ALIASES.get(found, found)
    if found in NOT_CAUSAL or name in NOT_CAUSAL:
        raise UserError(
            f"'{gguf.name}' is a {found} (encoder-decoder) model, not a causal language model; give a chat "
            "model's GGUF, Hugging Face id or safetensors folder instead."
        )
    known = supported_architectures()
    if name not in known and found not in known:
        raise UserError(
            f"'{gguf.name}' is a GGUF of the '{found}' architecture, which transformers cannot de-quantise "
            f"(it reads {', '.join(sorted(known)[:12])}, ...); give the model's Hugging Face id or a safetensors "
            "folder instead, or convert it with llama.cpp's tools first."
        )
    return found


def first_use_note(gguf: Path, models: Path) -> str | None:
    """What a plan says when the file is not converted yet; raises the one sentence for an unreadable file."""
    check_supported(gguf)
    if (cache_folder(gguf, models) / "config.json").is_file():
        return None
    return (
        f"first use: tunechat will convert '{gguf.name}' once into the workspace's model cache (de-quantised to "
        "float32, so the copy is larger than the file)."
    )


def converted(gguf: Path, models: Path, progress: Callable[[str], None] | None = None) -> Path:
    """The Hugging Face folder of a GGUF file, converted on first use (once, whatever the number of processes)."""
    from trainer.models.gguf import convert_gguf

    target = cache_folder(gguf, models)
    if (target / "config.json").is_file():
        return target
    check_supported(gguf)
    with staging.locked(models, target.name):
        if (target / "config.json").is_file():  # another process converted it while this one waited
            return target
        if target.exists():
            raise UserError(
                f"'{target}' exists but is not a converted model (it has no config.json); move it away and try again."
            )
        if progress:
            progress(f"Converting {gguf.name} to safetensors in {target} (once)")
        retry = f"use --model {gguf} again"
        staging.build(
            target,
            lambda folder: convert_gguf(gguf, folder, retry=retry),
            f"'{gguf.name}'",
            f"check the file, then {retry}",
            retry,
        )
    return target
