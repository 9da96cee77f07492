"""Choosing the chat backend (flags > environment > settings file > default) and the local Transformers model.

The local model runs for real: a tiny Llama (toy_models.build_chain_llm) whose weights are set so that greedy decoding
follows a fixed chain of tokens (each token's logits point at its successor), and a chat template whose
generation prompt ends in a different token after a tool result. So the first model turn of an agent
loop really generates a `<tool_call>` block and the next one really generates a sentence, through
transformers' generate, the chat template with `tools=`, our parser and the LangChain agent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from openai_server import FakeOpenAI, text
from toy_models import ANSWER

from agent.assistant import Assistant
from agent.backends import PLACEHOLDER_KEY, chat_model_for, resolve_backend
from agent.llm import describe_chat_model
from agent.local_chat import LocalChatModel, parse_tool_calls
from agent.settings import settings_path, write_setting
from trainer.core.errors import UserError
from ui.cli import main as cli_main
from ui.render import MARKDOWN

# ---- precedence ---------------------------------------------------------------------------------


def _write_settings(data: dict[str, Any]) -> Path:
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _env(**values: str) -> dict[str, str]:
    """An environment holding only these values, with the test's workspace (so no real settings file)."""
    return {"TUNECHAT_HOME": str(settings_path().parent), **values}


def test_flag_beats_env_beats_settings_beats_default() -> None:
    choice = resolve_backend(environ=_env())
    assert (choice.kind, choice.origin, choice.reason) == ("guided", "default", "no LLM configured")

    _write_settings({"llm": {"backend": "openai-compatible", "base_url": "http://127.0.0.1:9/v1", "model": "s-model"}})
    env = _env()
    choice = resolve_backend(environ=env)
    assert (choice.kind, choice.model, choice.base_url) == ("openai-compatible", "s-model", "http://127.0.0.1:9/v1")
    assert choice.sources["model"].startswith("settings file ") and choice.origin.startswith("settings file ")
    assert choice.describe() == "LLM: s-model at http://127.0.0.1:9/v1 (from settings file)"

    env["TUNECHAT_MODEL"] = "e-model"
    choice = resolve_backend(environ=env)
    assert (choice.model, choice.sources["model"]) == ("e-model", "env TUNECHAT_MODEL")
    assert choice.sources["base_url"].startswith("settings file")  # each value from its own first layer

    choice = resolve_backend({"llm_model": "f-model"}, environ=env)
    assert (choice.model, choice.sources["model"]) == ("f-model", "flag --llm-model")

    env["TUNECHAT_LLM"] = "off"  # the environment's "no LLM" beats the settings file...
    choice = resolve_backend(environ=env)
    assert (choice.kind, choice.reason) == ("guided", "chosen by env TUNECHAT_LLM")
    assert chat_model_for(choice) is None
    choice = resolve_backend({"llm": "openai-compatible"}, environ=env)  # ...and a flag beats both
    assert (choice.kind, choice.origin) == ("openai-compatible", "flag --llm")


def test_env_keeps_todays_behaviour() -> None:
    # A base URL in the environment alone also serves the fine-tuning client: it does not turn the chat on.
    assert resolve_backend(environ=_env(OPENAI_BASE_URL="http://127.0.0.1:9/v1")).kind == "guided"
    choice = resolve_backend(environ=_env(OPENAI_API_KEY="sk-x"))
    assert (choice.kind, choice.model, choice.base_url, choice.origin) == (
        "openai",
        "gpt-4.1-mini",
        None,
        "env OPENAI_API_KEY",
    )
    assert resolve_backend(environ=_env(OPENAI_API_KEY="sk-x", TUNECHAT_LLM="off")).kind == "guided"
    choice = resolve_backend(environ=_env(OPENAI_API_KEY="sk-x", OPENAI_BASE_URL="http://127.0.0.1:9/v1"))
    assert (choice.kind, choice.sources["base_url"]) == ("openai-compatible", "env OPENAI_BASE_URL")
    with pytest.raises(UserError, match="TUNECHAT_LLM_PATH"):
        resolve_backend(environ=_env(TUNECHAT_LLM="local"))
    with pytest.raises(UserError, match="TUNECHAT_LLM is 'maybe'"):
        resolve_backend(environ=_env(TUNECHAT_LLM="maybe"))


def test_a_key_in_the_settings_file_is_refused() -> None:
    for llm in ({"api_key": "abc"}, {"openai_api_key": "abc"}, {"model": "sk-proj-abcdefghijklmnopqrstuvwxyz"}):
        path = _write_settings({"llm": llm})
        with pytest.raises(UserError) as refused:
            resolve_backend()
        message = str(refused.value)
        assert message.startswith(f"{path} must not store an API key (llm.") and "OPENAI_API_KEY" in message
        assert "abcdefghijklmnop" not in message  # the key itself is never echoed
    path = _write_settings({"api_key": "abc"})
    with pytest.raises(UserError, match=r"must not store an API key \(api_key\)"):
        resolve_backend()
    # --set cannot write one either: the file is left as it was.
    path.unlink()
    with pytest.raises(UserError, match="must not store an API key"):
        write_setting("llm.api_key", "abc")
    assert not path.exists()


