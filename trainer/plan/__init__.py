"""Hardware detection, distributed launch and run-time estimates."""
