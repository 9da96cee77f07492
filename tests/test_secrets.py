"""The OpenAI key goes where it is needed and nowhere else.

A canary key sits in OPENAI_API_KEY (the `fake` fixture: the loopback fine-tuning API accepts only it, and
its teardown finds the key in no file of the workspace, database and logs included, and in nothing the test
printed). A web chat in LLM mode, driven over HTTP by gradio_client with the scripted chat model, then calls
every tool, confirms what waits for a yes, trains locally, serves a model and fine-tunes through the API.
The key must be in no chat message (shown, stored, or handed to the model as a tool result), no HTTP response
of tunechat's own servers, and no child's argv; only the job follower holds it, in its environment. A model server's
own API key (TUNECHAT_API_KEY) likewise reaches a deployed server only through its environment.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fake_openai_ft import FakeFineTuning
from faults import chat_text
from hosted_runs import CANARY
from run_records import make_run
from scripted_model import ScriptedChatModel, say, tool_call
from web_app import free_port

from agent.assistant import Assistant
from tools.registry import TOOLS
from trainer.core import processes
from trainer.core.workspace import Workspace
from trainer.serve.access import KEY_ENV
from trainer.serve.deploy import deploy_run, stop_deployment
from trainer.store.registry import FINISHED
from ui import web
from ui.render import MARKDOWN

FOLLOWER = "trainer.backends.openai.follow"
SERVER = "trainer.serve"


class Children:
    """Every child process started, with the argv and environment it was given."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started: list[tuple[list[str], dict[str, str]]] = []
        start = processes.CHILDREN.start

        def recording(command: Sequence[str], *, log: Path, env: Mapping[str, str], cwd: Path | None = None) -> int:
            self.started.append((list(command), dict(env)))
            return start(command, log=log, env=env, cwd=cwd)

        monkeypatch.setattr(processes.CHILDREN, "start", recording)

    def running(self, module: str) -> list[tuple[list[str], dict[str, str]]]:
        return [(argv, env) for argv, env in self.started if module in argv]


class WebChat:
    """One browser tab of the web chat, its model's script given turn by turn; every response is kept."""

    def __init__(self, url: str, model: ScriptedChatModel) -> None:
        from gradio_client import Client

        self.client = Client(url, verbose=False, download_files=False, analytics_enabled=False)
        self.model = model
        self.responses: list[str] = []

    def send(self, text: str, *script: Any, files: Sequence[Path] = ()) -> str:
        from gradio_client import handle_file

        self.model.add(*script)
        result = self.client.predict({"text": text, "files": [handle_file(str(f)) for f in files]}, api_name="/chat")
        self.responses.append(json.dumps(result))
        assert self.model.script == [], "the model was asked fewer times than scripted"
        chatbot = result[0]
        answer = chat_text([m for m in chatbot if m["role"] == "assistant" and not m.get("metadata")][-1:])
        return answer

    def tool(self, text: str, name: str, **args: Any) -> str:
        """A message the model answers with one tool call, then a sentence."""
        return self.send(text, tool_call(name, **args), say(f"I called {name}."))


def wait_finished(assistant: Assistant, run_id: int, timeout_s: float = 120) -> str:
    deadline = time.monotonic() + timeout_s
    while (status := assistant.registry.get_run(run_id)["status"]) not in FINISHED:
        assert time.monotonic() < deadline, f"run {run_id} stayed {status}"
        time.sleep(0.3)
    return str(status)


