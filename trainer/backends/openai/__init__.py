"""Fine-tuning through the OpenAI API: plan (no upload), confirm, upload + create, follow, evaluate.

The official `openai` client does every request (its own retries for 429/5xx/timeouts); the run folder and the
registry row record the job exactly like a local run, so lists and comparisons work for both.
"""

# The backend's name in the registry and in run records.
NAME = "openai"
# The company's name as the chat and its plans say it.
PROVIDER = "OpenAI"
