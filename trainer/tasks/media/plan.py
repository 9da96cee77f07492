"""Propose a media-classification run: how much of the pretrained network trains, with a reason tied to the data.

Few examples per class move a pretrained network's millions of weights towards memorising them, so the planner
freezes more of it the less data there is: a linear probe (only the new head trains) for a handful per class, the
top layers for a few hundred, everything beyond. The modality adds its own choices (image size, flips, clip
length); the user's settings always win. The time estimate is FLOPs over this machine's measured throughput.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trainer.core.workspace import workspace_root
from trainer.data.splits import split_sizes
from trainer.evaluate.selection import propose_patience
from trainer.plan.config import field_doc, resolve_config
from trainer.plan.plan import Plan, PlanRow
from trainer.tasks.base import PlanRequest
from trainer.tasks.media.examples import MediaSet, load_media

if TYPE_CHECKING:
    from trainer.tasks.media.task import MediaClassificationTask

# Training examples per class below which only the head trains, and below which only the top layers do.
PROBE_PER_CLASS = 30
TOP_LAYERS_PER_CLASS = 400
# Share of the backbone's layers (from the top) trained when only the top layers train.
TOP_SHARE = 0.4
OVERHEAD_SECONDS = 20.0


def propose_media(task: MediaClassificationTask, request: PlanRequest) -> Plan:
    modality = task.modality
    user = {key: value for key, value in request.settings.items() if value is not None}
    root = request.cache_dir or workspace_root()
    media = load_media(
        request.path, modality, root, file_column=user.get("file_column"), label_column=user.get("label_column")
    )
    proposed: dict[str, Any] = {"data": str(request.path), "task": task.name, "model": modality.default_model}
    reasons: dict[str, str] = {"model": f"{modality.default_model} is pretrained, small and runs offline on a CPU."}
    proposed["val_fraction"], proposed["test_fraction"] = 0.1, 0.1
    train_share = 0.8
    rows, classes = len(media.examples), len(media.labels)
    smallest = min(media.counts().values())

    groups = {example.group for example in media.examples}
    wanted = user.get("group_split") is not False
    if wanted and None not in groups and len(groups) >= 3 and groups_cross_classes(media):
        proposed["group_split"] = True
        sample = media.examples[0]
        # A test of one held-out group is one speaker's score: hold out at least two when there are enough.
        test_words = "the test"
        if len(groups) >= 8:
            proposed["test_fraction"] = max(0.1, round(2 / len(groups), 2))
            train_share = 1 - proposed["val_fraction"] - proposed["test_fraction"]
            _, _, held = split_sizes(len(groups), proposed["val_fraction"], proposed["test_fraction"], min_examples=3)
            test_words = f"the test ({held} of them, so its score is not one speaker's)"
        shares = f"{train_share:.0%}/{proposed['val_fraction']:.0%}/{proposed['test_fraction']:.0%}"
        reasons["split"] = (
            f"{shares} by group: the {len(groups)} groups in the file names (e.g. speakers; '{sample.group}' from "
            f"'{sample.name}') each stay in one split, so {test_words} measures how the model does on groups it "
            "never heard or saw; set group_split to false to split by file instead."
        )
    else:
        reasons["split"] = (
            f"80/10/10, stratified with seed 42, so each of the {classes} classes (smallest: {smallest} files) is "
            "in every split."
        )

    per_class = rows * train_share / classes
    model = str(user.get("model") or modality.default_model)
    layers = modality.layer_count(model)
    _choose_training(proposed, reasons, per_class, layers, rows * train_share, modality.probe_examples)
    if rows * train_share < 1000:
        proposed["batch_size"] = 16
        reasons["batch_size"] = "Few files: 16 gives more optimizer steps per pass and still steady batch statistics."
    else:
        proposed["batch_size"] = 32
        reasons["batch_size"] = "32 keeps the CPU busy and batch-norm statistics stable."

    if user.get("freeze_layers") is not None and "method" not in user:
        proposed["method"] = "freeze" if int(user["freeze_layers"]) > 0 else "full"  # the method follows the user's
    chosen, why = modality.plan_settings(media, user)
    proposed.update(chosen)
    reasons.update(why)
    propose_patience(proposed, reasons, user)
    config = resolve_config(proposed, user)
    for key in user:
        reasons[key] = "You asked for this."

    estimate = estimate_seconds(task, config.to_dict(), rows, layers, request)
    table = [
        PlanRow("base model", config.model, reasons.get("model", "")),
        PlanRow("training", _training_words(config.freeze_layers, layers), reasons.get("freeze_layers", "")),
        PlanRow("epochs", config.epochs, reasons.get("epochs", "")),
        PlanRow("learning rate", config.learning_rate, reasons.get("learning_rate", "")),
        PlanRow("batch size", config.batch_size, reasons.get("batch_size", "")),
        *[PlanRow(key.replace("_", " "), config.to_dict()[key], reasons.get(key, "")) for key in chosen],
        PlanRow(
            "split (train/val/test)",
            f"{1 - config.val_fraction - config.test_fraction:.0%}/{config.val_fraction:.0%}/{config.test_fraction:.0%}"
            + (" by group" if config.group_split else ""),
            reasons.get("split", ""),
        ),
    ]
    notes = [note for note in (media.skipped_sentence(), *media.notes) if note]
    return Plan(
        config=config.to_dict(),
        reasons=reasons,
        estimate_seconds=estimate,
        rows=rows,
        file=request.path.name,
        table=table,
        subject=f"{rows} {modality.noun} files in {classes} classes",
        extra={
            "docs": {name: field_doc(name) for name in ("epochs", "learning_rate", "batch_size", "freeze_layers")},
            "notes": notes,
        },
    )


def groups_cross_classes(media: MediaSet) -> bool:
    """True when the groups cut across the classes (most groups hold files of two or more classes), as speakers who
    each say every word do; groups that each hold one class are the classes over again, and holding them out
    would hold out whole classes."""
    classes_of: dict[str | None, set[str]] = {}
    for example in media.examples:
        classes_of.setdefault(example.group, set()).add(example.label)
    mixed = sum(1 for labels in classes_of.values() if len(labels) >= 2)
    return mixed * 2 >= len(classes_of)


def _choose_training(
    proposed: dict[str, Any],
    reasons: dict[str, str],
    per_class: float,
    layers: int | None,
    train_rows: float,
    probe_examples: int,
) -> None:
    def passes(seen: int, low: int, high: int) -> int:
        return max(low, min(high, -(-seen // max(1, int(train_rows)))))

    if layers is None:
        proposed.update(method="full", freeze_layers=0, epochs=passes(6000, 2, 5), learning_rate=5e-5)
        reasons["freeze_layers"] = (
            "This model's layers are not known before it loads, so every layer trains (full fine-tuning)."
        )
    elif per_class < PROBE_PER_CLASS:
        proposed.update(method="freeze", freeze_layers=layers, epochs=passes(probe_examples, 5, 30), learning_rate=3e-3)
        reasons["freeze_layers"] = (
            f"About {per_class:.0f} training files per class are too few to adjust millions of pretrained weights "
            "without memorising them, so the backbone stays frozen and only a new linear head trains (a linear "
            "probe)."
        )
    elif per_class < TOP_LAYERS_PER_CLASS:
        frozen = max(1, round(layers * (1 - TOP_SHARE)))
        proposed.update(method="freeze", freeze_layers=frozen, epochs=passes(5000, 3, 10), learning_rate=1e-3)
        reasons["freeze_layers"] = (
            f"About {per_class:.0f} training files per class are enough to adapt the top {layers - frozen} of "
            f"{layers} layers to this data, but not to retrain the general low-level filters below them, which "
            "stay frozen."
        )
    else:
        proposed.update(method="full", freeze_layers=0, epochs=passes(6000, 2, 5), learning_rate=5e-4)
        reasons["freeze_layers"] = (
            f"About {per_class:.0f} training files per class are enough to fine-tune every layer (full fine-tuning)."
        )
    settles = (
        f"a new head on this kind of pretrained features settles in about {probe_examples:,}"
        if proposed["freeze_layers"] and proposed["freeze_layers"] == layers
        else "a pretrained network's new head and top layers settle in a few thousand"
    )
    reasons["epochs"] = (
        f"{proposed['epochs']} passes over the {int(train_rows)} training files show the network about "
        f"{int(proposed['epochs'] * train_rows):,} examples: {settles}, and more passes would start to memorise "
        "the files."
    )
    reasons["learning_rate"] = (
        "A new head and a few top layers take a higher rate than a whole pretrained network, which a high rate "
        "would knock off its pretrained features."
    )


def _training_words(freeze_layers: int, layers: int | None) -> str:
    if freeze_layers <= 0:
        return "full fine-tuning"
    if layers is not None and freeze_layers >= layers:
        return "linear probe (backbone frozen)"
    return f"top layers (lowest {freeze_layers} frozen)"


def estimate_seconds(
    task: MediaClassificationTask, config: dict[str, Any], rows: int, layers: int | None, request: PlanRequest
) -> float | None:
    """Forward FLOPs per example x (3 for a training step, 1 for evaluation), over the machine's matmul rate."""
    from trainer.plan.config import RunConfig
    from trainer.tasks.text_classification.plan import machine_gflops

    resolved = RunConfig(**config)
    per_example = task.modality.train_gflops(resolved)
    if per_example is None:
        return None
    train_rows = rows * (1 - resolved.val_fraction - resolved.test_fraction)
    # Frozen layers need no backward pass: about a third of a training step's work is saved for their share.
    frozen_share = min(1.0, resolved.freeze_layers / layers) if layers else 0.0
    step_factor = 3 - 2 * frozen_share
    work = per_example * (train_rows * resolved.epochs * step_factor + (rows - train_rows) * (resolved.epochs + 1))
    return OVERHEAD_SECONDS + work / (machine_gflops(request.cache_dir) * task.modality.cpu_efficiency)
