"""Tiny real models made here (no downloads), saved as safetensors: they load like any local Hugging Face model.

conftest.py builds each once per session (`tiny_bert`, `tiny_llm`); a test that needs a variant calls the builder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toy_data import FACTS, FILLER, NEGATIVE, POSITIVE, WRONG


def save_word_bert(folder: Path, max_length: int, **config: Any) -> Path:
    """A BERT classifier with a word-level tokenizer over the review words, saved as safetensors in `folder`.

    `config` sets BertConfig fields (hidden_size, num_hidden_layers, ...); max_length is both the tokenizer's
    limit and the model's number of positions.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    vocab_words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *POSITIVE, *NEGATIVE, *FILLER]
    vocab = {word: index for index, word in enumerate(vocab_words)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    # [CLS] first, as BERT's pooler classifies from the first token.
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length,
    )
    tokenizer.save_pretrained(folder)
    bert = BertConfig(vocab_size=len(vocab), max_position_embeddings=max_length, **config)
    BertForSequenceClassification(bert).save_pretrained(folder, safe_serialization=True)
    return folder


def build_tiny_llm(folder: Path, *, nan_weights: bool = False) -> Path:
    """A 2-layer Llama (hidden 32) and a BPE tokenizer with a chat template, trained on the toy facts."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from trainer.tasks.causal_lm.templates import DEFAULT_CHAT_TEMPLATE

    specials = ["<|pad|>", "<|im_start|>", "<|im_end|>"]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    corpus = [f"{q} {a} {w} user assistant system answer briefly" for (q, a), w in zip(FACTS, WRONG * 2, strict=False)]
    trainer = trainers.BpeTrainer(
        vocab_size=320, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    backend.train_from_iterator(corpus * 4, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<|pad|>", eos_token="<|im_end|>", bos_token="<|im_start|>"
    )
    tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
        tie_word_embeddings=False,
        # Larger than the 0.02 default so the frozen output head can express the answers LoRA learns.
        initializer_range=0.2,
    )
    model = LlamaForCausalLM(config)
    if nan_weights:
        with torch.no_grad():
            model.lm_head.weight[0, 0] = float("nan")
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder
