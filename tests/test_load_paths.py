"""What keeps a chat turn short under load (benchmarks/chat_load.py measures it): the web chat sends the answer
the moment the turn is over, and the SQLite file is neither synced nor checkpointed on every short connection."""

from __future__ import annotations

import queue
import sqlite3
import threading
from pathlib import Path

from agent.sessions import SessionStore
from agent.types import TurnEvent
from trainer.store.db import connect
from ui.web import TURN_OVER, turn_events


def test_a_turn_ends_when_it_says_so_not_when_its_thread_is_gone() -> None:
    events: queue.Queue[TurnEvent | None] = queue.Queue()
    release = threading.Event()

    def turn() -> None:
        events.put(TurnEvent("step_started", step_id="step-0", name="list_runs"))
        events.put(TurnEvent("step_finished", step_id="step-0", name="list_runs"))
        events.put(TURN_OVER)
        release.wait(30)  # still alive after its last word, as a thread winding down is

    worker = threading.Thread(target=turn, daemon=True)
    worker.start()
    bursts = list(turn_events(events, worker))
    alive = worker.is_alive()
    release.set()

    assert alive  # the events ended on TURN_OVER, without waiting for the thread
    assert [[event.kind for event in burst] for burst in bursts] in (
        [["step_started", "step_finished"]],  # one screen update for what came at once
        [["step_started"], ["step_finished"]],
    )


def test_a_turn_whose_thread_died_without_its_last_word_ends_too() -> None:
    events: queue.Queue[TurnEvent | None] = queue.Queue()
    worker = threading.Thread(target=lambda: events.put(TurnEvent("text", text="hi")), daemon=True)
    worker.start()
    worker.join()
    assert [[event.text for event in burst] for burst in turn_events(events, worker)] == [["hi"]]


def test_short_connections_skip_the_sync_and_checkpoint_while_a_store_lives(tmp_path: Path) -> None:
    db_path = tmp_path / "tunechat.db"
    sessions = SessionStore(db_path)
    sessions.add_message("s1", "user", "hello")
    # The store holds one idle connection, so the short one's close neither checkpoints nor deletes the log.
    assert db_path.with_name("tunechat.db-wal").is_file()
    with connect(db_path) as db:
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL: safe under WAL, no fsync per commit
    with sqlite3.connect(db_path) as other:  # and what was written is there for any other process
        assert other.execute("SELECT content FROM messages").fetchall() == [("hello",)]
    assert [message["content"] for message in sessions.messages("s1")] == ["hello"]
