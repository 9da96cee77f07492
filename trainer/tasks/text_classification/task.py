"""Text classification as a Task: a pretrained encoder (MiniLM by default) with a new classification head."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.core.errors import UserError
from trainer.data import kinds
from trainer.plan.plan import Plan, PlanRow
from trainer.store.registry import Registry
from trainer.tasks.base import Ask, HostedData, MetricSpec, PlanRequest, Task
from trainer.tasks.text_classification import purposes as goals

if TYPE_CHECKING:
    from trainer.search.space import SearchParam
    from trainer.serve.http import ServedApi

# The columns the planner reads from the data rather than proposes.
COLUMN_SETTINGS = ("text_column", "label_column", "text_pair_column")


class TextClassification(Task):
    name = "text-classification"
    title = "text classification"
    data_kinds = kinds.LABELLED_TEXT
    aliases = ("classification", "classifier", "classify", kinds.TEXT_PAIR_CLASSIFICATION)
    purposes = (goals.SINGLE, goals.PAIRS)
    methods = ("full", "freeze")
    columns_from_inspection = True
    metrics = (
        MetricSpec("accuracy", "share of test examples classified correctly", 1),
        MetricSpec("macro_f1", "F1 averaged over classes, so rare classes count as much as common ones", 1, "macro-F1"),
        MetricSpec("baseline", "test accuracy of always predicting the most common training class", 0),
        MetricSpec("final_loss", "last logged training loss", -1),
        MetricSpec("train_seconds", "wall-clock training time", 0),
    )
    hosted_trainable = True
    rank_metric = "macro_f1"
    exports = ("onnx", "hub")
    pipeline_tag = "text-classification"
    search_metric = ("eval_macro_f1", 1)
    keeps_best_epoch = True
    inspect_hint = "Say **fine-tune a classifier on this** for a plan."
    exports = ("onnx", "hub")

    def search_space(self, config: dict[str, Any]) -> list[SearchParam]:
        from trainer.plan.config import BUNDLED_LAYERS, BUNDLED_MODEL
        from trainer.search.space import encoder_space

        return encoder_space(config, BUNDLED_LAYERS if config.get("model") == BUNDLED_MODEL else 0)

    def propose(self, request: PlanRequest) -> Plan:
        from trainer.inspection.report import inspect_file
        from trainer.tasks.registry import task_for_kind
        from trainer.tasks.text_classification import plan

        settings = request.settings
        report = inspect_file(
            request.path,
            text_column=settings.get("text_column"),
            label_column=settings.get("label_column"),
        )
        if task_for_kind(report.get("task")) is not self:
            raise UserError(
                f"'{request.path.name}' holds {report.get('task')} data, which tunechat cannot train here yet; "
                "name the text and label columns to train a classifier, or use chat or preference data."
            )
        user = {key: value for key, value in settings.items() if key not in COLUMN_SETTINGS}
        proposal = plan.propose(
            {**report, "path": str(request.path)}, user, gflops=plan.machine_gflops(request.cache_dir)
        )
        config, reasons = proposal["config"], proposal["reasons"]
        table = [
            PlanRow("base model", config["model"], reasons.get("model", "")),
            PlanRow("epochs", config["epochs"], reasons.get("epochs", "")),
            PlanRow("learning rate", config["learning_rate"], reasons.get("learning_rate", "")),
            PlanRow("batch size", config["batch_size"], reasons.get("batch_size", "")),
            PlanRow("max length", config["max_length"], reasons.get("max_length", "")),
            PlanRow(
                "split (train/val/test)",
                f"{1 - config['val_fraction'] - config['test_fraction']:.0%}/{config['val_fraction']:.0%}/"
                f"{config['test_fraction']:.0%}",
                reasons.get("split", ""),
            ),
        ]
        if config.get("freeze_layers"):
            table.append(PlanRow("frozen layers", config["freeze_layers"], reasons.get("freeze_layers", "")))
        from trainer.plan.fit.encoder import encoder_fit_rows

        table += [PlanRow(*row) for row in encoder_fit_rows(config, request.cache_dir)]
        return Plan(
            config=config,
            reasons=reasons,
            estimate_seconds=proposal["estimate_seconds"],
            rows=proposal["rows"],
            file=request.path.name,
            table=table,
            subject=f"text `{config['text_column']}`"
            + (f", second text `{config['text_pair_column']}`" if config.get("text_pair_column") else "")
            + f", label `{config['label_column']}`",
            extra={"docs": proposal["docs"]},
        )

    def train(self, run_dir: Path, registry: Registry, run_id: int, resume: bool = False) -> dict[str, Any]:
        from trainer.tasks.text_classification.train import train_run

        return train_run(run_dir, registry, run_id)

    def served_api(self) -> ServedApi:
        from trainer.serve import classifier

        return classifier.API

    def summary_metrics(self, evaluation: dict[str, Any]) -> dict[str, Any]:
        from trainer.evaluate.metrics import classification_summary

        return classification_summary(evaluation)

    def hosted_data(self, path: Path, config: dict[str, Any]) -> HostedData:
        from trainer.tasks.text_classification import hosted

        return hosted.hosted_data(path, config)

    def evaluate_hosted(self, run_dir: Path, record: dict[str, Any], ask: Ask) -> dict[str, Any] | None:
        from trainer.tasks.text_classification import hosted

        return hosted.evaluate_hosted(run_dir, record, ask)


TASK = TextClassification()
