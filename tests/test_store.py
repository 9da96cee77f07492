"""The SQLite store: numbered migrations per component, applied once even by two processes opening a new
database together; a database made before migrations keeps its rows; a pending action is taken once.

Real SQLite files and real separate Python processes throughout.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.sessions import SESSION_MIGRATIONS, SessionStore
from trainer.store.db import Migrations, applied_migrations, open_database
from trainer.store.migrations import STORE_MIGRATIONS
from trainer.store.registry import ACTIVE, FINISHED, STATUSES, Registry

ROOT = Path(__file__).resolve().parents[1]

# The schema exactly as the registry created it before migrations were recorded (CREATE TABLE IF NOT EXISTS at
# every open, no migrations table): a workspace from then must open with its runs and chats.
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL, updated_at REAL NOT NULL, status TEXT NOT NULL,
    backend TEXT NOT NULL DEFAULT 'local', task TEXT NOT NULL, model TEXT NOT NULL, data TEXT NOT NULL,
    run_dir TEXT NOT NULL DEFAULT '', pid INTEGER, session_id TEXT, config TEXT NOT NULL, metrics TEXT, error TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, created_at REAL NOT NULL, updated_at REAL NOT NULL, title TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL REFERENCES sessions(id),
    created_at REAL NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL, images TEXT NOT NULL DEFAULT '[]'
);
CREATE TABLE IF NOT EXISTS deployments (
    run_id INTEGER NOT NULL, created_at REAL NOT NULL, host TEXT NOT NULL, port INTEGER NOT NULL,
    pid INTEGER NOT NULL, PRIMARY KEY (host, port)
);
CREATE TABLE IF NOT EXISTS session_files (
    session_id TEXT NOT NULL, path TEXT NOT NULL, created_at REAL NOT NULL, PRIMARY KEY (session_id, path)
);
CREATE TABLE IF NOT EXISTS pending_actions (
    session_id TEXT PRIMARY KEY, id TEXT NOT NULL, kind TEXT NOT NULL, arguments TEXT NOT NULL,
    summary TEXT NOT NULL, created_at REAL NOT NULL
);
"""


def expected(migrations: Migrations) -> list[tuple[int, str]]:
    return [(step.number, step.name) for step in migrations.steps]


def tables(db_path: Path) -> set[str]:
    with sqlite3.connect(db_path) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")}


