"""Which LLM the chat talks to: one decision, by precedence flags > environment > settings file > default.

Backends:
- "openai": the OpenAI API (OPENAI_API_KEY), model TUNECHAT_MODEL or gpt-4.1-mini.
- "openai-compatible": any server speaking the chat-completions API by base URL (vLLM, Ollama, llama.cpp,
  LM Studio, `tunechat serve`); a local server usually needs no key.
- "local": a Transformers causal LM folder loaded in this process (agent/local_chat.py).
- "guided": no LLM; the guided mode understands short requests.

The settings file (agent/settings.py) never holds an API key: the key comes from OPENAI_API_KEY or from the
variable named by `api_key_env`.

OPENAI_API_KEY is sent only to OpenAI or to the server named by OPENAI_BASE_URL (the pair the user set
together); a server named by a flag or the settings file gets the key of `api_key_env`, or a placeholder.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.settings import COMPATIBLE, GUIDED, KINDS, LOCAL, OPENAI, display_path, read_settings, settings_path
from trainer.core.errors import UserError
from trainer.core.workspace import workspace_root
from trainer.evaluate.judge import Endpoint

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gpt-4.1-mini"
DEFAULT_MAX_NEW_TOKENS = 512
# Seconds per LLM request (TUNECHAT_LLM_TIMEOUT) and retries on transient errors: a turn must not hang the chat.
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MAX_RETRIES = 2
OPENAI_URL = "https://api.openai.com/v1"
# Sent to keyless OpenAI-compatible servers, which ignore it; the openai client refuses an empty key.
PLACEHOLDER_KEY = "not-needed"
# Values of TUNECHAT_LLM meaning "no LLM" (kept from before the resolver existed).
OFF_WORDS = ("off", "guided", "none", "0", "false", "no")
# Flag names as argparse stores them, with how they are written on the command line.
FLAGS = {"llm": "--llm", "llm_model": "--llm-model", "llm_base_url": "--llm-base-url", "llm_path": "--llm-path"}
FIELD_OF_FLAG = {"llm": "backend", "llm_model": "model", "llm_base_url": "base_url", "llm_path": "path"}


@dataclass
class BackendChoice:
    """The resolved backend. `sources` says where each value came from (e.g. "flag --llm-model",
    "env TUNECHAT_MODEL", "settings file /home/u/.tunechat/settings.json", "default")."""

    kind: str
    model: str | None = None
    base_url: str | None = None
    path: str | None = None
    api_key_env: str | None = None
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    sources: dict[str, str] = field(default_factory=dict)
    reason: str = ""  # why guided, in words for the UI

    @property
    def origin(self) -> str:
        """Where the decision to use this backend came from."""
        return self.sources.get("kind", "default")

    def describe(self) -> str:
        """One line for the UI and `tunechat settings`; never a key."""
        if self.kind == GUIDED:
            return f"guided mode ({self.reason or 'no LLM configured'})"
        if self.kind == LOCAL:
            return f"LLM: local Transformers model {self.path} ({_from(self.origin)})"
        return f"LLM: {self.model} at {self.base_url or OPENAI_URL} ({_from(self.origin)})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": self.model,
            "base_url": self.base_url,
            "path": self.path,
            "api_key_env": self.api_key_env,
            "max_new_tokens": self.max_new_tokens,
            "sources": dict(self.sources),
            "reason": self.reason,
        }


def _from(source: str) -> str:
    return "default" if source == "default" else f"from {short_origin(source)}"


def short_origin(source: str) -> str:
    """ "settings file ~/.tunechat/settings.json" -> "settings file"; flags and variables stay as they are."""
    return "settings file" if source.startswith("settings file") else source


# ---- resolution ---------------------------------------------------------------------------------


def resolve_backend(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    settings_file: Path | None = None,
) -> BackendChoice:
    """Decide the chat backend. Each value is taken from the first layer that sets it: command-line flags
    (keys llm, llm_model, llm_base_url, llm_path), then the environment, then the settings file, then the
    default. The backend itself, when no layer names it, follows from what is set: a path means local, a
    base URL (from a flag or the settings file) openai-compatible, OPENAI_API_KEY openai; else guided."""
    env = os.environ if environ is None else environ
    path = settings_file or settings_path(env)
    settings = read_settings(path)
    layers = [
        _flag_layer(flags or {}),
        _env_layer(env),
        _settings_layer(settings.get("llm") or {}, f"settings file {display_path(path)}"),
    ]
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for layer in layers:
        for name, (value, source) in layer.items():
            if name not in values and value not in (None, ""):
                values[name], sources[name] = value, source

    kind = values.get("backend")
    if kind is None:
        kind, sources["backend"] = _implied_kind(values, sources, env)
    choice = BackendChoice(
        kind=kind,
        model=values.get("model"),
        base_url=values.get("base_url"),
        path=values.get("path"),
        api_key_env=values.get("api_key_env"),
        max_new_tokens=int(values.get("max_new_tokens") or DEFAULT_MAX_NEW_TOKENS),
        sources={"kind": sources["backend"], **{k: v for k, v in sources.items() if k != "backend"}},
    )
    if choice.kind == GUIDED:
        choice.reason = _guided_reason(choice.origin)
        return choice
    if choice.kind == LOCAL:
        if not choice.path:
            raise UserError(
                f"The local backend ({choice.origin}) needs a model folder; pass --llm-path FOLDER, set "
                'TUNECHAT_LLM_PATH, or add "path" to the llm section of the settings file.'
            )
        choice.sources.setdefault("path", "default")
        return choice
    if choice.kind == COMPATIBLE and not choice.base_url:
        raise UserError(
            f"The openai-compatible backend ({choice.origin}) needs the server's URL; pass --llm-base-url URL, "
            'set OPENAI_BASE_URL, or add "base_url" to the llm section of the settings file.'
        )
    if not choice.model:
        choice.model, choice.sources["model"] = DEFAULT_MODEL, "default"
    return choice


def _flag_layer(flags: Mapping[str, Any]) -> dict[str, tuple[Any, str]]:
    layer: dict[str, tuple[Any, str]] = {}
    for flag, name in FIELD_OF_FLAG.items():
        value = flags.get(flag)
        if value not in (None, ""):
            layer[name] = (value, f"flag {FLAGS[flag]}")
    backend = layer.get("backend")
    if backend and backend[0] not in KINDS:
        raise UserError(f"--llm {backend[0]!r} is not a backend; use one of {', '.join(KINDS)}.")
    return layer


def _env_layer(env: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    layer: dict[str, tuple[Any, str]] = {}
    mode = (env.get("TUNECHAT_LLM") or "").strip().lower()
    if mode:
        if mode in OFF_WORDS:
            layer["backend"] = (GUIDED, "env TUNECHAT_LLM")
        elif mode in KINDS:
            layer["backend"] = (mode, "env TUNECHAT_LLM")
        else:
            raise UserError(f"TUNECHAT_LLM is {mode!r}; use one of {', '.join(KINDS)} or off.")
    if env.get("TUNECHAT_MODEL"):
        layer["model"] = (env["TUNECHAT_MODEL"], "env TUNECHAT_MODEL")
    for name in ("OPENAI_BASE_URL", "OPENAI_API_BASE"):
        if env.get(name):
            layer["base_url"] = (env[name], f"env {name}")
            break
    if env.get("TUNECHAT_LLM_PATH"):
        layer["path"] = (env["TUNECHAT_LLM_PATH"], "env TUNECHAT_LLM_PATH")
    if env.get("TUNECHAT_LLM_MAX_NEW_TOKENS"):
        try:
            layer["max_new_tokens"] = (int(env["TUNECHAT_LLM_MAX_NEW_TOKENS"]), "env TUNECHAT_LLM_MAX_NEW_TOKENS")
        except ValueError:
            raise UserError("TUNECHAT_LLM_MAX_NEW_TOKENS must be a whole number of tokens, e.g. 512.") from None
    return layer


def _settings_layer(llm: Mapping[str, Any], source: str) -> dict[str, tuple[Any, str]]:
    return {key: (value, source) for key, value in llm.items()}


def _implied_kind(values: dict[str, Any], sources: dict[str, str], env: Mapping[str, str]) -> tuple[str, str]:
    if values.get("path"):
        return LOCAL, sources["path"]
    base_source = sources.get("base_url", "")
    # OPENAI_BASE_URL alone also points the fine-tuning client somewhere; only with a key does it mean chat.
    if values.get("base_url") and not base_source.startswith("env "):
        return COMPATIBLE, base_source
    if env.get("OPENAI_API_KEY"):
        kind = COMPATIBLE if values.get("base_url") and _is_custom(values["base_url"]) else OPENAI
        return kind, "env OPENAI_API_KEY"
    return GUIDED, "default"


def _is_custom(url: str) -> bool:
    return "api.openai.com" not in url


def _guided_reason(origin: str) -> str:
    if origin == "default":
        return "no LLM configured"
    return f"chosen by {origin}"


# ---- the chat model ------------------------------------------------------------------------------


def api_key_for(choice: BackendChoice, environ: Mapping[str, str] | None = None) -> str:
    """The key to send: from the named variable, OPENAI_API_KEY where it belongs, or a placeholder."""
    env = os.environ if environ is None else environ
    if choice.api_key_env:
        key = env.get(choice.api_key_env)
        if not key:
            raise UserError(
                f"The LLM settings name the key variable {choice.api_key_env}, but it is not set; export it "
                "and restart tunechat."
            )
        return key
    openai_key = env.get("OPENAI_API_KEY")
    base_source = choice.sources.get("base_url", "")
    # The OpenAI kind named explicitly means an OpenAI endpoint (or a proxy, e.g. Azure), wherever its URL came from.
    key_belongs = (
        choice.kind == OPENAI
        or choice.base_url is None
        or base_source.startswith("env ")
        or not _is_custom(choice.base_url)
    )
    if openai_key and key_belongs:
        return openai_key
    if choice.kind == OPENAI:
        raise UserError(
            "The openai backend needs OPENAI_API_KEY; export it, or choose another backend with --llm "
            "(openai-compatible, local, guided)."
        )
    return PLACEHOLDER_KEY


def judge_endpoint(choice: BackendChoice | None, environ: Mapping[str, str] | None = None) -> Endpoint | None:
    """The chat's LLM as the judge of base against tuned answers: an OpenAI or OpenAI-compatible backend with its
    key; None in local or guided mode, or when the key it needs is missing."""
    if choice is None or choice.kind not in (OPENAI, COMPATIBLE):
        return None
    try:
        key = api_key_for(choice, environ)
    except UserError:
        return None
    return Endpoint(choice.base_url or OPENAI_URL, choice.model or DEFAULT_MODEL, key)


def _env_float(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        return float(env.get(name) or default)
    except ValueError:
        log.warning("%s is not a number; using %s", name, default)
        return default


def chat_model_for(choice: BackendChoice, environ: Mapping[str, str] | None = None) -> Any | None:
    """The LangChain chat model for a choice (None for guided mode). Nothing is loaded or contacted yet."""
    env = os.environ if environ is None else environ
    if choice.kind == GUIDED:
        return None
    if choice.kind == LOCAL:
        from agent.local_chat import LocalChatModel

        folder = local_model_folder(choice.path or "", env)
        return LocalChatModel(
            model_path=str(folder),
            max_new_tokens=choice.max_new_tokens,
            metadata={"tunechat_origin": choice.origin},
        )
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=choice.model or DEFAULT_MODEL,
        base_url=choice.base_url,
        api_key=api_key_for(choice, env),  # type: ignore[arg-type]  # a str works; pydantic wraps it
        temperature=0,
        timeout=_env_float(env, "TUNECHAT_LLM_TIMEOUT", DEFAULT_TIMEOUT_S),
        max_retries=DEFAULT_MAX_RETRIES,
        # Read back by agent.llm.describe_chat_model for the UI header.
        metadata={"tunechat_origin": choice.origin, "tunechat_kind": choice.kind},
    )


def local_model_folder(path: str, environ: Mapping[str, str] | None = None) -> Path:
    """The local model folder: the path as given, or a folder of that name in the workspace's models/.
    It must hold config.json and safetensors weights (pickled .bin weights are never loaded)."""
    env = os.environ if environ is None else environ
    folder = Path(path).expanduser()
    if not folder.is_dir():
        in_workspace = workspace_root(env) / "models" / path
        if path and in_workspace.is_dir():
            folder = in_workspace
        else:
            raise UserError(f"The local LLM folder {path} does not exist; give the path of a downloaded model folder.")
    if not (folder / "config.json").is_file():
        raise UserError(f"{folder} has no config.json; give the folder of a Transformers causal language model.")
    if not any(folder.glob("*.safetensors")):
        raise UserError(f"{folder} has no .safetensors weights; tunechat loads only safetensors, convert the model.")
    return folder.resolve()
