"""ASGI middleware of the service: the API key and the body-size limit, both applied before the app (and FastAPI's
body parsing) sees the request; and :func:`key_dependency`, the same key check as a FastAPI dependency of the
``/v1`` routes, which documents the Bearer scheme in the OpenAPI schema."""

from __future__ import annotations

import hmac
import json
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNAUTHORISED = "missing or wrong API key (Authorization: Bearer <key>)"


def key_matches(header: bytes | str | None, expected: bytes) -> bool:
    """Whether an ``Authorization`` header value is ``Bearer <expected>`` (scheme in any case; constant time)."""
    raw = header.encode("latin-1") if isinstance(header, str) else (header or b"")
    scheme, _, given = raw.partition(b" ")
    return hmac.compare_digest(given, expected) and scheme.lower() == b"bearer"


def key_dependency(expected: bytes | None) -> Any:
    """``Depends(...)`` for the ``/v1`` routes: 401 without the key (``expected`` None: no authentication).
    :class:`RequireKey` has already refused such a request from its headers; this check stands behind it."""
    bearer = HTTPBearer(auto_error=False, description="the service's API key (VIPGUARD_API_KEY)")

    def authorised(request: Request, _: Any = Depends(bearer)) -> None:  # noqa: B008 - documents the scheme
        if expected is not None and not key_matches(request.headers.get("authorization"), expected):
            raise HTTPException(401, UNAUTHORISED, headers={"WWW-Authenticate": "Bearer"})

    return Depends(authorised)


class RequireKey:
    """ASGI middleware: a ``/v1`` request without the key gets 401 from its headers alone, before any of its body is
    read (a client uploading 100 MiB sees the 401 while it is still sending)."""

    def __init__(self, app: ASGIApp, expected: bytes | None) -> None:
        self.app = app
        self.expected = expected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (scope["type"] == "http" and self.expected is not None and (path == "/v1" or path.startswith("/v1/"))
                and not key_matches(dict(scope.get("headers") or []).get(b"authorization"), self.expected)):
            await send_json(send, 401, {"detail": UNAUTHORISED}, [(b"www-authenticate", b"Bearer"),
                                                                    (b"connection", b"close")])
            return
        await self.app(scope, receive, send)


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes gets 413 (by Content-Length, or while streaming)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.limit
            except ValueError:
                too_big = False
            if too_big:
                await send_json(send, 413, {"detail": f"request body is over the {self.limit}-byte limit"})
                return
        state = {"seen": 0, "tripped": False, "sent": False}

        async def limited_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["seen"] += len(message.get("body", b""))
                if state["seen"] > self.limit:
                    state["tripped"] = True
                    raise Oversize()
            return message

        async def guarded_send(message: Message) -> None:
            if not state["tripped"]:
                await send(message)
            elif not state["sent"] and message["type"] == "http.response.start":
                state["sent"] = True
                await send_json(send, 413, {"detail": f"request body is over the {self.limit}-byte limit"})

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Oversize:
            if not state["sent"]:
                state["sent"] = True
                await send_json(send, 413, {"detail": f"request body is over the {self.limit}-byte limit"})


class Oversize(Exception):
    pass


async def send_json(send: Send, status: int, body: dict, headers: list[tuple[bytes, bytes]] = ()) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": data})
