"""How much memory reading one data file may take, and what its rows will take once read.

A file's size on disk says little about its size in memory: a Parquet file of a few kilobytes can hold a
million rows, and every row becomes Python dicts and strings. Readers that know the row count and the
decoded bytes before building rows (Parquet, Arrow) check them here first, so such a file gets one
sentence instead of the chat's memory. The inspection child process runs under the same limit.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from trainer.core.errors import UserError

MEMORY_ENV = "TUNECHAT_READ_MEMORY_MB"
MIN_DEFAULT = 1_000_000_000
SHARE = 0.25  # of this machine's memory: the chat, a training run and the inspection share it
# Python memory per row while a Table is built (measured on CPython 3.11): the record dict from Arrow, the
# record and row dicts kept, their list slots and the line number; and per value, the dict slots and the
# str header of a value (a non-string value also gets its JSON text).
ROW_BYTES = 600
VALUE_BYTES = 120


class OverBudget(Exception):
    """The data fits the read limit but not the smaller budget of a read in the chat process (in_budget)."""


# (bytes of text, bytes of rows) a read in the chat process may take; None outside in_budget().
_BUDGET: ContextVar[tuple[int, int] | None] = ContextVar("tunechat_read_budget", default=None)


@contextmanager
def in_budget(text_bytes: int, rows_bytes: int) -> Iterator[None]:
    """Within this block a reader that learns its data is larger raises OverBudget before it builds rows:
    `text_bytes` for what an archive inflates to, `rows_bytes` for rows whose size the file states."""
    token = _BUDGET.set((text_bytes, rows_bytes))
    try:
        yield
    finally:
        _BUDGET.reset(token)


def check_inflated(name: str, size: int) -> None:
    """Raise OverBudget when an archive would inflate past the text budget of in_budget()."""
    budget = _BUDGET.get()
    if budget is not None and size > budget[0]:
        raise OverBudget(f"'{name}' inflates to {size:,} bytes")


def machine_memory_bytes() -> int:
    """This machine's memory, or the container's limit when that is lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < total:
            total = int(text)
    return total


def memory_limit_bytes() -> int:
    """What reading one data file may take: TUNECHAT_READ_MEMORY_MB, default a quarter of this machine's memory
    (at least 1 GB)."""
    configured = os.environ.get(MEMORY_ENV, "").strip()
    if configured:
        try:
            megabytes = float(configured)
        except ValueError:
            message = f"{MEMORY_ENV} is '{configured[:20]}', not a number; set it to megabytes, e.g. 2000."
            raise UserError(message) from None
        if megabytes > 0:
            return int(megabytes * 1e6)
    return max(MIN_DEFAULT, int(machine_memory_bytes() * SHARE))


def rows_memory(rows: int, values: int, data_bytes: int) -> int:
    """About how many bytes `rows` rows with `values` cells holding `data_bytes` of data take as a Table."""
    return rows * ROW_BYTES + values * VALUE_BYTES + data_bytes


def check_rows_memory(name: str, rows: int, values: int, data_bytes: int) -> None:
    """Refuse, in one sentence, rows that would take more memory than the read limit (`data_bytes` being what
    is known of their data so far, so the estimate never exceeds what they will really take)."""
    need = rows_memory(rows, values, data_bytes)
    limit = memory_limit_bytes()
    if need > limit:
        raise UserError(
            f"'{name}' holds {rows:,} rows that need at least {need / 1e6:,.0f} MB of memory to read, over the "
            f"{limit / 1e6:,.0f} MB limit; upload a sample of the rows or raise {MEMORY_ENV}."
        )
    budget = _BUDGET.get()
    if budget is not None and need > budget[1]:
        raise OverBudget(f"'{name}' needs about {need:,} bytes")
