"""Memory sizes as torch and the kernel state them: parse, format, and what this machine has free.

Light on purpose (no torch, no transformers): the chat process reads these when it diagnoses a failed run.
"""

from __future__ import annotations

import re
from pathlib import Path

UNITS = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def fmt_bytes(size: float | None) -> str:
    if size is None:
        return "unknown"
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"


def parse_size(text: str) -> int | None:
    """Bytes in "you tried to allocate 123 bytes" (CPU) or "Tried to allocate 2.50 GiB" (CUDA)."""
    match = re.search(r"tried to allocate\s+([\d.]+)\s*(bytes|[KMGT]i?B|B)\b", text, re.IGNORECASE)
    if not match:
        return None
    unit = "B" if match.group(2).lower() == "bytes" else match.group(2).upper()
    return int(float(match.group(1)) * UNITS.get(unit, 1))


def cpu_available_bytes() -> int | None:
    """MemAvailable from /proc/meminfo: what a new process can use without swapping (None off Linux)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
