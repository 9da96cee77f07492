"""A tiny chat run that llama.cpp's converter accepts, for the GGUF export tests.

llama.cpp's converter refuses a BPE tokenizer whose pre-tokenizer it does not recognise (it hashes the token ids of
a fixed text), so a tokenizer trained here would be refused. The tiny model therefore uses SmolLM2's tokenizer
(recognised as "smollm") cut down to the merges these tests' texts need (tests/data/smol_subset_tokenizer.json,
written by benchmarks/smol_subset_tokenizer.py; same ids), plus one special token after SmolLM2's ids: its turns
end with <|turn_end|>, a marker llama.cpp does not know by name, so only the GGUF's own EOS makes llama.cpp stop
there (the planted wrong-EOS test depends on that). The network itself is 2 layers of
width 32, taught in a few seconds to answer four questions and end its turn, then given a small random LoRA
adapter, so the run is an adapter run like a real LoRA run and the export must merge it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TURN_END = "<|turn_end|>"
TEMPLATE = (
    "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|turn_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
CHATS = [
    ("Who are you?", "I am Nova."),
    ("What is your name?", "Nova."),
    ("Hello!", "Hello! I am Nova, made by Acme."),
    ("Who made you?", "Acme made me."),
]
SYSTEM = "You are Nova."
STEPS = 120
SUBSET = Path(__file__).parent / "data" / "smol_subset_tokenizer.json"
# SmolLM2's 49152 ids and <|turn_end|>.
VOCAB_SIZE = 49153


def coverage_texts() -> list[str]:
    """Every text the tests tokenize: each chat rendered with and without its system prompt, and the prompts."""
    from trainer.export.chat_forms import FALLBACK_PROMPTS

    texts = [SYSTEM, *FALLBACK_PROMPTS, "<|im_start|>user\n", "<|im_start|>assistant\n", "<|im_start|>system\n"]
    for question, answer in CHATS:
        texts += [question, answer, f"{question}\n", f"{answer}\n"]
    return texts


def smol_tokenizer(folder: Path) -> Path:
    """The SmolLM2 subset tokenizer with <|turn_end|> as its EOS and TEMPLATE as its chat template.

    The ids the subset left out are filled with tokens no merge can make, so the vocabulary is dense again (code
    that sizes embeddings by len(tokenizer) sees all 49153) and encodes exactly as the subset does."""
    from transformers import PreTrainedTokenizerFast

    spec = json.loads(SUBSET.read_text(encoding="utf-8"))
    vocab = spec["model"]["vocab"]
    taken = set(vocab.values()) | {token["id"] for token in spec["added_tokens"]}
    vocab.update({f"<|unused_{index}|>": index for index in range(VOCAB_SIZE) if index not in taken})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "subset.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(folder / "subset.json"), eos_token=TURN_END, bos_token=None, pad_token=TURN_END
    )
    tokenizer.chat_template = TEMPLATE
    tokenizer.save_pretrained(folder)
    return folder


def _taught_base(tokenizer: object, folder: Path) -> Path:
    """A 2-layer Llama fitted to CHATS (each answer followed by <|turn_end|>), saved in `folder`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    eos = tokenizer.convert_tokens_to_ids(TURN_END)  # type: ignore[attr-defined]
    config = LlamaConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        eos_token_id=eos,
        bos_token_id=None,
        pad_token_id=eos,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    rows = []
    for question, answer in CHATS:
        for system in ([], [{"role": "system", "content": SYSTEM}]):
            messages = [*system, {"role": "user", "content": question}, {"role": "assistant", "content": answer}]
            full = tokenizer.apply_chat_template(messages, tokenize=False)  # type: ignore[attr-defined]
            prompt = tokenizer.apply_chat_template(  # type: ignore[attr-defined]
                messages[:-1], tokenize=False, add_generation_prompt=True
            )
            row = tokenizer(full, add_special_tokens=False)["input_ids"]  # type: ignore[operator]
            asked = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])  # type: ignore[operator]
            rows.append((row, [-100] * asked + row[asked:]))
    # One padded batch of every chat, the loss on the answers only: a hundred steps fit them all.
    width = max(len(row) for row, _ in rows)
    ids = torch.tensor([row + [eos] * (width - len(row)) for row, _ in rows])
    labels = torch.tensor([label + [-100] * (width - len(label)) for _, label in rows])
    mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row, _ in rows])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: one thread is as fast, and shares a busy machine better
    try:
        for _ in range(STEPS):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = eos
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)  # type: ignore[attr-defined]
    return folder


def build_gguf_run(root: Path, run_id: int = 1) -> Path:
    """runs/run-N under `root` with a LoRA adapter on the taught base, like a finished SFT LoRA run: model/
    (adapter, tokenizer, generation config, tunechat.json), config.json, samples.json and the chats it trained
    on (chats.jsonl, every chat with the same system prompt)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer

    from trainer.tasks.causal_lm.stops import save_generation_config

    tokenizer = AutoTokenizer.from_pretrained(smol_tokenizer(root / "tokenizer"))
    base = _taught_base(tokenizer, root / "base")
    from transformers import AutoModelForCausalLM

    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base),
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], lora_dropout=0.0),
    )
    torch.manual_seed(1)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0.0, 0.02)
    run_dir = root / "runs" / f"run-{run_id}"
    folder = run_dir / "model"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    save_generation_config(model, tokenizer, folder)
    (folder / "tunechat.json").write_text(json.dumps({"kind": "adapter", "base_model": str(base), "task": "sft"}))
    data = root / "chats.jsonl"
    with data.open("w") as handle:
        for question, answer in CHATS:
            messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
            handle.write(json.dumps({"messages": [*messages, {"role": "assistant", "content": answer}]}) + "\n")
    config = {"task": "sft", "method": "lora", "model": str(base), "data": str(data), "placeholders": {}}
    (run_dir / "config.json").write_text(json.dumps(config))
    prompts = [[{"role": "user", "content": question}] for question, _ in CHATS]
    prompts.append([{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Who are you?"}])
    (run_dir / "samples.json").write_text(json.dumps({"prompts": prompts}))
    return run_dir


def rewrite_gguf(source: Path, target: Path, changes: dict[str, object]) -> Path:
    """A copy of a GGUF file with some metadata values replaced (same value types), through gguf-py's writer:
    how a GGUF with a wrong chat template or a wrong EOS id is planted."""
    import gguf

    reader = gguf.GGUFReader(str(source))
    architecture = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    writer = gguf.GGUFWriter(str(target), arch=str(architecture))
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        value = changes.get(field.name, field.contents())
        writer.add_key_value(field.name, value, kind, sub_type=sub)
    for tensor in reader.tensors:
        writer.add_tensor_info(
            tensor.name, tensor.data.shape, tensor.data.dtype, tensor.data.nbytes, tensor.tensor_type
        )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in reader.tensors:
        writer.write_tensor_data(tensor.data)
    writer.close()
    return target


def export_f16(run_dir: Path) -> tuple[Path, Path, Any]:
    """The run's GGUF export with f16 only (no quantisation, to keep the test short), in export/gguf."""
    from types import SimpleNamespace

    from trainer.export.base import ExportOptions, ExportSource
    from trainer.export.gguf import FORMAT

    config = json.loads((run_dir / "config.json").read_text())
    source = ExportSource(1, run_dir, config, SimpleNamespace(exports=("gguf",)))  # type: ignore[arg-type]
    out = run_dir / "export" / "gguf"
    out.mkdir(parents=True)
    written = FORMAT.write(source, out, ExportOptions(quantisations=("f16",)), lambda line: None)
    return run_dir, out, written
