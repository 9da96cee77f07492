"""The export writer with a toy format (no model is loaded): the folder renamed into place only when complete,
the manifest, an earlier export kept when a new one fails; the runs it refuses; the formats each task offers;
export requests in plain words; the model card of a classifier run; an export shown as markdown."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from agent.intents import classify
from trainer.core.errors import UserError
from trainer.core.fileio import read_json
from trainer.core.workspace import Workspace
from trainer.export import registry as export_registry
from trainer.export.base import ExportOptions, ExportSource, Written
from trainer.export.parity import ParityReport
from trainer.export.writer import export_run
from trainer.store.registry import Registry
from trainer.tasks.registry import all_tasks, get_task
from ui.render.export import render_export


class ToyFormat:
    """Writes two small files; `fail` raises halfway, `disagree` reports a failed parity check."""

    name = "toy"
    summary = "two text files"

    def __init__(self, text: str = "weights v1", fail: bool = False, disagree: bool = False) -> None:
        self.text, self.fail, self.disagree = text, fail, disagree

    def refusal(self, source: ExportSource) -> str | None:
        return None

    def write(self, source: ExportSource, out_dir: Path, options: ExportOptions, progress: Any) -> Written:
        (out_dir / "weights.txt").write_text(self.text)
        if self.fail:
            raise UserError("The toy converter failed; try again.")
        (out_dir / "tokenizer").mkdir()
        (out_dir / "tokenizer" / "vocab.txt").write_text("a b c")
        progress("toy: done")
        return Written(
            notes=[f"written into {out_dir}"], commands=[f"toyrun {out_dir}/weights.txt"], facts={"parity_note": "-"}
        )

    def parity(self, source: ExportSource, out_dir: Path, options: ExportOptions) -> ParityReport | None:
        if not self.disagree:
            return None
        first = {"input": "hi", "trained": "Hello", "exported": "Hello<|im_end|>Hello", "agree": False}
        return ParityReport(False, "trained", "toy", 1, 0, [first], first, "stop token", "Fix the stops")


def _run(ws: Workspace, registry: Registry, status: str = "succeeded", backend: str | None = None) -> int:
    config = {"task": "text-classification", "model": "all-minilm-l6-v2", "data": "reviews.tsv"}
    run_id = registry.create_run(config, backend=backend)
    run_dir = ws.run_dir(run_id)
    (run_dir / "model").mkdir(parents=True)
    (run_dir / "model" / "config.json").write_text("{}")
    (run_dir / "config.json").write_text(json.dumps(config))
    registry.update_run(run_id, status=status, run_dir=str(run_dir))
    return run_id


def _with(monkeypatch: pytest.MonkeyPatch, fmt: ToyFormat) -> None:
    export_registry.formats()  # the built-in ones first, so the toy one is not the only one
    monkeypatch.setitem(export_registry._formats, "toy", fmt)


def test_an_export_lands_complete_with_its_manifest_and_a_failed_one_keeps_the_earlier(
    ws_registry: tuple[Workspace, Registry], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, registry = ws_registry
    run_id = _run(ws, registry)
    _with(monkeypatch, ToyFormat())
    lines: list[str] = []
    result = export_run(ws, registry, run_id, "toy", progress=lines.append)
    folder = ws.run_dir(run_id) / "export" / "toy"
    assert result.folder == str(folder) and "toy: done" in lines
    assert [item["path"] for item in result.files] == ["tokenizer/vocab.txt", "weights.txt"]
    manifest = read_json(folder / "manifest.json")
    assert manifest["format"] == "toy" and manifest["run_id"] == run_id and manifest["base_model"] == "all-minilm-l6-v2"
    digest = hashlib.sha256(b"weights v1").hexdigest()
    assert manifest["files"][1] == {"path": "weights.txt", "size": 10, "sha256": digest}
    # The format wrote into a temporary folder; its commands and notes name the folder it ended up in.
    assert result.commands == [f"toyrun {folder}/weights.txt"] and manifest["commands"] == result.commands
    assert result.notes == [f"written into {folder}"]
    assert result.parity_ok is None and result.parity is None and result.parity_sentence == "-"

    _with(monkeypatch, ToyFormat("weights v2", fail=True))
    with pytest.raises(UserError, match="toy converter failed"):
        export_run(ws, registry, run_id, "toy")
    assert (folder / "weights.txt").read_text() == "weights v1"
    assert [path.name for path in folder.parent.iterdir()] == ["toy"]  # no temporary folder left behind

    _with(monkeypatch, ToyFormat("weights v3", disagree=True))
    failed = export_run(ws, registry, run_id, "toy")
    assert failed.parity_ok is False and (folder / "weights.txt").read_text() == "weights v3"
    assert read_json(folder / "manifest.json")["parity"]["cause"] == "stop token"
    shown = render_export(failed.to_dict())
    assert "disagrees" in shown and "First difference" in shown and "toyrun" in shown


def test_runs_that_cannot_be_exported_are_refused_in_one_sentence(ws_registry: tuple[Workspace, Registry]) -> None:
    ws, registry = ws_registry
    with pytest.raises(UserError, match="There is no run 9"):
        export_run(ws, registry, 9, "merged")
    with pytest.raises(UserError, match="is failed, and only a run that succeeded"):
        export_run(ws, registry, _run(ws, registry, status="failed"), "merged")
    with pytest.raises(UserError, match="not on this machine"):
        export_run(ws, registry, _run(ws, registry, backend="openai"), "merged")
    classifier = _run(ws, registry)
    with pytest.raises(UserError, match="no merged-weights export; export run .* as one of: onnx, hub") as refused:
        export_run(ws, registry, classifier, "merged")
    assert str(refused.value).count(".") == 1 and not (ws.run_dir(classifier) / "export" / "merged").exists()
    with pytest.raises(UserError, match="no export format called 'zip'"):
        export_run(ws, registry, classifier, "zip")


def test_each_task_offers_its_formats_and_every_one_a_hub_folder() -> None:
    known = {"merged", "gguf", "onnx", "hub"}
    for task in all_tasks():
        assert task.exports and set(task.exports) <= known and "hub" in task.exports, task.name
        assert task.pipeline_tag, task.name
    assert get_task("sft").exports == ("merged", "gguf", "hub") and get_task("dpo").exports[0] == "merged"
    assert get_task("text-classification").exports == ("onnx", "hub")
    assert {fmt.name for fmt in export_registry.formats()} >= {"merged", "hub"}


@pytest.mark.parametrize(
    ("message", "settings", "runs"),
    [
        ("export run 3", {}, [3]),
        ("export run 3 for ollama", {"format": "gguf"}, [3]),
        ("export it as onnx", {"format": "onnx"}, []),
        ("give me the merged weights of run 2", {"format": "merged"}, [2]),
        ("export run 4 as gguf q4_k_m and q8_0", {"format": "gguf", "quantisations": ["q4_k_m", "q8_0"]}, [4]),
        ("put run 5 on hugging face", {"format": "hub"}, [5]),
        ("push run 5 to the hub as me/tuned-2", {"format": "hub", "repo_id": "me/tuned-2"}, [5]),
    ],
)
def test_export_requests_in_plain_words(message: str, settings: dict[str, Any], runs: list[int]) -> None:
    intent = classify(message)
    assert (intent.name, intent.settings, intent.run_ids) == ("export", settings, runs)


def test_deploying_and_training_are_not_exports() -> None:
    assert classify("deploy run 2").name == "deploy"
    assert classify("fine-tune a classifier on this").name == "train"
    assert classify("export OPENAI_API_KEY=sk-test").name != "export"


def test_the_model_card_of_a_classifier_run(tmp_path: Path) -> None:
    from trainer.export.model_card import model_card

    run_dir = tmp_path / "run-4"
    (run_dir / "splits").mkdir(parents=True)
    rows = [{"text": "great food", "label": "pos"}] * 3 + [{"text": "awful", "label": "neg"}] * 2
    (run_dir / "splits" / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (run_dir / "splits" / "test.jsonl").write_text(json.dumps(rows[0]) + "\n")
    evaluation = {
        "accuracy": 0.9,
        "macro_f1": 0.88,
        "test_size": 1,
        "baseline": {"accuracy": 0.6, "macro_f1": 0.37},
        "linear_probe": {"accuracy": 0.8, "macro_f1": 0.79},
    }
    (run_dir / "evaluation.json").write_text(json.dumps(evaluation))
    config = {"model": "all-minilm-l6-v2", "method": "full", "epochs": 2, "data": "/home/someone/reviews.tsv"}
    source = ExportSource(4, run_dir, config, get_task("text-classification"))
    card = model_card(source, "me/reviews", adapter=False, chat=False)
    front = card.split("---")[1]
    assert 'license: "apache-2.0"' in front and 'base_model: "sentence-transformers/all-MiniLM-L6-v2"' in front
    assert 'pipeline_tag: "text-classification"' in front and 'library_name: "transformers"' in front
    assert "From `reviews.tsv`: 1 test, 5 train" in card and "Training labels: pos 3, neg 2." in card
    assert "| metric | tuned | majority baseline | linear probe |" in card
    assert "| macro-F1 | 0.88 | 0.37 | 0.79 |" in card and "/home/someone" not in card
    assert 'pipeline("text-classification", model="me/reviews")' in card and ".." not in card


def test_the_chat_exports_a_run_for_the_hub_without_a_yes_and_plans_the_push() -> None:
    from agent.assistant import Assistant
    from tools.context import ToolContext
    from tools.export_tools import PUSH
    from tools.pending import pending_action
    from ui.render import MARKDOWN

    assistant = Assistant(presenter=MARKDOWN)
    session = assistant.new_session()
    run_id = _run(assistant.workspace, assistant.registry)
    text = assistant.reply(session, f"export run {run_id} for the hub").text
    folder = assistant.workspace.run_dir(run_id) / "export" / "hub"
    assert f"Run {run_id} exported as hub" in text and "copied byte for byte" in text
    assert (folder / "README.md").is_file() and (folder / "config.json").is_file()
    assert pending_action(ToolContext(assistant.workspace, assistant.registry, session), PUSH) is None
    text = assistant.reply(session, f"push run {run_id} to the hub as me/reviews").text
    assert "Nothing is uploaded yet" in text and "https://huggingface.co/me/reviews" in text
    assert pending_action(ToolContext(assistant.workspace, assistant.registry, session), PUSH) is not None
