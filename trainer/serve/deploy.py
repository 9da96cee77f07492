"""Deploy a finished run as a local HTTP server in its own process, list deployments, stop them.

The server outlives the chat (its own session, so Ctrl+C in the chat does not reach it); the
registry remembers host, port and pid so another tunechat process can list or stop it.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainer.core.errors import UserError
from trainer.core.processes import CHILDREN, child_env, secret_env
from trainer.core.workspace import Workspace
from trainer.serve.access import KEY_ENV, api_key_from, exposure_warning
from trainer.serve.listen import bind, client_host, format_host, port_in_use_message
from trainer.serve.server import SERVER_MODULE
from trainer.store.registry import Registry
from trainer.tasks.registry import plugin_env, task_of

FIRST_PORT = 8000
PORT_SEARCH = 100
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


def deploy_run(
    ws: Workspace,
    registry: Registry,
    run_id: int,
    host: str = "127.0.0.1",
    port: int | None = None,
    timeout: float = READY_TIMEOUT_S,
    check_parity: bool = True,
) -> dict[str, Any]:
    """Serve a succeeded run's model over HTTP and return how to call it, with the parity check of what it
    answers against the run in this process (`check_parity`).

    Returns the running deployment instead when the run is already served (on `port`, if one is given). When this
    process has TUNECHAT_API_KEY, the server requires it (handed over in its environment, never its arguments).
    """
    check = check_deployable(ws, registry, run_id, host=host, port=port)
    if check["existing"] is not None:
        return {**check["existing"], "already_running": True}
    run, run_dir, port = check["run"], check["run_dir"], check["port"]

    log_path = run_dir / "serve.log"
    log_start = log_path.stat().st_size if log_path.exists() else 0
    command = [sys.executable, "-m", SERVER_MODULE, str(run_dir), "--host", host, "--port", str(port)]
    # The server loads the same plug-in tasks as this process, so any registered task can be served; it never
    # talks to the chat's LLM, so it gets none of its keys (a request could otherwise read them off /proc), only
    # its own API key.
    api_key = api_key_from(None)
    extra = {**plugin_env(), **({KEY_ENV: api_key} if api_key else {})}
    pid = CHILDREN.start(command, log=log_path, env=child_env(drop=secret_env(), extra=extra))

    info = _deployment_info(run, host, port, pid, keyed=bool(api_key))
    warning = exposure_warning(host, api_key)
    if warning:
        info["warning"] = warning
    deadline = time.monotonic() + timeout
    while True:
        if CHILDREN.exited(pid):
            raise UserError(_start_failure_message(run_id, log_path, log_start))
        if _health(info["health_url"], run_id, timeout=2.0):
            break
        if time.monotonic() > deadline:
            _terminate(pid)
            raise UserError(
                f"The server for run {run_id} did not answer within {timeout:.0f} s; see {log_path} for its output."
            )
        time.sleep(0.25)

    registry.add_deployment(run_id, host, port, pid)
    parity = served_parity(run, run_dir, info["url"], api_key) if check_parity else None
    return {**info, "healthy": True, "already_running": False, "log": str(log_path), "parity": parity}


def served_parity(run: Mapping[str, Any], run_dir: Path, url: str, api_key: str | None) -> dict[str, Any] | None:
    """Whether the server answers like the run in this process (its task's served API says how to ask it): the
    parity report as a dict, or why it could not be checked; None when the API names no check."""
    check = task_of(run).served_api().parity
    if check is None:
        return None
    try:
        report = check(run_dir, url, api_key)
    except UserError as error:
        return {"parity_ok": None, "error": str(error)}
    return {**report.to_dict(), "sentence": report.sentence}


def check_deployable(
    ws: Workspace, registry: Registry, run_id: int, host: str = "127.0.0.1", port: int | None = None
) -> dict[str, Any]:
    """Everything deploy_run checks before it starts a server, without starting one.

    Returns {"run", "run_dir", "port" (the given port, or the first free one now), "existing" (the healthy
    deployment of this run at that place, or None)}; raises UserError when the run cannot be deployed.
    A chat plan shows this port; deploy_run checks again when the user confirms.
    """
    run = registry.get_run(run_id)
    if run["status"] != "succeeded":
        raise UserError(_not_deployable_message(run_id, run["status"]))
    run_dir = ws.run_dir_of(run)
    if not task_of(run).has_model(run_dir):
        raise UserError(f"Run {run_id} has no trained model in {run_dir / 'model'}; train it again to deploy it.")
    if port is not None and not 1 <= port <= 65535:
        raise UserError(f"Port {port} is not a valid port; pick one between 1024 and 65535, e.g. 8000.")

    for deployment in list_deployments(ws, registry):
        same_place = port is None or (deployment["port"] == port and deployment["host"] == host)
        if deployment["run_id"] == run_id and same_place and deployment["healthy"]:
            return {"run": run, "run_dir": run_dir, "port": deployment["port"], "existing": deployment}

    if port is None:
        port = _first_free_port(host, FIRST_PORT)
    elif not _port_is_free(host, port):
        raise UserError(port_in_use_message(host, port))
    return {"run": run, "run_dir": run_dir, "port": port, "existing": None}


def stop_deployment(ws: Workspace, registry: Registry, run_id: int) -> dict[str, Any]:
    """Stop every server of this run and forget them; raises UserError when the run is not deployed."""
    run = registry.get_run(run_id)
    mine = [row for row in registry.list_deployments() if row["run_id"] == run_id]
    if not mine:
        raise UserError(f"Run {run_id} is not deployed; say 'deploy run {run_id}' to start a server for it.")
    stopped = []
    for row in mine:
        was_running = _is_our_server(row["pid"])
        if was_running:
            _terminate(row["pid"])
        registry.remove_deployment(row["host"], row["port"])
        info = _deployment_info(run, row["host"], row["port"], row["pid"])
        stopped.append({**info, "was_running": was_running})
    return {"run_id": run_id, "stopped": stopped}


def list_deployments(
    ws: Workspace, registry: Registry, run_id: int | None = None, check_health: bool = True
) -> list[dict[str, Any]]:
    """Live deployments (of `run_id`, or all) with their URLs; rows whose process has died are removed from the
    registry. `check_health` asks each server's /health (up to 2 s each); callers that only need to know what is
    served leave it off."""
    alive = []
    for row in registry.list_deployments():
        if run_id is not None and row["run_id"] != run_id:
            continue
        if not _is_our_server(row["pid"]):
            registry.remove_deployment(row["host"], row["port"])
            continue
        info = _deployment_info(registry.get_run(row["run_id"]), row["host"], row["port"], row["pid"])
        info["created_at"] = row["created_at"]
        if check_health:
            info["healthy"] = _health(info["health_url"], row["run_id"], timeout=2.0)
        alive.append(info)
    return alive


# ---- helpers ----------------------------------------------------------------------------------


def _not_deployable_message(run_id: int, status: str) -> str:
    if status in ("failed", "cancelled"):
        return f"Run {run_id} {status}, so it has no model to deploy; deploy a run that succeeded or start a new one."
    return f"Run {run_id} is {status}, not succeeded; wait until it finishes training, then deploy it."


def _deployment_info(run: Mapping[str, Any], host: str, port: int, pid: int, keyed: bool = False) -> dict[str, Any]:
    """Where the server is and how to call it (the API the run's task is served with says how); `keyed`: the
    server needs the API key, which the examples name by its variable, never by its value."""
    run_id = int(run["id"])
    url = f"http://{format_host(client_host(host))}:{port}"
    where = {"run_id": run_id, "host": host, "port": port, "pid": pid, "url": url, "health_url": f"{url}/health"}
    info = {**where, **task_of(run).served_api().client_info(url, run_id)}
    if keyed:
        header = f'-H "Authorization: Bearer ${KEY_ENV}"'
        if isinstance(info.get("curl"), str):
            info["curl"] = info["curl"].replace("curl -s ", f"curl -s {header} ", 1)
        info["api_key"] = f"Every route but /health needs 'Authorization: Bearer <the key in {KEY_ENV}>'."
    return info


def _health(health_url: str, run_id: int, timeout: float) -> bool:
    """True when the server at `health_url` is up and serves this run (not some other program on the port)."""
    try:
        with urllib.request.urlopen(health_url, timeout=timeout) as response:
            payload = json.loads(response.read().decode("utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(payload, dict) and payload.get("status") == "ok" and payload.get("run_id") == run_id


def _port_is_free(host: str, port: int) -> bool:
    """True when a server could listen there now (the same bind the server itself does)."""
    try:
        bind(host, port).close()
    except UserError:
        return False
    return True


def _first_free_port(host: str, start: int) -> int:
    for port in range(start, start + PORT_SEARCH):
        if _port_is_free(host, port):
            return port
    raise UserError(
        f"Ports {start} to {start + PORT_SEARCH - 1} on {host} are all in use; pick a free port with --port."
    )


def _is_our_server(pid: int) -> bool:
    """True while `pid` is a live tunechat server (a recycled pid of another program does not count)."""
    return CHILDREN.alive(pid, (SERVER_MODULE,))


def _terminate(pid: int) -> None:
    """SIGTERM the server's process group, then SIGKILL if it has not exited in time; reap our own child."""
    CHILDREN.terminate(pid, (SERVER_MODULE,), STOP_TIMEOUT_S)


def _start_failure_message(run_id: int, log_path: Path, log_start: int) -> str:
    """The server's own one-sentence error from its log, or its last line."""
    try:
        with open(log_path, "rb") as log:
            log.seek(log_start)
            lines = [line.strip() for line in log.read().decode("utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    for line in reversed(lines):
        if line.startswith("error: "):
            return line.removeprefix("error: ")
    last = lines[-1] if lines else "it printed nothing"
    return f"The server for run {run_id} stopped before it was ready ({last}); see {log_path} for details."
