"""Each data file is parsed at most once per chat turn.

One turn asks several questions of the same upload (is it chats? what is in it? what plan fits?),
each through trainer.data.read.load_table. Inside `one_parse_per_turn()` the first question parses
the file and the others get that parse; outside it nothing is kept, so training workers, servers and
other long-lived processes always read a file as it is now. A file is known by its resolved path,
size, modification time and inode, so one that changed is parsed again even within a turn.

Every caller gets its own Table (new lists over the same read-only rows), so none can change what
the next caller sees. A file that cannot be read fails the same way each time without being read
again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from trainer.core.errors import UserError
from trainer.data.table import Table

_Signature = tuple[Any, ...]
_TABLES: ContextVar[dict[_Signature, Table | UserError] | None] = ContextVar("tunechat_turn_tables", default=None)

P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def one_parse_per_turn() -> Iterator[None]:
    """Within this block a file is parsed once; a block inside another shares the outer one's parses."""
    if _TABLES.get() is not None:
        yield
        return
    token = _TABLES.set({})
    try:
        yield
    finally:
        _TABLES.reset(token)


def parses_once_per_turn(func: Callable[P, R]) -> Callable[P, R]:
    """Run `func` (one chat turn) inside one_parse_per_turn()."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with one_parse_per_turn():
            return func(*args, **kwargs)

    return wrapper


def cached_parse(path: Path, parse: Callable[[Path], Table]) -> Table:
    """parse(path), or the parse already made of this very file in this turn (as a copy)."""
    tables = _TABLES.get()
    signature = _signature(path) if tables is not None else None
    if tables is None or signature is None:
        return parse(path)
    found = tables.get(signature)
    if found is None:
        try:
            found = parse(path)
        except UserError as error:
            tables[signature] = error
            raise
        tables[signature] = found
    if isinstance(found, UserError):
        raise UserError(str(found))
    return found.copy()


def _signature(path: Path) -> _Signature | None:
    """What identifies this version of a file (or of every file in a folder); None when it cannot be read."""
    try:
        resolved = path.resolve()
        stat = resolved.stat()
        if not resolved.is_dir():
            return (str(resolved), stat.st_size, stat.st_mtime_ns, stat.st_ino)
        files = sorted(p for p in resolved.rglob("*") if p.is_file())
        return (str(resolved), *((str(p), s.st_size, s.st_mtime_ns) for p in files for s in (p.stat(),)))
    except OSError:
        return None
