"""Who may call a model server: an optional API key (a bearer token) on every route but /health, and the warning a
server prints when it listens beyond this machine without one.

The key comes from `--api-key` or the TUNECHAT_API_KEY environment variable. A deployed server gets it only through
its environment (its name matches processes.SECRET_NAME, so no other child inherits it), never through its argv.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Mapping
from typing import Any

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, State
from starlette.types import ASGIApp, Receive, Scope, Send

from trainer.core.errors import UserError

KEY_ENV = "TUNECHAT_API_KEY"
# Load balancers and deploy's own readiness check ask /health without credentials.
OPEN_PATHS = frozenset({"/health"})


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine only (a name other than localhost may resolve anywhere: not loopback)."""
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, api_key: str | None) -> str | None:
    """What a server says when anyone on the network could call it (never the key itself)."""
    if api_key or is_loopback(host):
        return None
    return (
        f"WARNING: this model server listens on {host} with no API key, so anyone who can reach the port can use it; "
        f"set {KEY_ENV} (or pass --api-key) to require 'Authorization: Bearer <key>', or bind 127.0.0.1."
    )


def api_key_from(flag: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The key a server requires: the flag's, else the environment's, else None; UserError for a blank one."""
    env = os.environ if environ is None else environ
    key = flag if flag is not None else env.get(KEY_ENV)
    if key is None:
        return None
    if not key.strip() or key != key.strip():
        raise UserError(
            "The API key is blank or has spaces around it; give a key such as the output of `openssl rand -hex 16`."
        )
    return key


class RequireKey:
    """Answer 401 in the API's own error shape unless the request carries `Authorization: Bearer <key>`.

    The key is read from the app's state on every request (None: no key needed), so the server sets it after the
    app is made; /health stays open.
    """

    def __init__(self, app: ASGIApp, state: State, body: Any):
        self.app, self.state, self.body = app, state, body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key: str | None = getattr(self.state, "api_key", None)
        if scope["type"] != "http" or not key or (scope["path"].rstrip("/") or "/") in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        scheme, _, token = Headers(scope=scope).get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), key.encode()):
            await self.app(scope, receive, send)
            return
        reason = "a wrong API key" if token else "no API key"
        message = (
            f"This server needs an API key and the request had {reason}; "
            "send the header 'Authorization: Bearer <key>' with the key the server was started with."
        )
        headers = {"WWW-Authenticate": 'Bearer realm="tunechat"'}
        await JSONResponse(self.body(401, message), status_code=401, headers=headers)(scope, receive, send)
