"""The unauthenticated routes: the web page, its script and style files, and the liveness probe."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from ..errors import problem
from ..state import ServiceState

STATIC_TYPES = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}


def static_text(name: str) -> str:
    return resources.files("vipguard.service").joinpath(f"static/{name}").read_text(encoding="utf-8")


def router(state: ServiceState) -> APIRouter:
    routes = APIRouter()

    @routes.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(static_text("index.html"))

    @routes.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in STATIC_TYPES:
            raise problem(404, "not found")
        return Response(static_text(name), media_type=STATIC_TYPES[name])

    @routes.get("/healthz", summary="Liveness: the models are loaded")
    async def healthz() -> dict:
        return {"status": "ok", "workers": state.config.workers, "waiting": state.waiting,
                "writable": not state.registry.readonly}

    return routes
