"""The `onnx` export: a classifier (text, text pairs, image, sound) or text regressor as one ONNX graph with what runs
it (tokenizer or preprocessing, labels, a README), checked in onnxruntime against the trained model.

The graph is the run's model/ as trained, in fp32: text graphs take the tokenizer's inputs with any batch size and
length, image and audio graphs the pixels or features the run's preprocessing makes, with any batch size. It
outputs `logits` (a classifier) or `value` (a regressor, in the target's units).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.core.errors import UserError
from trainer.export.base import ExportOptions, ExportSource, Progress, Written
from trainer.export.parity import FP32_TOLERANCE

if TYPE_CHECKING:
    from trainer.export.onnx_inputs import Inputs
    from trainer.export.parity import ParityReport

# Probabilities of the export and the trained model may differ by this much (both run in fp32).
TOLERANCE = FP32_TOLERANCE


def _modality(source: ExportSource) -> Any:
    """The media modality of an image or audio task (the task says), None for a text task."""
    from trainer.tasks.media.modality import Modality

    found = getattr(source.task, "modality", None)
    return found if isinstance(found, Modality) else None


def _run(source: ExportSource) -> str:
    return f"Run {source.run_id}"


class OnnxFormat:
    name = "onnx"
    summary = "one ONNX graph of a classifier or regressor, with its tokenizer or preprocessing, for onnxruntime"

    def refusal(self, source: ExportSource) -> str | None:
        if self.name not in source.task.exports:
            others = " or ".join(f"'{name}'" for name in source.task.exports) or "no other format"
            return (
                f"{_run(source)} is a {source.task.title} run, and ONNX export is for classifiers and regressors; "
                f"export it as {others} instead."
            )
        if not (source.run_dir / "model" / "config.json").is_file():
            return f"{_run(source)} has no trained model; wait until it succeeds, then export it."
        return None

    def write(self, source: ExportSource, out_dir: Path, options: ExportOptions, progress: Progress) -> Written:
        _require_packages()
        out_dir = Path(out_dir)
        modality = _modality(source)
        progress("exporting the model to ONNX with torch.onnx")
        if modality is None:
            settings = _write_text(source, out_dir)
        else:
            settings = _write_media(source, modality, out_dir)
        from trainer.export.onnx_readme import readme

        (out_dir / "README.md").write_text(readme(settings, source.run_id, source.task.title), encoding="utf-8")
        size = settings["bytes"] / 1e6
        return Written(
            notes=[f"model.onnx: {size:.1f} MB, opset {settings['opset']}, fp32; inputs {_input_names(settings)}"],
            commands=[
                "python -c \"import onnxruntime as ort; s = ort.InferenceSession('model.onnx'); "
                'print([(i.name, i.shape) for i in s.get_inputs()])"'
            ],
            facts={key: settings[key] for key in ("input", "output", "opset", "inputs", "bytes")},
        )

    def parity(self, source: ExportSource, out_dir: Path, options: ExportOptions) -> ParityReport | None:
        from trainer.export.held_out import held_out_files, held_out_texts
        from trainer.export.onnx_scores import OnnxScores, TrainedText
        from trainer.export.parity import compare_scores
        from trainer.tasks.media.serve import Classifier

        _require_packages()
        limit = options.parity_examples
        modality = _modality(source)
        trained: TrainedText | Classifier
        if modality is None:
            trained = text = TrainedText.from_run(source.run_dir)
            exported = OnnxScores.text(out_dir)
            inputs: list[Any] = held_out_texts(source.run_dir, limit, text.pairs)
        else:
            trained = Classifier.from_run(modality, source.run_dir)
            exported = OnnxScores.media(out_dir, modality)
            inputs = list(held_out_files(source.run_dir, source.config, limit, modality.readable))
        target = exported.settings.get("target")
        tolerance = TOLERANCE * max(1.0, float(target["std"])) if target else TOLERANCE
        report = compare_scores(trained, exported, inputs, tolerance=tolerance)
        if target:
            report.tolerance = f"values within {tolerance:g} ({TOLERANCE:g} of the target's spread), fp32"
        else:
            report.tolerance = f"probabilities within {tolerance:g}, fp32"
        return report


def _require_packages() -> None:
    import importlib.util

    missing = [name for name in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(
            f"ONNX export needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed; "
            "install the ONNX extra with `pip install 'tunechat[onnx]'`."
        )


def _input_names(settings: dict[str, Any]) -> str:
    return ", ".join(str(item["name"]) for item in settings["inputs"])


def _save_settings(out_dir: Path, settings: dict[str, Any]) -> None:
    from trainer.export.onnx_inputs import SETTINGS

    (out_dir / SETTINGS).write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _graph(
    out_dir: Path, network: Any, inputs: Inputs, output: str, scale: tuple[float, float] | None
) -> dict[str, Any]:
    from trainer.export.onnx_graph import NamedInputs, export_graph

    example = inputs.example()
    module = NamedInputs(network, list(example), scale)
    return export_graph(module, example, inputs.dynamic, output, out_dir, inputs.longest)


def _write_text(source: ExportSource, out_dir: Path) -> dict[str, Any]:
    from trainer.export.onnx_inputs import TextInputs
    from trainer.export.onnx_scores import is_regression, regression_scale
    from trainer.tasks.text_classification.predict import load_run_model

    loaded = load_run_model(source.run_dir)
    model = loaded.model.float().eval()
    regression = is_regression(model)
    loaded.tokenizer.save_pretrained(out_dir)
    model.config.to_json_file(str(out_dir / "config.json"))
    positions = getattr(model.config, "max_position_embeddings", None)
    longest = int(positions) if isinstance(positions, int) and positions > 0 else None
    inputs = TextInputs(loaded.tokenizer, loaded.max_length, loaded.pairs, longest)
    settings: dict[str, Any] = {
        "format": "onnx",
        "run_id": source.run_id,
        "input": "text",
        "max_length": loaded.max_length,
        "pairs": loaded.pairs,
    }
    if regression:
        mean, std = regression_scale(model)
        target = str(getattr(model.config, "target_name", "") or "score")
        settings.update(labels=None, output="value", target={"name": target, "mean": mean, "std": std})
        graph = _graph(out_dir, model, inputs, "value", (mean, std))
    else:
        settings.update(labels=_labels(model), output="logits")
        graph = _graph(out_dir, model, inputs, "logits", None)
    settings.update(graph)
    _save_settings(out_dir, settings)
    return settings


def _labels(model: Any) -> list[str]:
    id2label: dict[Any, Any] = dict(model.config.id2label or {})
    return [str(id2label.get(i, f"LABEL_{i}")) for i in range(len(id2label) or 2)]


def _write_media(source: ExportSource, modality: Any, out_dir: Path) -> dict[str, Any]:
    from trainer.export.onnx_inputs import AudioInputs, ImageInputs
    from trainer.tasks.audio_classification.model import AudioModel
    from trainer.tasks.image_classification.model import ImageModel

    folder = source.run_dir / "model"
    model = modality.load_trained(folder)
    # The preprocessing and feature-extractor settings travel; the PyTorch weights do not (the graph holds them).
    for path in sorted(folder.glob("*.json")):
        if not path.name.endswith(".index.json"):
            shutil.copy2(path, out_dir / path.name)
    settings: dict[str, Any] = {"format": "onnx", "run_id": source.run_id, "labels": list(model.labels)}
    inputs: Inputs
    if isinstance(model, ImageModel):
        p = model.preprocess
        inputs = ImageInputs(p)
        preprocessing: dict[str, Any] = {key: p[key] for key in ("image_size", "image_mean", "image_std")}
        settings.update(input="image", preprocessing={**preprocessing, "crop": "centre square, bilinear resize"})
    elif isinstance(model, AudioModel):
        audio = AudioInputs(model.processor, model.network.config, float(model.settings["clip_seconds"]))
        inputs = audio
        settings.update(input="audio", preprocessing=_audio_preprocessing(audio, model.settings))
    else:
        raise UserError(
            f"{_run(source)}'s model is neither an image nor an audio network tunechat knows how to export; export it "
            "as 'hub' instead."
        )
    settings.update(_graph(out_dir, model.network.float().eval(), inputs, "logits", None))
    _save_settings(out_dir, settings)
    return settings


def _audio_preprocessing(audio: Any, saved: dict[str, Any]) -> dict[str, Any]:
    from trainer.tasks.audio_classification import clips

    options: dict[str, Any] = {"padding": True}
    if clips.is_whisper(audio.config):
        options = {"padding": "max_length", "max_length": clips.whisper_samples(audio.config), "truncation": True}
    return {"sampling_rate": audio.rate, "clip_seconds": float(saved["clip_seconds"]), "extractor_options": options}


FORMAT = OnnxFormat()