def test_unknown_settings_are_refused_naming_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    path = _write_settings({"llm": {"modle": "x"}})
    with pytest.raises(UserError) as refused:
        resolve_backend()
    assert str(refused.value) == (
        f"{path} has an unknown setting 'llm.modle'; known: backend, model, base_url, path, api_key_env, "
        "max_new_tokens."
    )
    _write_settings({"theme": "dark"})
    with pytest.raises(UserError, match="unknown setting 'theme'"):
        resolve_backend()
    _write_settings({"llm": {"backend": "anthropic"}})
    with pytest.raises(UserError, match="llm.backend is 'anthropic'"):
        resolve_backend()

    # `tunechat settings --set` writes the file atomically and shows where each value came from.
    path.unlink()
    assert cli_main(["settings", "--set", "llm.base_url=http://127.0.0.1:9/v1", "--set", "llm.model=m1"]) == 0
    assert json.loads(path.read_text()) == {"llm": {"base_url": "http://127.0.0.1:9/v1", "model": "m1"}}
    out = capsys.readouterr().out
    assert out.startswith("LLM: m1 at http://127.0.0.1:9/v1 (from settings file)")
    assert cli_main(["settings", "--llm-model", "m2", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["model"] == "m2" and shown["sources"]["model"] == "flag --llm-model"
    assert cli_main(["settings", "--set", "llm.colour=red"]) == 1
    assert "unknown setting 'llm.colour'" in capsys.readouterr().err


# ---- OpenAI-compatible server without a key --------------------------------------------------------


def test_base_url_without_a_key_chats_through_the_assistant(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAI([text("Hello from a keyless server."), text("Second answer.")]) as server:
        _write_settings({"llm": {"base_url": server.base_url, "model": "qwen2.5:7b"}})
        # The user's OpenAI key is for OpenAI: a server named in the settings file does not receive it.
        monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key-never-sent-elsewhere")
        assistant = Assistant(presenter=MARKDOWN)
        assert assistant.mode == "llm"
        assert assistant.backend_description == f"LLM: qwen2.5:7b at {server.base_url} (from settings file)"
        session = assistant.new_session()
        assert assistant.reply(session, "hi").text == "Hello from a keyless server."
        assert server.headers[0]["authorization"] == f"Bearer {PLACEHOLDER_KEY}"
        assert server.requests[0]["model"] == "qwen2.5:7b"
        assert {t["function"]["name"] for t in server.requests[0]["tools"]} >= {"inspect_data", "list_runs"}

        # A key for that server comes from the variable the settings file names.
        _write_settings({"llm": {"base_url": server.base_url, "model": "m", "api_key_env": "GROQ_API_KEY"}})
        with pytest.raises(UserError, match="GROQ_API_KEY, but it is not set"):
            chat_model_for(resolve_backend())
        monkeypatch.setenv("GROQ_API_KEY", "gsk-groq-test")
        assert Assistant(presenter=MARKDOWN).reply(session, "again").text == "Second answer."
        assert server.headers[1]["authorization"] == "Bearer gsk-groq-test"


# ---- tool calls in generated text -----------------------------------------------------------------


def test_parser_reads_hermes_blocks_and_bare_json() -> None:
    content, calls = parse_tool_calls(
        'Let me look.\n<tool_call>\n{"name": "inspect_data", "arguments": {"file": "a.tsv"}}\n</tool_call>'
    )
    assert content == "Let me look." and [(c["name"], c["args"]) for c in calls] == [
        ("inspect_data", {"file": "a.tsv"})
    ]
    assert calls[0]["id"].startswith("call_")

    content, calls = parse_tool_calls(
        '<tool_call>{"name": "run_status", "arguments": {"run_id": 1}}</tool_call>\n'
        '<tool_call>{"name": "run_status", "arguments": {"run_id": 2}}</tool_call>'
    )
    assert content == "" and [c["args"]["run_id"] for c in calls] == [1, 2] and calls[0]["id"] != calls[1]["id"]

    malformed = 'Sure: <tool_call>{"name": "list_runs", "arguments": {</tool_call> done'
    assert parse_tool_calls(malformed) == (malformed, [])

    # Arguments as a JSON string (the OpenAI wire format some models copy), and "parameters" (Llama 3).
    _, calls = parse_tool_calls('<tool_call>{"name": "run_status", "arguments": "{\\"run_id\\": 3}"}</tool_call>')
    assert calls[0]["args"] == {"run_id": 3}
    _, calls = parse_tool_calls('<tool_call>{"name": "list_runs", "parameters": {}}')  # unclosed at the end
    assert calls[0]["name"] == "list_runs" and calls[0]["args"] == {}

    # A bare JSON object is a call only when it names a bound tool.
    bare = '```json\n{"name": "list_runs", "arguments": {}}\n```'
    assert parse_tool_calls(bare, ["list_runs"])[1][0]["name"] == "list_runs"
    assert parse_tool_calls('{"name": "Ann", "arguments": {}}', ["list_runs"]) == (
        '{"name": "Ann", "arguments": {}}',
        [],
    )
    assert parse_tool_calls("The answer is 4.") == ("The answer is 4.", [])


# ---- the local Transformers model -----------------------------------------------------------------


def test_local_model_reply_is_its_greedy_generation_and_streams(tiny_llm: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    chat = LocalChatModel(model_path=str(tiny_llm), max_new_tokens=12)
    reply = chat.invoke([HumanMessage("what color is the sky")])

    # The same generation done by hand with transformers.
    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)
    model = AutoModelForCausalLM.from_pretrained(tiny_llm, use_safetensors=True)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "what color is the sky"}], add_generation_prompt=True, tokenize=False
    )
    inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    expected = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True).strip()
    assert expected and reply.content == expected and reply.tool_calls == []

    chunks = [chunk.content for chunk in chat.stream([HumanMessage("what color is the sky")])]
    assert len(chunks) > 1 and "".join(chunks).strip() == expected  # type: ignore[arg-type]

    described = describe_chat_model(chat)
    assert described == f"LLM: local Transformers model {tiny_llm} on cpu"


