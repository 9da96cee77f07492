"""The ONNX export of classifiers and regressors: one graph with its tokenizer or preprocessing and labels, run in
onnxruntime, agreeing with the trained model on the run's held-out inputs; and parity catching a planted fault."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from onnx_runs import ExportRuns, regression_run, source_of, write_split

from trainer.export.base import ExportOptions
from trainer.export.held_out import held_out_files
from trainer.export.onnx import FORMAT
from trainer.export.onnx_readme import readme
from trainer.export.registry import format_named
from trainer.tasks.registry import all_tasks, get_task

QUIET = ExportOptions()


def no_progress(line: str) -> None:
    return None


def export(run_dir: Path, out: Path) -> Path:
    out.mkdir()
    FORMAT.write(source_of(run_dir), out, QUIET, no_progress)
    return out


def settings(out: Path) -> dict:
    return dict(json.loads((out / "inference.json").read_text()))


def test_onnx_is_a_registered_format_that_every_classifier_and_regressor_exports() -> None:
    assert format_named("ONNX") is FORMAT
    exporting = {task.name for task in all_tasks() if "onnx" in task.exports}
    assert exporting == {"text-classification", "text-regression", "image-classification", "audio-classification"}


def test_a_run_that_is_not_a_classifier_is_refused_in_one_sentence_naming_its_formats(tmp_path: Path) -> None:
    sft = get_task("sft")
    run_dir = tmp_path / "run-5"
    (run_dir / "model").mkdir(parents=True)
    (run_dir / "model" / "config.json").write_text("{}")
    (run_dir / "config.json").write_text(json.dumps({"task": "sft"}))
    refusal = FORMAT.refusal(source_of(run_dir))
    assert refusal is not None and refusal.startswith("Run 5 is a chat fine-tuning (SFT) run, and ONNX export")
    assert "classifiers and regressors" in refusal and all(f"'{name}'" in refusal for name in sft.exports)


def test_a_classifier_run_without_a_trained_model_is_refused(tmp_path: Path) -> None:
    run_dir = tmp_path / "run-6"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"task": "image-classification"}))
    assert FORMAT.refusal(source_of(run_dir)) == "Run 6 has no trained model; wait until it succeeds, then export it."


def test_held_out_files_are_opened_only_inside_the_upload(tmp_path: Path) -> None:
    home = tmp_path / "home"
    uploads = home / "uploads"
    (uploads / "pics").mkdir(parents=True)
    (uploads / "pics" / "a.png").write_bytes(b"x")
    (uploads / "list.csv").write_text("file,label\npics/a.png,x\n")
    (tmp_path / "secret.png").write_bytes(b"x")
    run_dir = home / "runs" / "run-1"
    names = ["pics/a.png", "../../secret.png", str(tmp_path / "secret.png"), "pics/missing.png", "list.csv"]
    write_split(run_dir, [{"file": name, "label": "x"} for name in names])
    found = held_out_files(run_dir, {"data": str(uploads / "list.csv")}, 10, lambda name: name.endswith(".png"))
    assert [(item.name, Path(item).name) for item in found] == [("pics/a.png", "a.png")]


def test_held_out_texts_come_from_the_test_split_else_from_the_predictions(tmp_path: Path) -> None:
    from trainer.export.held_out import held_out_texts

    run_dir = tmp_path / "run-3"
    run_dir.mkdir()
    rows = [{"input": f"text {i}", "input_pair": f"pair {i}", "label": "a", "predicted": "a"} for i in range(5)]
    (run_dir / "predictions.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert held_out_texts(run_dir, 2, pairs=True) == [("text 0", "pair 0"), ("text 1", "pair 1")]
    write_split(run_dir, [{"text": "held out", "label": "a"}])
    assert held_out_texts(run_dir, 8, pairs=False) == ["held out"] and held_out_texts(run_dir, 0, False) == []


def test_the_readme_shows_pairs_tokenized_together() -> None:
    shown = {"input": "text", "pairs": True, "max_length": 32, "output": "logits", "labels": ["no", "yes"]}
    inputs = [{"name": "input_ids", "dtype": "int64", "shape": ["batch", "sequence"]}]
    text = readme({**shown, "opset": 20, "inputs": inputs}, 3, "text classification")
    assert "[a for a, _ in texts], [b for _, b in texts]" in text
    assert "Labels, in the order of the logits: no, yes" in text and "`input_ids` int64 [batch, sequence]" in text


@pytest.mark.slow
def test_a_text_classifier_agrees_in_onnxruntime_for_any_batch_and_length(export_runs: ExportRuns) -> None:
    import onnxruntime

    from trainer.tasks.text_classification.predict import Predictor

    run_dir, out = export_runs.text
    assert {"model.onnx", "inference.json", "README.md", "config.json", "tokenizer.json"} <= {
        path.name for path in out.iterdir()
    }
    assert not list(out.glob("*.safetensors"))
    found = settings(out)
    assert found["labels"] == ["neg", "pos"] and found["output"] == "logits" and found["max_length"] == 32
    graph = onnxruntime.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    assert all(item.shape == ["batch", "sequence"] for item in graph.get_inputs())
    # Batches of another size and length than the graph was traced with.
    predictor = Predictor.from_run(run_dir)
    for texts in (["great"], ["the food was awful", "lovely", "the staff was really quite nasty today and bad"]):
        encoded = predictor.encode(texts, None, 0, 32)
        logits = graph.run(None, {name: value.numpy() for name, value in encoded.items()})[0]
        expected = predictor.model(**encoded).logits.detach().numpy()
        assert logits.shape == (len(texts), 2) and np.abs(logits - expected).max() < 1e-4

    report = FORMAT.parity(source_of(run_dir), out, ExportOptions(parity_examples=8))
    assert report is not None and report.to_dict()["parity_ok"] is True
    assert report.checked == report.agreed == 8 and report.tolerance == "probabilities within 0.0001, fp32"
    assert all(row["max_gap"] < 1e-4 for row in report.details)
    assert "agrees with the trained model (transformers) on 8 of 8" in report.sentence


@pytest.mark.slow
def test_parity_catches_an_export_whose_labels_were_swapped(export_runs: ExportRuns, tmp_path: Path) -> None:
    run_dir, out = export_runs.text
    planted = shutil.copytree(out, tmp_path / "onnx")
    swapped = {**settings(out), "labels": ["pos", "neg"]}
    (planted / "inference.json").write_text(json.dumps(swapped))
    report = FORMAT.parity(source_of(run_dir), planted, QUIET)
    assert report is not None and not report.ok and report.cause == "labels"
    assert report.first_mismatch is not None and report.first_mismatch["agree"] is False
    assert "label map" in (report.fix or "")


@pytest.mark.slow
def test_the_readme_code_runs_the_export(
    export_runs: ExportRuns, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import ast
    import re

    _, out = export_runs.text
    code = re.findall(r"```python\n(.*?)```", (out / "README.md").read_text(), re.S)
    assert len(code) == 1
    monkeypatch.chdir(out)
    exec(compile(code[0], "README.md", "exec"), {})
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(printed) == 2 and all(set(ast.literal_eval(line)) == {"neg", "pos"} for line in printed)


@pytest.mark.slow
def test_a_pair_classifier_tokenizes_both_texts_in_onnxruntime(export_runs: ExportRuns, tmp_path: Path) -> None:
    """A pair model's graph is the same as a single-text model's; its export says so and tokenizes pairs."""
    run_dir, out = export_runs.text
    pairs = shutil.copytree(run_dir, tmp_path / "run-8")
    config = json.loads((pairs / "config.json").read_text())
    (pairs / "config.json").write_text(json.dumps({**config, "text_pair_column": "second"}))
    rows = [json.loads(line) for line in (run_dir / "splits" / "test.jsonl").read_text().splitlines()]
    write_split(pairs, [{**row, "text_pair": rows[-1 - i]["text"]} for i, row in enumerate(rows)])
    export = shutil.copytree(out, tmp_path / "onnx")
    (export / "inference.json").write_text(json.dumps({**settings(out), "pairs": True}))
    report = FORMAT.parity(source_of(pairs), export, QUIET)
    assert report is not None and report.ok and report.checked == 8
    assert report.details[0]["input"].startswith("(")


@pytest.mark.slow
def test_a_regressor_exports_its_value_in_the_targets_units(tiny_bert: Path, tmp_path: Path) -> None:
    from trainer.tasks.text_regression.predict import Regressor

    run_dir = regression_run(tmp_path / "run-9", tiny_bert)
    out = export(run_dir, tmp_path / "onnx")
    found = settings(out)
    assert found["output"] == "value" and found["target"] == {"name": "score", "mean": 12.0, "std": 1.5}
    report = FORMAT.parity(source_of(run_dir), out, QUIET)
    assert report is not None and report.ok and report.checked == 8
    assert report.tolerance == "values within 0.00015 (0.0001 of the target's spread), fp32"
    values = [row["score"] for row in Regressor.from_run(run_dir).predict(["great food", "awful"])]
    assert all(10 < value < 14 for value in values)  # the graph's own scale: around the target's mean


@pytest.mark.slow
def test_an_image_classifier_agrees_in_onnxruntime_on_its_test_images(export_runs: ExportRuns, tmp_path: Path) -> None:
    import onnx

    run_dir = export_runs.image
    out = export(run_dir, tmp_path / "onnx")
    found = settings(out)
    assert found["input"] == "image" and found["labels"] == ["cool", "warm"]
    assert found["preprocessing"]["image_size"] == 32 and found["inputs"][0]["shape"] == ["batch", 3, 32, 32]
    assert (out / "preprocess.json").is_file() and "centre square" in (out / "README.md").read_text()
    report = FORMAT.parity(source_of(run_dir), out, QUIET)
    assert report is not None and report.ok and report.checked >= 2 and report.agreed == report.checked
    assert all(str(row["input"]).startswith("colours/") for row in report.details)

    # A tampered weight (the head's first row doubled) is caught.
    graph = onnx.load(str(out / "model.onnx"))
    head = max((w for w in graph.graph.initializer if len(w.dims) == 2), key=lambda w: w.dims[0] * w.dims[1])
    weights = onnx.numpy_helper.to_array(head).copy()
    weights[0] *= 3.0
    head.CopyFrom(onnx.numpy_helper.from_array(weights, head.name))
    onnx.save(graph, str(out / "model.onnx"))
    tampered = FORMAT.parity(source_of(run_dir), out, QUIET)
    assert tampered is not None and not tampered.ok and tampered.cause in ("probabilities", "labels")


@pytest.mark.slow
def test_an_audio_classifier_agrees_in_onnxruntime_on_its_test_clips(export_runs: ExportRuns, tmp_path: Path) -> None:
    run_dir = export_runs.audio
    out = export(run_dir, tmp_path / "onnx")
    found = settings(out)
    assert found["input"] == "audio" and found["preprocessing"]["sampling_rate"] == 16000
    assert found["preprocessing"]["clip_seconds"] == 0.5 and found["inputs"][0]["name"] == "input_features"
    assert (out / "preprocessor_config.json").is_file() and (out / "audio.json").is_file()
    report = FORMAT.parity(source_of(run_dir), out, QUIET)
    assert report is not None and report.ok and report.checked >= 2 and report.agreed == report.checked


def test_without_the_onnx_packages_the_export_says_how_to_install_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    from trainer.core.errors import UserError

    found = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "onnxruntime" else found(name))
    run_dir = tmp_path / "run-2"
    (run_dir / "model").mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({"task": "text-classification"}))
    with pytest.raises(UserError) as refused:
        FORMAT.write(source_of(run_dir), tmp_path / "out", QUIET, no_progress)
    assert str(refused.value) == (
        "ONNX export needs onnxruntime, which is not installed; install the ONNX extra with "
        "`pip install 'tunechat[onnx]'`."
    )
