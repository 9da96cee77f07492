"""Hyperparameter search: the space each task answers (space.py), the Optuna study whose trials are real runs
(study.py), and what it found (results.py)."""
