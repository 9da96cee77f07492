"""Peak memory and step time of a real SmolLM2-135M-Instruct LoRA step on this CPU, measured against the fit estimate.

A child process (so nothing else this script loaded counts) imports what a tunechat causal-LM worker imports
(torch, transformers, peft, trl), loads the converted model at /root/.tunechat/models/smollm2 in float32, adds
tunechat's default LoRA (r 16, alpha 32, dropout 0.05, all linear layers) and runs AdamW steps on one padding-free
micro batch: the `--batch` chats of alpaca_en_demo.json (the real data set) concatenated into one row with
per-example positions, as tunechat's SFT worker batches them on CPU. It reports the process's peak RSS
(ru_maxrss, which includes loading), the RSS after the imports (the runtime's share) and the time per step
after the first. The parent prints those against trainer.plan.fit's estimate for the same setting, and the CPU
throughput factor the time implies (trainer/plan/fit/speed.py CPU_EFFICIENCY is calibrated from it).

    nice -n 10 python benchmarks/llm_memory.py [--batch 8] [--steps 3] [--model FOLDER]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = Path("/root/.tunechat/models/smollm2")
DATA = ROOT.parent / "shared" / "datasets" / "alpaca_en_demo.json"

STEP = r"""
import json, resource, sys, time

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0

import torch, transformers, peft, trl  # what a causal-LM worker imports
torch.set_num_threads(int(sys.argv[4]))
runtime_mb = rss_mb()
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

folder, data, batch, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[5])
tokenizer = AutoTokenizer.from_pretrained(folder)
model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="sdpa")
loaded_mb = rss_mb()
model = get_peft_model(model, LoraConfig(
    r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM", bias="none"))
rows = json.load(open(data))[:batch]
ids, positions, labels, lengths = [], [], [], []
for row in rows:
    prompt = row["instruction"] + ("\n" + row["input"] if row.get("input") else "")
    chat = [{"role": "user", "content": prompt}, {"role": "assistant", "content": row["output"]}]
    tokens = list(tokenizer.apply_chat_template(chat, tokenize=True, return_dict=True)["input_ids"])[:1024]
    lengths.append(len(tokens))
    ids += tokens
    positions += list(range(len(tokens)))
    labels += [-100] + tokens[1:]
input_ids = torch.tensor([ids])
position_ids = torch.tensor([positions])
target = torch.tensor([labels])
optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
model.train()
times = []
for _ in range(steps):
    start = time.perf_counter()
    loss = model(input_ids=input_ids, position_ids=position_ids, labels=target).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    times.append(time.perf_counter() - start)
print(json.dumps({
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "runtime_mb": runtime_mb, "loaded_mb": loaded_mb, "after_mb": rss_mb(),
    "tokens": len(ids), "lengths": lengths, "step_s": min(times[1:] or times), "threads": torch.get_num_threads(),
}))
"""


def measure(model: Path, batch: int, steps: int, threads: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", STEP, str(model), str(DATA), str(batch), str(threads), str(steps)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--model", type=Path, default=MODEL)
    args = parser.parse_args()
    measured = measure(args.model, args.batch, args.steps, args.threads)
    sys.path.insert(0, str(ROOT))
    from trainer.plan.fit import Setting, architecture_of, estimate_memory, step_flops
    from trainer.tasks.text_classification.plan import machine_gflops

    architecture = architecture_of(str(args.model))
    assert architecture is not None, f"no config.json in {args.model}"
    setting = Setting(
        method="lora",
        dtype="float32",
        device="cpu",
        micro_batch=args.batch,
        tokens=measured["tokens"],
        longest=max(measured["lengths"]),
        gradient_checkpointing=False,
        lora_r=16,
        lora_dropout=0.05,
    )
    estimate = estimate_memory(architecture, setting)
    peak_mb = measured["peak_rss_mb"]
    print(f"uptime: {os.getloadavg()[0]:.2f} (1-min load) on {os.cpu_count()} cores")
    print(f"micro batch: {args.batch} chats, {measured['tokens']} tokens (longest {max(measured['lengths'])})")
    print(
        f"RSS after imports (runtime): {measured['runtime_mb']:.0f} MB; after loading: {measured['loaded_mb']:.0f} MB"
    )
    print("estimate breakdown: " + ", ".join(f"{k} {v / 2**20:.0f} MB" for k, v in estimate.parts.items()))
    error = estimate.peak / 2**20 / peak_mb - 1
    print(f"peak RSS measured {peak_mb:.0f} MB, estimated {estimate.peak / 2**20:.0f} MB ({error:+.1%})")
    gflops = machine_gflops()
    flops = step_flops(architecture, setting)
    achieved = flops / measured["step_s"] / 1e9
    print(f"step time {measured['step_s']:.2f} s: {achieved:.1f} GFLOP/s achieved; matmul probe {gflops:.1f} GFLOP/s")
    print(f"CPU efficiency (achieved / probe): {achieved / gflops:.2f}")


if __name__ == "__main__":
    main()
