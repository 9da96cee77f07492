"""`hub`: a folder ready to push to the Hugging Face Hub: the run's model files and a model card (README.md).

A LoRA run carries its adapter (small; the card says how to load it on its base, and the `merged` export is the
parity-checked merged model); any other run carries its weights as they trained. Nothing here touches the
network: `push_folder` uploads a finished folder, and only when the user asked for it (the chat's yes, or the
command line's --push), with the token from HF_TOKEN, which is never written anywhere.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.core.fileio import atomic_write_json, atomic_write_text, read_json
from trainer.export.base import ExportOptions, ExportSource, Progress, Written
from trainer.export.merged import TUNECHAT_ONLY, UNSAFE_SUFFIXES, model_info
from trainer.export.model_card import hub_id, model_card
from trainer.export.parity import ParityReport

TOKEN_ENV = "HF_TOKEN"
# Why a hub folder is not run for parity, by what it carries.
ADAPTER_PARITY = (
    "Not run here: the folder carries the run's LoRA adapter as it trained; `tunechat export {run} --format merged` "
    "checks it merged into its base model."
)
COPIED_PARITY = (
    "Not run here: the weights are the run's own files, copied byte for byte (manifest.json's sha256 equal the "
    "run's model/ files); a converted export (onnx) runs its own parity check."
)


def _chat(source: ExportSource) -> bool:
    """True when the run's task is served as a chat model (its answers can be compared token for token)."""
    from trainer.serve import chat

    return source.task.served_api() is chat.API


def copy_model_files(source: ExportSource, out_dir: Path) -> list[str]:
    """The run's model/ files but tunechat's own note; safetensors only. Returns the names copied."""
    copied = []
    for path in sorted((source.run_dir / "model").iterdir()):
        if path.name in TUNECHAT_ONLY or path.name.startswith("."):
            continue
        if path.suffix in UNSAFE_SUFFIXES:
            raise UserError(
                f"Run {source.run_id}'s model has {path.name}, which is not safetensors; only safetensors are "
                "exported, so train the run again with this version of tunechat."
            )
        if path.is_dir():
            shutil.copytree(path, out_dir / path.name)
        else:
            shutil.copy2(path, out_dir / path.name)
        copied.append(path.name)
    return copied


def point_adapter_at_hub(out_dir: Path, base: str | None) -> bool:
    """An adapter trained on a local copy of a hub model names that folder; on the Hub it must name the hub id."""
    path = out_dir / "adapter_config.json"
    if base is None or not path.is_file():
        return False
    config = dict(read_json(path))
    if config.get("base_model_name_or_path") == base:
        return False
    atomic_write_json(path, {**config, "base_model_name_or_path": base})
    return True


def push_folder(folder: Path, repo_id: str, private: bool = True) -> str:
    """Upload `folder` to the Hub repository `repo_id` (created private when missing); returns its URL.

    Needs HF_TOKEN and the network; the token is handed to huggingface_hub in memory only.
    """
    token = os.environ.get(TOKEN_ENV)
    if not token:
        raise UserError(
            f"Pushing to the Hugging Face Hub needs a token in {TOKEN_ENV}; create a write token at "
            "https://huggingface.co/settings/tokens, export it as HF_TOKEN and push again."
        )
    if not (folder / "README.md").is_file():
        raise UserError(f"{folder} is not a hub export (it has no README.md); export the run with --format hub first.")
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id, commit_message="Upload from tunechat")
    except Exception as error:  # the network or the Hub said no; the message names which
        raise UserError(
            f"The push to {repo_id} failed ({type(error).__name__}: {str(error)[:200]}); check the repository "
            "name, that HF_TOKEN may write to it, and the network, then push again."
        ) from error
    return f"https://huggingface.co/{repo_id}"


class HubFormat:
    name = "hub"
    summary = "a folder ready to push to the Hugging Face Hub: the model files and a model card"

    def refusal(self, source: ExportSource) -> str | None:
        if self.name in source.task.exports:
            return None
        offered = ", ".join(source.task.exports) or "none"
        title = source.task.title.capitalize()
        return f"{title} runs have no hub export; export run {source.run_id} as one of: {offered}."

    def write(self, source: ExportSource, out_dir: Path, options: ExportOptions, progress: Progress) -> Written:
        adapter = model_info(source.run_dir).get("kind") == "adapter"
        progress("copying the model files")
        copied = copy_model_files(source, out_dir)
        base = hub_id(source.config.get("model"))
        notes = [f"{len(copied)} model files of run {source.run_id}" + (" (its LoRA adapter)." if adapter else ".")]
        if adapter and point_adapter_at_hub(out_dir, base):
            notes.append(f"adapter_config.json names the base model by its hub id, {base}.")
        if adapter and base is None:
            notes.append(
                f"The base model {source.config.get('model')} is not a hub id, so the card cannot link it; people "
                "need that model to load the adapter."
            )
        if not adapter:
            from trainer.export.writer import sha256_of

            changed = [
                name
                for name in copied
                if (out_dir / name).is_file()
                and sha256_of(out_dir / name) != sha256_of(source.run_dir / "model" / name)
            ]
            if changed:
                raise UserError(f"Copying {changed[0]} changed its bytes; check the disk, then export again.")
        progress("writing the model card")
        atomic_write_text(out_dir / "README.md", model_card(source, options.repo_id, adapter, _chat(source)))
        facts: dict[str, Any] = {"adapter": adapter, "base_model_id": base, "repo_id": options.repo_id}
        if adapter:
            facts["parity_note"] = ADAPTER_PARITY.format(run=source.run_id)
        elif not _chat(source):
            facts["parity_note"] = COPIED_PARITY
        repo = options.repo_id or "USER/NAME"
        commands = [f"tunechat export {source.run_id} --format hub --push {repo}"]
        commands.append(f"huggingface-cli upload {repo} {out_dir} .")
        return Written(notes=notes, commands=commands, facts=facts)

    def parity(self, source: ExportSource, out_dir: Path, options: ExportOptions) -> ParityReport | None:
        """A chat model's full weights: the same check as the merged export (transformers runs the folder as a
        user of the Hub would). An adapter, or a classifier's weights copied byte for byte: None (the manifest
        says why)."""
        if model_info(source.run_dir).get("kind") == "adapter" or not _chat(source):
            return None
        from trainer.export.chat_forms import folder_parity

        return folder_parity(source, out_dir, "hub folder (transformers)", options)


FORMAT = HubFormat()
