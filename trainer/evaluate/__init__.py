"""Metrics, comparison of runs, plots and the diagnosis of failed runs."""
