"""Guided mode's understanding of plain words: which intent a message carries and which settings it names.

Rules first: each intent is a list of patterns tried in priority order, so "stop the training" is a stop and not
a train, and a number next to a setting's name changes that setting. The rules also read every slot (numbers, run
ids, columns, settings, placeholders, export formats). Where they find no intent, or only a broad keyword, the
message's meaning decides (agent/meaning.py), and when two intents are about as likely the intent is "ask".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from agent.export_words import EXPORT_PATTERNS, parse_export
from agent.meaning import decide, mend_typos
from trainer.backends.registry import hosted_backends
from trainer.tasks.registry import task_names

# Tried top to bottom; the first intent with a matching pattern wins.
INTENT_PATTERNS: list[tuple[str, list[str]]] = [
    ("help", [r"^\s*(help|\?|what can you do|how does this work|commands)\b"]),
    # "do a dry run first", "try it first": before "go" and "train", so trying a plan never starts it.
    ("dry_run", [r"\bdry[- ]?run\b", r"\btry (it|this|that|the plan) (out )?first\b", r"\btest run\b"]),
    # Hyperparameter search: "resume the search" before "resume", "search status" before "status", and "find the
    # best learning rate" before "best run" and "train".
    ("search_resume", [r"\b(resume|continue|finish)\b.*\bsearch\b"]),
    ("search_stop", [r"\b(stop|cancel|abort|kill|halt)\b.*\bsearch\b"]),
    (
        "search",
        [
            r"\b(find|search( for)?|look for)\b.*\bbest\b.*\b(learning[ _-]?rate|lr|epochs?|batch[ _-]?size|warm-?up|"
            r"rank|alpha|frozen|hyper-?param\w*|settings)\b",
            r"\btune\b.*\bhyper-?param\w*",
            r"\bhyper-?param\w*\s+(search|tuning|optimi[sz]ation)\b",
            r"\b(optuna|search hyper-?param\w*)\b",
        ],
    ),
    ("search_status", [r"\bsearch (status|results?|progress)\b", r"\b(show|how is|how's)\b.*\bsearch\b"]),
    # A run that forgot general ability: "retrain with the remedy" plans the run its evaluation proposed.
    ("remedy", [r"\b(remedy|remedies)\b", r"\bretrain\b.*\bforg[eo]t\w*"]),
    # "judge run 3": an LLM compares the tuned answers with the base model's (a plan; paid requests on yes).
    ("judge", [r"\bjudge\b", r"\bllm[- ]as[- ](a[- ])?judge\b"]),
    # A failed run: "why did it fail?" explains it, "fix it" / "relaunch" / "try again" plans a fixed run.
    (
        "diagnose",
        [r"\bwhy\b.*\b(fail\w*|crash\w*|broke|break|die|died|stop\w*)\b", r"\bwhat went wrong\b", r"\bdiagnos\w*"],
    ),
    (
        "relaunch",
        [r"\bfix (it|this|that|the run|runs?\s*#?\s*\d+)\b", r"\brelaunch\w*\b", r"^\s*try (it |that )?again\b"],
    ),
    # Run-history references: "resume the run that crashed", "retry the failed run".
    ("resume", [r"\b(resume|retry)\b", r"\bcontinue\b.*\b(run|training)\b", r"\bpick\b.*\bup\b.*\b(again|where)\b"]),
    # Before "stop" and "deploy": "stop serving run 2" takes an endpoint down, it does not stop a training run.
    (
        "undeploy",
        [
            r"\b(undeploy|stop serving|take (it|run \d+|the (model|server|endpoint)) (down|offline))\b",
            r"\bshut ?down (the )?(server|endpoint)\b",
        ],
    ),
    ("stop", [r"\b(stop|cancel|abort|kill|halt)\b"]),
    # "delete run 2", "remove dataset reviews.tsv" (not "remove duplicate rows", which prepares the data).
    (
        "delete",
        [
            r"^(?!.*\b(duplicates?|dupes|rows|lines|records)\b).*"
            r"\b(delete|remove|erase)\s+(the\s+|this\s+|my\s+)?(runs?|dataset|data ?set|file|upload)\b"
        ],
    ),
    # "export run 3 for ollama", "merged weights", "push it to the hub": before "deploy" ("publish") and "train".
    ("export", EXPORT_PATTERNS),
    # "why did run 2 beat run 1?", "what made run 3 better?", "explain the comparison": before "compare".
    (
        "explain",
        [
            r"\bwhy\b.*\b(beat|beats|won|win|wins|better|worse|outperform\w*|lost|lose|loses|higher|lower)\b",
            r"\bwhat made\b.*\b(better|worse|win|won)\b",
            r"\bhow (come|did)\b.*\b(beat|beats|outperform\w*)\b",
            r"\bexplain\b.*\b(comparison|difference\w*|runs?\b.*\b(and|vs\.?|versus)\b)",
            r"\bcompare\b.*\b(explain|why)\b",
        ],
    ),
    ("compare", [r"\bcompare\b", r"\bdiff(erence)?s?\b.*\bruns?\b", r"\bruns?\b.*\bvs\.?\b"]),
    ("deploy_best", [r"\b(deploy|serve|publish)\b.*\bbest\b"]),
    ("deploy", [r"\b(deploy|serve|publish|endpoint|host)\b"]),
    ("best_run", [r"\bbest (run|model|one)\b", r"\bwhich (run|model|one)\b.*\bbest\b"]),
    ("list_runs", [r"\b(list|show|all|my|previous|earlier)\b.*\bruns\b", r"^\s*runs\s*$", r"\brun history\b"]),
    ("status", [r"\b(status|progress|how('s| is)? (it|the run|training) going|is it done|eta|still running)\b"]),
    (
        "evaluate",
        [r"\b(evaluat\w*|results?|metrics?|accuracy|f1|confusion|how (did|well) (it|the model) (do|did|perform))\b"],
    ),
    # Repair, convert or split the data: before "go" so "ok, clean it up" prepares rather than starts.
    (
        "prepare",
        [
            r"\bclean\w*\b.*\b(it|this|data|file|up)\b",
            r"\b(remove|drop|delete)\b.*\b(duplicates?|dupes|broken|empty|bad) (rows|lines|records)?",
            r"\b(remove|drop|delete) (the )?(duplicates?|dupes)\b",
            r"\b(de-?dupe?|de-?duplicate)\b",
            r"\bconvert\b.*\b(chat|messages|jsonl|format)\b",
            r"\bsplit\b.*\b(it|this|data|file|train|test|\d)",
            r"^\s*split\s*$",
            r"\b(repair|prepare)\b.*\b(it|this|data|file)\b",
        ],
    ),
    # "same as last time but 3 epochs", "again but with lr 1e-4", "like run 2 with 5 epochs": a plan from a run.
    (
        "rerun_like",
        [
            r"\bsame as\b.*\b(last|before|previous|earlier|run\s*#?\s*\d+)",
            r"\b(like|as) (last time|before|the (last|previous) (one|run)|run\s*#?\s*\d+)\b",
            r"\bagain\b",
            r"\b(repeat|redo|rerun|re-run)\b",
        ],
    ),
    # "go live" is a deployment, not a yes.
    (
        "go",
        [
            r"^\s*(go(?! live| online| public)|go ahead|yes|yep|yeah|y|ok|okay|start|start it|do it|launch|proceed|"
            r"run it|sounds good)\b"
        ],
    ),
    ("train", [r"\b(fine[- ]?tun\w*|train\w*|classif\w*|build a model|make a model)\b"]),
    (
        "inspect",
        [r"\b(inspect|look at|check|analy[sz]e|describe|profile|summari[sz]e|what'?s in|explore)\b"],
    ),
]

NUMBER = r"(\d+(?:\.\d+)?(?:e-?\d+)?)"
SEP = r"\s*(?:to|=|:|of|at|is)?\s*"
SETTING_PATTERNS: list[tuple[str, list[str]]] = [
    ("epochs", [rf"{NUMBER}\s*epochs?\b", rf"\bepochs?{SEP}{NUMBER}"]),
    ("learning_rate", [rf"\b(?:learning[ _-]?rate|lr){SEP}{NUMBER}"]),
    ("batch_size", [rf"\bbatch[ _-]?size{SEP}{NUMBER}", rf"\bbatch(?:es)? of {NUMBER}", rf"{NUMBER}\s*per batch"]),
    ("max_length", [rf"\bmax(?:imum)?[ _-]?(?:len(?:gth)?|tokens){SEP}{NUMBER}", rf"\btruncate (?:at|to) {NUMBER}"]),
    ("freeze_layers", [rf"\bfreeze\s+(?:the\s+)?(?:lower\s+|bottom\s+|first\s+)?{NUMBER}", rf"{NUMBER}\s*frozen"]),
    ("early_stopping_patience", [rf"\b(?:early[ _-]?stopping[ _-]?)?patience{SEP}{NUMBER}"]),
    # After "use/with/set ... model" any name counts; a bare "model X" needs a name that looks like one.
    ("model", [rf"\b(?:use|with|set|switch to)\s+(?:the\s+)?(?:base[ _-]?)?model{SEP}([\w./~-]+)"]),
    ("model_loose", [rf"\b(?:base[ _-]?model|model){SEP}([\w./~-]+)", r"\buse\s+([\w.-]+/[\w./-]+)"]),
]
# Settings named by a word: "fine-tune with lora", "qlora", "full fine-tune"; a task by its name, e.g. dpo.
WORD_SETTINGS: list[tuple[str, str]] = [
    ("method", r"\b(qlora|lora)\b"),
    ("method", r"\b(full)(?: fine[- ]?tun\w*| weights)\b"),
    # "log it to mlflow", "track with trackio": the experiment tracker a local run also logs to.
    ("tracker", r"\b(tensorboard|mlflow|trackio)\b"),
    ("task", r"(?<![\w-])(" + "|".join(re.escape(name) for name in task_names()) + r")(?![\w-])"),
]
# "without early stopping", "no early stopping": train every epoch asked for (patience 0).
NO_EARLY_STOPPING = re.compile(r"\b(?:no|without|disable|turn off|switch off)\s+(?:the\s+)?early[ _-]?stopping\b")
COLUMN_PATTERN = re.compile(
    r"\b(text|label)\s+column\s*(?:is|=|:|to|should be)?\s*[`'\"]?([^`'\"\n]+?)[`'\"]?\s*[.!]?\s*$", re.IGNORECASE
)
# The name after "dataset"/"file": it must look like a file or folder name (a dot, dash, slash, underscore or digit).
DELETE_TARGET_PATTERN = re.compile(r"\b(?:dataset|data ?set|file|upload)\s+[`'\"]?([\w./-]*[./_\d-][\w./-]*\w)", re.I)
# Intents about earlier runs take a run id only after the word "run" ("like run 2 but 3 epochs": run 2, not 3).
NAMED_RUN_INTENTS = ("resume", "deploy_best", "best_run", "rerun_like")
NAMED_RUN_PATTERN = re.compile(r"\bruns?\s*#?\s*(\d+)\b", re.IGNORECASE)
RUN_ID_PATTERN = re.compile(r"\b(?:runs?\s*#?\s*)?(\d+)\b")
# "treat it as regression": what the data is for, overriding what inspection detected.
TREAT_AS_PATTERN = re.compile(
    r"\b(?:treat|use|handle|read|see)\s+(?:it|this|the data|the file|them)\s+as\s+(?:an?\s+)?"
    r"(regression|text[- ]pair[- ]classification|text[- ]classification|classification|chat|sft|preference|dpo|kto)\b",
    re.IGNORECASE,
)
# Values for the data's {{placeholders}}: "make the model say it is Nova, made by Acme", "call it Nova by Acme",
# "name Nova, author Acme", "{{name}} = Nova". A value is a quoted text, or a word plus any Capitalised words after
# it ("Acme Labs"); the keywords match in any case, the value keeps the user's.
VALUE = r"(?:[\"'“]([^\"'”\n]{1,60})[\"'”]|([^\W_][\w.&+-]*(?:\s+[A-Z][\w.&+-]*)*))"
PLACEHOLDER_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "name",
        re.compile(
            r"(?i:\b(?:say|says|saying|answer|answers|reply|replies)\s+(?:that\s+)?"
            r"(?:it\s+is|it's|its\s+name\s+is|it\s+is\s+called|i\s+am|i'm|you\s+are|you're)\s+)" + VALUE
        ),
    ),
    ("name", re.compile(r"(?i:\bcall(?:ed)?\s+(?:it|the\s+model|yourself|the\s+(?:assistant|bot))\s+)" + VALUE)),
    ("name", re.compile(r"(?i:\b(?:its\s+|the\s+|your\s+)?name[ds]?\s*(?:is|=|:|to|should\s+be|as)?\s+)" + VALUE)),
    ("author", re.compile(r"(?i:\b(?:made|built|created|developed|trained|written)\s+by\s+)" + VALUE)),
    ("author", re.compile(r"(?i:\b(?:author|maker|creator)\s*(?:is|=|:|to|should\s+be)?\s+)" + VALUE)),
]
# "call it Nova by Acme": a maker right after the name.
AFTER_NAME_AUTHOR = re.compile(r"\s+(?i:by|from)\s+" + VALUE)
BRACED_VALUE = re.compile(r"\{\{\s*(\w+)\s*\}\}\s*(?:=|:|->|→|(?i:is|to|as))?\s*" + VALUE)
# Not a name: "call it over http", "call the model from python" name nothing (a preposition is never a value).
NOT_VALUES = frozenset(
    "a an the it is of to and or on in at with this that me you my our your us them model assistant data file"
    " over from via through by using for into onto up out off about like as when if so".split()
)
SPLIT_PATTERN = re.compile(r"(\d+(?:\.\d+)?)\s*[/,:]\s*(\d+(?:\.\d+)?)(?:\s*[/,:]\s*(\d+(?:\.\d+)?))?")


# The settings a search message names ("find the best learning rate"), each as the run setting it searches.
SEARCHED_WORDS: list[tuple[str, str]] = [
    ("learning_rate", r"\b(learning[ _-]?rate|lr)\b"),
    ("epochs", r"\bepochs?\b"),
    ("batch_size", r"\bbatch[ _-]?size\b"),
    ("warmup_ratio", r"\bwarm-?up\b"),
    ("freeze_layers", r"\b(frozen|freeze)\b"),
    ("lora_r", r"\b(lora )?rank\b"),
    ("lora_alpha", r"\balpha\b"),
]


def parse_search(message: str) -> dict[str, Any]:
    """A search's budget and settings: "tune the hyperparameters in 15 minutes" -> {"minutes": 15.0};
    "find the best learning rate in 5 trials" -> {"params": ["learning_rate"], "trials": 5}."""
    text = message.lower()
    options: dict[str, Any] = {}
    minutes = re.search(r"(\d+(?:\.\d+)?)\s*(minutes?|mins?|m\b|hours?|h\b)", text)
    if minutes:
        options["minutes"] = float(minutes.group(1)) * (60 if minutes.group(2).startswith("h") else 1)
    trials = re.search(r"(\d+)\s*trials?\b", text)
    if trials:
        options["trials"] = int(trials.group(1))
    if not re.search(r"hyper-?param|\bsettings\b", text):
        params = [name for name, pattern in SEARCHED_WORDS if re.search(pattern, text)]
        if params:
            options["params"] = params
    return options


def parse_prepare(message: str) -> dict[str, Any]:
    """What "clean it up", "remove duplicates", "convert it to chat format", "split it 80/10/10" ask for."""
    text = message.lower()
    options: dict[str, Any] = {}
    if re.search(r"\b(clean\w*|duplicates?|dupes|de-?dupe?|de-?duplicate)\b", text):
        options["dedupe"] = True
    if re.search(r"\b(chat|messages)\b", text):
        options["to"] = "chat-jsonl"
    if re.search(r"\bsplit\b", text):
        match = SPLIT_PATTERN.search(text)
        options["split"] = ",".join(g for g in match.groups() if g) if match else "0.8,0.1,0.1"
    return options


@dataclass
class Intent:
    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    run_ids: list[int] = field(default_factory=list)
    # For "ask": the two intents the message is about equally close to, most likely first.
    choices: list[str] = field(default_factory=list)


def parse_settings(message: str) -> dict[str, Any]:
    """The run settings a message names, e.g. "use 5 epochs and lr 3e-5" -> {epochs: 5, learning_rate: 3e-5}."""
    text = message.lower()
    settings: dict[str, Any] = {}
    for name, patterns in SETTING_PATTERNS:
        for pattern in patterns:
            match = re.search(pattern, message if name.startswith("model") else text, re.IGNORECASE)
            if match:
                value = match.group(1)
                # A loosely placed model name needs a slash, dash, dot, underscore or digit
                # (gpt2, org/name, ./path); that keeps "train a model on this" from naming "on".
                if name == "model_loose" and not re.search(r"[/\-_.\d]", value):
                    continue
                if name.startswith("model"):
                    settings.setdefault("model", value.rstrip("."))
                else:
                    settings[name] = float(value)
                break
    if NO_EARLY_STOPPING.search(text):
        settings["early_stopping_patience"] = 0.0
    for match in [COLUMN_PATTERN.search(line) for line in message.splitlines()]:
        if match:
            settings[f"{match.group(1).lower()}_column"] = match.group(2).strip()
    placeholders = parse_placeholders(message)
    if placeholders:
        settings["placeholders"] = placeholders
    for name, pattern in WORD_SETTINGS:
        word = re.search(pattern, text)
        if word:
            settings.setdefault(name, word.group(1))
    for provider in hosted_backends():
        # A provider's model named anywhere ("fine-tune gpt-4.1-mini on this") picks that provider, and so does
        # its name ("on OpenAI", "through the API").
        model = provider.model_in(message)
        if model:
            settings.setdefault("model", model)
        if model or provider.named_in(message) or provider.owns_model(settings.get("model")):
            settings["backend"] = provider.name
            break
    return settings


def parse_delete(message: str) -> Intent:
    """ "delete run 2" -> run ids [2]; "delete dataset reviews.tsv" / "delete this file" -> {"dataset": name|None}."""
    if re.search(r"\b(delete|remove|erase)\s+(?:the\s+|this\s+|my\s+)?runs?\b", message, re.I):
        return Intent("delete", {}, parse_run_ids(message))
    target = DELETE_TARGET_PATTERN.search(message)
    return Intent("delete", {"dataset": target.group(1).rstrip(".") if target else None})


def _value(match: re.Match[str], first: int) -> str | None:
    text = (match.group(first) or match.group(first + 1) or "").strip().rstrip(".,;:!?")
    return text if text and text.lower() not in NOT_VALUES else None


def parse_placeholders(message: str) -> dict[str, str]:
    """Values for the data's {{placeholders}} a message gives, e.g. "call it Nova by Acme" -> name Nova, author Acme."""
    values: dict[str, str] = {}
    for braced in BRACED_VALUE.finditer(message):
        value = _value(braced, 2)
        if value:
            values.setdefault(braced.group(1), value)
    for name, pattern in PLACEHOLDER_PATTERNS:
        match = pattern.search(message)
        value = _value(match, 1) if match else None
        if match is None or value is None or name in values:
            continue
        values[name] = value
        after = AFTER_NAME_AUTHOR.match(message, match.end()) if name == "name" else None
        maker = _value(after, 1) if after else None
        if maker:
            values.setdefault("author", maker)
    return values