def test_local_model_tool_call_drives_a_real_agent_turn(chain_llm: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNECHAT_LLM", "local")
    monkeypatch.setenv("TUNECHAT_LLM_PATH", str(chain_llm))
    assistant = Assistant(presenter=MARKDOWN)
    assert assistant.backend_description == f"LLM: local Transformers model {chain_llm.resolve()} on cpu"
    model = assistant.chat_model
    assert isinstance(model, LocalChatModel)

    # The tool schemas reach the chat template (which renders them into the prompt).
    bound = model.bind_tools([_list_runs_schema()])
    prompt = model.render_prompt([HumanMessage("my runs?")], [_list_runs_schema()])
    assert '"name": "list_runs"' in prompt and prompt.endswith("<|turn|>")

    # Streaming a tool call: nothing of the raw block is shown; the aggregated message carries the call.
    chunks = list(bound.stream([HumanMessage("my runs?")]))
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert merged.content == "" and [c["name"] for c in merged.tool_calls] == ["list_runs"]  # type: ignore[attr-defined]

    # The real agent loop: the model's generated <tool_call> runs the tool, its result goes back, and the
    # generated sentence after it is the reply.
    session = assistant.new_session()
    reply = assistant.reply(session, "which runs do I have?")
    assert [(step.name, step.ok) for step in reply.steps] == [("list_runs", True)]
    assert reply.steps[0].result == {"runs": []}
    assert reply.text == " ".join(ANSWER)

    # Past calls and tool results render through the template too (the second turn above relied on it).
    after_tool = model.render_prompt(
        [
            HumanMessage("x"),
            AIMessage("", tool_calls=[{"name": "list_runs", "args": {}, "id": "c1"}]),
            ToolMessage('{"runs": []}', tool_call_id="c1", name="list_runs"),
        ]
    )
    assert '<tool_call> {"name": "list_runs", "arguments": {}} </tool_call>' in after_tool
    assert after_tool.endswith("<|after_tool|>")


def test_local_backend_by_flag_refuses_folders_without_safetensors(tmp_path: Path, chain_llm: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        chat_model_for(resolve_backend({"llm": "local", "llm_path": str(tmp_path / "nope")}))
    (tmp_path / "pickled").mkdir()
    (tmp_path / "pickled" / "config.json").write_text("{}")
    (tmp_path / "pickled" / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(UserError, match="no .safetensors weights"):
        chat_model_for(resolve_backend({"llm_path": str(tmp_path / "pickled")}))
    choice = resolve_backend({"llm_path": str(chain_llm)})  # a path alone means the local backend
    assert (choice.kind, choice.origin) == ("local", "flag --llm-path")
    model = chat_model_for(choice)
    assert describe_chat_model(model) == (
        f"LLM: local Transformers model {chain_llm.resolve()} on cpu (from flag --llm-path)"
    )


def _list_runs_schema() -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": "list_runs",
            "description": "List all training runs.",
            "parameters": {"type": "object", "properties": {}},
        },
    }


def test_chat_command_flags_pick_the_backend(
    chain_llm: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["chat", "which runs do I have?", "--llm", "local", "--llm-path", str(chain_llm)]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == " ".join(ANSWER) and "list_runs" in out.err
    # --llm guided wins over an LLM the environment names.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")
    assert cli_main(["chat", "help", "--llm", "guided"]) == 0
    assert "Things to say" in capsys.readouterr().out
