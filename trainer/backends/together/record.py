"""What a Together run keeps in its folder: the job record (together_job.json), progress.json and follow.log
(trainer/backends/hosted_common.py, RunFiles, says how, and why the record is written before every step)."""

from __future__ import annotations

from trainer.backends.hosted_common import RunFiles
from trainer.backends.together.client import redact

RECORD = "together_job.json"
FILES = RunFiles(RECORD, redact)
# The module's own names, as the rest of the package and the tests call them.
read_record, write_record, write_progress, log = FILES.read_record, FILES.write_record, FILES.write_progress, FILES.log
