"""Shared fixtures: offline always, a fresh workspace per test, tiny real models built here."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest


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


POSITIVE = ["great", "lovely", "excellent", "wonderful", "fantastic", "superb", "delightful", "amazing"]
NEGATIVE = ["awful", "terrible", "horrible", "dreadful", "bad", "poor", "disgusting", "nasty"]
FILLER = ["the", "food", "was", "service", "really", "quite", "place", "and", "staff", "meal", "today"]


def make_reviews(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """Short reviews whose sentiment is carried by one clear word, learnable in a few steps."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = rng.sample(FILLER, 4) + [rng.choice(POSITIVE if label == "pos" else NEGATIVE)]
        rng.shuffle(words)
        rows.append((" ".join(words), label))
    return rows


@pytest.fixture
def reviews_tsv(tmp_path: Path) -> Path:
    """A small tab-separated file with a `label` and a `text` column."""
    path = tmp_path / "reviews.tsv"
    lines = ["label\ttext"] + [f"{label}\t{text}" for text, label in make_reviews(120)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def save_word_bert(folder: Path, max_length: int, **config: Any) -> Path:
    """A BERT classifier with a word-level tokenizer over the review words, saved as safetensors in `folder`.

    `config` sets BertConfig fields (hidden_size, num_hidden_layers, ...); max_length is both the tokenizer's
    limit and the model's number of positions.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    vocab_words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *POSITIVE, *NEGATIVE, *FILLER]
    vocab = {word: index for index, word in enumerate(vocab_words)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    # [CLS] first, as BERT's pooler classifies from the first token.
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length,
    )
    tokenizer.save_pretrained(folder)
    bert = BertConfig(vocab_size=len(vocab), max_position_embeddings=max_length, **config)
    BertForSequenceClassification(bert).save_pretrained(folder, safe_serialization=True)
    return folder


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


FINISHED_STATUSES = ("succeeded", "failed", "cancelled")


def wait_for_status(workspace: Any, registry: Any, run_id: int, timeout_s: float = 120) -> dict[str, Any]:
    """Poll a run until it has finished (succeeded, failed or cancelled); fail with its log's tail if it does not."""
    from trainer.backends import runs

    deadline = time.monotonic() + timeout_s
    while True:
        status = runs.run_status(workspace, registry, run_id)
        if status["status"] in FINISHED_STATUSES:
            return status
        if time.monotonic() > deadline:
            log = Path(status.get("run_dir") or workspace.run_dir(run_id)) / "train.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise AssertionError(f"run {run_id} did not finish in {timeout_s} s: {tail}")
        time.sleep(0.3)
