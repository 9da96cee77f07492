"""A disk that fills up while tunechat writes: an upload, a prepared dataset, a training checkpoint.

Each gives one clear sentence, leaves nothing half-written and keeps the older files as they were. The
workspace sits on its own small tmpfs (the `small_disk` fixture, root only), filled to a few kilobytes
before the write; one test instead caps a child process's file size with RLIMIT_FSIZE (SIGXFSZ ignored,
as Python does), which needs no privilege. There is no export yet, so no test of one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from faults import fill_disk, one_sentence, run_python, tree, write_reviews
from toy_data import chat_rows, write_jsonl

from agent.assistant import Assistant
from tools.context import ToolContext
from tools.launch import launch_plan
from trainer.backends import runs
from trainer.plan.config import resolve_config
from ui.render import MARKDOWN

# What stays free once a test has filled the disk: room for the database and the progress files, not for the
# write under test.
LEAVE = 48 * 1024


def first_paragraph(text: str) -> str:
    return text.split("\n\n", 1)[0].strip()


def test_disk_full_during_an_upload_keeps_the_earlier_upload_and_no_partial_copy(
    small_disk: Path, tmp_path: Path
) -> None:
    assistant = Assistant(presenter=MARKDOWN)
    session = assistant.new_session()
    assistant.reply(session, "inspect my data", files=[write_reviews(tmp_path / "reviews.tsv", 40)])
    uploads = assistant.workspace.uploads_for(session)
    before = tree(uploads)
    big = write_reviews(tmp_path / "big.tsv", 20_000)  # about 700 kB
    filler = fill_disk(small_disk, LEAVE)

    reply = assistant.reply(session, "inspect my data", files=[big])

    sentence = first_paragraph(reply.text)
    assert sentence == (
        "The disk is full, so the upload 'big.tsv' could not be written; free some space, then upload it again."
    )
    one_sentence(sentence)
    assert tree(uploads) == before  # no big.tsv, no .big.tsv.part, the earlier upload unchanged
    assert "40 rows" in reply.text  # the chat goes on with the file it had

    filler.unlink()
    again = assistant.reply(session, "inspect my data", files=[big])
    assert "20000 rows" in again.text and (uploads / "big.tsv").read_bytes() == big.read_bytes()


def test_an_upload_past_the_file_size_limit_is_one_sentence_in_a_child_process(
    offline_workspace: Path, tmp_path: Path
) -> None:
    big = write_reviews(tmp_path / "big.tsv", 200_000)  # about 7 MB, over the 4 MB cap below
    code = f"""
import json, resource, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4 * 2**20, resource.RLIM_INFINITY))
from agent.assistant import Assistant
from ui.render import MARKDOWN
assistant = Assistant(presenter=MARKDOWN)
session = assistant.new_session()
reply = assistant.reply(session, "hello", files=[{str(big)!r}])
folder = assistant.workspace.uploads_for(session)
uploads = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
print(json.dumps({{"text": reply.text, "uploads": uploads}}))
"""
    done = run_python(code)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert first_paragraph(result["text"]) == (
        "The disk is full, so the upload 'big.tsv' could not be written; free some space, then upload it again."
    )
    assert result["uploads"] == []  # no partial copy left behind


def test_disk_full_while_preparing_keeps_the_earlier_dataset_and_no_staging_folder(
    small_disk: Path, tmp_path: Path
) -> None:
    assistant = Assistant(presenter=MARKDOWN)
    session = assistant.new_session()
    assistant.reply(session, "clean it up", files=[write_reviews(tmp_path / "small.tsv", 60)])
    datasets = assistant.workspace.datasets
    (prepared,) = [p.name for p in datasets.iterdir()]
    before = tree(datasets)
    assistant.reply(session, "inspect my data", files=[write_reviews(tmp_path / "large.tsv", 6000)])
    filler = fill_disk(small_disk, LEAVE)

    reply = assistant.reply(session, "clean it up")

    sentence = first_paragraph(reply.text)
    assert sentence.startswith("The disk is full, so the prepared dataset large-") and sentence.endswith(
        " could not be written; free some space, then prepare it again."
    )
    one_sentence(sentence)
    assert tree(datasets) == before  # only the earlier dataset, byte for byte: no staging folder, no half of a new one
    assert [p.name for p in datasets.iterdir()] == [prepared]

    filler.unlink()
    again = assistant.reply(session, "clean it up")
    assert len(list(datasets.iterdir())) == 2, again.text
    assert {name: data for name, data in tree(datasets).items() if name.startswith(prepared + "/")} == before


@pytest.mark.slow
def test_disk_full_during_a_checkpoint_save_fails_the_run_and_keeps_the_last_complete_checkpoint(
    small_disk: Path, tiny_llm: Path, tmp_path: Path
) -> None:
    from trainer.tasks.causal_lm.checkpoints import MARKER, checkpoints, latest_complete

    ctx = ToolContext.from_env()
    data = write_jsonl(tmp_path / "chat.jsonl", chat_rows())
    config = resolve_config(
        {"data": str(data), "task": "sft", "method": "lora", "model": str(tiny_llm), "max_steps": 30},
        {"save_steps": 3, "batch_size": 2, "max_length": 64, "learning_rate": 1e-2},
    )
    run_id = launch_plan(ctx, config.to_dict())["run_id"]
    run_dir = ctx.workspace.run_dir(run_id)
    deadline = time.monotonic() + 120
    while (first := latest_complete(run_dir / "checkpoints")) is None:
        assert time.monotonic() < deadline, (run_dir / "train.log").read_text()[-2000:]
        time.sleep(0.02)
    saved = tree(first[1])
    filler = fill_disk(small_disk, LEAVE)  # room for a few steps' progress, not for another checkpoint

    status = runs.run_status(ctx.workspace, ctx.registry, run_id)
    while status["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, (run_dir / "train.log").read_text()[-2000:]
        time.sleep(0.2)
        status = runs.run_status(ctx.workspace, ctx.registry, run_id)

    assert status["status"] == "failed" and status["phase"] == "failed"
    assert status["error"] == (
        "The disk is full, so the run's files could not be written; free some space, then resume the run or start "
        "it again."
    )
    one_sentence(status["error"])
    assert "No space left on device" in json.loads((run_dir / "progress.json").read_text())["error_detail"]
    # The save cut short is gone, the complete one before it is as it was, and no model/ was half-written.
    assert [step for step, path in checkpoints(run_dir / "checkpoints") if not (path / MARKER).is_file()] == []
    assert latest_complete(run_dir / "checkpoints") == first and tree(first[1]) == saved
    assert not (run_dir / "model").exists()

    filler.unlink()
    runs.resume_run(ctx.workspace, ctx.registry, run_id)
    while (status := runs.run_status(ctx.workspace, ctx.registry, run_id))["status"] in ("queued", "running"):
        assert time.monotonic() < deadline + 120, (run_dir / "train.log").read_text()[-2000:]
        time.sleep(0.3)
    assert status["status"] == "succeeded", status["error"]
    assert f"resuming from step {first[0]} " in (run_dir / "train.log").read_text()
