"""The Task registry and one package per task."""
