"""The real web app on a free loopback port, for tests that talk to it over HTTP through gradio_client."""

from __future__ import annotations

import os
import socket
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from agent.assistant import Assistant  # noqa: E402
from trainer.core.workspace import Workspace  # noqa: E402
from ui import web  # noqa: E402
from ui.render import MARKDOWN  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class App:
    """The guided-mode web app over one workspace; a second App on the same workspace is a restart."""

    def __init__(self, workspace: Workspace):
        self.assistant = Assistant(workspace=workspace, chat_model=None, presenter=MARKDOWN)
        self.port = free_port()
        self.demo = web.launch(port=self.port, assistant=self.assistant, prevent_thread_lock=True)
        self.url = f"http://127.0.0.1:{self.port}/"

    def client(self) -> Any:
        from gradio_client import Client

        return Client(self.url, verbose=False, download_files=False, analytics_enabled=False)

    def close(self) -> None:
        self.demo.close()
