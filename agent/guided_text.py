"""What guided mode says that does not depend on the chat: the notice about LLM mode, the help, the hint for
preparing data."""

from __future__ import annotations

LLM_NOTICE = (
    "_Guided mode: I understand short requests (say **help** for the list). For free-form chat, set "
    "`OPENAI_API_KEY` (optionally `TUNECHAT_MODEL`), or point tunechat at an OpenAI-compatible server "
    "(`--llm-base-url http://127.0.0.1:11434/v1 --llm-model qwen2.5:7b`) or a local model folder "
    "(`--llm local --llm-path FOLDER`), or save the choice with `tunechat settings --set llm.base_url=...`; "
    "then restart tunechat._"
)

HELP = """I fine-tune models on your data: text classifiers, and language models on chats or preference pairs. \
Things to say:

- drop a data file (CSV, TSV, JSON, JSONL, Parquet, ...), then **inspect** or **fine-tune a classifier on this** \
(for chats: **fine-tune with lora on this**)
- change the plan: **use 5 epochs**, **learning rate 3e-5**, **batch size 16**, **max length 64**, \
**freeze 2 layers**, **model org/name**, **the label column is Score**
- fix the data: **clean it up**, **remove duplicates**, **convert it to chat format**, **split it 80/10/10**, \
**treat it as regression**
- **go** to start training, **dry run** to try a plan first (two steps, nothing kept), **status**, **stop**
- **results** (or **evaluate run 2**), **list runs**, **compare run 1 and run 2**, **why did run 2 beat run 1?**, \
**deploy run 2**, **stop serving run 2**, **delete run 2**, **delete dataset reviews.tsv** (these wait for your **yes**)
- **export run 2** (merged weights; **for ollama**, **as onnx**, **for the hub**), checked against the trained model
- earlier runs: **resume the run that crashed**, **deploy the best run**, **same as last time but 3 epochs**
- search settings: **find the best learning rate**, **tune the hyperparameters in 15 minutes**, \
**search status** (each trial is a run; the search waits for your **yes**)
- a failed run: **why did run 3 fail?**, then **fix it** (a changed config that waits for your **yes**)
- through the OpenAI API (needs `OPENAI_API_KEY`): **fine-tune gpt-4.1-mini on this** shows the plan and cost, \
**go** uploads and starts the job, **status** shows its events and metrics, **stop** cancels it
- through Together AI (needs `TOGETHER_API_KEY`): **fine-tune this on together**, then **go**, **status**, **stop**"""

PREPARE_HINT = (
    "Say **clean it up** (drop broken rows and duplicates), **convert it to chat format** or **split it 80/10/10** "
    "to write a prepared copy; your upload stays unchanged."
)
