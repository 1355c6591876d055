"""The HTTP service: ``create_app(ServiceConfig(...))`` → a FastAPI app.

``create_app`` checks the registry and the model files at once (:class:`StartupError`, one line); the models load
at start-up (lifespan) into an :class:`~vipguard.service.workers.AnalyzerPool`. Every ``/v1`` request needs
``Authorization: Bearer <key>`` (compared in constant time), checked from the headers before any of the body is
read. Sniffing, decoding and model work run in worker threads, each with its own borrowed analyzer, behind a
bounded queue (503 + ``Retry-After`` when it is full), so the event loop stays responsive; registry reads run in
threads too. Uploads are capped in bytes (whole request and each file) and pixels (413, from the image header, before
any decoding), their type is sniffed from the bytes (415), names are validated (422), and each is decoded once
(:mod:`vipguard.service.uploads`). A registry fault (corrupt, read-only, locked, replaced while serving) is a 503
naming the file and the problem; a corrupt VIP row is reported next to the other VIPs, which stay usable; a second
enrolment of a name being enrolled is a 409. Every error is a JSON body ``{"detail": ...}`` and no traceback
(:mod:`vipguard.service.errors`). Every response carries security headers (:mod:`vipguard.service.headers`:
nosniff, no framing, a Content-Security-Policy; the page's script and styles are served files, never inline). The
API docs, Swagger UI at ``/docs`` and ReDoc at ``/redoc``, are served offline from local files with a CSP of their
own (:mod:`vipguard.service.docs_assets`); a video's check answer carries server-rendered JPEG thumbnails of its
typical and worst frames (:mod:`vipguard.service.thumbnails`).

The app is composed here from its parts: the middleware (:mod:`.middleware`, :mod:`.headers`), the error handlers,
and one router per concern (:mod:`.routes.pages`, :mod:`.routes.vips`, :mod:`.routes.check`), each given the one
:class:`~vipguard.service.state.ServiceState`.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from .config import ServiceConfig, StartupError
from .docs_assets import DocsPaths, docs_router
from .errors import install_handlers
from .headers import HeaderPolicy, SecurityHeaders
from .middleware import BodyLimit, RequireKey, key_dependency
from .routes import check, pages, vips
from .state import ServiceState

__all__ = ["ServiceConfig", "StartupError", "app_from_environment", "create_app"]


def create_app(config: ServiceConfig) -> FastAPI:
    """The service app; the registry and the model files are checked now (:class:`StartupError`), the models load
    when the app starts (``with TestClient(app)`` or uvicorn)."""
    state = ServiceState(config)
    docs = DocsPaths()
    app = FastAPI(
        title="vipguard", version="1", lifespan=state.lifespan, docs_url=None, redoc_url=None,  # the CDN pages: off
        description="Identity-aware deepfake detection for protected people (VIPs): enrol a VIP from authentic "
                    "photos, then check images and videos. All /v1 endpoints need `Authorization: Bearer <key>`.",
    )
    app.add_middleware(BodyLimit, limit=config.max_request_bytes)
    app.add_middleware(RequireKey, expected=state.key)  # outside the body limit: no key, no word on sizes
    # outermost: on 401s/413s too; the docs pages carry their own CSP (docs_assets.DOCS_CSP), and Swagger's OAuth2
    # redirect page runs an inline script, so none of the three gets the data policy
    app.add_middleware(SecurityHeaders, policy=HeaderPolicy(exempt_paths=docs.pages))
    install_handlers(app)
    app.include_router(docs_router(app.title, docs))  # Swagger UI and ReDoc from local files (offline)
    app.include_router(pages.router(state))
    authorised = key_dependency(state.key)
    app.include_router(vips.router(state), dependencies=[authorised])
    app.include_router(check.router(state), dependencies=[authorised])
    return app


def app_from_environment() -> FastAPI:
    """The app of each server process of ``vipguard serve --processes N`` (uvicorn imports this factory in every
    process it starts): :func:`create_app` of :meth:`ServiceConfig.from_environment`."""
    return create_app(ServiceConfig.from_environment(os.environ))
