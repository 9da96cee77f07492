"""One splitter and one label->chat builder: the splits they replaced are kept row for row, a labelled table
is split the same way for OpenAI as for a local run, and `prepare` and the OpenAI plan write the same chats."""

from __future__ import annotations

import json
import random
from pathlib import Path

from trainer.backends.openai.plan import make_plan
from trainer.core.workspace import Workspace
from trainer.data.examples import load_examples
from trainer.data.prepare import prepare_dataset
from trainer.data.splits import split_indices, split_labelled_texts
from trainer.plan.config import RunConfig
from trainer.tasks.causal_lm.data import split as causal_split
from trainer.tasks.text_classification.chat_format import chat_example, label_from_answer, system_prompt


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_unlabelled_rows_are_shuffled_once_and_cut_test_first() -> None:
    # The rule the OpenAI chat/DPO plan and `prepare` used before there was one splitter: same rows, same order.
    for count, val, test, seed in ((120, 0.1, 0.1, 0), (37, 0.2, 0.15, 3), (11, 0.1, 0.0, 7)):
        order = list(range(count))
        random.Random(seed).shuffle(order)
        n_test, n_val = round(count * test), round(count * val)
        assert split_indices(count, val, test, seed) == {
            "train": order[n_test + n_val :],
            "validation": order[n_test : n_test + n_val],
            "test": order[:n_test],
        }


def test_causal_lm_validation_needs_ten_examples_and_then_holds_at_least_one() -> None:
    def examples(n: int) -> list[dict]:
        return [{"messages": [{"role": "user", "content": str(i)}]} for i in range(n)]

    train, validation = causal_split(examples(9), 0.1, seed=0)
    assert validation == [] and sorted(train, key=str) == sorted(examples(9), key=str)
    train, validation = causal_split(examples(10), 0.1, seed=0)
    assert len(validation) == 1 and sorted(train + validation, key=str) == sorted(examples(10), key=str)
    train, validation = causal_split(examples(20), 0.02, seed=0)  # 0.4 of an example still holds out one
    assert len(validation) == 1 and len(train) == 19
    assert causal_split(examples(50), 0.1, seed=4) == causal_split(examples(50), 0.1, seed=4)


def test_the_openai_plan_holds_out_the_rows_a_local_run_does_repeats_dropped(reviews_tsv: Path) -> None:
    lines = reviews_tsv.read_text(encoding="utf-8").splitlines(keepends=True)
    path = reviews_tsv.with_name("repeats.tsv")
    path.write_text("".join(lines + lines[1:6]), encoding="utf-8")  # exact repeats: a local run drops them
    plan = make_plan(Workspace.from_env(), path, "gpt-4.1-mini")

    texts, labels = load_examples(path, "text", "label")
    defaults = RunConfig()  # what a local run of this file uses
    local = split_labelled_texts(texts, labels, defaults.val_fraction, defaults.test_fraction, defaults.seed)
    assert local.repeats_dropped == 5 and plan["counts"] == {name: len(ix) for name, ix in local.splits.items()}
    folder = Path(plan["files"]["test"]).parent
    for name, indices in local.splits.items():
        expected = [{"text": local.texts[i], "label": local.labels[i]} for i in indices]
        assert read_jsonl(folder / "splits" / f"{name}.jsonl") == expected, name


def test_prepare_and_the_openai_plan_write_the_same_chat_examples(reviews_tsv: Path) -> None:
    path = reviews_tsv
    workspace = Workspace.from_env()
    prepared = read_jsonl(Path(prepare_dataset(path, workspace, to="chat-jsonl")["path"]) / "data.jsonl")
    plan = make_plan(workspace, path, "gpt-4.1-mini")
    planned = read_jsonl(Path(plan["files"]["train"]))
    assert plan["system_prompt"] == system_prompt(["neg", "pos"]) == prepared[0]["messages"][0]["content"]
    assert all(example in prepared for example in planned)  # the same three messages for each text
    assert chat_example("a", "pos", "S", text_pair="b")["messages"][1:] == [
        {"role": "user", "content": "a\n\nb"},
        {"role": "assistant", "content": "pos"},
    ]
    assert chat_example("a", None, "S")["messages"][-1]["role"] == "user"  # a question for the model


def test_an_answer_is_read_back_as_one_of_the_labels() -> None:
    labels = ["neg", "pos", "positive"]
    assert label_from_answer(" Pos. ", labels) == "pos"
    assert label_from_answer("I would say positive", labels) == "positive"  # the longest label named wins
    assert label_from_answer("no idea", labels) == "no idea" and label_from_answer("", labels) == "(empty)"
