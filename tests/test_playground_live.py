"""The playground beside live deployments and in a conversation: a deployed run answers over its own HTTP API as
the run itself does in-process, only deployments in the table (on this machine) are called, and a chat keeps one
conversation per side over several turns."""

from __future__ import annotations

import os
from pathlib import Path

import play_runs
import pytest

from trainer.core.errors import UserError
from trainer.core.workspace import Workspace
from trainer.serve import chat, classifier, deploy, play_remote
from trainer.serve.play_targets import CHAT, CLASSIFIER, DEPLOYED
from trainer.serve.playground import Answer, Given, Playground, Scores
from trainer.store.registry import Registry


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.mark.slow  # two servers in this process, three tiny models
def test_a_live_deployment_answers_over_its_api_like_the_run_itself(
    ws: Workspace, registry: Registry, tiny_llm: Path, tiny_bert: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainer.tasks.text_classification.predict import Predictor

    # The servers run in this process, so the table's process check is told they are ours.
    monkeypatch.setattr(deploy, "_is_our_server", lambda pid: True)
    chat_run = play_runs.chat_run(ws, registry, tiny_llm)
    text_run = play_runs.text_run(ws, registry, tiny_bert)
    with (
        chat.make_server(ws.run_dir(chat_run), "127.0.0.1", 0, quiet=True) as chat_server,
        classifier.make_server(Predictor.from_run(ws.run_dir(text_run)), "127.0.0.1", 0, quiet=True) as text_server,
    ):
        registry.add_deployment(chat_run, "127.0.0.1", _port(chat_server.url), os.getpid())
        registry.add_deployment(text_run, "0.0.0.0", _port(text_server.url), os.getpid())
        playground = Playground(ws, registry)
        choices = playground.choices()
        served_chat, served_text = DEPLOYED + chat_server.url, DEPLOYED + text_server.url
        assert [(choice.value, choice.kind) for choice in choices[:2]] == [
            (served_chat, CHAT),
            (served_text, CLASSIFIER),
        ]
        assert [choice.value for choice in choices[2:]] == [str(text_run), str(chat_run)]

        conversation = Given(messages=({"role": "user", "content": "who are you?"},))
        served = playground.answer(served_chat, conversation, max_new_tokens=24)
        local = playground.answer(str(chat_run), conversation, max_new_tokens=24)
        assert isinstance(served, Answer) and isinstance(local, Answer)
        assert served.model == f"deployment {chat_server.url} (run {chat_run})"
        assert (served.text, served.stopped) == (local.text, local.stopped) and served.text
        base = playground.base(served_chat, conversation, max_new_tokens=24)  # the run's base, in this process
        assert isinstance(base, Answer) and base.model == f"base model {tiny_llm.name}" and base.text == local.text

        text = Given("the food was great")
        scored = playground.answer(served_text, text)
        assert isinstance(scored, Scores) and scored.model == f"deployment {text_server.url} (run {text_run})"
        in_process = playground.answer(str(text_run), text)
        assert isinstance(in_process, Scores)
        assert [row["label"] for row in scored.labels] == [row["label"] for row in in_process.labels]
        assert [row["score"] for row in scored.labels] == pytest.approx([row["score"] for row in in_process.labels])
        compared = playground.compare(str(text_run), served_text, text)
        assert isinstance(compared, Scores) and compared.labels == scored.labels

        # A deployment's own refusal is one sentence naming it.
        with pytest.raises(UserError) as refused:
            play_remote.post(text_server.url + "/predict", b"{}", "application/json")
        assert str(refused.value).startswith(f"The deployment at {text_server.url}/predict refused the request: ")

    # Only addresses in the deployments table are called, and only on this machine.
    with pytest.raises(UserError, match="There is no live deployment at http://127.0.0.1:9 any more"):
        playground.answer(DEPLOYED + "http://127.0.0.1:9", text)
    with pytest.raises(UserError, match="is not on this machine; the playground only calls 127.0.0.1"):
        play_remote.check_loopback("http://192.0.2.7:8000")
    assert play_remote.check_loopback("http://[::1]:8000/") == "http://[::1]:8000"


@pytest.mark.slow  # three tiny chat models answer two turns
def test_a_chat_keeps_one_conversation_per_side(ws: Workspace, registry: Registry, tiny_llm: Path) -> None:
    from trainer.tasks.causal_lm.generate import ChatModel, Sampling
    from ui.playground import PlaygroundView

    first = play_runs.chat_run(ws, registry, tiny_llm)
    other = play_runs.chat_run(ws, registry, tiny_llm)
    view = PlaygroundView(Playground(ws, registry))
    note, message_box, *_ = view.describe(str(first))
    assert note.startswith(f"Run {first} is a chat model: each side keeps its own conversation")

    steps = list(view.play(str(first), str(other), "who are you?", "", None, None, 24, None))
    statuses = [step[0] for step in steps]
    assert statuses[-1] == "All three answered, greedily (the same message, the same settings)."
    assert [status.split(", then: ")[-1].removeprefix("⏳ ") for status in statuses[:3]] == [
        f"Run {first} is answering…",
        "Its base model is answering…",
        f"Run {other} is answering…",
    ]
    histories = steps[-1][1]
    assert [item["role"] for item in histories["tuned"]] == ["user", "assistant"]
    shown = steps[-1][2]  # the tuned side's panel: the reply with who gave it, as plain text
    assert shown[1]["content"].startswith(histories["tuned"][1]["content"] + f"\n\n— run {first} (tuned), ")

    *_, last = view.play(str(first), "", "and who made you?", "", None, None, 24, histories)
    after = last[1]
    assert [item["role"] for item in after["tuned"]] == ["user", "assistant", "user", "assistant"]
    assert after["other"] == [] and last[4] == []  # nothing compared this time
    asked = [{"role": item["role"], "content": item["content"]} for item in after["tuned"][:3]]
    expected = ChatModel.from_run(ws.run_dir(first)).complete(asked, Sampling(max_new_tokens=24))
    assert after["tuned"][3]["content"] == expected["choices"][0]["message"]["content"]
    assert last[0] == "Both answered, greedily (the same message, the same settings)."
    (shown_error, *_), *_ = list(view.play(str(first), "", "  ", "", None, None, 24, after))
    assert shown_error == "⚠️ Type a message first; the playground sends it to the run you picked."