def run_processes(script: str, *argument_lists: list[str], timeout: float = 120) -> list[str]:
    """Run `script` once per argument list, all at the same time, each in its own Python; their stdout."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script, *arguments], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for arguments in argument_lists
    ]
    outputs = []
    for child in children:
        out, err = child.communicate(timeout=timeout)
        assert child.returncode == 0, err.decode()[-3000:]
        outputs.append(out.decode())
    return outputs


# ---- migrations ----------------------------------------------------------------------------------------------


def test_a_new_database_gets_each_components_migrations_in_order_once(tmp_path: Path) -> None:
    db_path = tmp_path / "tunechat.db"
    registry = Registry(db_path)
    assert applied_migrations(db_path, "store") == expected(STORE_MIGRATIONS)
    assert [number for number, _ in expected(STORE_MIGRATIONS)] == list(range(1, len(STORE_MIGRATIONS.steps) + 1))
    # The trainer's store alone makes no chat tables: they are the agent's.
    assert applied_migrations(db_path, "sessions") == [] and "sessions" not in tables(db_path)
    SessionStore(db_path)
    assert applied_migrations(db_path, "sessions") == expected(SESSION_MIGRATIONS)
    assert {"runs", "runs_by_session", "sessions", "messages", "messages_by_session"} <= tables(db_path)
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        first = db.execute("SELECT component, number, applied_at FROM schema_migrations").fetchall()
    # Opening again (a restart, another process) applies nothing more.
    Registry(db_path)
    SessionStore(db_path)
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT component, number, applied_at FROM schema_migrations").fetchall() == first
    assert registry.create_run({"task": "t", "model": "m", "data": "d"}) == 1
    assert (STATUSES, ACTIVE, FINISHED) == (
        ("validating_files", "queued", "running", "succeeded", "failed", "cancelled"),
        ("validating_files", "queued", "running"),
        ("succeeded", "failed", "cancelled"),
    )


def test_a_database_from_before_migrations_opens_with_its_rows(tmp_path: Path) -> None:
    db_path = tmp_path / "tunechat.db"
    with sqlite3.connect(db_path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(OLD_SCHEMA)
        config = {"task": "text-classification", "model": "tiny", "data": "reviews.tsv", "epochs": 2}
        db.execute(
            "INSERT INTO runs (created_at, updated_at, status, task, model, data, session_id, config, metrics)"
            " VALUES (1, 2, 'succeeded', 'text-classification', 'tiny', 'reviews.tsv', 'old-chat', ?, ?)",
            (json.dumps(config), json.dumps({"accuracy": 0.9})),
        )
        db.execute("INSERT INTO sessions VALUES ('old-chat', 1, 5, 'inspect my data', ?)", ('{"files": ["a.tsv"]}',))
        db.execute("INSERT INTO messages (session_id, created_at, role, content) VALUES ('old-chat', 3, 'user', 'hi')")
        db.execute("INSERT INTO deployments VALUES (1, 4, '127.0.0.1', 8000, 4242)")
        db.execute("INSERT INTO session_files VALUES ('old-chat', 'datasets/reviews-abc', 4)")
        db.execute(
            "INSERT INTO pending_actions VALUES ('old-chat', 'p1', 'start_training', '{\"epochs\": 2}', 'go', 4)"
        )
    db.close()

    registry, sessions = Registry(db_path), SessionStore(db_path)

    run = registry.get_run(1)
    assert (run["status"], run["config"], run["metrics"], run["session_id"]) == (
        "succeeded",
        config,
        {"accuracy": 0.9},
        "old-chat",
    )
    assert [(d["run_id"], d["port"], d["pid"]) for d in registry.list_deployments()] == [(1, 8000, 4242)]
    assert registry.session_files("old-chat") == ["datasets/reviews-abc"]
    pending = registry.pending_action("old-chat")
    assert pending is not None and (pending["id"], pending["arguments"]) == ("p1", {"epochs": 2})
    assert [(s["id"], s["title"]) for s in sessions.list_sessions()] == [("old-chat", "inspect my data")]
    assert sessions.session_state("old-chat") == {"files": ["a.tsv"]}
    assert sessions.uploaded_files("old-chat") == ["a.tsv"]
    assert [(m["role"], m["content"], m["images"]) for m in sessions.messages("old-chat")] == [("user", "hi", [])]
    assert applied_migrations(db_path, "store") == expected(STORE_MIGRATIONS)
    assert applied_migrations(db_path, "sessions") == expected(SESSION_MIGRATIONS)
    assert {"runs_by_session", "messages_by_session"} <= tables(db_path)
    # New rows go on after the old ones: a deleted or old run id is never given again.
    assert registry.create_run(config) == 2
    sessions.add_message("old-chat", "assistant", "hello again")
    assert [m["content"] for m in sessions.messages("old-chat")] == ["hi", "hello again"]


def test_a_failing_migration_leaves_nothing_half_done(tmp_path: Path) -> None:
    db_path = tmp_path / "tunechat.db"
    broken = Migrations("demo")
    broken.sql("m001_notes", "CREATE TABLE notes (text TEXT)")
    broken.sql("m002_bad", "CREATE TABLE notes (text TEXT)")  # the table exists: this fails
    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        open_database(db_path, broken)
    assert applied_migrations(db_path, "demo") == [] and "notes" not in tables(db_path)

    fixed = Migrations("demo")
    fixed.sql("m001_notes", "CREATE TABLE notes (text TEXT)")
    fixed.sql("m002_note_index", "CREATE INDEX notes_text ON notes (text)")
    open_database(db_path, fixed)
    assert applied_migrations(db_path, "demo") == [(1, "m001_notes"), (2, "m002_note_index")]
    assert {"notes", "notes_text"} <= tables(db_path)


def test_migrations_are_numbered_in_the_order_they_run() -> None:
    steps = Migrations("demo")
    with pytest.raises(ValueError, match="must be number 1"):
        steps.sql("m002_first", "SELECT 1")
    with pytest.raises(ValueError, match="must be named mNNN_what"):
        steps.sql("first", "SELECT 1")
    steps.sql("m001_first", "SELECT 1")
    with pytest.raises(ValueError, match="must be number 2"):
        steps.sql("m001_again", "SELECT 1")


OPEN_SCRIPT = """
import os, sys, time
from pathlib import Path
from trainer.store.db import Migrations, open_database
from trainer.store.registry import Registry
from agent.sessions import SessionStore

db_path, start, order = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
race = Migrations("race")
# No IF NOT EXISTS: a second run of this migration fails, and the slow one holds the lock while the other
# process arrives.
race.sql("m001_applied", "CREATE TABLE race_applied (pid INTEGER)")

@race
def m002_slow(db):
    time.sleep(0.3)
    db.execute("INSERT INTO race_applied VALUES (?)", (os.getpid(),))

