"""Who may reach the web chat and what it keeps: the upload cap is enforced by the server itself (an upload
over it is refused and leaves nothing behind), the app's temporary files are deleted, a login can be
required, binding beyond this machine is warned about, and no caller can list or read another browser's chats.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from web_app import App, free_port

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from agent.assistant import Assistant  # noqa: E402
from trainer.core.errors import UserError  # noqa: E402
from trainer.core.workspace import Workspace  # noqa: E402
from ui import web, web_access  # noqa: E402
from ui.cli import main  # noqa: E402
from ui.render import MARKDOWN  # noqa: E402


def files_under(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def upload(url: str, name: str, content: bytes) -> httpx.Response:
    return httpx.post(url + "gradio_api/upload", files={"files": (name, content)}, timeout=30)


def test_an_upload_over_the_cap_is_refused_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline_workspace: Path
) -> None:
    gradio_dir = tmp_path / "gradio"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(gradio_dir))
    monkeypatch.setenv("TUNECHAT_MAX_UPLOAD_MB", "1")
    app = App(Workspace.from_env())
    try:
        refused = upload(app.url, "big.csv", b"text,label\n" + b"x" * 1_500_000)
        assert refused.status_code == 413
        assert [path for path in files_under(gradio_dir) if path.stat().st_size > 1_000_000] == []

        accepted = upload(app.url, "small.csv", b"text,label\nfine,pos\n")
        assert accepted.status_code == 200
        [stored] = accepted.json()
        assert Path(stored).read_bytes() == b"text,label\nfine,pos\n"
    finally:
        app.close()
    # The app's temporary files (uploads, staged images) go when it stops, and on a schedule while it runs.
    assert app.demo.delete_cache == web_access.DELETE_CACHE
    assert not Path(stored).exists()


def test_the_upload_cap_must_be_a_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNECHAT_MAX_UPLOAD_MB", "lots")
    with pytest.raises(UserError) as caught:
        web_access.upload_limit_bytes()
    assert "TUNECHAT_MAX_UPLOAD_MB" in str(caught.value) and "lots" in str(caught.value)
    monkeypatch.setenv("TUNECHAT_MAX_UPLOAD_MB", "2.5")
    assert web_access.upload_limit_bytes() == 2_500_000


def test_a_login_is_required_when_asked_and_the_password_never_printed(
    offline_workspace: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from gradio_client import Client

    port = free_port()
    demo = web.launch(
        host="0.0.0.0",
        port=port,
        assistant=Assistant(chat_model=None, presenter=MARKDOWN),
        prevent_thread_lock=True,
        auth=("ada", "s3cret-pw-4f2"),
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        anonymous = httpx.post(url + "gradio_api/upload", files={"files": ("a.csv", b"a")}, timeout=10)
        assert anonymous.status_code == 401
        with pytest.raises(Exception):  # noqa: B017  (the client's own error type for a refused login)
            Client(url, verbose=False, analytics_enabled=False, auth=("ada", "wrong"))
        login = ("ada", "s3cret-pw-4f2")
        client = Client(url, verbose=False, analytics_enabled=False, download_files=False, auth=login)
        chatbot, _, _ = client.predict({"text": "help", "files": []}, api_name="/chat")
        assert "fine-tune" in str(chatbot[-1]["content"])
    finally:
        demo.close()
    out, err = capfd.readouterr()
    assert "0.0.0.0" in err and "login" in err
    assert "s3cret-pw-4f2" not in out + err


def test_binding_beyond_this_machine_is_warned_about() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert web_access.exposure_warning(host, auth=None) is None
    guarded = web_access.exposure_warning("0.0.0.0", auth=("ada", "pw-not-shown"))
    assert guarded is not None and "0.0.0.0" in guarded and "pw-not-shown" not in guarded
    open_to_all = web_access.exposure_warning("192.168.1.20", auth=None)
    assert open_to_all is not None and "192.168.1.20" in open_to_all
    assert "WARNING" in open_to_all and "no login" in open_to_all and "--auth" in open_to_all


def run_ui(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> dict[str, Any]:
    """`tunechat ui ...` with the server replaced by a recorder of what it was asked to do."""
    seen: dict[str, Any] = {}

    def fake_launch(**kwargs: Any) -> None:
        seen.update(kwargs)

    monkeypatch.setattr(web, "launch", fake_launch)
    seen["code"] = main(["ui", *argv])
    return seen


def test_ui_takes_a_login_from_the_flag_or_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TUNECHAT_UI_AUTH", raising=False)
    assert run_ui(monkeypatch, [])["auth"] is None
    assert run_ui(monkeypatch, ["--auth", "ada:pa:ss"])["auth"] == ("ada", "pa:ss")
    monkeypatch.setenv("TUNECHAT_UI_AUTH", "bob:from-env")
    assert run_ui(monkeypatch, ["--host", "0.0.0.0"]) | {"assistant": None} == {
        "code": 0,
        "host": "0.0.0.0",
        "port": 7860,
        "assistant": None,
        "auth": ("bob", "from-env"),
    }
    capsys.readouterr()
    monkeypatch.delenv("TUNECHAT_UI_AUTH")
    assert run_ui(monkeypatch, ["--auth", "no-colon-secret"])["code"] == 1
    err = capsys.readouterr().err
    assert "USER:PASSWORD" in err and "no-colon-secret" not in err


def test_no_caller_lists_or_reopens_another_browsers_chat_without_its_id(app: App) -> None:
    """Each browser keeps the ids of its own chats (in its local storage); an id is what opens a chat."""
    alice, bob = app.client(), app.client()
    _, _, alice_dropdown = alice.predict({"text": "help", "files": []}, api_name="/chat")
    alice_id = alice_dropdown["value"]

    # Another caller lists no chat of Alice's, and its own chat list holds its own chat only.
    assert bob.predict(api_name="/sessions")["choices"] == []
    _, _, bob_dropdown = bob.predict({"text": "status", "files": []}, api_name="/chat")
    assert [value for _, value in bob_dropdown["choices"]] == [bob_dropdown["value"]] != [alice_id]
    # Alice's browser sends the ids it holds, and sees its chat again (as after a reload or a restart).
    listed = alice.predict([alice_id], api_name="/sessions")["choices"]
    assert [value for _, value in listed] == [alice_id]
    # An id nobody was given opens nothing.
    assert bob.predict("0123456789ab", api_name="/open_session") == {"__type__": "update"}
