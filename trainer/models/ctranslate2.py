"""Reading a CTranslate2 `model.bin` without CTranslate2: the variables it holds, as numpy arrays.

The format is what `ctranslate2/specs/model_spec.py` (`ModelSpec._serialize`) writes, all little-endian:
    u32 binary version, string spec name, u32 spec revision, u32 variable count, then per variable:
        string name, u8 rank, u32 × rank shape, u8 dtype id, u32 byte count, the raw bytes;
    u32 alias count, then per alias: string alias, string variable name.
A string is a u16 length counting a trailing NUL, then the UTF-8 bytes and the NUL. Arrays are memory-mapped,
so reading a 145 MB model does not copy it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# CTranslate2's dtype ids, in the order of `_dtype_to_type_id`; bfloat16 has no numpy type and is read as its
# 16 raw bits (uint16), which `as_float32` widens.
DTYPES: tuple[str, ...] = ("float32", "int8", "int16", "int32", "float16", "bfloat16")
# Versions whose layout is the one above (older ones lack the byte count or spell strings differently).
SUPPORTED_VERSIONS = range(5, 7)


class FormatError(ValueError):
    """The file is not a CTranslate2 model this reader understands."""


@dataclass(frozen=True)
class Model:
    spec: str
    revision: int
    variables: dict[str, np.ndarray]
    # CTranslate2 dtype name of each variable (bfloat16 arrays are stored as uint16).
    dtypes: dict[str, str]
    aliases: dict[str, str]

    def get(self, name: str) -> np.ndarray:
        return self.variables[self.aliases.get(name, name)]

    def as_float32(self, name: str) -> np.ndarray:
        array = self.get(name)
        if self.dtypes[self.aliases.get(name, name)] == "bfloat16":
            return (array.astype(np.uint32) << 16).view(np.float32)
        return array.astype(np.float32)


def read(path: Path) -> Model:
    """Every variable of a CTranslate2 model.bin (memory-mapped)."""
    data = np.memmap(path, dtype=np.uint8, mode="r")
    reader = _Reader(data)
    version = reader.unpack("I")
    if version not in SUPPORTED_VERSIONS:
        raise FormatError(f"binary version {version} is not one of {list(SUPPORTED_VERSIONS)}")
    spec = reader.string()
    revision = reader.unpack("I")
    variables: dict[str, np.ndarray] = {}
    dtypes: dict[str, str] = {}
    for _ in range(reader.unpack("I")):
        name = reader.string()
        rank = reader.unpack("B")
        shape = tuple(reader.unpack("I") for _ in range(rank))
        type_id = reader.unpack("B")
        if type_id >= len(DTYPES):
            raise FormatError(f"variable {name} has unknown dtype id {type_id}")
        dtype = DTYPES[type_id]
        size = reader.unpack("I")
        numpy_dtype = np.dtype("uint16" if dtype == "bfloat16" else dtype)
        if size != numpy_dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
            raise FormatError(f"variable {name} has {size} bytes, which does not fit shape {shape} of {dtype}")
        variables[name] = reader.take(size).view(numpy_dtype).reshape(shape)
        dtypes[name] = dtype
    aliases = {}
    for _ in range(reader.unpack("I")):
        alias = reader.string()
        aliases[alias] = reader.string()
    return Model(spec, revision, variables, dtypes, aliases)


class _Reader:
    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.offset = 0

    def take(self, size: int) -> np.ndarray:
        if self.offset + size > len(self.data):
            raise FormatError(f"the file ends after {len(self.data)} bytes, inside a record")
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def unpack(self, fmt: str) -> int:
        value: int = struct.unpack("<" + fmt, self.take(struct.calcsize(fmt)).tobytes())[0]
        return value

    def string(self) -> str:
        raw = self.take(self.unpack("H")).tobytes()
        if not raw.endswith(b"\0"):
            raise FormatError("a string is not NUL-terminated")
        return raw[:-1].decode("utf-8")


def write(path: Path, spec: str, revision: int, variables: dict[str, np.ndarray], version: int = 6) -> None:
    """Write variables in the same format (for tests and tools that build a small model file)."""

    def string(text: str) -> bytes:
        raw = text.encode("utf-8") + b"\0"
        return struct.pack("<H", len(raw)) + raw

    with open(path, "wb") as out:
        out.write(struct.pack("<I", version) + string(spec) + struct.pack("<I", revision))
        out.write(struct.pack("<I", len(variables)))
        for name, array in variables.items():
            array = np.asarray(array).copy(order="C")  # ascontiguousarray would make a scalar 1-d
            out.write(string(name) + struct.pack("<B", array.ndim))
            out.write(b"".join(struct.pack("<I", dim) for dim in array.shape))
            out.write(struct.pack("<B", DTYPES.index(array.dtype.name)) + struct.pack("<I", array.nbytes))
            out.write(array.tobytes())
        out.write(struct.pack("<I", 0))
