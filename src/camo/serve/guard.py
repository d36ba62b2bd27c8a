"""An ASGI middleware in front of everything: who may talk to the server, how much, and what browsers may do.

* **Host** must name this server (the bound host, or a loopback name when bound to loopback, with the bound
  port): a DNS-rebinding page makes the browser send its own domain, and is refused (400).
* **Origin** / ``Sec-Fetch-Site`` on anything but GET/HEAD: a page of another site posting to this server through
  the user's browser is refused (403), so no other tab can start jobs here.
* **Content-Length** above the request cap is refused before the body is read (413); the upload reader counts
  bodies sent without one.
* Every response says ``nosniff``, no referrer, no framing, and a Content-Security-Policy that allows only this
  server's own files (the page loads nothing from anywhere else).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from camo.serve.settings import ServeSettings

#: The page's policy: its own script, styles, images and API only.
PAGE_POLICY = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")

_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def split_host(value: str) -> tuple[str, int | None] | None:
    """``"127.0.0.1:8000"`` -> ("127.0.0.1", 8000); ``"[::1]"`` -> ("::1", None); None when malformed."""
    value = value.strip().lower()
    if not value:
        return None
    if value.startswith("["):
        name, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:] if rest else ""
    else:
        name, _, port_text = value.partition(":")
    if port_text:
        if not port_text.isdigit() or len(port_text) > 5:
            return None
        return name, int(port_text)
    return name, None


class Guard:
    """The middleware; ``settings.port`` must be the port really bound (tests bind a free port first)."""

    def __init__(self, app: ASGIApp, settings: ServeSettings) -> None:
        self.app, self.settings = app, settings
        self.names = settings.host_names()

    def host_ok(self, value: str | None, *, default_port: int = 80) -> bool:
        parsed = split_host(value or "")
        if parsed is None:
            return False
        name, port = parsed
        return name in self.names and (port if port is not None else default_port) == self.settings.port

    def origin_ok(self, origin: str) -> bool:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False
        return self.host_ok(parts.netloc, default_port=443 if parts.scheme == "https" else 80)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":  # none are served; refuse before anything else
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if not self.host_ok(headers.get("host")):
            await _refuse(send, 400, "this server answers only to its own address (Host header refused: a guard "
                                     "against DNS rebinding); open it as http://127.0.0.1:PORT/")
            return
        if scope["method"] not in _SAFE_METHODS:
            origin = headers.get("origin")
            if (origin is not None and not self.origin_ok(origin)) or headers.get("sec-fetch-site") == "cross-site":
                await _refuse(send, 403, "requests from other sites' pages are refused")
                return
        length = headers.get("content-length")
        cap = self.settings.max_request_bytes
        if length is not None and (not length.isdigit() or int(length) > cap):
            await _refuse(send, 413, f"the request is larger than the limit of {cap / 2**20:.0f} MB")
            return
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start" and not started:
                started = True
                message = dict(message)
                message["headers"] = _with_security_headers(message.get("headers", []))
            await send(message)

        # Bodies without a Content-Length are counted by the upload reader itself (camo.serve.uploads).
        await self.app(scope, receive, guarded_send)


def _with_security_headers(raw: Any) -> list[tuple[bytes, bytes]]:
    headers = list(raw)
    present = {name.lower() for name, _ in headers}
    extra = {b"x-content-type-options": b"nosniff", b"referrer-policy": b"no-referrer",
             b"x-frame-options": b"DENY", b"cross-origin-resource-policy": b"same-origin",
             b"content-security-policy": PAGE_POLICY.encode(), b"cache-control": b"no-store"}
    headers += [(name, value) for name, value in extra.items() if name not in present]
    return headers


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": _with_security_headers([(b"content-type", b"application/json"),
                                                   (b"content-length", str(len(body)).encode())])})
    await send({"type": "http.response.body", "body": body})
