"""Audio classification through the real path: the spoken digits, held-out voices, the offline Whisper-base.

A fresh temporary workspace; the data folder zipped as a user would upload it; `tunechat train --data ZIP --json`
(plan with the offline defaults, a worker process, evaluation on the test split, whose voices the training never
heard); then `tunechat serve RUN` and one WAV posted to /predict. Prints the training examples/s, the wall time
of the whole command and of training alone, the held-out-voice macro-F1, and the machine's load average (2 cores
shared with other work make every figure slower). The goal (macro-F1 >= 0.9 in under 10 minutes) is measured,
not asserted.

    python benchmarks/audio_classification.py                      # ../shared/datasets/spoken_digits
    python benchmarks/audio_classification.py --data FOLDER_OR_ZIP --keep
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "spoken_digits"
GOAL_F1, GOAL_SECONDS = 0.9, 600.0


def zipped(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for file in sorted(folder.rglob("*")):
            archive.write(file, file.relative_to(folder.parent).as_posix())
    return target


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def predict(url: str, wav: Path, timeout_s: float = 180.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=5) as response:
                if json.load(response).get("status") == "ok":
                    break
        except OSError:
            time.sleep(1)
    request = urllib.request.Request(
        url + "/predict", data=wav.read_bytes(), headers={"Content-Type": "audio/wav"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer: list[dict[str, object]] = json.load(response)
    return answer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a folder of class folders, or its zip")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspace and print where it is")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="tunechat-audio-bench-"))
    env = {**os.environ, "TUNECHAT_HOME": str(home), "PYTHONPATH": str(ROOT)}
    data = args.data if args.data.is_file() else zipped(args.data, home / f"{args.data.name}.zip")
    load_before = os.getloadavg()
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "ui.cli", "train", "--data", str(data), "--json"],
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.monotonic() - started
    load_after = os.getloadavg()
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        return 1
    result = json.loads(done.stdout.strip().splitlines()[-1])
    run_id = int(result["run_id"])
    evaluation = json.loads((home / "runs" / f"run-{run_id}" / "evaluation.json").read_text())
    config = json.loads((home / "runs" / f"run-{run_id}" / "config.json").read_text())

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "serve", str(run_id), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        test_file = json.loads((home / "runs" / f"run-{run_id}" / "splits" / "test.jsonl").read_text().splitlines()[0])
        unpacked = next((home / "prepared").glob("media-*"))
        answer = predict(f"http://127.0.0.1:{port}", unpacked / test_file["file"])
    finally:
        server.terminate()
        server.wait(timeout=30)

    print(f"data: {data.name}, {evaluation['train_size']} training / {evaluation['test_size']} test clips")
    print(f"plan: {config['model']}, freeze_layers {config['freeze_layers']}, {config['epochs']} epochs, "
          f"clip {config['clip_seconds']} s, split by voice: {config['group_split']}")  # fmt: skip
    print(f"training examples/s: {evaluation['examples_per_second']}")
    print(f"training time: {evaluation['train_seconds']:.0f} s; whole `tunechat train` wall time: {wall:.0f} s")
    print(f"held-out-voice accuracy {evaluation['accuracy']:.3f}, macro-F1 {evaluation['macro_f1']:.3f}")
    print(f"/predict on '{test_file['file']}' (true: {test_file['label']}): {answer[0]}")
    print(f"load average before / after: {load_before[0]:.1f} / {load_after[0]:.1f} on {os.cpu_count()} cores")
    met = evaluation["macro_f1"] >= GOAL_F1 and wall < GOAL_SECONDS
    print(f"goal (macro-F1 >= {GOAL_F1} in under {GOAL_SECONDS / 60:.0f} min): {'met' if met else 'NOT met'}")
    if args.keep:
        print(f"workspace kept: {home}")
    else:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
