"""Security headers on every response: no MIME sniffing, no framing, no referrer, and a Content-Security-Policy.

The web page (``/`` and ``/static/*``) gets a policy that allows only its own script and style files (no inline
code), the API's own origin for ``fetch``, and ``data:`` / ``blob:`` images and media (the score timeline and the
user's own file, shown before upload). Every other response is data, so its policy allows nothing. The interactive
API docs (Swagger UI, ReDoc, served from local files by :mod:`.docs_assets`) carry that module's own policy, so
this middleware leaves their pages alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            "media-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
DATA_CSP = "default-src 'none'; frame-ancestors 'none'"
COMMON = (("x-content-type-options", "nosniff"), ("x-frame-options", "DENY"), ("referrer-policy", "no-referrer"))


@dataclass(frozen=True)
class HeaderPolicy:
    page_paths: frozenset[str] = frozenset({"/"})
    page_prefixes: tuple[str, ...] = ("/static/",)
    exempt_paths: frozenset[str] = frozenset()  # no CSP here (the docs pages)

    def headers(self, path: str) -> tuple[tuple[str, str], ...]:
        if path in self.exempt_paths:
            return COMMON
        page = path in self.page_paths or path.startswith(self.page_prefixes)
        return (*COMMON, ("content-security-policy", PAGE_CSP if page else DATA_CSP))


class SecurityHeaders:
    """ASGI middleware: adds :meth:`HeaderPolicy.headers` to each HTTP response (a header the app set wins)."""

    def __init__(self, app: ASGIApp, policy: HeaderPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.policy.headers(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": _merged(message.get("headers") or [], extra)}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _merged(headers: Iterable[tuple[bytes, bytes]], extra: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    out = list(headers)
    present = {name.lower() for name, _ in out}
    out += [(name.encode(), value.encode()) for name, value in extra if name.encode() not in present]
    return out
