"""The trainer store's schema history (component "store"): runs, deployments, chat-owned files and the
actions waiting for a yes. Chat sessions and their messages are the agent's (agent/sessions.py).

Append new migrations at the end; never edit one a database may already have applied.
"""

from __future__ import annotations

from trainer.store.db import Migrations

STORE_MIGRATIONS = Migrations("store")

# The tables as they were before migrations were recorded. IF NOT EXISTS: a database made then already has
# them, with its rows, and this first migration only records that fact.
STORE_MIGRATIONS.sql(
    "m001_initial_tables",
    """CREATE TABLE IF NOT EXISTS runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        status TEXT NOT NULL,
        backend TEXT NOT NULL DEFAULT 'local',
        task TEXT NOT NULL,
        model TEXT NOT NULL,
        data TEXT NOT NULL,
        run_dir TEXT NOT NULL DEFAULT '',
        pid INTEGER,
        session_id TEXT,
        config TEXT NOT NULL,
        metrics TEXT,
        error TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS deployments (
        run_id INTEGER NOT NULL,
        created_at REAL NOT NULL,
        host TEXT NOT NULL,
        port INTEGER NOT NULL,
        pid INTEGER NOT NULL,
        PRIMARY KEY (host, port)
    )""",
    # Files a chat made besides its uploads (prepared datasets, by workspace-relative folder): only that chat
    # sees them.
    """CREATE TABLE IF NOT EXISTS session_files (
        session_id TEXT NOT NULL,
        path TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (session_id, path)
    )""",
    # At most one action per chat waits for the user's own yes; a new one replaces it.
    """CREATE TABLE IF NOT EXISTS pending_actions (
        session_id TEXT PRIMARY KEY,
        id TEXT NOT NULL,
        kind TEXT NOT NULL,
        arguments TEXT NOT NULL,
        summary TEXT NOT NULL,
        created_at REAL NOT NULL
    )""",
)

# Every chat turn lists its own runs (history tools, suggestions, the progress panel).
STORE_MIGRATIONS.sql(
    "m002_runs_by_session",
    "CREATE INDEX IF NOT EXISTS runs_by_session ON runs (session_id, id)",
)

# Hyperparameter searches (trainer/search): a study's settings and its driver process, and which runs are its
# trials. Optuna keeps the study's own state (trials, values, pruning) in search.db beside this file.
STORE_MIGRATIONS.sql(
    "m003_studies",
    """CREATE TABLE IF NOT EXISTS studies (
        name TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        session_id TEXT,
        status TEXT NOT NULL,
        pid INTEGER,
        settings TEXT NOT NULL,
        error TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS study_runs (
        run_id INTEGER PRIMARY KEY,
        study TEXT NOT NULL,
        trial INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS study_runs_by_study ON study_runs (study, trial)",
)
