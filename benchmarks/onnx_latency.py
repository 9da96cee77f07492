"""A text classifier run exported to ONNX: its size, the parity check, and onnxruntime against PyTorch per batch.

Exports the run (the newest succeeded text-classification run of the workspace unless --run names one) into a
temporary folder with the `onnx` format, runs its parity check on the run's held-out texts, then times the same
batches of held-out texts through the run's own predictor (PyTorch, what `tunechat serve` uses) and through
onnxruntime with the export's tokenizer: the median seconds per batch of each and their ratio, for batch sizes 1,
8 and 32, with the machine's load average (2 cores shared with other work make every figure slower).

    python benchmarks/onnx_latency.py                  # the newest text classifier in ~/.tunechat
    python benchmarks/onnx_latency.py --run 3 --parity 64 --repeats 10 --keep
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def newest_run(workspace: Any) -> int:
    from trainer.core.fileio import read_json
    from trainer.export.onnx import FORMAT
    from trainer.store.registry import Registry
    from trainer.tasks.registry import task_of

    rows = Registry(workspace.db_path).list_runs()
    for row in sorted(rows, key=lambda r: int(r["id"]), reverse=True):
        run_dir = workspace.run_dir(int(row["id"]))
        if row.get("status") == "succeeded" and (run_dir / "config.json").is_file():
            task = task_of(read_json(run_dir / "config.json"))
            if FORMAT.name in task.exports and getattr(task, "modality", None) is None:
                return int(row["id"])
    raise SystemExit("No succeeded text classifier run in the workspace; train one first (tunechat train).")


def median_seconds(call: Callable[[], object], repeats: int) -> float:
    call()  # warm-up: first calls allocate and pick kernels
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=int, help="the run id (default: the newest text classifier)")
    parser.add_argument("--parity", type=int, default=64, help="held-out texts the parity check compares")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the export folder and print where it is")
    parser.add_argument("--threads", type=int, default=0, help="threads for both runtimes (default: their own)")
    args = parser.parse_args()
    from trainer.core.fileio import read_json
    from trainer.core.workspace import Workspace
    from trainer.export.base import ExportOptions, ExportSource
    from trainer.export.held_out import held_out_texts
    from trainer.export.onnx import FORMAT
    from trainer.export.onnx_scores import OnnxScores, TrainedText
    from trainer.tasks.registry import task_of

    workspace = Workspace.from_env()
    run_id = args.run or newest_run(workspace)
    run_dir = workspace.run_dir(run_id)
    config = read_json(run_dir / "config.json")
    source = ExportSource(run_id, run_dir, config, task_of(config))
    refusal = FORMAT.refusal(source)
    if refusal:
        raise SystemExit(refusal)
    out = Path(tempfile.mkdtemp(prefix="onnx-export-"))
    try:
        started = time.perf_counter()
        FORMAT.write(source, out, ExportOptions(), lambda line: print(line, flush=True))
        exported = time.perf_counter() - started
        size = (out / "model.onnx").stat().st_size
        weights = sum(path.stat().st_size for path in (run_dir / "model").glob("*.safetensors"))
        print(f"run {run_id}: model.onnx {size / 1e6:.1f} MB (safetensors {weights / 1e6:.1f} MB), {exported:.0f} s")
        report = FORMAT.parity(source, out, ExportOptions(parity_examples=args.parity))
        assert report is not None
        gap = max((float(row.get("max_gap", 0.0)) for row in report.details), default=0.0)
        print(f"parity: {report.agreed}/{report.checked} agreed, largest probability gap {gap:.2e}; {report.sentence}")

        trained, onnx = TrainedText.from_run(run_dir), OnnxScores.text(out)
        if args.threads:
            import onnxruntime
            import torch

            torch.set_num_threads(args.threads)
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = options.inter_op_num_threads = args.threads
            onnx.graph = onnxruntime.InferenceSession(
                str(out / "model.onnx"), options, providers=["CPUExecutionProvider"]
            )
        print(f"threads: {args.threads or 'each runtime its default'}")
        texts = held_out_texts(run_dir, 32, bool(onnx.settings.get("pairs")))
        print(f"{'batch':>5} {'torch ms':>9} {'onnxruntime ms':>15} {'ratio':>6}")
        for size_of_batch in (1, 8, 32):
            batch = (texts * 32)[:size_of_batch]
            torch_s = median_seconds(lambda batch=batch: trained.scores(batch), args.repeats)
            onnx_s = median_seconds(lambda batch=batch: onnx.scores(batch), args.repeats)
            print(f"{size_of_batch:>5} {torch_s * 1e3:>9.1f} {onnx_s * 1e3:>15.1f} {torch_s / onnx_s:>5.2f}x")
        print(f"load average: {' '.join(f'{value:.2f}' for value in os.getloadavg())} on {os.cpu_count()} cores")
    finally:
        if args.keep:
            print(f"export kept in {out}")
        else:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
