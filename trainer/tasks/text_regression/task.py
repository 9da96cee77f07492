"""Text regression as a Task: a pretrained encoder (MiniLM by default) with a one-number head that predicts a score."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.core.errors import UserError
from trainer.data import kinds
from trainer.plan.plan import Plan, PlanRow
from trainer.store.registry import Registry
from trainer.tasks.base import MetricSpec, PlanRequest, Task
from trainer.tasks.text_regression import purposes as goals

if TYPE_CHECKING:
    from trainer.search.space import SearchParam
    from trainer.serve.http import ServedApi

# The columns the planner reads from the data rather than proposes.
COLUMN_SETTINGS = ("text_column", "label_column", "text_pair_column")


class TextRegression(Task):
    name = "text-regression"
    title = "text regression"
    data_kinds = (kinds.REGRESSION,)
    aliases = (kinds.REGRESSION, "regressor")
    purposes = (goals.NUMBER, goals.SCALE)
    methods = ("full", "freeze")
    columns_from_inspection = True
    metrics = (
        MetricSpec("rmse", "root mean squared error on the test split, in the target's units", -1, "RMSE"),
        MetricSpec("mae", "mean absolute error on the test split, in the target's units", -1),
        MetricSpec("r2", "R²: share of the target's variance explained (0 = the mean baseline, 1 = perfect)", 1),
        MetricSpec("spearman", "rank correlation of predictions with the true values", 1),
        MetricSpec("pearson", "linear correlation of predictions with the true values", 1),
        MetricSpec("baseline_rmse", "test RMSE of always predicting the training mean", 0),
        MetricSpec("baseline_mae", "test MAE of always predicting the training mean", 0),
        MetricSpec("final_loss", "last logged training loss (MSE on the standardised target)", -1),
        MetricSpec("train_seconds", "wall-clock training time", 0),
    )
    # Lower RMSE is better (direction -1): the best of several runs has the smallest error.
    rank_metric = "rmse"
    exports = ("onnx", "hub")
    # The hub files a one-number head under text classification (num_labels 1, problem_type regression).
    pipeline_tag = "text-classification"
    search_metric = ("eval_rmse", -1)
    keeps_best_epoch = True
    exports = ("onnx", "hub")
    inspect_hint = "Say **fine-tune on this** for a plan that learns to predict the number."

    def search_space(self, config: dict[str, Any]) -> list[SearchParam]:
        from trainer.plan.config import BUNDLED_LAYERS, BUNDLED_MODEL
        from trainer.search.space import encoder_space

        return encoder_space(config, BUNDLED_LAYERS if config.get("model") == BUNDLED_MODEL else 0)

    def propose(self, request: PlanRequest) -> Plan:
        from trainer.inspection.report import inspect_file
        from trainer.tasks.registry import task_for_kind
        from trainer.tasks.text_classification.plan import machine_gflops
        from trainer.tasks.text_regression import plan

        settings = request.settings
        report = inspect_file(
            request.path,
            text_column=settings.get("text_column"),
            label_column=settings.get("label_column"),
            task=kinds.REGRESSION,
        )
        if task_for_kind(report.get("task")) is not self:
            raise UserError(
                f"'{request.path.name}' holds {kinds.description(str(report.get('task')))}, not texts with a number "
                "to predict; name the column of numbers with --label-column, or choose another task."
            )
        user = {key: value for key, value in settings.items() if key not in COLUMN_SETTINGS}
        proposal = plan.propose(
            {**report, "path": str(request.path)}, self.name, user, gflops=machine_gflops(request.cache_dir)
        )
        config, reasons = proposal["config"], proposal["reasons"]
        split = f"{1 - config['val_fraction'] - config['test_fraction']:.0%}/{config['val_fraction']:.0%}/"
        table = [
            PlanRow("base model", config["model"], reasons.get("model", "")),
            PlanRow("target", f"{config['label_column']} (standardised)", reasons["target"]),
            PlanRow("epochs", config["epochs"], reasons.get("epochs", "")),
            PlanRow("learning rate", config["learning_rate"], reasons.get("learning_rate", "")),
            PlanRow("batch size", config["batch_size"], reasons.get("batch_size", "")),
            PlanRow("max length", config["max_length"], reasons.get("max_length", "")),
            PlanRow("split (train/val/test)", split + f"{config['test_fraction']:.0%}", reasons.get("split", "")),
        ]
        if config.get("freeze_layers"):
            table.append(PlanRow("frozen layers", config["freeze_layers"], reasons.get("freeze_layers", "")))
        left_out = next((p for p in report.get("problems", []) if p.get("code") == "non_numeric_labels"), None)
        if left_out:
            table.append(PlanRow("rows left out", left_out["count"], left_out["message"]))
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
            + f", number to predict `{config['label_column']}`",
            extra={"docs": proposal["docs"], "target": report.get("target")},
        )

    def train(self, run_dir: Path, registry: Registry, run_id: int, resume: bool = False) -> dict[str, Any]:
        from trainer.tasks.text_regression.train import train_run

        return train_run(run_dir, registry, run_id)

    def served_api(self) -> ServedApi:
        from trainer.serve import regressor

        return regressor.API

    def summary_metrics(self, evaluation: dict[str, Any]) -> dict[str, Any]:
        from trainer.evaluate.metrics import regression_summary

        return regression_summary(evaluation)


TASK = TextRegression()
