"""Merged and hub exports of a real (tiny) LoRA run: the merged folder loads in plain transformers and answers
token for token like the adapter on its base, its manifest hashes every file, and parity catches a planted chat
template and a planted wrong end-of-turn token; the hub folder carries the adapter and a model card; `tunechat
export` prints it and fails on a parity mismatch; a push waits for the yes and never writes the token."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from trainer.core.fileio import read_json
from trainer.core.workspace import Workspace
from trainer.export.base import ExportOptions
from trainer.export.writer import export_run, export_source
from trainer.store.registry import Registry
from ui.cli import main

pytestmark = pytest.mark.slow

OTHER_TEMPLATE = "{% for m in messages %}### {{ m.role }}: {{ m.content }}\n{% endfor %}### assistant:"


def _home(run_dir: Path) -> tuple[Workspace, Registry]:
    workspace = Workspace(run_dir.parent.parent)
    return workspace, Registry(workspace.db_path)


def test_merged_export_loads_in_transformers_and_answers_like_the_adapter_run(lora_chat_run: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    workspace, registry = _home(lora_chat_run)
    result = export_run(workspace, registry, 1, "merged", ExportOptions(parity_examples=6))
    folder = Path(result.folder)
    assert folder == lora_chat_run / "export" / "merged" and result.parity_ok is True
    assert result.parity is not None and result.parity["checked"] == result.parity["agreed"] == 6
    # A plain model folder: safetensors, the tokenizer with its template, every stop token; no adapter, no pickle.
    names = {item["path"] for item in result.files}
    assert {"model.safetensors", "config.json", "generation_config.json", "chat_template.jinja", "README.md"} <= names
    assert not any(name.startswith("adapter") or name.endswith((".bin", ".pt")) for name in names)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    eos = read_json(folder / "generation_config.json")["eos_token_id"]
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in ([eos] if isinstance(eos, int) else eos)
    # Parity ran the adapter on its base and this folder in plain transformers: the same greedy tokens and stops,
    # and the trained form really ends its turn (so an export that lost its stop token shows).
    details = result.parity["details"]
    assert all(row["agree"] and row["trained_finish"] == row["exported_finish"] for row in details)
    assert sum(row["trained_finish"] == "stop" for row in details) >= 3, details
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert type(model).__name__ == "LlamaForCausalLM" and not hasattr(model, "peft_config")
    # The manifest names every file with its size and hash, the run, the base model and the parity report.
    manifest = read_json(folder / "manifest.json")
    assert manifest["format"] == "merged" and manifest["run_id"] == 1 and manifest["parity"]["parity_ok"] is True
    assert manifest["base_model"] and manifest["created"].endswith("Z")
    on_disk = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert sorted(item["path"] for item in manifest["files"]) == [name for name in on_disk if name != "manifest.json"]
    for item in manifest["files"]:
        data = (folder / item["path"]).read_bytes()
        assert len(data) == item["size"] and hashlib.sha256(data).hexdigest() == item["sha256"]
    # Exported again, the new folder replaces the old one and leaves no temporary folder behind.
    again = export_run(workspace, registry, 1, "merged", ExportOptions(parity_examples=2, parity_tokens=4))
    assert again.folder == result.folder and [p.name for p in folder.parent.iterdir()] == ["merged"]


def _planted(run_dir: Path, tmp_path: Path, plant: Any) -> dict[str, Any]:
    """Parity of a copy of the merged export with one fault planted in it."""
    from trainer.export.merged import FORMAT

    workspace, registry = _home(run_dir)
    source = export_source(workspace, registry, 1)
    if not (run_dir / "export" / "merged").is_dir():
        export_run(workspace, registry, 1, "merged", ExportOptions(parity_examples=2, parity_tokens=4))
    copy = tmp_path / "planted"
    shutil.copytree(run_dir / "export" / "merged", copy)
    plant(copy)
    report = FORMAT.parity(source, copy, ExportOptions(parity_examples=5, parity_tokens=12))
    assert report is not None and not report.ok and report.first_mismatch is not None
    return report.to_dict()


def test_parity_blames_a_different_chat_template_in_the_export(lora_chat_run: Path, tmp_path: Path) -> None:
    def other_template(folder: Path) -> None:
        (folder / "chat_template.jinja").write_text(OTHER_TEMPLATE)

    report = _planted(lora_chat_run, tmp_path, other_template)
    assert report["cause"] == "template" and "chat template" in report["fix"]
    assert "### user:" in report["first_mismatch"]["exported"]


def test_parity_blames_a_wrong_end_of_turn_token_when_the_export_runs_on(lora_chat_run: Path, tmp_path: Path) -> None:
    def wrong_eos(folder: Path) -> None:
        config = read_json(folder / "generation_config.json")
        (folder / "generation_config.json").write_text(json.dumps({**config, "eos_token_id": config["pad_token_id"]}))

    report = _planted(lora_chat_run, tmp_path, wrong_eos)
    assert report["cause"] == "stop token" and "generation_config.json" in report["fix"]
    first = report["first_mismatch"]
    assert first["trained_finish"] == "stop" and first["exported_finish"] == "length"
    assert first["exported"].startswith(first["trained"])


def test_the_command_prints_json_and_exits_1_with_the_first_difference_and_fix_when_parity_fails(
    lora_chat_run: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from trainer.export.merged import FORMAT

    monkeypatch.setenv("TUNECHAT_HOME", str(lora_chat_run.parent.parent))
    # The hub folder of an adapter runs no parity of its own (the merged export's does): quick, and it says so.
    assert main(["export", "1", "--format", "hub", "--json"]) == 0
    captured = capsys.readouterr()
    printed = json.loads(captured.out)
    assert set(printed) >= {"run_id", "format", "folder", "files", "parity_ok", "parity"}
    assert printed["parity_ok"] is None and printed["format"] == "hub" and "writing the hub export" in captured.err
    assert {"README.md", "adapter_model.safetensors"} <= {item["path"] for item in printed["files"]}

    write = FORMAT.write

    def lose_the_stop(source: Any, out_dir: Path, options: Any, progress: Any) -> Any:
        written = write(source, out_dir, options, progress)
        config = read_json(out_dir / "generation_config.json")
        (out_dir / "generation_config.json").write_text(json.dumps({**config, "eos_token_id": config["pad_token_id"]}))
        return written

    monkeypatch.setattr(FORMAT, "write", lose_the_stop)
    assert main(["export", "1", "--format", "merged"]) == 1
    captured = capsys.readouterr()
    assert "disagrees" in captured.out and "stop token" in captured.err and "generation_config.json" in captured.err


class FakeHub:
    """Stands in for huggingface_hub.HfApi: records what would be created and uploaded, and the token."""

    calls: list[tuple[str, Any]] = []

    def __init__(self, token: str | None = None) -> None:
        FakeHub.calls.append(("token", token))

    def create_repo(self, repo_id: str, private: bool = False, exist_ok: bool = False) -> None:
        FakeHub.calls.append(("create", (repo_id, private)))

    def upload_folder(self, folder_path: str, repo_id: str, commit_message: str) -> None:
        FakeHub.calls.append(("upload", (sorted(p.name for p in Path(folder_path).iterdir()), repo_id)))


def test_hub_folder_carries_the_adapter_and_a_card_and_pushes_only_after_the_yes(
    lora_chat_run: Path, tiny_llm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    from tools.context import ToolContext
    from tools.export_tools import PUSH
    from tools.export_tools import export_run as export_tool
    from tools.pending import confirm_pending, pending_action
    from trainer.core.errors import UserError

    FakeHub.calls.clear()
    workspace, registry = _home(lora_chat_run)
    ctx = ToolContext(workspace, registry, session_id="chat-1")
    result = export_tool(ctx, 1, "hub", repo_id="someone/tiny-tuned")
    folder = Path(result["folder"])
    assert {"adapter_model.safetensors", "adapter_config.json", "README.md", "manifest.json"} <= {
        p.name for p in folder.iterdir()
    }
    assert result["parity_ok"] is None and "--format merged" in result["parity_sentence"]
    card = (folder / "README.md").read_text()
    front = card.split("---")[1]
    assert 'pipeline_tag: "text-generation"' in front and 'library_name: "peft"' in front and "base_model" not in front
    for section in ("## Task", "## Base model", "## Data", "## Training", "## Evaluation", "## Intended use", "## How"):
        assert section in card
    assert "| eval loss |" in card and "base model" in card and "30 train, 10 validation" in card
    assert "someone/tiny-tuned" in card and str(tiny_llm) not in card
    # Nothing is pushed by the export: a plan waits for the yes; without a token the yes is refused.
    assert result["push"]["needs_confirmation"] and pending_action(ctx, PUSH) is not None
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHub)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(UserError, match="HF_TOKEN"):
        confirm_pending(ctx, kind=PUSH)
    assert FakeHub.calls == []
    canary = "hf_canary_token_do_not_write"
    monkeypatch.setenv("HF_TOKEN", canary)
    export_tool(ctx, 1, "hub", repo_id="someone/tiny-tuned")
    pushed = confirm_pending(ctx, kind=PUSH)
    assert pushed["url"] == "https://huggingface.co/someone/tiny-tuned"
    assert FakeHub.calls[0] == ("token", canary) and FakeHub.calls[1] == ("create", ("someone/tiny-tuned", True))
    assert FakeHub.calls[2][0] == "upload" and "README.md" in FakeHub.calls[2][1][0]
    leaks = [p for p in workspace.root.rglob("*") if p.is_file() and canary.encode() in p.read_bytes()]
    assert leaks == []


def test_a_full_run_is_copied_as_it_trained_and_its_hub_folder_is_checked_like_the_merged_one(
    tiny_llm: Path, ws_registry: tuple[Workspace, Registry]
) -> None:
    ws, registry = ws_registry
    run_id = registry.create_run({"task": "sft", "model": str(tiny_llm), "data": "chats.jsonl", "method": "full"})
    run_dir = ws.run_dir(run_id)
    shutil.copytree(tiny_llm, run_dir / "model")
    (run_dir / "model" / "tunechat.json").write_text(json.dumps({"kind": "full", "base_model": str(tiny_llm)}))
    (run_dir / "config.json").write_text(json.dumps({"task": "sft", "model": str(tiny_llm), "method": "full"}))
    registry.update_run(run_id, status="succeeded", run_dir=str(run_dir))
    options = ExportOptions(parity_examples=2, parity_tokens=8)
    merged = export_run(ws, registry, run_id, "merged", options)
    folder = Path(merged.folder)
    assert merged.parity_ok is True and not (folder / "tunechat.json").exists()
    for name in ("model.safetensors", "tokenizer.json", "generation_config.json"):
        assert (folder / name).read_bytes() == (run_dir / "model" / name).read_bytes()
    hub = export_run(ws, registry, run_id, "hub", options)
    assert hub.parity_ok is True and hub.parity is not None and hub.parity["exported"] == "hub folder (transformers)"
    assert 'library_name: "transformers"' in (Path(hub.folder) / "README.md").read_text()
