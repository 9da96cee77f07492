"""Every shared fixture, defined once: offline always, a fresh workspace per test, tiny real models built here.

Plain helpers live in modules beside this one (toy_data, toy_models, polling, drivers, scripted_model); tests
import those, never conftest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import toy_task
from drivers import Driver, ScriptedDriver, ServerDriver
from openai_server import FakeOpenAI
from toy_data import chat_rows, make_reviews, pair_rows, write_jsonl
from toy_models import build_tiny_llm, save_word_bert

from agent.assistant import Assistant
from trainer.core.workspace import Workspace
from trainer.serve.deploy import list_deployments, stop_deployment
from trainer.store.registry import Registry
from ui.render import MARKDOWN


@pytest.fixture(autouse=True)
def offline_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the workspace at a temp dir, forbid hub downloads and drop any real API key."""
    home = tmp_path / "tunechat-home"
    monkeypatch.setenv("TUNECHAT_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "TUNECHAT_MODEL"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def ws(offline_workspace: Path) -> Workspace:
    """The test's own workspace (under its temp dir)."""
    return Workspace.from_env()


@pytest.fixture
def registry(ws: Workspace) -> Registry:
    """The run registry of the test's workspace: a real SQLite file."""
    return Registry(ws.db_path)


@pytest.fixture
def ws_registry(ws: Workspace, registry: Registry) -> Iterator[tuple[Workspace, Registry]]:
    """The workspace and its registry together; stops any model server a test deployed."""
    from trainer.serve.deploy import list_deployments, stop_deployment

    yield ws, registry
    # Never leave a server process behind, whatever the test did.
    for deployment in list_deployments(ws, registry):
        stop_deployment(ws, registry, deployment["run_id"])


@pytest.fixture
def reviews_tsv(tmp_path: Path) -> Path:
    """A small tab-separated file with a `label` and a `text` column."""
    path = tmp_path / "reviews.tsv"
    lines = ["label\ttext"] + [f"{label}\t{text}" for text, label in make_reviews(120)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer BERT with a word-level tokenizer made here, saved as safetensors: trains in seconds."""
    return save_word_bert(
        tmp_path_factory.mktemp("tiny-bert"),
        max_length=64,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )


@pytest.fixture(scope="session")
def tiny_llm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Llama with a BPE tokenizer and chat template made here: trains on the toy facts in seconds."""
    return build_tiny_llm(tmp_path_factory.mktemp("tiny-llm"))


@pytest.fixture
def chat_jsonl(tmp_path: Path) -> Path:
    """48 OpenAI-format chats of the toy facts, some with a system message."""
    return write_jsonl(tmp_path / "chat.jsonl", chat_rows())


@pytest.fixture
def pairs_jsonl(tmp_path: Path) -> Path:
    """32 preference pairs of the toy facts: the right answer chosen, a wrong one rejected."""
    return write_jsonl(tmp_path / "pairs.jsonl", pair_rows())


@pytest.fixture
def keyword_task() -> Iterator[toy_task.KeywordVote]:
    """The toy plug-in task (tests/toy_task.py) registered for one test, and removed after it."""
    from trainer.tasks.registry import register, unregister

    task = register(toy_task.KeywordVote())
    yield task
    unregister(task.name)


# ---- the LLM path: the same script through the in-process model or over HTTP -----------------------


@pytest.fixture(scope="module")
def quick_model(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny_bert given a classification head and a few real optimizer steps, saved like a run's model/."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    labels = ["neg", "pos"]
    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_bert, num_labels=2, id2label=dict(enumerate(labels)), label2id={"neg": 0, "pos": 1}, use_safetensors=True
    )
    rows = make_reviews(32, seed=1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for step in range(4):
        batch = rows[step * 8 : step * 8 + 8]
        encoded = tokenizer([text for text, _ in batch], padding=True, return_tensors="pt")
        loss = model(**encoded, labels=torch.tensor([labels.index(label) for _, label in batch])).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    folder = tmp_path_factory.mktemp("confirmations") / "model"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(params=["scripted", "http"])
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    if request.param == "scripted":
        yield ScriptedDriver()
        return
    with FakeOpenAI() as server:
        yield ServerDriver(server)


@pytest.fixture
def assistant_for() -> Iterator[Callable[[Driver], Assistant]]:
    made: list[Assistant] = []

    def make(driver: Driver) -> Assistant:
        made.append(Assistant(chat_model=driver.model, presenter=MARKDOWN))
        return made[-1]

    yield make
    for assistant in made:  # never leave a server process behind
        for deployment in list_deployments(assistant.workspace, assistant.registry):
            stop_deployment(assistant.workspace, assistant.registry, deployment["run_id"])
