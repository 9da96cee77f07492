"""The SQLite store: runs, deployments, plans waiting for a yes, and its schema migrations."""
