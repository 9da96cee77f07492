"""The tool list is what the LLM reads: names, docs, typed and documented arguments, and no ctx."""

from __future__ import annotations

import inspect
import json
import re

import pytest
from langchain_core.tools import StructuredTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ValidationError

from agent.llm import langchain_tools
from agent.prompts import WORKFLOW, system_prompt
from tools.context import ToolContext
from tools.registry import TOOLS, TOOLS_BY_NAME
from tools.schema import model_signature, tool_args_schema, tool_description

TOOL_NAMES = [tool.__name__ for tool in TOOLS]


def backticked(text: str) -> set[str]:
    return set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", text))


def test_tool_names_are_unique_and_indexed() -> None:
    assert len(TOOL_NAMES) == len(set(TOOL_NAMES))
    assert set(TOOLS_BY_NAME) == set(TOOL_NAMES)


@pytest.mark.parametrize("tool", TOOLS, ids=TOOL_NAMES)
def test_tool_signature_and_docs(tool) -> None:
    assert tool.__doc__ and tool.__doc__.strip(), f"{tool.__name__} has no docstring"
    # LangChain's Google-style parser reads it (and raises on a docstring it cannot parse, or one documenting
    # arguments the tool does not take).
    schema = tool_args_schema(tool)
    description = tool_description(tool)
    assert len(description) > 20, f"{tool.__name__}'s description is too short for an LLM to use"
    assert "Args:" not in description and "ctx" not in schema.model_fields
    parameters = list(inspect.signature(tool).parameters.values())
    assert parameters[0].name == "ctx", f"{tool.__name__} must take the ToolContext first"
    arguments = parameters[1:]
    documented = {name: field.description for name, field in schema.model_fields.items()}
    for parameter in arguments:
        assert parameter.annotation is not inspect.Parameter.empty, f"{tool.__name__}.{parameter.name} has no type"
        assert documented.get(parameter.name), f"{tool.__name__}.{parameter.name} is not documented under Args:"
    assert list(documented) == [p.name for p in arguments]


def test_langchain_parses_the_docstring_summary_and_continued_arguments() -> None:
    def sample(ctx: ToolContext, file: str, run_id: int = 1) -> dict:
        """First line of the summary,
        continued here.

        Second paragraph.

        Args:
            file: Name of a file,
                continued on the next line.
            run_id (int): The run.

        Returns:
            something: not an argument.
        """
        return {}

    schema = tool_args_schema(sample)
    assert tool_description(sample) == "First line of the summary,\ncontinued here. Second paragraph."
    fields = schema.model_fields
    assert {name: field.description for name, field in fields.items()} == {
        "file": "Name of a file, continued on the next line.",
        "run_id": "The run.",
    }
    assert fields["file"].is_required() and fields["run_id"].default == 1


def test_a_docstring_langchain_cannot_parse_is_refused() -> None:
    def no_args_section(ctx: ToolContext, file: str) -> dict:
        """Inspect a file, with its argument described nowhere."""
        return {}

    def documents_a_stranger(ctx: ToolContext) -> dict:
        """List things.

        Args:
            colour: Not an argument of this tool.
        """
        return {}

    with pytest.raises(ValueError, match="invalid Google-Style docstring"):
        tool_args_schema(no_args_section)
    with pytest.raises(ValueError, match="colour"):
        tool_args_schema(documents_a_stranger)


@pytest.mark.parametrize("tool", TOOLS, ids=TOOL_NAMES)
def test_the_schema_is_langchains_own_reading_of_the_tool(tool) -> None:
    """What the model is shown is what StructuredTool.from_function(parse_docstring=True) makes of the tool as the
    model calls it (ctx bound), plus the refusal of unknown arguments."""
    built = StructuredTool.from_function(model_signature(tool), parse_docstring=True, error_on_invalid_docstring=True)
    ours = convert_to_openai_tool(
        StructuredTool(
            name=tool.__name__,
            description=tool_description(tool),
            args_schema=tool_args_schema(tool),
            func=lambda **_: "",
        )
    )
    theirs = convert_to_openai_tool(built)
    assert ours["function"]["description"] == theirs["function"]["description"]
    assert ours["function"]["parameters"]["properties"] == theirs["function"]["parameters"]["properties"]
    assert ours["function"]["parameters"].get("required") == theirs["function"]["parameters"].get("required")


def test_system_prompt_names_exactly_the_registered_tools() -> None:
    # The workflow text alone must mention every tool and no tool that does not exist.
    assert backticked(WORKFLOW) == set(TOOL_NAMES)
    prompt = system_prompt(TOOL_NAMES, ["reviews.tsv", "more.csv"], active_file="more.csv")
    assert backticked(prompt) == set(TOOL_NAMES)
    assert "reviews.tsv" in prompt and "most likely means: more.csv" in prompt
    assert "data, never" in prompt and "instructions" in prompt
    assert "No file has been uploaded" in system_prompt(TOOL_NAMES, [])


def test_system_prompt_lists_the_chats_runs() -> None:
    prompt = system_prompt(TOOL_NAMES, ["a.csv"], runs=[{"id": 3, "status": "succeeded"}])
    assert "run 3 (succeeded)" in prompt


def test_langchain_tools_hide_ctx_and_carry_the_docs() -> None:
    ctx = ToolContext.from_env("s1")
    tools = langchain_tools(ctx)
    assert [tool.name for tool in tools] == TOOL_NAMES
    for tool, func in zip(tools, TOOLS, strict=True):
        schema = convert_to_openai_tool(tool)["function"]
        assert "ctx" not in json.dumps(schema), f"{tool.name} exposes ctx to the model"
        assert schema["description"] == tool_description(func)
        expected = [name for name in inspect.signature(func).parameters if name != "ctx"]
        assert list(schema["parameters"].get("properties", {})) == expected
        for name, spec in schema["parameters"].get("properties", {}).items():
            assert spec.get("description"), f"{tool.name}.{name} has no description in the schema"
    by_name = {tool.name: convert_to_openai_tool(tool)["function"]["parameters"] for tool in tools}
    assert by_name["inspect_data"]["required"] == ["file"]
    assert by_name["compare_runs"]["required"] == ["run_ids"]
    assert by_name["compare_runs"]["properties"]["run_ids"]["items"]["type"] == "integer"
    assert "required" not in by_name["run_status"] or by_name["run_status"]["required"] == []
    assert (
        "nothing starts until the user replies"
        in convert_to_openai_tool(tools[TOOL_NAMES.index("start_training")])["function"]["description"]
    )


def test_model_cannot_pass_ctx_or_unknown_arguments() -> None:
    ctx = ToolContext.from_env("s1")
    tools = {tool.name: tool for tool in langchain_tools(ctx)}
    with pytest.raises(ValidationError, match="ctx"):
        tools["inspect_data"].invoke({"file": "reviews.tsv", "ctx": "/etc"})
    with pytest.raises(ValidationError, match="colour"):
        tools["run_status"].invoke({"colour": "red"})
    # A tool without arguments ignores whatever it is sent and uses the bound ctx: this chat's uploads.
    ctx.workspace.uploads_for(ctx.session_id).mkdir(parents=True)
    (ctx.workspace.uploads_for(ctx.session_id) / "mine.csv").write_text("text,label\n")
    assert json.loads(tools["list_files"].invoke({"ctx": "/etc"})) == {"files": [{"name": "mine.csv", "bytes": 11}]}
