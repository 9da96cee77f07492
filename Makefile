# The everyday commands. `make test` is the README's test command without the install.
.PHONY: test test-fast lint bench

PYTHON ?= python

test:
	$(PYTHON) -m pytest

# Skips the tests marked slow (real training runs, training subprocesses, the browser test).
test-fast:
	$(PYTHON) -m pytest -m "not slow"

lint:
	ruff check .
	ruff format --check .
	mypy

# Each script's default size finishes in a few minutes on 2 cores (the checker's 1,000,000 rows, a
# 300 MB temporary file, in well under a minute; the throughput run in a minute or two; the chat load in about one;
# the image, audio, speed and regression runs train on ../shared/datasets in a few minutes each).
bench:
	$(PYTHON) benchmarks/check_chat_jsonl.py
	$(PYTHON) benchmarks/llm_throughput.py
	$(PYTHON) benchmarks/chat_load.py
	$(PYTHON) benchmarks/image_classification.py
	$(PYTHON) benchmarks/audio_classification.py
	$(PYTHON) benchmarks/classifier_speed.py --dataset restaurant_reviews
	$(PYTHON) benchmarks/regression.py --rows 2000
