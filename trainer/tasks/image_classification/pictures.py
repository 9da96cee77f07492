"""Images with PIL and numpy only: decode safely, turn into normalised tensors, augment for training.

Decoding refuses an image whose header promises more pixels than MAX_PIXELS before a byte of it is
decompressed (a small PNG can claim 20,000 x 20,000 pixels and take gigabytes), reads the first frame of an
animation, and turns every mode (palette, grey, 16-bit, CMYK, with or without transparency) into RGB.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from trainer.core.errors import UserError

# Larger images are refused unread: 50 megapixels is a 8,000 x 6,000 photo, far beyond what a classifier uses.
MAX_PIXELS = 50_000_000
# Decoded images are kept at most this many pixels a side (JPEGs decode straight to about this size).
KEEP_SIDE = 1024
# Random resized crop: the share of the image area a training crop keeps, and its aspect ratio range.
CROP_SCALE = (0.6, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)


@dataclass(frozen=True)
class Picture:
    """A decoded image in RGB, with the size and mode the file had."""

    image: Image.Image
    size: tuple[int, int]
    mode: str
    format: str

    @property
    def nbytes(self) -> int:
        return self.image.width * self.image.height * 3

    def shrunk(self, short_side: int) -> Picture:
        """The same picture with its shorter side at most `short_side` pixels (training needs no more)."""
        if min(self.image.size) <= short_side:
            return self
        scale = short_side / min(self.image.size)
        size = (max(1, round(self.image.width * scale)), max(1, round(self.image.height * scale)))
        return Picture(self.image.resize(size, Image.Resampling.BILINEAR), self.size, self.mode, self.format)


def decode(data: bytes, name: str) -> Picture:
    """The image in `data` (first frame of an animation); UserError with one sentence naming `name` otherwise."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise UserError(
                    f"'{name}' is {width:,} x {height:,} pixels, over the {MAX_PIXELS // 1_000_000}-megapixel limit "
                    "(a guard against decompression bombs)."
                )
            image.seek(0)
            mode, kind = image.mode, image.format or "?"
            if kind == "JPEG":
                image.draft("RGB", (KEEP_SIDE, KEEP_SIDE))
            image.load()
    except UserError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        found = re.search(r"\((\d+) pixels\)", str(error))
        claimed = f"{int(found.group(1)):,} pixels" if found else "more pixels than tunechat decodes"
        raise UserError(
            f"'{name}' claims {claimed}, over the {MAX_PIXELS // 1_000_000}-megapixel limit (a guard against "
            "decompression bombs)."
        ) from None
    except UnidentifiedImageError:
        raise UserError(f"'{name}' is not an image tunechat can read (PNG, JPEG, WebP, BMP or GIF).") from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        reason = str(error).strip().splitlines()[0][:80] if str(error).strip() else type(error).__name__
        raise UserError(f"'{name}' is a damaged image ({reason}).") from None
    upright: Image.Image = image
    try:
        upright = ImageOps.exif_transpose(image) or image  # phone photos are stored sideways with a rotation tag
    except (OSError, ValueError, SyntaxError, TypeError):
        pass  # an unreadable rotation tag: the pixels as stored
    rgb = to_rgb(upright)
    if max(rgb.size) > KEEP_SIDE:
        rgb.thumbnail((KEEP_SIDE, KEEP_SIDE), Image.Resampling.BILINEAR)
    return Picture(rgb, (width, height), mode, kind)


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB whatever the mode; transparent parts become white, 16-bit and float greys are scaled to 8 bits."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float32)
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) / (high - low) * 255 if high > low else np.zeros_like(values)
        return Image.fromarray(scaled.astype(np.uint8), "L").convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _normalise(image: Image.Image, mean: Any, std: Any) -> np.ndarray:
    array = np.asarray(image, dtype=np.float32) / 255.0
    return ((array - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)).transpose(2, 0, 1)


def eval_view(image: Image.Image, size: int) -> Image.Image:
    """Resize the shorter side to `size` and cut the centre square."""
    width, height = image.size
    side = min(width, height)
    box = ((width - side) / 2, (height - side) / 2, (width + side) / 2, (height + side) / 2)
    return image.resize((size, size), Image.Resampling.BILINEAR, box=box)


def train_view(image: Image.Image, size: int, rng: np.random.Generator, flip: bool) -> Image.Image:
    """A random resized crop (60-100% of the area, aspect 3:4 to 4:3), mirrored half the time when `flip`."""
    width, height = image.size
    area = width * height
    box = (0.0, 0.0, float(width), float(height))
    for _ in range(10):
        target = area * rng.uniform(*CROP_SCALE)
        ratio = float(np.exp(rng.uniform(np.log(CROP_RATIO[0]), np.log(CROP_RATIO[1]))))
        w, h = (target * ratio) ** 0.5, (target / ratio) ** 0.5
        if w <= width and h <= height:
            left, top = rng.uniform(0, width - w), rng.uniform(0, height - h)
            box = (left, top, left + w, top + h)
            break
    view = image.resize((size, size), Image.Resampling.BILINEAR, box=box)
    return ImageOps.mirror(view) if flip and rng.random() < 0.5 else view


def pixel_batch(
    pictures: list[Picture],
    size: int,
    mean: Any,
    std: Any,
    *,
    train: bool = False,
    augment: bool = True,
    flip: bool = False,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """(batch, 3, size, size) float32, normalised; training views are augmented when `augment`."""
    rng = rng or np.random.default_rng(0)
    views = [train_view(p.image, size, rng, flip) if train and augment else eval_view(p.image, size) for p in pictures]
    return np.stack([_normalise(view, mean, std) for view in views])


def thumbnail(picture: Picture, size: int) -> Image.Image:
    copy = picture.image.copy()
    copy.thumbnail((size, size), Image.Resampling.BILINEAR)
    if max(copy.size) < size // 2:  # tiny images (digits) are enlarged so they can be seen
        scale = size // max(copy.size)
        copy = copy.resize((copy.width * scale, copy.height * scale), Image.Resampling.NEAREST)
    return copy
