"""The one train/validation/test splitter: row indices, stratified by label when there are labels.

Every split tunechat makes comes from split_indices: a labelled table for the local classifier and
for the OpenAI plan (split_labelled_texts, so both hold out the very same test rows), chats and
preference pairs for OpenAI and for the causal-LM trainers, and `tunechat prepare`. Without labels
the rows are shuffled once with the seed and cut into test, validation and train, in that order.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from trainer.core.errors import UserError

SPLITS = ("train", "validation", "test")


def split_sizes(
    count: int, val_fraction: float, test_fraction: float, *, min_examples: int = 0
) -> tuple[int, int, int]:
    """(train, validation, test) sizes of one group of rows: a class when stratified, else all of them.

    With `min_examples`, a group smaller than that keeps every row for training, and a larger one holds at
    least one row in each split whose share is not zero; without it each share is rounded as it falls.
    """
    if count < min_examples:
        return count, 0, 0
    n_test = round(count * test_fraction)
    n_val = round(count * val_fraction)
    if min_examples:
        n_test = max(1, n_test) if test_fraction else 0
        n_val = max(1, n_val) if val_fraction else 0
    # Every group keeps at least one training example.
    if n_test + n_val >= count:
        n_test, n_val = min(n_test, max(0, count - 1)), 0
    return count - n_test - n_val, n_val, n_test


def split_indices(
    count: int,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    *,
    labels: Sequence[str] | None = None,
    min_examples: int = 0,
) -> dict[str, list[int]]:
    """Split the indices 0..count-1 into train/validation/test, keeping each label's share in every split.

    The same arguments always give the same split. `min_examples` is as in split_sizes.
    """
    if val_fraction < 0 or test_fraction < 0 or val_fraction + test_fraction >= 1:
        raise UserError(
            f"val_fraction ({val_fraction}) and test_fraction ({test_fraction}) must be at least 0 and sum to "
            "less than 1; lower them, e.g. to 0.1 each."
        )
    groups: dict[str, list[int]] = defaultdict(list)
    if labels is None:
        groups[""] = list(range(count))
    else:
        for index, label in enumerate(labels):
            groups[label].append(index)
    rng = random.Random(seed)
    splits: dict[str, list[int]] = {name: [] for name in SPLITS}
    for label in sorted(groups):
        indices = groups[label]
        rng.shuffle(indices)
        _, n_val, n_test = split_sizes(len(indices), val_fraction, test_fraction, min_examples=min_examples)
        splits["test"].extend(indices[:n_test])
        splits["validation"].extend(indices[n_test : n_test + n_val])
        splits["train"].extend(indices[n_test + n_val :])
    if labels is not None:
        # The classes were added one after another: mix them, so no split is ordered by label.
        for part in splits.values():
            rng.shuffle(part)
    return splits


def stratified_split(labels: list[str], val_fraction: float, test_fraction: float, seed: int) -> dict[str, list[int]]:
    """split_indices for labelled rows: each class keeps its share in every split."""
    return split_indices(len(labels), val_fraction, test_fraction, seed, labels=labels)


def drop_repeated_examples(texts: list[str], labels: list[str]) -> tuple[list[str], list[str], int]:
    """Keep the first of each exact (text, label) repeat.

    A repeat left in would land in train and test at once and inflate the test score; the same
    text with different labels is kept (inspection reports it as a conflict for the user to fix).
    """
    kept = first_of_repeats(texts, labels)
    return [texts[i] for i in kept], [labels[i] for i in kept], len(texts) - len(kept)


def first_of_repeats(texts: list[str], labels: list[str], pairs: list[str] | None = None) -> list[int]:
    """The indices of the first of each exact (text, label) repeat ((text, second text, label) for pairs)."""
    seen: set[tuple[str, str, str]] = set()
    kept: list[int] = []
    for index, (text, label) in enumerate(zip(texts, labels, strict=True)):
        key = (text, pairs[index] if pairs is not None else "", label)
        if key not in seen:
            seen.add(key)
            kept.append(index)
    return kept


@dataclass
class LabelledSplit:
    """Labelled texts with exact repeats dropped, and the indices of each split into them."""

    texts: list[str]
    labels: list[str]
    splits: dict[str, list[int]]
    repeats_dropped: int
    # The second text of each example of a text-pair task; None for single texts.
    pairs: list[str] | None = None


def split_labelled_texts(
    texts: list[str],
    labels: list[str],
    val_fraction: float,
    test_fraction: float,
    seed: int,
    pairs: list[str] | None = None,
) -> LabelledSplit:
    """A labelled table's split wherever it is trained: exact repeats dropped first, then stratified.

    The local classifier and the OpenAI plan both call this, so a run of either backend on the same
    file, fractions and seed is tested on exactly the same rows.
    """
    kept = first_of_repeats(texts, labels, pairs)
    kept_labels = [labels[i] for i in kept]
    splits = stratified_split(kept_labels, val_fraction, test_fraction, seed)
    kept_pairs = [pairs[i] for i in kept] if pairs is not None else None
    return LabelledSplit([texts[i] for i in kept], kept_labels, splits, len(texts) - len(kept), kept_pairs)


def split_groups(groups: Sequence[str], val_fraction: float, test_fraction: float, seed: int) -> dict[str, list[int]]:
    """Split row indices so that all rows of a group (a speaker, a patient) land in the same split.

    Whole groups, shuffled with the seed, go to test, then validation, then train, until each holds about its
    share of the groups; with fewer than three groups there is nothing to hold out, so all rows train.
    """
    if val_fraction < 0 or test_fraction < 0 or val_fraction + test_fraction >= 1:
        raise UserError(
            f"val_fraction ({val_fraction}) and test_fraction ({test_fraction}) must be at least 0 and sum to "
            "less than 1; lower them, e.g. to 0.1 each."
        )
    names = sorted(set(groups))
    random.Random(seed).shuffle(names)
    _, n_val, n_test = split_sizes(len(names), val_fraction, test_fraction, min_examples=3)
    split_of = {name: "test" for name in names[:n_test]}
    split_of.update({name: "validation" for name in names[n_test : n_test + n_val]})
    splits: dict[str, list[int]] = {name: [] for name in SPLITS}
    for index, group in enumerate(groups):
        splits[split_of.get(group, "train")].append(index)
    return splits
