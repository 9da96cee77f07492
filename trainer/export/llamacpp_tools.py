"""llama.cpp's own GGUF converter, taken from the llama-cpp-python source distribution of the installed version.

The converter (convert_hf_to_gguf.py, its `conversion` package and its own gguf-py) ships only inside the sdist,
so it is fetched once with pip into a per-user tools cache (~/.tunechat/tools, or TUNECHAT_TOOLS), and only those
three parts are extracted. It runs as a child process with that gguf-py first on PYTHONPATH: the converter and
the llama.cpp that loads its output come from the same release, and nothing from a chat or a data file is ever
run. The quantiser (q4_k_m) is llama.cpp's own too, reached through llama-cpp-python's low-level API, also in a
child process, so a crash in native code ends only the child and its log lines stay out of the caller's output.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from trainer.core.errors import UserError

DISTRIBUTION = "llama-cpp-python"
# What the converter needs from the sdist, below vendor/llama.cpp/.
PARTS = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/")
CONVERT_TIMEOUT = 3600


def llama_cpp_version() -> str:
    """The installed llama-cpp-python's version; one sentence when it is not installed."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as error:
        raise UserError(
            "GGUF export needs llama-cpp-python (it runs the GGUF for the parity check); run "
            '`pip install llama-cpp-python` (or `pip install -e ".[gguf]"`).'
        ) from error


def tools_dir() -> Path:
    """The per-user cache of third-party tools, shared by every workspace like pip's own cache."""
    return Path(os.environ.get("TUNECHAT_TOOLS") or Path.home() / ".tunechat" / "tools").expanduser()


def fetch_command(version: str, into: Path) -> list[str]:
    return [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
        f"{DISTRIBUTION}=={version}", "-d", str(into),
    ]  # fmt: skip


def _sdist(version: str, downloads: Path) -> Path:
    """The sdist of `version` in `downloads`, fetched with pip when it is not there yet."""
    name = f"llama_cpp_python-{version}.tar.gz"
    if (downloads / name).is_file():
        return downloads / name
    downloads.mkdir(parents=True, exist_ok=True)
    command = fetch_command(version, downloads)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired):
        done = None
    if done is None or done.returncode != 0 or not (downloads / name).is_file():
        shown = " ".join(command[1:])
        raise UserError(
            f"llama.cpp's GGUF converter comes from the llama-cpp-python {version} source distribution, which could "
            f"not be fetched (no network?); run `python {shown}` where the network is reachable, then export again."
        )
    return downloads / name


def _wanted(member: tarfile.TarInfo, prefix: str) -> str | None:
    """The member's path below vendor/llama.cpp/ when it is one of the converter's parts, else None."""
    if not member.name.startswith(prefix):
        return None
    inner = member.name[len(prefix) :]
    if not any(inner == part or (part.endswith("/") and inner.startswith(part)) for part in PARTS):
        return None
    if ".." in Path(inner).parts or not (member.isfile() or member.isdir()):
        return None
    return inner


def converter_dir() -> Path:
    """A folder holding convert_hf_to_gguf.py, conversion/ and gguf-py/ of the installed llama.cpp release."""
    version = llama_cpp_version()
    root = tools_dir()
    target = root / f"llama.cpp-{version}"
    if (target / "convert_hf_to_gguf.py").is_file():
        return target
    sdist = _sdist(version, root / "downloads")
    prefix = f"llama_cpp_python-{version}/vendor/llama.cpp/"
    staging = Path(tempfile.mkdtemp(prefix=".llama.cpp-", dir=root))
    try:
        with tarfile.open(sdist, "r:gz") as archive:
            for member in archive:
                inner = _wanted(member, prefix)
                if inner is None or member.isdir():
                    continue
                out = staging / inner
                out.parent.mkdir(parents=True, exist_ok=True)
                source = archive.extractfile(member)
                if source is not None:
                    out.write_bytes(source.read())
        if not (staging / "convert_hf_to_gguf.py").is_file():
            raise UserError(
                f"{sdist.name} holds no vendor/llama.cpp/convert_hf_to_gguf.py; delete it and export again."
            )
        try:
            staging.rename(target)
        except OSError:
            # Another export extracted it first; theirs is as good as ours.
            shutil.rmtree(staging, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def child_env(tools: Path) -> dict[str, str]:
    """The environment of a converter process: the converter's own gguf-py first, no API keys."""
    env = {key: value for key, value in os.environ.items() if not key.endswith(("_API_KEY", "_TOKEN"))}
    env["PYTHONPATH"] = os.pathsep.join([str(tools / "gguf-py"), str(tools)])
    return env


def convert(model_folder: Path, out_file: Path, outtype: str) -> None:
    """Run llama.cpp's converter on a Hugging Face folder; UserError with its last words when it refuses."""
    tools = converter_dir()
    command = [
        sys.executable, str(tools / "convert_hf_to_gguf.py"), str(model_folder),
        "--outfile", str(out_file), "--outtype", outtype,
    ]  # fmt: skip
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=CONVERT_TIMEOUT, env=child_env(tools), cwd=tools
        )
    except subprocess.TimeoutExpired as error:
        raise UserError(f"llama.cpp's converter took over {CONVERT_TIMEOUT // 60} minutes; try again.") from error
    if done.returncode != 0 or not out_file.is_file():
        raise UserError(f"llama.cpp's converter refused the model ({_last_words(done.stderr)}).")


def _last_words(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "error" in line]
    found = (errors or lines or ["no output"])[-1]
    return found[:300].rstrip(".")
