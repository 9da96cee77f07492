"""What the GGUF converter reads: the run's full weights as one Hugging Face folder, and the run's system prompt.

llama.cpp's converter wants plain weights, so a LoRA run is merged into its base first. That merge is the
merged export's job; `merged_folder` is the one place this format asks for it, so it can be pointed at that
export's folder instead.
"""

from __future__ import annotations

from pathlib import Path

from trainer.export.base import ExportSource


def merged_folder(source: ExportSource, scratch: Path) -> Path:
    """A folder with the run's full weights, tokenizer (and chat template) and generation config: the run's
    model/ itself for a full fine-tune, its complete merged export when there is one, else its adapter merged into
    the base model by the merged format's own code and saved into `scratch`."""
    from trainer.export.merged import merge_adapter, model_info
    from trainer.tasks.causal_lm.served_weights import merged_export

    if model_info(source.run_dir).get("kind") != "adapter":
        return source.run_dir / "model"
    exported = merged_export(source.run_dir)
    if exported is not None:
        return exported
    scratch.mkdir(parents=True, exist_ok=True)
    merge_adapter(source, scratch, lambda line: None)
    return scratch


def data_system_prompt(source: ExportSource) -> tuple[str | None, str | None]:
    """The system prompt every training chat began with (None when they had none), and a note when the chats
    had several or the data is gone."""
    path = Path(str(source.config.get("data", "")))
    if not path.is_file():
        return None, "The run's data file is gone, so the Modelfile names no system prompt."
    from trainer.tasks.causal_lm.data import load_chats

    try:
        chats = load_chats(path, source.config.get("placeholders") or {})
    except Exception:  # a file another task reads (preference pairs): its prompts carry no system turn here
        return None, None
    systems = {
        str(chat["messages"][0].get("content", ""))
        for chat in chats
        if chat.get("messages") and chat["messages"][0].get("role") == "system"
    }
    if not systems:
        return None, None
    if len(systems) == 1 and all(chat.get("messages", [{}])[0].get("role") == "system" for chat in chats):
        return systems.pop(), None
    return None, (
        f"The training chats had {len(systems)} different system prompts (or some had none), so the Modelfile "
        "names none; pass one with each request."
    )
