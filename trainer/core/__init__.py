"""Shared ground: the error type, atomic file writes, the workspace, child processes, typed records."""
