"""What the assistant can do: typed functions with docstrings the LLM reads, each calling trainer/."""
