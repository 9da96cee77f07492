"""OpenAI refuses (the loopback OpenAI server closed to this organisation), the chat offers Together, and the
user's pick plans there and its yes makes one Together job on the loopback Together server; both runs of the
file name the same held-out rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_openai_ft import FakeFineTuning
from together_server import together_api
from toy_data import make_reviews

from agent.assistant import Assistant
from tools.pending import pending_action
from trainer.backends.together.record import read_record
from trainer.evaluate.held_out import held_out_of
from ui.render import MARKDOWN

TOGETHER_CANARY = "tgp-canary-e3a7c5910b2d4f68"


def _reviews(tmp_path: Path, n: int = 60) -> Path:
    path = tmp_path / "reviews.tsv"
    path.write_text("label\ttext\n" + "".join(f"{y}\t{t}\n" for t, y in make_reviews(n)), encoding="utf-8")
    return path


@pytest.mark.slow
def test_after_openai_refuses_run_it_on_together_plans_there_and_its_yes_makes_one_together_job(
    fake: FakeFineTuning,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    offline_workspace: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    fake.closed = True
    with together_api(monkeypatch, offline_workspace, capfd, TOGETHER_CANARY) as together:
        assistant = Assistant(presenter=MARKDOWN)
        assistant.chat_model = None  # guided mode
        session = assistant.new_session()
        assistant.reply(session, "fine-tune gpt-4.1-mini on this, 2 epochs", files=[_reviews(tmp_path)])
        refused = assistant.reply(session, "go")
        assert "run it on together" in refused.options and fake.create_calls == 1 and fake.jobs == {}

        # The pick is a plan, the provider's own: named as Together's, with the refused plan's epochs; nothing sent.
        reply = assistant.reply(session, "run it on together")
        assert "**Together AI fine-tuning plan** for" in reply.text and "OpenAI" not in reply.text
        assert "fine-tuned through the Together AI API" in reply.text and "| epochs | 2 |" in reply.text
        assert together.requests == []
        ctx = assistant.context(session)
        waiting = pending_action(ctx)
        assert waiting is not None and waiting["kind"] == "hosted_job"
        assert waiting["arguments"]["backend"] == "together"

        # Its yes: one Together job, from this run's own upload; OpenAI is asked nothing more.
        reply = assistant.reply(session, "yes")
        assert "created Together AI job" in reply.text, reply.text
        assert together.create_calls == 1 and len(together.jobs) == 1 and fake.create_calls == 1
        openai_run, together_run = ctx.registry.list_runs()
        assert openai_run["backend"] == "openai" and openai_run["status"] == "failed"
        assert together_run["backend"] == "together"
        job = next(iter(together.jobs.values()))
        record = read_record(ctx.workspace.run_dir_of(together_run))
        assert job["id"] == record["job_id"] and job["training_file"] == record["training_file_id"]
        assert job["n_epochs"] == 2

        # The same file on both: the same held-out rows, so their runs compare.
        found = held_out_of(ctx.workspace.run_dir_of(together_run))
        assert found is not None and found["split"] == "test"
        assert found == held_out_of(ctx.workspace.run_dir_of(openai_run))