time.sleep(max(0.0, start - time.time()))
opens = {"store": lambda: Registry(db_path), "sessions": lambda: SessionStore(db_path),
         "race": lambda: open_database(db_path, race)}
for name in order.split(","):
    opens[name]()
Registry(db_path).create_run({"task": "t", "model": "m", "data": str(os.getpid())})
SessionStore(db_path).add_message(str(os.getpid()), "user", "hello")
print(os.getpid())
"""


@pytest.mark.slow
def test_two_processes_opening_a_new_database_together_migrate_it_once(tmp_path: Path) -> None:
    for round_ in range(3):
        db_path = tmp_path / f"round{round_}" / "tunechat.db"
        start = str(time.time() + 1.5)  # both are imported and waiting by then
        pids = run_processes(
            OPEN_SCRIPT,
            [str(db_path), start, "store,sessions,race"],
            [str(db_path), start, "race,sessions,store" if round_ % 2 else "store,sessions,race"],
        )
        assert applied_migrations(db_path, "store") == expected(STORE_MIGRATIONS)
        assert applied_migrations(db_path, "sessions") == expected(SESSION_MIGRATIONS)
        assert applied_migrations(db_path, "race") == [(1, "m001_applied"), (2, "m002_slow")]
        with sqlite3.connect(db_path) as db:
            assert len(db.execute("SELECT pid FROM race_applied").fetchall()) == 1
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.close()
        # Both processes then used the database: two runs, two chats.
        assert sorted(run["data"] for run in Registry(db_path).list_runs()) == sorted(p.strip() for p in pids)
        assert sorted(s["id"] for s in SessionStore(db_path).list_sessions()) == sorted(p.strip() for p in pids)


# ---- the action waiting for a yes ------------------------------------------------------------------------------


def action(action_id: str, **arguments: object) -> dict[str, object]:
    return {"id": action_id, "kind": "start_training", "arguments": arguments, "summary": f"plan {action_id}"}


def test_take_pending_action_hands_the_action_out_once(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "tunechat.db")
    registry.set_pending_action("chat", action("a1", epochs=3))
    assert registry.take_pending_action("chat", "other") is None  # not the plan the user saw: left waiting
    assert registry.take_pending_action("elsewhere", "a1") is None
    assert registry.pending_action("chat") is not None

    taken = registry.take_pending_action("chat", "a1")
    assert taken is not None
    assert (taken["id"], taken["kind"], taken["arguments"], taken["summary"]) == (
        "a1",
        "start_training",
        {"epochs": 3},
        "plan a1",
    )
    assert registry.take_pending_action("chat", "a1") is None
    assert registry.pending_action("chat") is None

    # A newer plan replaced the one a late yes was for: the yes takes nothing, the newer plan keeps waiting.
    registry.set_pending_action("chat", action("a2"))
    registry.set_pending_action("chat", action("a3"))
    assert registry.take_pending_action("chat", "a2") is None
    waiting = registry.pending_action("chat")
    assert waiting is not None and waiting["id"] == "a3"


TAKE_SCRIPT = """
import json, sys, time
from pathlib import Path
from trainer.store.registry import Registry

registry, start, count = Registry(Path(sys.argv[1])), float(sys.argv[2]), int(sys.argv[3])
# Like two tabs: each has shown every plan, then the two "yes" arrive together.
seen = [registry.pending_action(f"chat-{index}") for index in range(count)]
taken, lost = [], 0
time.sleep(max(0.0, start - time.time()))
for index, action in enumerate(seen):
    got = registry.take_pending_action(f"chat-{index}", action["id"])
    if got is None:
        lost += 1
        continue
    assert got == action, (got, action)
    taken.append(f"chat-{index}")
print(json.dumps({"taken": taken, "lost": lost}))
"""


def test_two_processes_confirming_the_same_actions_carry_each_out_once(tmp_path: Path) -> None:
    db_path = tmp_path / "tunechat.db"
    registry = Registry(db_path)
    count = 150
    for index in range(count):
        registry.set_pending_action(f"chat-{index}", action(f"plan-{index}", index=index))

    start = str(time.time() + 1.5)
    outputs = run_processes(TAKE_SCRIPT, [str(db_path), start, str(count)], [str(db_path), start, str(count)])

    first, second = (json.loads(output) for output in outputs)
    assert not set(first["taken"]) & set(second["taken"])  # no action was carried out twice
    assert sorted(first["taken"] + second["taken"]) == sorted(f"chat-{index}" for index in range(count))
    assert first["lost"] + second["lost"] == count  # every other attempt found the action gone
    assert all(registry.pending_action(f"chat-{index}") is None for index in range(count))