def parse_run_ids(message: str) -> list[int]:
    return [int(number) for number in RUN_ID_PATTERN.findall(message)]


def classify(message: str) -> Intent:
    """The intent of a message; "settings" when it only changes settings; "ask" (with two `choices`) when it is
    about as close to two intents; "unknown" when nothing matched."""
    intent = classify_by_rules(message)
    if "data_task" in intent.settings:  # "treat it as regression": a precise rule, though its intent is inspect
        return intent
    if intent.name == "unknown":  # "stauts", "deplyo run 2": the rules again on the mended words
        intent = classify_by_rules(mend_typos(message))
    decision = decide(message, intent.name)
    if decision.ask:
        return Intent("ask", intent.settings, parse_run_ids(message), choices=list(decision.ask))
    if decision.intent == intent.name:
        return intent
    return _with_slots(decision.intent, message, parse_settings(message), by_rules=False)


def classify_by_rules(message: str) -> Intent:
    """The intent the rules alone find (the first intent with a matching pattern), with its slots."""
    text = message.strip().lower()
    settings = parse_settings(message)
    treat = TREAT_AS_PATTERN.search(message)
    if treat:  # re-inspect the data as the task the user named
        return Intent("inspect", {**settings, "data_task": treat.group(1).lower().replace(" ", "-")})
    for name, patterns in INTENT_PATTERNS:
        if any(re.search(pattern, text) for pattern in patterns):
            if name == "go" and settings:
                # "ok, use 5 epochs" changes the plan rather than starting it.
                return Intent("settings", settings)
            return _with_slots(name, message, settings)
    if settings:
        return Intent("settings", settings)
    return Intent("unknown")


def _with_slots(name: str, message: str, settings: dict[str, Any], by_rules: bool = True) -> Intent:
    """Intent `name` with the slots its handler reads from `message`."""
    if name == "prepare":
        return Intent(name, {**settings, **parse_prepare(message)})
    if name == "search":
        return Intent(name, parse_search(message))
    named = [int(n) for n in NAMED_RUN_PATTERN.findall(message)]
    if name == "delete":
        if not by_rules and named and not re.search(r"\b(data|dataset|file|upload)", message, re.I):
            return Intent(name, {}, named)  # "throw away run 1": that run, never the data
        return parse_delete(message)
    if name == "export":  # a run only after the word "run": "q4_k_m" or "user/model-2" name none
        return Intent(name, parse_export(message), named)
    if name in NAMED_RUN_INTENTS:
        return Intent(name, settings, named)
    return Intent(name, settings, parse_run_ids(message))
