"""A task defined outside tunechat, registered by a test: it proves a new task needs no change elsewhere.

"keyword-vote" learns, for each class, the words that occur more in its texts than in the others, and
predicts the class whose words a text contains most. Small, deterministic and dependency-free, yet it goes
through the same plan -> train (a worker process) -> evaluate -> serve (a server process) path as any task.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from trainer.core.fileio import atomic_write_json, read_json
from trainer.core.workspace import resolve_data_path, run_id_from_dir
from trainer.data.columns import pick_columns
from trainer.data.examples import usable_examples
from trainer.data.read import load_table
from trainer.data.splits import split_labelled_texts
from trainer.plan.config import RunConfig, resolve_config
from trainer.plan.plan import Plan, PlanRow
from trainer.serve.http import ServedApi
from trainer.store.registry import Registry
from trainer.tasks.base import MetricSpec, PlanRequest, Task

NAME = "keyword-vote"


class KeywordModel:
    """Scores per class: how much more often each word occurs in that class than overall (log ratio)."""

    def __init__(self, weights: dict[str, dict[str, float]], run_id: int | None = None):
        self.weights, self.run_id = weights, run_id
        self.labels = sorted(weights)

    @classmethod
    def fit(cls, texts: list[str], labels: list[str]) -> KeywordModel:
        overall = Counter(word for text in texts for word in text.lower().split())
        weights: dict[str, dict[str, float]] = {}
        for label in sorted(set(labels)):
            counts = Counter(
                word for text, y in zip(texts, labels, strict=True) if y == label for word in text.lower().split()
            )
            share = sum(1 for y in labels if y == label) / len(labels)
            weights[label] = {w: math.log((counts[w] + 0.5) / (overall[w] * share + 0.5)) for w in overall}
        return cls(weights)

    def predict(self, texts: list[str]) -> list[list[dict[str, Any]]]:
        results = []
        for text in texts:
            words = text.lower().split()
            raw = {label: sum(self.weights[label].get(w, 0.0) for w in words) for label in self.labels}
            top = max(raw.values())
            exp = {label: math.exp(score - top) for label, score in raw.items()}
            total = sum(exp.values())
            ranked = sorted(exp.items(), key=lambda item: item[1], reverse=True)
            results.append([{"label": label, "score": value / total} for label, value in ranked])
        return results


class KeywordVote(Task):
    name = NAME
    title = "keyword voting"
    metrics = (MetricSpec("accuracy", "share of test texts given the right class", 1),)
    rank_metric = "accuracy"

    def propose(self, request: PlanRequest) -> Plan:
        columns = pick_columns(load_table(request.path))
        proposed = {"data": str(request.path), "task": NAME, "text_column": columns["text_column"]}
        proposed["label_column"] = columns["label_column"]
        config = resolve_config(proposed, request.settings).to_dict()
        reasons = {"split": "80/10/10 of the labelled texts, stratified, so every class is tested."}
        table = [PlanRow("split", "80/10/10", reasons["split"])]
        return Plan(config=config, reasons=reasons, estimate_seconds=1.0, rows=0, file=request.path.name, table=table)

    def train(self, run_dir: Path, registry: Registry, run_id: int, resume: bool = False) -> dict[str, Any]:
        registry.update_run(run_id, status="running")
        config = RunConfig.load(run_dir / "config.json")
        path = resolve_data_path(config.data, run_dir.resolve().parent.parent)
        found = usable_examples(load_table(path), config.text_column, config.label_column)
        split = split_labelled_texts(found.texts, found.labels, config.val_fraction, config.test_fraction, config.seed)
        train = split.splits["train"]
        model = KeywordModel.fit([split.texts[i] for i in train], [split.labels[i] for i in train])
        atomic_write_json(run_dir / "model" / "keywords.json", model.weights)
        test = split.splits["test"]
        predicted = [row[0]["label"] for row in model.predict([split.texts[i] for i in test])]
        accuracy = sum(p == split.labels[i] for p, i in zip(predicted, test, strict=True)) / len(test)
        evaluation = {"task": NAME, "accuracy": accuracy, "test_size": len(test)}
        atomic_write_json(run_dir / "evaluation.json", evaluation)
        (run_dir / "metrics.jsonl").write_text(json.dumps({"step": 1, "loss": 1 - accuracy}) + "\n")
        atomic_write_json(run_dir / "progress.json", {"phase": "done", "updated_at": time.time()})
        registry.update_run(run_id, status="succeeded", metrics=evaluation, error=None)
        return {"status": "succeeded", "run_id": run_id}

    def has_model(self, run_dir: Path) -> bool:
        return (Path(run_dir) / "model" / "keywords.json").is_file()

    def served_api(self) -> ServedApi:
        from trainer.serve import classifier

        def load(run_dir: Path) -> KeywordModel:
            return KeywordModel(read_json(Path(run_dir) / "model" / "keywords.json"), run_id_from_dir(run_dir))

        # The classifier API (POST /predict) with this task's own model behind it.
        return replace(classifier.API, load=load, banner=lambda model, url: f"Serving keyword voting at {url}")


TASK = KeywordVote()
