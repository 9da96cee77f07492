"""The SQLite file every store shares: short connections, WAL, and numbered schema migrations.

One file holds the tables of several components (the trainer's runs and plans, the agent's chat
sessions). Each component owns its tables and its own ordered list of migrations, recorded in one
table by (component, number): a component never needs to know another's history, and a training
worker that opens only the trainer's store never applies, or waits on, the agent's migrations.

Opening applies the missing migrations in order inside one write transaction (BEGIN IMMEDIATE), so
when two processes open a new database at the same moment one migrates and the other, once it gets
the lock, finds everything recorded and applies nothing.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from trainer.core.errors import UserError, disk_full_sentence, is_disk_full

MIGRATIONS_TABLE = "schema_migrations"
# How long a connection waits for another process's write lock before giving up (TUNECHAT_DB_TIMEOUT_S overrides).
BUSY_TIMEOUT_S = 30.0

MigrationStep = Callable[[sqlite3.Connection], None]


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    apply: MigrationStep


class Migrations:
    """One component's schema history: migrations named mNNN_what, numbered 1, 2, 3, … in the order they run.

    A migration is never edited or renumbered once released: a database records it as applied and will
    not run it again, so a change to the schema is always a new migration at the end.
    """

    def __init__(self, component: str):
        self.component = component
        self.steps: list[Migration] = []

    def __call__(self, step: MigrationStep) -> MigrationStep:
        """Register `step` (a function named mNNN_what) as the next migration."""
        found = re.fullmatch(r"m(\d{3})_\w+", step.__name__)
        if found is None:
            raise ValueError(f"migration {step.__name__!r} must be named mNNN_what")
        number = int(found.group(1))
        if number != len(self.steps) + 1:
            raise ValueError(f"{self.component} migration {step.__name__!r} must be number {len(self.steps) + 1}")
        self.steps.append(Migration(number, step.__name__, step))
        return step

    def sql(self, name: str, *statements: str) -> None:
        """Register a migration made only of SQL statements (one statement per string)."""

        def step(db: sqlite3.Connection) -> None:
            for statement in statements:
                db.execute(statement)

        step.__name__ = name
        self(step)


def busy_timeout_s() -> float:
    return float(os.environ.get("TUNECHAT_DB_TIMEOUT_S") or BUSY_TIMEOUT_S)


def connect(db_path: Path, autocommit: bool = False) -> sqlite3.Connection:
    """A connection with rows by column name. `autocommit` leaves transactions to the caller (BEGIN …)."""
    db = sqlite3.connect(db_path, timeout=busy_timeout_s(), isolation_level=None if autocommit else "DEFERRED")
    db.row_factory = sqlite3.Row
    # In WAL mode NORMAL never corrupts the file and a crash of tunechat loses nothing; it skips the fsync of every
    # commit (measured 8 ms here, and a chat turn commits several times), so only a power loss may undo the last
    # commits.
    db.execute("PRAGMA synchronous=NORMAL")
    return db


def open_database(db_path: Path, migrations: Migrations) -> None:
    """Create the file if needed, switch it to WAL (so a training process and the chat write at the same
    time) and apply the component's missing migrations."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    db = connect(db_path, autocommit=True)
    try:
        _use_wal(db)
        if _missing(db, migrations):
            _migrate(db, migrations)
    finally:
        db.close()


def applied_migrations(db_path: Path, component: str) -> list[tuple[int, str]]:
    """(number, name) of the component's applied migrations, in order."""
    with closing_connection(db_path) as db:
        if not _has_migrations_table(db):
            return []
        rows = db.execute(
            f"SELECT number, name FROM {MIGRATIONS_TABLE} WHERE component = ? ORDER BY number", (component,)
        ).fetchall()
    return [(int(row["number"]), str(row["name"])) for row in rows]


@contextmanager
def closing_connection(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A short connection whose statements commit together when the block ends (and roll back on error)."""
    db = connect(db_path)
    try:
        with db:
            yield db
    except sqlite3.OperationalError as error:
        explained = _as_user_error(error, db_path)
        if explained is None:
            raise
        raise explained from error
    finally:
        db.close()


def _as_user_error(error: sqlite3.OperationalError, db_path: Path) -> UserError | None:
    """A lock held past the busy timeout, or a full disk, as the one sentence the chat and the CLI show."""
    if is_disk_full(error):
        return UserError(disk_full_sentence(f"the tunechat database {db_path}", "try again"))
    if "locked" in str(error) or "busy" in str(error):
        return UserError(
            f"The tunechat database {db_path} is locked: another process has held it for writing for over "
            f"{busy_timeout_s():g} s, so this change was not saved; try again once that process is done (or stop it)."
        )
    return None


class Store:
    """Base of the classes over one database file: each method opens its own short connection."""

    def __init__(self, db_path: Path, migrations: Migrations):
        self.db_path = Path(db_path)
        open_database(self.db_path, migrations)
        # Closed with the store (explicitly, so no connection is left for the garbage collector to warn about).
        weakref.finalize(self, hold_open(self.db_path).close)

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return closing_connection(self.db_path)


def hold_open(db_path: Path) -> sqlite3.Connection:
    """An idle connection to keep while a store lives (it closes with the store).

    Closing the last connection to a WAL database checkpoints it and deletes the log: 10-20 ms for every short
    connection when no other is open (measured here), paid several times per chat turn and serialised between
    turns. While this one stays open, closing the others costs nothing; it holds no transaction, so it never
    blocks a writer or a checkpoint."""
    db = sqlite3.connect(db_path, timeout=busy_timeout_s(), check_same_thread=False)
    db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # attach it to the log, which it keeps alive
    return db


def _use_wal(db: sqlite3.Connection) -> None:
    # The mode is stored in the file, so only a new database needs the change. When two processes switch a new
    # file at once, one gets "database is locked" at once (the busy timeout does not cover this pragma; measured:
    # 10 of 40 simultaneous opens), so the change is retried.
    deadline = time.monotonic() + busy_timeout_s()
    while True:
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if ("locked" not in str(error) and "busy" not in str(error)) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _has_migrations_table(db: sqlite3.Connection) -> bool:
    found = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (MIGRATIONS_TABLE,))
    return found.fetchone() is not None


def _missing(db: sqlite3.Connection, migrations: Migrations) -> list[Migration]:
    if not _has_migrations_table(db):
        return list(migrations.steps)
    done = {
        int(row["number"])
        for row in db.execute(f"SELECT number FROM {MIGRATIONS_TABLE} WHERE component = ?", (migrations.component,))
    }
    return [step for step in migrations.steps if step.number not in done]


def _migrate(db: sqlite3.Connection, migrations: Migrations) -> None:
    # BEGIN IMMEDIATE takes the write lock before reading what is applied: a second process waits here and then
    # sees the first one's records, so no migration runs twice. DDL is transactional in SQLite, so a failing
    # migration leaves neither its tables nor its record behind.
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} ("
            " component TEXT NOT NULL, number INTEGER NOT NULL, name TEXT NOT NULL, applied_at REAL NOT NULL,"
            " PRIMARY KEY (component, number))"
        )
        for step in _missing(db, migrations):
            step.apply(db)
            db.execute(
                f"INSERT INTO {MIGRATIONS_TABLE} (component, number, name, applied_at) VALUES (?, ?, ?, ?)",
                (migrations.component, step.number, step.name, time.time()),
            )
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
