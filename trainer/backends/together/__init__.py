"""Fine-tuning through Together AI's API: plan (no upload), confirm, upload + create once, follow, evaluate.

The official `together` client does every request (its own retries for 429/5xx/timeouts); the run folder and the
registry row record the job exactly like a local or OpenAI run, so lists and comparisons work for all three.
"""

# The backend's name in the registry and in run records.
NAME = "together"
# The company's name as the chat and its plans say it.
PROVIDER = "Together AI"
