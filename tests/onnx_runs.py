"""Finished classifier and regression runs as the export tests read them, made quickly: a run folder with model/,
config.json and its test split, and the ExportSource a format is handed. conftest's `export_runs` fixture hands
the tests an ExportRuns, which makes each run (and the text run's ONNX export) once, when first asked."""

from __future__ import annotations

import json
import shutil
from functools import cached_property
from pathlib import Path
from typing import Any

from toy_data import make_reviews

from trainer.core.fileio import read_json
from trainer.core.workspace import run_id_from_dir
from trainer.export.base import ExportSource
from trainer.plan.config import RunConfig
from trainer.tasks.registry import task_of


def source_of(run_dir: Path) -> ExportSource:
    config = read_json(run_dir / "config.json")
    return ExportSource(run_id_from_dir(run_dir) or 0, run_dir, config, task_of(config))


def write_split(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    (run_dir / "splits").mkdir(parents=True, exist_ok=True)
    (run_dir / "splits" / "test.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def text_run(run_dir: Path, model: Path, pairs: bool = False, examples: int = 10) -> Path:
    """A finished text-classification run whose model is `model` (a fine-tuned classifier folder); its test split
    holds `examples` reviews (each with a second review as its pair, for a pair run)."""
    shutil.copytree(model, run_dir / "model")
    settings = {"text_pair_column": "second"} if pairs else {}
    RunConfig(task="text-classification", max_length=32, **settings).save(run_dir / "config.json")
    reviews = make_reviews(examples * 2, seed=5)
    rows = [
        {"text": text, **({"text_pair": reviews[-1 - i][0]} if pairs else {}), "label": label}
        for i, (text, label) in enumerate(reviews[:examples])
    ]
    write_split(run_dir, rows)
    return run_dir


def regression_run(run_dir: Path, base: Path) -> Path:
    """A finished text-regression run: `base` with a one-number head on a target of mean 12 and deviation 1.5."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=1, problem_type="regression", use_safetensors=True, ignore_mismatched_sizes=True
    )
    model.config.target_mean, model.config.target_std, model.config.target_name = 12.0, 1.5, "score"
    model.save_pretrained(run_dir / "model")
    AutoTokenizer.from_pretrained(base).save_pretrained(run_dir / "model")
    RunConfig(task="text-regression", max_length=32, label_column="score").save(run_dir / "config.json")
    write_split(run_dir, [{"text": text, "label": float(i)} for i, (text, _) in enumerate(make_reviews(8, seed=9))])
    return run_dir


def media_run(home: Path, task: Any, upload: Path, settings: dict[str, Any]) -> Path:
    """Run 1 of a workspace of its own at `home`, on `upload` (a zip of class folders): its base model with a new
    head saved by the run's own MediaModel.save and every third file as its test split, as a finished run leaves
    them (parity compares two forms of one model, so its weights need no training)."""
    from trainer.core.workspace import Workspace
    from trainer.plan.config import resolve_config
    from trainer.tasks.media.examples import load_media

    workspace = Workspace(home)
    workspace.create()
    data = Path(shutil.copy2(upload, workspace.uploads / upload.name))
    config = resolve_config({"data": upload.name, "task": task.name, **settings})
    run_dir = workspace.run_dir(1)
    run_dir.mkdir(parents=True)
    config.save(run_dir / "config.json")
    media = load_media(data, task.modality, workspace.root)
    task.modality.load_model(config, media.labels).save(_made(run_dir / "model"))
    write_split(run_dir, [{"file": example.name, "label": example.label} for example in media.examples[::3]])
    return run_dir


def _made(folder: Path) -> Path:
    folder.mkdir(parents=True)
    return folder


class ExportRuns:
    """The runs of one test module, each made on first use from the session's tiny models."""

    def __init__(self, request: Any):
        self.request = request
        self.made: Any = request.getfixturevalue("tmp_path_factory")

    @cached_property
    def text(self) -> tuple[Path, Path]:
        """Run 4, trained_model as a finished text classifier with ten held-out reviews, and its ONNX export."""
        from trainer.export.base import ExportOptions
        from trainer.export.onnx import FORMAT

        run_dir = text_run(self.made.mktemp("runs") / "run-4", self.request.getfixturevalue("trained_model"))
        out = _made(self.made.mktemp("export") / "onnx")
        FORMAT.write(source_of(run_dir), out, ExportOptions(), lambda line: None)
        return run_dir, out

    @cached_property
    def image(self) -> Path:
        """A tiny random EfficientNet-Lite with a warm/cool head for 32 px images, on a zip of colour images."""
        from toy_images import tiny_efficientnet, write_class_folders, zip_folder

        from trainer.tasks.image_classification.task import TASK as IMAGES

        upload = self.made.mktemp("upload")
        archive = zip_folder(write_class_folders(upload / "colours", per_class=6), upload / "colours.zip")
        lite = tiny_efficientnet(self.made.mktemp("tiny-lite") / "lite")
        return media_run(self.made.mktemp("image-home"), IMAGES, archive, {"model": str(lite), "image_size": 32})

    @cached_property
    def audio(self) -> Path:
        """tiny_whisper with a low/high tone head for 0.5 s clips, on a zip of tones."""
        from toy_audio import tone_folder, zip_folder

        from trainer.tasks.audio_classification.task import TASK as AUDIO

        upload = self.made.mktemp("upload")
        archive = zip_folder(tone_folder(upload / "tones", per_class=4, voices=2), upload / "tones.zip")
        settings = {"model": str(self.request.getfixturevalue("tiny_whisper")), "clip_seconds": 0.5}
        return media_run(self.made.mktemp("audio-home"), AUDIO, archive, settings)
