"""Small images made here with PIL, laid out as users upload them, and tiny image classifiers (random weights).

Two classes a tiny network tells apart in a few steps: "warm" images are mostly red, "cool" ones mostly blue,
each with its own noise, shapes and size, so no two files are the same.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("cool", "warm")


def picture(label: str, index: int, size: int = 24, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(index * 7 + (label == "warm"))
    base = np.array([200, 40, 40] if label == "warm" else [40, 60, 200], dtype=np.float32)
    pixels = base + rng.normal(0, 30, (size, size, 3))
    top, left = rng.integers(0, size // 2, 2)
    pixels[top : top + size // 3, left : left + size // 3] = rng.integers(0, 255, 3)  # a square of another colour
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    return image.convert(mode)


def encoded(image: Image.Image, kind: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kind)
    return buffer.getvalue()


def write_class_folders(root: Path, per_class: int = 16) -> Path:
    """root/<class>/<n>.<ext>: PNG, JPEG, WebP, BMP and GIF files, colour and grey."""
    kinds = [("PNG", ".png", "RGB"), ("JPEG", ".jpg", "RGB"), ("WEBP", ".webp", "RGB"), ("BMP", ".bmp", "L"),
             ("GIF", ".gif", "P")]  # fmt: skip
    for label in CLASSES:
        (root / label).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            kind, suffix, mode = kinds[index % len(kinds)]
            image = picture(label, index, size=20 + index % 3 * 4)
            image = image.convert(mode) if mode != "P" else image.quantize(64)
            (root / label / f"{label}-{index:02d}{suffix}").write_bytes(encoded(image, kind))
    return root


def zip_folder(folder: Path, target: Path, extra: dict[str, bytes] | None = None) -> Path:
    """A zip of `folder` with its name as the top-level folder (as zipping a folder makes it), plus `extra`."""
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(folder.rglob("*")):
            name = f"{folder.name}/{path.relative_to(folder).as_posix()}"
            if path.is_dir():
                archive.writestr(name + "/", b"")
            else:
                archive.write(path, name)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return target


def bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A small PNG whose header claims width x height pixels: its header is all a decoder needs to refuse it."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = zlib.compress(b"\x00" * (width + 1) * 16)  # a few rows only; the decoder is never meant to get there
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def tiny_efficientnet(folder: Path) -> Path:
    """An EfficientNet-Lite of two small stages with random weights, saved as tunechat's catalog converter does."""
    import torch

    from trainer.models import efficientnet_lite0 as lite

    torch.manual_seed(0)
    config = lite.lite0_config(stages=[[1, 3, 1, 1, 8], [2, 3, 2, 3, 16]], stem_channels=8, head_channels=32)
    lite.save_folder(lite.EfficientNetLite(config), folder)
    return folder


def tiny_vit(folder: Path) -> Path:
    """A 2-layer ViT image classifier (hidden size 32, 32 x 32 inputs) with random weights, as safetensors."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(0)
    config = ViTConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32, patch_size=8
    )
    ViTForImageClassification(config).save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({"image_mean": [0.5] * 3, "image_std": [0.5] * 3}))
    return folder
