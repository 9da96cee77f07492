"""The SQLite store: runs, deployments, chat-owned files, plans waiting for a yes, and schema migrations."""
