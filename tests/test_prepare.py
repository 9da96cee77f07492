"""Repair, convert and split: `prepare_dataset`, `tunechat prepare` and the chat's "clean it up"."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from agent.assistant import Assistant
from trainer.core.errors import UserError
from trainer.core.workspace import Workspace
from trainer.data.prepare import parse_split, prepare_dataset
from ui.cli import main
from ui.render import MARKDOWN


def messy_csv(path: Path) -> Path:
    """40 good rows (20 per class), 3 exact duplicates, 2 empty labels, one ragged line."""
    lines = ["review,sentiment"]
    lines += [
        f"the {i}th visit to the cafe was {'lovely' if i % 2 else 'awful'},{'pos' if i % 2 else 'neg'}"
        for i in range(40)
    ]
    lines += [lines[1], lines[2], lines[3]]
    lines += ["a review that lost its label,", "another one without a label,"]
    lines += ["a ragged line with no label column at all"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_repair_dedupe_and_stratified_split_leave_the_upload_alone(tmp_path: Path) -> None:
    workspace = Workspace.from_env()
    source = messy_csv(tmp_path / "reviews.csv")
    before = hashlib.sha256(source.read_bytes()).hexdigest()
    manifest = prepare_dataset(source, workspace, dedupe=True, split="0.8,0.1,0.1")
    assert hashlib.sha256(source.read_bytes()).hexdigest() == before

    folder = Path(manifest["path"])
    assert folder.parent == workspace.datasets and folder.name == f"reviews-{manifest['content_sha256'][:12]}"
    steps = {s["step"]: s for s in manifest["steps"]}
    assert steps["drop_unreadable"]["removed"] == 1 and steps["drop_unreadable"]["lines"] == [47]
    assert steps["drop_empty"]["removed"] == 2 and steps["drop_empty"]["lines"] == [45, 46]
    assert steps["dedupe"]["removed"] == 3 and steps["dedupe"]["lines"] == [42, 43, 44]
    assert "'review' → 'text'" in steps["rename_columns"]["detail"]
    assert manifest["counts"] == {"before": 46, "after": 40, "splits": {"train": 32, "validation": 4, "test": 4}}

    splits = {name: read_jsonl(folder / f"{name}.jsonl") for name in ("train", "validation", "test")}
    for rows in splits.values():
        assert sorted({r["label"] for r in rows}) == ["neg", "pos"]  # stratified: both classes everywhere
        assert sum(r["label"] == "pos" for r in rows) * 2 == len(rows)
    texts = [r["text"] for rows in splits.values() for r in rows]
    assert len(texts) == len(set(texts)) == 40
    on_disk = json.loads((folder / "manifest.json").read_text())
    assert on_disk["source"] == {"file": "reviews.csv", "sha256": before, "bytes": source.stat().st_size}
    assert on_disk["content_sha256"] == manifest["content_sha256"]

    # The same preparation again lands in the same folder; nothing half-written is left around.
    again = prepare_dataset(source, workspace, dedupe=True, split="0.8,0.1,0.1")
    assert again["path"] == manifest["path"]
    assert [p.name for p in workspace.datasets.iterdir()] == [folder.name]


def test_conversions_to_chat_messages(tmp_path: Path) -> None:
    workspace = Workspace.from_env()
    alpaca = tmp_path / "alpaca.json"
    alpaca.write_text(json.dumps([{"instruction": f"Say {i}", "input": "", "output": f"{i}!"} for i in range(6)]))
    manifest = prepare_dataset(alpaca, workspace)
    assert manifest["format"] == "chat-jsonl" and manifest["steps"][0]["step"] == "convert"
    rows = read_jsonl(Path(manifest["path"]) / "data.jsonl")
    assert rows[2] == {"messages": [{"role": "user", "content": "Say 2"}, {"role": "assistant", "content": "2!"}]}
    assert manifest["samples"]["before"][0] == {"instruction": "Say 0", "input": "", "output": "0!"}

    labelled = messy_csv(tmp_path / "reviews.csv")
    manifest = prepare_dataset(labelled, workspace, to="chat-jsonl")
    rows = read_jsonl(Path(manifest["path"]) / "data.jsonl")
    assert rows[0]["messages"][0]["content"] == "Classify the text. Answer with exactly one of: neg, pos."
    assert rows[0]["messages"][1:] == [
        {"role": "user", "content": "the 0th visit to the cafe was awful"},
        {"role": "assistant", "content": "neg"},
    ]
    with pytest.raises(UserError) as caught:
        prepare_dataset(labelled, workspace, to="parquet")
    assert "chat-jsonl or jsonl" in str(caught.value)


def test_the_users_own_splits_are_kept(tmp_path: Path) -> None:
    archive = tmp_path / "data.zip"
    rows = "".join(f"the {i}th review text here,{'pos' if i % 2 else 'neg'}\n" for i in range(10))
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("train.csv", "text,label\n" + rows)
        zipped.writestr("dev.csv", "text,label\na held out review text,pos\n")
    manifest = prepare_dataset(archive, Workspace.from_env(), split="0.5,0.25,0.25")
    assert manifest["counts"]["splits"] == {"train": 10, "validation": 1}
    assert "user's own splits" in manifest["steps"][-1]["detail"]


def test_split_parsing() -> None:
    assert parse_split("0.8,0.1,0.1") == (0.8, 0.1, 0.1)
    assert parse_split("80/10/10") == (0.8, 0.1, 0.1)
    assert parse_split("80/20") == (0.8, 0.0, 0.2)
    for bad in ("0.8,0.3,0.1", "a,b,c", "0,0.5,0.5"):
        with pytest.raises(UserError):
            parse_split(bad)


def test_cli_prepare_prints_json_and_words(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = messy_csv(tmp_path / "reviews.csv")
    assert main(["prepare", str(source), "--dedupe", "--split", "0.8,0.1,0.1", "--json"]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["counts"]["after"] == 40 and manifest["data_file"].endswith("/train.jsonl")
    assert main(["prepare", str(source), "--to", "chat-jsonl"]) == 0
    out = capsys.readouterr().out
    assert "46 rows before, 43 after" in out and "The original upload is unchanged" in out
    assert "| drop_empty | 2 |" in out and "- Before:" in out and "- After:" in out
    assert main(["inspect", str(source), "--task", "regression", "--label-column", "sentiment"]) == 1

    alpaca = tmp_path / "alpaca.json"
    alpaca.write_text(json.dumps([{"instruction": f"Say {i}", "input": "", "output": f"{i}!"} for i in range(4)] * 2))
    assert main(["inspect", str(alpaca), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["task"], report["rows"], report["usable_rows"]) == ("alpaca", 8, 8)
    assert report["mapping"] == {"instruction": "instruction", "input": "input", "output": "output"}
    assert report["problems"][0]["code"] == "duplicates" and report["problems"][0]["count"] == 4
    assert set(report["length_tokens"]) >= {"p50", "p95", "max", "truncated_at_1024", "tokens_per_epoch"}


def test_chat_cleans_converts_and_splits(tmp_path: Path) -> None:
    assistant = Assistant(presenter=MARKDOWN)
    session = assistant.new_session()
    source = messy_csv(tmp_path / "reviews.csv")
    reply = assistant.reply(session, "clean it up", files=[source])
    assert [step.name for step in reply.steps] == ["prepare_data"]
    assert "46 rows before, 40 after" in reply.text and "| dedupe | 3 |" in reply.text
    assert "From now on I use `datasets/reviews-" in reply.text

    reply = assistant.reply(session, "convert it to chat format")
    assert "chat-jsonl" in reply.text and '"role": "assistant"' in reply.text
    reply = assistant.reply(session, "split it 80/10/10")
    assert "`train.jsonl` (32 rows), `validation.jsonl` (4 rows), `test.jsonl` (4 rows)" in reply.text

    scores = tmp_path / "scores.csv"
    scores.write_text("text,stars\n" + "".join(f"the {i}th stay at the inn,{i % 5 + 1}\n" for i in range(40)))
    reply = assistant.reply(session, "treat it as regression", files=[scores])
    assert "regression" in reply.text and "from 1.0 to 5.0" in reply.text