@pytest.mark.slow
def test_a_session_through_every_tool_leaks_the_key_nowhere(
    fake: FakeFineTuning, tiny_bert: Path, reviews_tsv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    children = Children(monkeypatch)
    model = ScriptedChatModel()
    assistant = Assistant(workspace=Workspace.from_env(), chat_model=model, presenter=MARKDOWN)
    shutil.copytree(tiny_bert, assistant.workspace.models / "tiny")
    port = free_port()
    demo = web.launch(port=port, assistant=assistant, prevent_thread_lock=True)
    url = f"http://127.0.0.1:{port}/"
    called: list[str] = []
    try:
        chat = WebChat(url, model)
        plan = {"file": "reviews.tsv", "model": "tiny", "epochs": 2, "learning_rate": 1e-2}

        chat.send("what files do I have?", tool_call("list_files"), say("One."), files=[reviews_tsv])
        chat.tool("look at it", "inspect_data", file="reviews.tsv")
        chat.tool(
            "I want to sort reviews by mood", "advise_method", description="sort reviews by mood", file="reviews.tsv"
        )
        chat.tool("remove duplicates", "prepare_data", file="reviews.tsv", dedupe=True)
        (dataset,) = [p.name for p in assistant.workspace.datasets.iterdir()]
        chat.tool("what would you propose?", "propose_plan", **plan)
        chat.tool("plan that run", "start_training", **plan)
        chat.send("go")  # the user's own yes starts it
        assert wait_finished(assistant, 1) == "succeeded"
        chat.tool("status?", "run_status", run_id=1)
        chat.tool("how good is it?", "evaluate_run", run_id=1)

        chat.tool("again with 500 epochs", "plan_like_run", run_id=1, changes={"epochs": 500})
        chat.send("yes")
        chat.tool("stop it", "stop_run", run_id=2)
        assert wait_finished(assistant, 2) == "cancelled"
        chat.tool("resume it", "resume_run", run_id=2)  # a classifier keeps no checkpoint: one sentence back
        chat.tool("why did it stop?", "diagnose_run", run_id=2)
        chat.tool("fix it", "relaunch_run", run_id=2)
        chat.send("no")

        chat.tool("retrain it with the remedy", "retrain_with_remedy", run_id=1)  # nothing flagged: one sentence
        chat.tool("judge run 1", "judge_answers", run_id=1)  # no judge configured: one sentence back
        chat.tool("find the best learning rate", "plan_search", file="reviews.tsv", trials=2, params=["learning_rate"])
        chat.send("no")  # the search waits for a yes; dropped here
        chat.tool("how is the search?", "search_status")  # no search ran: one sentence back
        chat.tool("resume the search", "resume_search")
        chat.tool("stop the search", "stop_search")
        chat.tool("which is best?", "find_runs", which="best")
        chat.tool("list them", "list_runs")
        chat.tool("try it first", "dry_run")  # no plan waits: one sentence back
        chat.tool("export run 1 for the hub", "export_run", run_id=1, format="hub")
        chat.tool("serve run 1", "deploy_run", run_id=1)
        chat.send("yes")
        (deployment,) = assistant.registry.list_deployments()
        served = f"http://127.0.0.1:{deployment['port']}"
        for response in (
            httpx.post(served + "/predict", json={"inputs": "the food was great"}, timeout=30),
            httpx.post(served + "/predict", json={"inputs": 7}, timeout=30),  # a 400 with its sentence
            *(httpx.get(served + path, timeout=30) for path in ("/health", "/docs", "/openapi.json")),
        ):
            chat.responses.append(response.text)
        chat.tool("take it down", "stop_serving", run_id=1)
        chat.send("yes")

        chat.tool("fine-tune gpt-4.1-mini on it", "start_training", file="reviews.tsv", model="gpt-4.1-mini")
        chat.send("yes")
        assert len(fake.jobs) == 1 and wait_finished(assistant, 3) == "succeeded"
        chat.tool("how did the hosted run do?", "run_status", run_id=3)
        chat.tool("compare them", "compare_runs", run_ids=[1, 3])
        chat.tool("why did run 1 beat run 3?", "explain_comparison", run_ids=[1, 3])

        chat.tool("delete the prepared data", "delete_dataset", dataset=dataset)
        chat.send("yes")
        chat.tool("delete run 2", "delete_run", run_id=2)
        chat.send("yes")
        for page in ("config", "gradio_api/info"):
            chat.responses.append(httpx.get(url + page, timeout=30).text)
        for endpoint in ("/runs", "/sessions"):
            chat.responses.append(json.dumps(chat.client.predict(api_name=endpoint)))
        called = [
            call["name"]
            for request in model.received
            for message in request
            for call in getattr(message, "tool_calls", [])
        ]
    finally:
        demo.close()
        for deployment in assistant.registry.list_deployments():  # never leave a server behind
            stop_deployment(assistant.workspace, assistant.registry, deployment["run_id"])

    assert set(called) >= {tool.__name__ for tool in TOOLS}  # every tool was called
    assert not (assistant.workspace.datasets / dataset).exists() and assistant.registry.list_runs()[-1]["id"] == 3
    assert fake.authorizations == {f"Bearer {CANARY}"}  # the API really got the key

    # No chat message: shown (every HTTP response of the web chat), stored, or given to the model.
    assert [i for i, text in enumerate(chat.responses) if CANARY in text] == []
    stored = [m["content"] for s in assistant.sessions.list_sessions() for m in assistant.history(s["id"])]
    assert stored and not any(CANARY in text for text in stored)
    seen_by_model = [str(message.content) for request in model.received for message in request]
    assert not any(CANARY in text for text in seen_by_model)

    # No child's argv; the environment only of the follower, which calls the API.
    assert {argv[2] for argv, _ in children.started} >= {"trainer.backends.worker", FOLLOWER, SERVER}
    assert [argv for argv, _ in children.started if any(CANARY in arg for arg in argv)] == []
    holders = [argv[2] for argv, env in children.started if CANARY in env.values()]
    assert holders == [FOLLOWER]


@pytest.mark.slow
def test_a_model_server_holds_no_api_key(trained_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    assistant = Assistant(presenter=MARKDOWN)
    run_id = make_run(assistant, trained_model)
    deployment = deploy_run(assistant.workspace, assistant.registry, run_id)
    try:
        environ = Path(f"/proc/{deployment['pid']}/environ").read_bytes().split(b"\0")
        cmdline = Path(f"/proc/{deployment['pid']}/cmdline").read_bytes()
    finally:
        stop_deployment(assistant.workspace, assistant.registry, run_id)
    assert SERVER.encode() in cmdline and CANARY.encode() not in cmdline
    assert [line for line in environ if CANARY.encode() in line or line.startswith(b"OPENAI_API_KEY=")] == []


@pytest.mark.slow
def test_a_deployed_server_gets_its_api_key_only_through_its_environment(
    trained_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = f"{CANARY}-serve"
    monkeypatch.setenv(KEY_ENV, key)
    children = Children(monkeypatch)
    assistant = Assistant(presenter=MARKDOWN)
    run_id = make_run(assistant, trained_model)
    deployment = deploy_run(assistant.workspace, assistant.registry, run_id)
    try:
        environ = Path(f"/proc/{deployment['pid']}/environ").read_bytes().split(b"\0")
        cmdline = Path(f"/proc/{deployment['pid']}/cmdline").read_bytes()
        predict, body = f"{deployment['url']}/predict", {"inputs": "the food was great"}
        refused = httpx.post(predict, json=body, timeout=30)
        answered = httpx.post(predict, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    finally:
        stop_deployment(assistant.workspace, assistant.registry, run_id)
    assert refused.status_code == 401 and key not in refused.text and answered.status_code == 200
    assert f"{KEY_ENV}={key}".encode() in environ and key.encode() not in cmdline
    assert [argv for argv, _ in children.running(SERVER) if any(key in arg for arg in argv)] == []
    # What deploy answers names the variable, never the key; no file of the workspace (serve.log, the database,
    # the run's files) holds it.
    assert key not in json.dumps(deployment) and f"${KEY_ENV}" in deployment["curl"]
    files = [path for path in assistant.workspace.root.rglob("*") if path.is_file()]
    assert any(path.name == "serve.log" for path in files)
    assert [path for path in files if key.encode() in path.read_bytes()] == []
