"""The train/validation/test split of labelled media: stratified by class, or by group (e.g. held-out speakers)."""

from __future__ import annotations

from trainer.core.errors import UserError
from trainer.data.splits import split_groups, split_indices
from trainer.tasks.media.examples import MediaSet

# A class with fewer examples than this keeps them all for training (it cannot be both learnt and tested).
MIN_TO_TEST = 3


def split_media(
    media: MediaSet, val_fraction: float, test_fraction: float, seed: int, by_group: bool = False
) -> dict[str, list[int]]:
    """Indices into media.examples per split. By group, every example's group stays in one split."""
    if by_group:
        groups = [example.group for example in media.examples]
        if any(group is None for group in groups):
            raise UserError(
                "A split by group needs a group for every file (e.g. a speaker in its name), and some have none; "
                "set group_split to false."
            )
        return split_groups([str(group) for group in groups], val_fraction, test_fraction, seed)
    labels = [example.label for example in media.examples]
    return split_indices(len(labels), val_fraction, test_fraction, seed, labels=labels, min_examples=MIN_TO_TEST)
