"""Behind a GPU, a chat run is better served by a server built for GPUs than by tunechat's own (one request at a
time, on the CPU): deploying it hands it over with the exact commands instead of starting a server.

- vLLM: `vllm serve` on the run's merged export when there is one (a plain model folder), on the run's own
  weights for a full fine-tune, or on the base model with the run's LoRA adapter (`--enable-lora --lora-modules
  run-N=ADAPTER`, with the run's chat template and stop tokens, and `--max-lora-rank` when its rank is above
  vLLM's default). An adapter that carries embedding rows (its tokenizer grew) cannot be loaded by vLLM as a
  LoRA: the command merges it first with `tunechat export`.
- Ollama: `ollama create run-N -f .../export/gguf/Modelfile` when the run has a GGUF export.

tunechat never runs these commands; it decides from the detected hardware whether to offer them.
"""

from __future__ import annotations

import json
import shlex
import struct
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from trainer.core.fileio import read_json
from trainer.plan.hardware import Hardware, detect_hardware
from trainer.tasks.causal_lm.served_weights import MERGED_EXPORT, merged_export

GGUF_MODELFILE = Path("export") / "gguf" / "Modelfile"
OLLAMA_URL = "http://127.0.0.1:11434"
# vLLM serves LoRA ranks up to 16 unless told more, and only these maxima.
VLLM_DEFAULT_MAX_LORA_RANK = 16
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
HANDOFF_HOST = "127.0.0.1"  # like every tunechat server: loopback unless the user changes the command


@dataclass(frozen=True)
class Handoff:
    """One server to hand the run to: the command to paste, what it serves and why."""

    tool: str  # "vLLM" or "Ollama"
    command: str
    url: str  # the OpenAI-compatible base URL (ends in /v1)
    model: str  # the model name a client sends
    why: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def machine() -> Hardware:
    """This machine's hardware (tests describe another machine by replacing this function)."""
    return detect_hardware()


def gpu_summary(hardware: Hardware) -> str | None:
    """ "1 GPU (NVIDIA A100, 80 GB)" for a machine whose GPUs can serve, else None."""
    if hardware.num_gpus == 0:
        return None
    first = hardware.gpus[0]
    count = f"{hardware.num_gpus} GPU" + ("s" if hardware.num_gpus > 1 else "")
    return f"{count} ({first.get('name', 'GPU')}, {first.get('memory_gb', '?')} GB)"


def handoffs(run_dir: Path, run_id: int, port: int) -> list[Handoff]:
    """The commands that serve this chat run elsewhere: vLLM always, Ollama when the GGUF export is there."""
    found = [_vllm(Path(run_dir), run_id, port)]
    modelfile = Path(run_dir) / GGUF_MODELFILE
    if modelfile.is_file():
        name = f"run-{run_id}"
        found.append(
            Handoff(
                tool="Ollama",
                command=f"ollama create {name} -f {shlex.quote(str(modelfile))}",
                url=f"{OLLAMA_URL}/v1",
                model=name,
                why="the run's GGUF export with its chat template and stop tokens; then `ollama run "
                f"{name}`, or any OpenAI client on Ollama's own server",
            )
        )
    return found


def _vllm(run_dir: Path, run_id: int, port: int) -> Handoff:
    name = f"run-{run_id}"
    folder = run_dir / "model"
    info = read_json(folder / "tunechat.json") if (folder / "tunechat.json").is_file() else {"kind": "full"}
    config = read_json(run_dir / "config.json") if (run_dir / "config.json").is_file() else {}
    tail = ["--host", HANDOFF_HOST, "--port", str(port)]
    if config.get("trust_remote_code"):
        tail.append("--trust-remote-code")
    merged = merged_export(run_dir)
    if merged is not None:
        command = ["vllm", "serve", str(merged), "--served-model-name", name, *tail]
        why = f"the run's merged export ({MERGED_EXPORT}): a plain model, nothing to add per token"
    elif info.get("kind") != "adapter":
        command = ["vllm", "serve", str(folder), "--served-model-name", name, *tail]
        why = "the run's own weights, with its tokenizer, chat template and stop tokens"
    elif _adapter_has_embeddings(folder):
        serve = ["vllm", "serve", str(run_dir / MERGED_EXPORT), "--served-model-name", name, *tail]
        export = ["tunechat", "export", str(run_id), "--format", "merged"]
        return Handoff(
            tool="vLLM",
            command=f"{shlex.join(export)} && {shlex.join(serve)}",
            url=f"http://{HANDOFF_HOST}:{port}/v1",
            model=name,
            why="the adapter brings new token embeddings (its chat template's markers), which vLLM cannot load as "
            "a LoRA, so the run is merged into one model first",
        )
    else:
        command = ["vllm", "serve", str(info["base_model"]), "--enable-lora", "--lora-modules", f"{name}={folder}"]
        rank = _lora_rank(folder)
        if rank > VLLM_DEFAULT_MAX_LORA_RANK:
            command += ["--max-lora-rank", str(next((r for r in VLLM_LORA_RANKS if r >= rank), rank))]
        if (folder / "chat_template.jinja").is_file():
            command += ["--chat-template", str(folder / "chat_template.jinja")]
        if (folder / "generation_config.json").is_file():
            command += ["--generation-config", str(folder)]  # the run's stop tokens, not only the base model's
        command += tail
        why = "the base model with the run's LoRA adapter applied per request, its chat template and stop tokens"
    return Handoff(
        tool="vLLM", command=shlex.join(command), url=f"http://{HANDOFF_HOST}:{port}/v1", model=name, why=why
    )


def _lora_rank(folder: Path) -> int:
    """The adapter's largest rank (its `r`, or the largest of its rank_pattern)."""
    path = folder / "adapter_config.json"
    config = read_json(path) if path.is_file() else {}
    ranks = [int(config.get("r") or 0), *(int(r) for r in (config.get("rank_pattern") or {}).values())]
    return max(ranks)


def _adapter_has_embeddings(folder: Path) -> bool:
    """True when the adapter saved whole embedding or output-head weights (the tokenizer grew in training)."""
    path = folder / "adapter_model.safetensors"
    if not path.is_file():
        return False
    with open(path, "rb") as file:  # the safetensors header: an 8-byte length, then JSON naming every tensor
        (length,) = struct.unpack("<Q", file.read(8))
        names = json.loads(file.read(length)).keys()
    return any(("embed_tokens" in key or "lm_head" in key) and "lora_" not in key for key in names)


def offer(run: Any, run_dir: Path, port: int) -> dict[str, Any] | None:
    """What deploying a chat run on a machine with a GPU gives instead of a server of ours: the commands, for
    the user to run (nothing starts, so nothing waits for a yes). None for any other run or machine."""
    from trainer.serve import chat
    from trainer.tasks.registry import task_of

    if task_of(run).served_api() is not chat.API:
        return None
    hardware = gpu_summary(machine())
    if hardware is None:
        return None
    run_id = int(run["id"])
    return {
        "run_id": run_id,
        "handoff": [handoff.to_dict() for handoff in handoffs(Path(run_dir), run_id, port)],
        "hardware": hardware,
        "needs_confirmation": False,
        "own_server": f"tunechat serve {run_id} --port {port}",
        "next_step": "Show the user these commands; tunechat does not run them. Its own CPU server stays available "
        "with the own_server command.",
    }
