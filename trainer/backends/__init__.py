"""Where a run executes: local processes, or a hosted fine-tuning API."""
