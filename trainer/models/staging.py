"""Writing a converted model into the workspace's model cache so that it is there whole or not at all.

Every conversion (a catalog model's, a user's GGUF file) writes into a temporary folder beside its target and
renames it into place, under a per-model file lock: two processes convert once, and a killed conversion
leaves nothing that looks finished (its leftover staging folder is removed by the next one).
"""

from __future__ import annotations

import fcntl
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from trainer.core.errors import UserError, disk_full_sentence, is_disk_full


@contextmanager
def locked(folder: Path, name: str) -> Iterator[None]:
    """One process at a time installs and converts a model in a workspace; the others wait, then find it done."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def remove_stale_staging(target: Path) -> None:
    # Only the lock holder writes staging folders, so any left over are from a process that was killed.
    for stale in target.parent.glob(f".{target.name}.converting-*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


def build(target: Path, write: Callable[[Path], object], label: str, redo: str, retry: str) -> None:
    """Run `write(staging)` and rename the staging folder to `target` once it holds config.json and safetensors.

    `label` names the model in the sentences ("'smollm2'"), `redo` says what to do after a failed conversion,
    `retry` how to convert again after the disk was full. The caller holds `locked(...)`.
    """
    remove_stale_staging(target)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.converting-", dir=target.parent))
    try:
        write(staging)
        if not (staging / "config.json").is_file() or not any(staging.glob("*.safetensors")):
            raise UserError(f"Converting {label} wrote no config.json and safetensors weights; {redo}.")
        staging.chmod(0o755)  # mkdtemp makes it private; the model is as readable as the rest of the workspace
        staging.rename(target)
    except UserError:
        raise
    except Exception as error:
        if is_disk_full(error):
            raise UserError(disk_full_sentence(f"the converted {label}", retry)) from error
        detail = (str(error).strip().splitlines() or [""])[0][:200].rstrip(".")
        raise UserError(
            f"Converting {label} failed ({type(error).__name__}{': ' + detail if detail else ''}); {redo}."
        ) from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
