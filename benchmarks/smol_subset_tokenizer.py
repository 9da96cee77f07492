"""Write tests/data/smol_subset_tokenizer.json: SmolLM2's BPE tokenizer cut down to what the GGUF tests need.

llama.cpp's converter recognises a BPE tokenizer by the token ids it gives a fixed text (CHKTXT), so a tokenizer
trained in a test is refused. This keeps SmolLM2's token ids, its 256 byte tokens, its special tokens, and only
the merges that its BPE applies to CHKTXT and the texts the tests use. BPE applies, at each step, the
lowest-ranked merge among a word's adjacent pairs; every merge the full tokenizer applies to these words is
kept with its rank order, so the subset makes the same choices on them (and on any other text it falls back to
shorter pieces, identically in transformers and llama.cpp, since both read the same vocabulary and merges).

    python benchmarks/smol_subset_tokenizer.py [SMOLLM2_FOLDER]   # default ~/.tunechat/models/smollm2

SmolLM2's tokenizer is Apache-2.0 (HuggingFaceTB/SmolLM2-135M-Instruct).
"""

from __future__ import annotations

import json
import re
import sys
from hashlib import sha256
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "smol_subset_tokenizer.json"
sys.path.insert(0, str(ROOT / "tests"))


def chktxt() -> str:
    from trainer.export.llamacpp_tools import converter_dir

    source = (converter_dir() / "conversion" / "base.py").read_text()
    return str(eval(re.search(r"chktxt = ('.*')\n", source).group(1)))  # the converter's own literal


def used_merges(word: str, ranks: dict[tuple[str, str], int]) -> list[tuple[str, str]]:
    parts, applied = list(word), []
    while len(parts) > 1:
        pairs = [(ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(parts, parts[1:], strict=False))]
        rank, index = min(pairs)
        if rank == 1 << 30:
            break
        applied.append((parts[index], parts[index + 1]))
        parts[index : index + 2] = [parts[index] + parts[index + 1]]
    return applied


def main() -> None:
    from gguf_export_run import TURN_END, coverage_texts
    from transformers import PreTrainedTokenizerFast

    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path.home() / ".tunechat" / "models" / "smollm2"
    full = json.loads((folder / "tokenizer.json").read_text())
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in full["model"]["merges"]]
    ranks = {pair: rank for rank, pair in enumerate(merges)}
    vocab: dict[str, int] = full["model"]["vocab"]
    reference = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    texts = [chktxt(), *coverage_texts()]
    keep: set[tuple[str, str]] = set()
    for text in texts:
        for word, _ in reference.backend_tokenizer.pre_tokenizer.pre_tokenize_str(text):
            keep.update(used_merges(word, ranks))
    kept_merges = [pair for pair in merges if pair in keep]
    from tokenizers import pre_tokenizers

    bytes_level = set(pre_tokenizers.ByteLevel.alphabet())
    specials = {token["content"] for token in full["added_tokens"]}
    tokens = bytes_level | specials | {a + b for a, b in kept_merges} | {t for pair in kept_merges for t in pair}
    full["model"]["vocab"] = {token: index for token, index in vocab.items() if token in tokens}
    full["model"]["merges"] = [list(pair) for pair in kept_merges]
    # The tests' end-of-turn marker, after SmolLM2's last id (a token added later would take a free id inside).
    turn_end = {"id": len(vocab), "content": TURN_END, "single_word": False, "lstrip": False, "rstrip": False}
    full["added_tokens"].append({**turn_end, "normalized": False, "special": True})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(full, ensure_ascii=False))
    subset = PreTrainedTokenizerFast(tokenizer_file=str(OUT))
    for text in texts:
        assert subset.encode(text) == reference.encode(text), text[:40]
    digest = sha256(str(subset.encode(texts[0])).encode()).hexdigest()
    print(f"{OUT}: {len(full['model']['vocab'])} tokens, {len(kept_merges)} merges, chkhsh {digest}")


if __name__ == "__main__":
    main()
