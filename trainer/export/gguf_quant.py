"""llama.cpp's quantiser (k-quants such as q4_k_m), run in a child process through llama-cpp-python's low-level API,
and what a GGUF file's tensors turned out to be.

Run as `python -m trainer.export.gguf_quant SOURCE.gguf TARGET.gguf q4_k_m`: a crash inside llama.cpp ends only
that process, and llama.cpp's log lines stay in its captured output.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

from trainer.core.errors import UserError

# The quantisations this quantiser writes, by the name users give them (llama.cpp's own names).
FTYPES = {
    "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
    "q5_k_m": "LLAMA_FTYPE_MOSTLY_Q5_K_M",
    "q6_k": "LLAMA_FTYPE_MOSTLY_Q6_K",
}
# The tensor type each one is named after (a tensor whose rows do not fit its blocks falls back to another type).
MAIN_TYPE = {"q4_k_m": "Q4_K", "q5_k_m": "Q5_K", "q6_k": "Q6_K"}
QUANTISE_TIMEOUT = 3600


def quantise(source: Path, target: Path, kind: str) -> None:
    """Quantise the f16 GGUF `source` into `target`; UserError with llama.cpp's reason when it refuses."""
    command = [sys.executable, "-m", "trainer.export.gguf_quant", str(source), str(target), kind]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=QUANTISE_TIMEOUT)
    except subprocess.TimeoutExpired as error:
        raise UserError(f"llama.cpp's quantiser took over {QUANTISE_TIMEOUT // 60} minutes for {kind}.") from error
    if done.returncode != 0 or not target.is_file():
        lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        reason = next((line for line in reversed(lines) if "error" in line.lower() or "fail" in line.lower()), "")
        target.unlink(missing_ok=True)
        raise UserError(f"llama.cpp's quantiser refused {kind} ({(reason or 'no reason given')[:300]}).")


def tensor_types(path: Path) -> Counter[str]:
    """How many of the file's 2-D weight tensors each tensor type holds ("Q4_K": 12, "Q5_0": 2)."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))
    return Counter(tensor.tensor_type.name for tensor in reader.tensors if len(tensor.shape) > 1)


def fallback_note(path: Path, kind: str) -> str | None:
    """A sentence when llama.cpp stored some of a k-quant's tensors in another type because their rows do not
    fit its 256-value blocks (a small model); None when every weight is in the types the name promises."""
    counts = tensor_types(path)
    main = MAIN_TYPE.get(kind)
    if main is None or not counts:
        return None
    if counts.get(main, 0) == 0:
        shown = ", ".join(f"{count} {name}" for name, count in counts.most_common())
        return (
            f"{kind}: no weight is in {main}, since this model's rows are too short for its 256-value blocks; "
            f"llama.cpp stored them as {shown} instead, so this file is not really {kind}."
        )
    others = {name: count for name, count in counts.items() if name not in (main, "Q6_K", "Q8_0", "F16", "F32")}
    if others:
        shown = ", ".join(f"{count} fell back to {name}" for name, count in others.items())
        total = sum(counts.values())
        return (
            f"{kind}: {counts[main]} of {total} weight tensors are {main}; {shown}, as their rows do not "
            "fit 256-value blocks (the file is larger and closer to the trained model than a true q4_k_m)."
        )
    return None


def _main(argv: list[str]) -> int:
    import ctypes

    import llama_cpp

    source, target, kind = argv
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, FTYPES[kind])
    params.nthread = 2
    status = llama_cpp.llama_model_quantize(source.encode(), target.encode(), ctypes.byref(params))
    if status != 0:
        print(f"error: llama_model_quantize returned {status}", file=sys.stderr)
    return 0 if status == 0 else 1


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
