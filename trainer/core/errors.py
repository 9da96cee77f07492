"""The one error type for problems the user can fix, and the sentence for a disk that has no room left.

Every message is one sentence that says what is wrong and what to do, because it is shown
as-is in the chat and on the command line.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager


class UserError(Exception):
    """A problem with the user's input (a file, a setting, a run id) that the user can fix."""


class BusyError(UserError):
    """The action is fine but cannot run yet (the machine already trains as many runs as it may); the same
    action can be tried again, unchanged, later."""


# What a write fails with when there is no room: the disk is full, the user's quota is used up, or the file
# outgrew the process's size limit (ulimit -f).
NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
# The same, as libraries word it when they do not raise an OSError (torch.save, safetensors, SQLite).
NO_SPACE_WORDS = ("No space left on device", "Disk quota exceeded", "File too large", "StorageFull", "disk is full")


def is_disk_full(error: BaseException | None) -> bool:
    """True when `error` (or an exception it was raised from) is a write that found no room left."""
    seen = 0
    while error is not None and seen < 8:
        if isinstance(error, OSError) and error.errno in NO_SPACE_ERRNOS:
            return True
        if any(words in str(error) for words in NO_SPACE_WORDS):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def disk_full_sentence(what: str, then: str) -> str:
    """`what` could not be written for lack of space, and what to do `then` (one sentence)."""
    return f"The disk is full, so {what} could not be written; free some space, then {then}."


@contextmanager
def disk_space_for(what: str, then: str) -> Iterator[None]:
    """Turn a write inside the block that found no room left into a UserError saying so."""
    try:
        yield
    except UserError:
        raise
    except Exception as error:
        if is_disk_full(error):
            raise UserError(disk_full_sentence(what, then)) from error
        raise
