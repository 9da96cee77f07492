"""Tiny real models made here (no downloads), saved as safetensors: they load like any local Hugging Face model.

conftest.py builds each once (`tiny_bert`, `tiny_llm`, `wide_bert`, `chain_llm`); a test that needs a variant calls
the builder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toy_data import FACTS, FILLER, NEGATIVE, POSITIVE, WRONG, make_reviews


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


CALL = '{"name": "list_runs", "arguments": {}}'
ANSWER = ["You", "have", "no", "runs", "yet."]
# The generation prompt ends in <|turn|> normally and in <|after_tool|> right after a tool result.
TEMPLATE = (
    "{%- if tools %}<|im_start|>system\n{{ tools | tojson }}<|im_end|>\n{% endif %}"
    "{%- for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}"
    "{%- for c in m.tool_calls or [] %} <tool_call> {{ c.function | tojson }} </tool_call>{% endfor %}"
    "<|im_end|>\n{% endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if messages[-1].role == 'tool' %} <|after_tool|>{% else %} <|turn|>{% endif %}{% endif %}"
)


def build_chain_llm(folder: Path) -> Path:
    """A 1-layer Llama whose greedy output is fixed: <|turn|> -> <tool_call> CALL </tool_call> <|im_end|>,
    <|after_tool|> -> "You have no runs yet." <|im_end|>, any other token -> <|im_end|>.

    Attention and MLP outputs are zeroed, so the last hidden state is the current token's one-hot
    embedding; the output head maps each token to its successor."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ["<|pad|>", "<|unk|>", "<|im_start|>", "<|im_end|>", "<|turn|>", "<|after_tool|>"]
    words += ["<tool_call>", "</tool_call>", *ANSWER, "assistant", "user", "system", "tool"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<|unk|>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<|pad|>", eos_token="<|im_end|>", unk_token="<|unk|>"
    )
    tokenizer.add_tokens([CALL])  # the call's JSON as one token, matched whole
    tokenizer.chat_template = TEMPLATE
    vocab = len(tokenizer)
    ids = tokenizer.convert_tokens_to_ids
    chain = ["<|turn|>", "<tool_call>", CALL, "</tool_call>", "<|im_end|>"]
    chain_after = ["<|after_tool|>", *ANSWER, "<|im_end|>"]

    hidden = 48
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=32768,
        pad_token_id=ids("<|pad|>"),
        eos_token_id=ids("<|im_end|>"),
        bos_token_id=ids("<|im_start|>"),
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        model.model.embed_tokens.weight.copy_(torch.eye(vocab, hidden))
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        head = torch.zeros(vocab, hidden)
        head[ids("<|im_end|>"), :vocab] = 5.0  # default successor: stop
        for sequence in (chain, chain_after):
            for current, following in zip(sequence, sequence[1:], strict=False):
                head[ids(following), ids(current)] = 20.0
        model.lm_head.weight.copy_(head)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


# Greedy replies of two_stop_llm: each prompt word starts a chain; the two chains end at different stop tokens.
STOP_CHAINS = {"alpha": ["one", "two", "<|eot|>"], "beta": ["three", "<|end|>"], "gamma": ["four", "four"]}


def build_two_stop_llm(folder: Path) -> Path:
    """A 1-layer Llama whose generation config lists two end-of-turn ids (<|eot|>, the tokenizer's EOS, and
    <|end|>, an ordinary token of its vocabulary), and whose greedy reply is fixed by the last prompt word
    (STOP_CHAINS; "gamma" never stops). Built like build_chain_llm: each token's successor is in the head."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ["<|pad|>", "<|unk|>", "<|eot|>", "<|end|>", "user", "assistant"]
    words += sorted(({word for chain in STOP_CHAINS.values() for word in chain} | set(STOP_CHAINS)) - set(words))
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<|unk|>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<|pad|>", eos_token="<|eot|>", unk_token="<|unk|>"
    )
    # The reply follows the last message's own words, so its last word picks the chain.
    tokenizer.chat_template = "{% for m in messages %}{{ m.role }} {{ m.content }} {% endfor %}"
    ids = tokenizer.convert_tokens_to_ids
    vocab, hidden = len(words), 32
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        pad_token_id=ids("<|pad|>"),
        eos_token_id=[ids("<|eot|>"), ids("<|end|>")],
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        model.model.embed_tokens.weight.copy_(torch.eye(vocab, hidden))
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        head = torch.zeros(vocab, hidden)
        for start, chain in STOP_CHAINS.items():
            for current, following in zip([start, *chain], chain, strict=False):
                head[ids(following), ids(current)] = 20.0
        model.lm_head.weight.copy_(head)
    model.generation_config.eos_token_id = [ids("<|eot|>"), ids("<|end|>")]
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def train_stopping_lora(tiny_llm: Path, home: Path) -> Path:
    """Run 1 of a workspace of its own at `home`: a LoRA adapter on tiny_llm trained in this process on 40 short
    answers (one word each, 8 epochs at lr 1e-2), long enough that it ends most replies with <|im_end|>; its folder.
    """
    import pytest
    from run_records import train_llm_here
    from toy_data import short_chats, write_jsonl

    data = write_jsonl(home / "short.jsonl", short_chats(40))
    settings = {"data": str(data), "task": "sft", "model": str(tiny_llm), "method": "lora", "learning_rate": 1e-2}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TUNECHAT_HOME", str(home / "tunechat-home"))
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        run_dir, _ = train_llm_here({**settings, "epochs": 8, "forgetting_check": False})
    return run_dir


def fine_tune_reviews(tiny_bert: Path, folder: Path) -> Path:
    """tiny_bert fine-tuned for a few plain-torch steps on the clear-word reviews, saved into `folder` like a run's
    model/."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    labels = ["neg", "pos"]
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_bert,
        num_labels=2,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        use_safetensors=True,
    )
    rows = make_reviews(96, seed=1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    losses = []
    for step in range(48):
        batch = [rows[(step * 16 + i) % len(rows)] for i in range(16)]
        encoded = tokenizer([text for text, _ in batch], padding=True, return_tensors="pt")
        targets = torch.tensor([labels.index(label) for _, label in batch])
        loss = model(**encoded, labels=targets).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < losses[0], "the fixture's quick fine-tune did not learn"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
