"""`tunechat mcp`: the chat's tools over the Model Context Protocol. A real client over stdio (and one over streamable
HTTP) lists the tools and runs add_file, inspect and plan; the plan waits for `confirm` with its id, carried out
exactly once; files come only from the allowed folders."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from mcp_clients import Client, over_http, over_stdio, parsed

from tools.context import ToolContext
from tools.registry import TOOLS
from trainer.core.errors import UserError
from trainer.core.workspace import Workspace
from trainer.store.registry import Registry
from ui.mcp_server.files import AllowedFolders
from ui.mcp_server.toolbox import Session, ToolBox

MCP_ONLY = {"add_file", "confirm", "cancel"}
# Words an argument that carried out a plan at once would be called by.
CONFIRMING = {"confirm", "confirmed", "yes", "approve", "approved", "action_id", "plan_id", "force", "execute"}


def reviews_csv(folder: Path, rows: int = 40) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "reviews.csv"
    texts = {"pos": "a lovely warm film that I enjoyed", "neg": "a dull slow film so I left early"}
    labels = ["pos" if i % 2 else "neg" for i in range(rows)]
    lines = ["text,label"] + [f"{texts[label]} {i},{label}" for i, label in enumerate(labels)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def toolbox(ws: Workspace, registry: Registry, *allowed: Path) -> ToolBox:
    return ToolBox(Session(ToolContext(ws, registry, "mcp"), AllowedFolders.from_args(allowed)))


def call(box: ToolBox, name: str, **arguments: Any) -> tuple[bool, dict[str, Any] | str]:
    """(ok, the structured result) or (False, the error sentence)."""
    result = box.call(name, arguments)
    if result.is_error:
        return False, result.content[0].text  # type: ignore[union-attr]
    assert result.structured_content is not None
    assert json.loads(result.content[0].text) == result.structured_content  # type: ignore[union-attr]
    return True, result.structured_content


def one_sentence(text: str) -> bool:
    return text.count(". ") == 0 and text.rstrip().endswith((".", ")"))


# ---- the tool list ------------------------------------------------------------------------------------------------


def test_the_tools_are_the_registrys_with_ctx_bound_and_none_confirms(ws: Workspace, registry: Registry) -> None:
    listed = {tool.name: tool for tool in toolbox(ws, registry).list()}
    assert set(listed) == {tool.__name__ for tool in TOOLS} | MCP_ONLY
    for name, tool in listed.items():
        schema = tool.input_schema
        assert schema["additionalProperties"] is False, name
        assert "ctx" not in schema.get("properties", {}), name
        assert tool.description, name
        if name not in MCP_ONLY:  # a plan is carried out by `confirm` alone, never by an argument of its tool
            assert not CONFIRMING & set(schema.get("properties", {})), name
    assert listed["confirm"].annotations.destructive_hint is True  # type: ignore[union-attr]
    assert listed["inspect_data"].annotations.read_only_hint is True  # type: ignore[union-attr]
    assert set(listed["confirm"].input_schema["properties"]) == {"action_id"}
    assert listed["deploy_run"].description.endswith("your confirm call with the plan's action_id, made only after "
                                                     "the user agreed (cancel drops the plan).")  # fmt: skip


def test_unknown_tools_and_arguments_are_refused_in_one_sentence(ws: Workspace, registry: Registry) -> None:
    box = toolbox(ws, registry)
    for name, arguments, words in [
        ("train_now", {}, "There is no tool 'train_now'"),
        ("list_runs", {"ctx": "elsewhere"}, "list_runs takes no argument 'ctx'"),
        ("inspect_data", {}, "inspect_data needs the argument 'file'"),
        ("evaluate_run", {"run_id": "three"}, "evaluate_run's argument 'run_id' is not valid"),
    ]:
        ok, error = call(box, name, **arguments)
        assert not ok and isinstance(error, str) and error.startswith(words) and one_sentence(error), error


# ---- files --------------------------------------------------------------------------------------------------------


def test_files_come_only_from_the_allowed_folders(ws: Workspace, registry: Registry, tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    inside = reviews_csv(allowed)
    secret = reviews_csv(tmp_path / "private")
    (allowed / "link.csv").symlink_to(secret)
    (allowed / "linked-folder").symlink_to(secret.parent, target_is_directory=True)
    box = toolbox(ws, registry, allowed)

    for path in [
        str(secret),
        str(allowed / ".." / "private" / "reviews.csv"),
        "../private/reviews.csv",
        str(allowed / "link.csv"),
        str(allowed / "linked-folder" / "reviews.csv"),
        "/etc/passwd",
        "/nowhere/at/all.csv",
    ]:
        ok, error = call(box, "add_file", path=path)
        assert not ok and isinstance(error, str), path
        assert "outside the folders files may be added from" in error and str(allowed.resolve()) in error, error
        assert one_sentence(error), error
    assert not list(ws.uploads.rglob("*.csv"))

    ok, added = call(box, "add_file", path=str(inside))
    assert ok and isinstance(added, dict) and added["file"] == "reviews.csv"
    copy = ws.uploads_for("mcp") / "reviews.csv"
    assert copy.read_bytes() == inside.read_bytes()
    ok, relative = call(box, "add_file", path="reviews.csv")  # a relative path is looked up in the allowed folders
    assert ok and isinstance(relative, dict) and relative["file"] == "reviews.csv"  # the same file: no second copy
    ok, listed = call(box, "list_files")
    assert ok and isinstance(listed, dict) and [f["name"] for f in listed["files"]] == ["reviews.csv"]
    for name in [str(secret), "../../private/reviews.csv", str(inside)]:  # the other tools read the workspace only
        ok, error = call(box, "inspect_data", file=name)
        assert not ok and isinstance(error, str) and "rows" not in error, name


def test_without_allowed_folders_no_file_can_be_added(ws: Workspace, registry: Registry, tmp_path: Path) -> None:
    ok, error = call(toolbox(ws, registry), "add_file", path=str(reviews_csv(tmp_path / "data")))
    assert not ok and isinstance(error, str) and "No folder is allowed" in error and "--allow DIR" in error
    with pytest.raises(UserError, match="no such folder"):
        AllowedFolders.from_args([tmp_path / "missing"])
    with pytest.raises(UserError, match="is a file, not a folder"):
        AllowedFolders.from_args([reviews_csv(tmp_path / "data")])


# ---- plans wait for confirm ---------------------------------------------------------------------------------------


def test_confirm_carries_out_the_plan_with_that_id_once_and_nothing_else(
    ws: Workspace, registry: Registry, tmp_path: Path
) -> None:
    allowed = tmp_path / "allowed"
    reviews_csv(allowed)
    (allowed / "other.csv").write_text("text,label\nfine,pos\nbad,neg\n", encoding="utf-8")
    box = toolbox(ws, registry, allowed)
    call(box, "add_file", path="reviews.csv")
    call(box, "add_file", path="other.csv")
    reviews, other = ws.uploads_for("mcp") / "reviews.csv", ws.uploads_for("mcp") / "other.csv"

    ok, first = call(box, "delete_dataset", dataset="reviews.csv")
    assert ok and isinstance(first, dict) and first["needs_confirmation"] is True
    stale = first["action_id"]
    assert first["waiting_plan"] == {"action_id": stale, "kind": "delete_dataset", "summary": first["plan"]}
    assert f"call confirm with action_id '{stale}'" in first["next_step"] and "reply 'yes'" not in first["next_step"]
    answer = box.call("delete_dataset", {"dataset": "other.csv"})  # a newer plan replaces the first
    assert not answer.is_error and answer.structured_content is not None
    plan = answer.structured_content
    assert plan["action_id"] != stale and "other.csv" in plan["plan"]
    assert f"**Waiting for confirmation:** {plan['plan']}" in answer.content[1].text  # type: ignore[union-attr]

    ok, refused = call(box, "confirm", action_id=stale)  # the replaced plan's id
    assert not ok and isinstance(refused, str) and f"No plan with action_id '{stale}' is waiting" in refused
    assert one_sentence(refused)
    for wrong in ["", "0000000000", plan["action_id"] + " or anything"]:
        ok, refused = call(box, "confirm", action_id=wrong)
        assert not ok, wrong
    ok, refused = call(box, "delete_dataset", dataset="reviews.csv", confirm=True)  # no argument confirms
    assert not ok and reviews.is_file() and other.is_file()

    done = box.call("confirm", {"action_id": plan["action_id"]})
    assert not done.is_error and done.structured_content is not None
    assert not other.exists() and reviews.is_file()  # the plan with that id, and only it
    assert done.structured_content["action"] == "delete_dataset"
    assert done.content[1].text == "Deleted `uploads/mcp/other.csv` from the workspace."  # type: ignore[union-attr]
    ok, again = call(box, "confirm", action_id=plan["action_id"])  # exactly once
    assert not ok and isinstance(again, str) and "No plan with action_id" in again and reviews.is_file()


def test_cancel_drops_the_plan_and_nothing_happens(ws: Workspace, registry: Registry, tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    reviews_csv(allowed)
    box = toolbox(ws, registry, allowed)
    call(box, "add_file", path="reviews.csv")
    ok, plan = call(box, "delete_dataset", dataset="reviews.csv")
    assert ok and isinstance(plan, dict)
    ok, refused = call(box, "cancel", action_id="not-it")
    assert not ok
    ok, cancelled = call(box, "cancel", action_id=plan["action_id"])
    assert ok and isinstance(cancelled, dict) and cancelled["cancelled"] is True
    ok, refused = call(box, "confirm", action_id=plan["action_id"])
    assert not ok and (ws.uploads_for("mcp") / "reviews.csv").is_file()


# ---- a real client in a child process -----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_client_over_stdio_adds_a_file_inspects_and_plans_and_nothing_starts(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    data = reviews_csv(allowed)
    outside = reviews_csv(tmp_path / "elsewhere")

    async def script(client: Client) -> dict[str, Any]:
        seen: dict[str, Any] = {"tools": set(client.tools)}
        seen["refused"] = await client.call("add_file", {"path": str(outside)})
        seen["added"] = await client.call("add_file", {"path": str(data)})
        seen["inspected"] = await client.call("inspect_data", {"file": "reviews.csv"})
        seen["plan"] = await client.call("propose_plan", {"file": "reviews.csv", "epochs": 2})
        seen["wrong"] = await client.call("confirm", {"action_id": "0123456789"})
        seen["runs"] = await client.call("list_runs", {})
        return seen

    seen = over_stdio(["--allow", str(allowed)], script)
    assert seen["tools"] == {tool.__name__ for tool in TOOLS} | MCP_ONLY
    refused = seen["refused"]
    assert refused.is_error and "outside the folders files may be added from" in refused.text
    assert str(allowed.resolve()) in refused.text
    assert not seen["added"].is_error and parsed(seen["added"])["file"] == "reviews.csv"

    inspected = parsed(seen["inspected"])
    assert inspected["rows"] == 40 and inspected["text_column"] == "text" and inspected["label_column"] == "label"
    assert seen["inspected"].texts[1].startswith("**reviews.csv**")  # the chat's markdown too

    plan = seen["plan"]
    assert not plan.is_error and plan.data is not None and plan.data == parsed(plan)
    assert plan.data["needs_confirmation"] is True and len(plan.data["action_id"]) == 10
    assert plan.data["config"]["epochs"] == 2 and plan.data["waiting_plan"]["kind"] == "train"
    assert "**Plan**" in plan.texts[1] and plan.data["action_id"] in plan.texts[1]

    wrong = seen["wrong"]
    assert wrong.is_error and "No plan with action_id '0123456789' is waiting" in wrong.text
    assert parsed(seen["runs"])["runs"] == []  # nothing started
    home = Path(os.environ["TUNECHAT_HOME"])
    assert (home / "uploads" / "mcp" / "reviews.csv").read_bytes() == data.read_bytes()
    assert not list((home / "runs").glob("run-*"))


@pytest.mark.slow
def test_a_client_over_streamable_http_on_loopback(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    reviews_csv(allowed)

    async def script(client: Client) -> tuple[set[str], Any]:
        return set(client.tools), await client.call("add_file", {"path": "reviews.csv"})

    probe = "tools/list without the key"
    (status, (names, added)) = over_http(
        ["--allow", str(allowed), "--api-key", "s3cret"], script, {"Authorization": "Bearer s3cret"}, probe=probe
    )
    assert status == 401
    assert "confirm" in names and "propose_plan" in names
    assert not added.is_error and parsed(added)["file"] == "reviews.csv"


def test_only_loopback_hosts_count_as_this_machine() -> None:
    from trainer.serve.access import is_loopback

    assert all(is_loopback(host) for host in ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
    assert not any(is_loopback(host) for host in ["0.0.0.0", "::", "192.168.1.5", "example.org"])
