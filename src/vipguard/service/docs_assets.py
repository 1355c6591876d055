"""Interactive API docs that work offline: Swagger UI at ``/docs`` and ReDoc at ``/redoc`` from local files.

FastAPI's own docs pages load Swagger UI and ReDoc from a CDN, so they are blank without a network. This router
serves the same pages with the JavaScript and CSS shipped in the ``fastapi-offline`` package (Swagger UI, Apache
2.0; ReDoc, MIT; the package, MIT: its licence file is installed with it), and Swagger UI's start-up code from a
file rather than an inline script, so the pages carry a Content-Security-Policy of their own: scripts from this
origin only (styles may be inline: both UIs set them at run time).

Use it with FastAPI's CDN pages switched off::

    app = FastAPI(..., docs_url=None, redoc_url=None)
    app.include_router(docs_router(app.title))
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from importlib import resources

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, Response

DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'")
# asset name -> (package, file inside it, media type)
ASSETS = {
    "swagger-ui-bundle.js": ("fastapi_offline", "static/swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "swagger-ui.css": ("fastapi_offline", "static/swagger-ui.css", "text/css; charset=utf-8"),
    "redoc.standalone.js": ("fastapi_offline", "static/redoc.standalone.js", "text/javascript; charset=utf-8"),
    "favicon.png": ("fastapi_offline", "static/favicon.png", "image/png"),
    "swagger-init.js": ("vipguard.service", "static/swagger-init.js", "text/javascript; charset=utf-8"),
}


@dataclass(frozen=True)
class DocsPaths:
    docs: str = "/docs"
    redoc: str = "/redoc"
    oauth2_redirect: str = "/docs/oauth2-redirect"
    assets: str = "/docs-assets"
    openapi: str = "/openapi.json"

    @property
    def pages(self) -> frozenset[str]:
        """The paths of the HTML pages (they set their own CSP; a security-header middleware may exempt them)."""
        return frozenset({self.docs, self.redoc, self.oauth2_redirect})


def asset_bytes(name: str) -> bytes:
    """The bytes of one docs asset; :class:`KeyError` for a name not in :data:`ASSETS`."""
    package, path, _ = ASSETS[name]
    return resources.files(package).joinpath(path).read_bytes()


def _page(title: str, head: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>'
        f"{head}</head><body>{body}</body></html>",
        headers={"content-security-policy": DOCS_CSP})


def docs_router(title: str = "vipguard", paths: DocsPaths = DocsPaths()) -> APIRouter:
    """Routes for ``paths.docs`` (Swagger UI), ``paths.redoc`` (ReDoc), Swagger's OAuth2 redirect page and the
    assets under ``paths.assets``; none appears in the OpenAPI schema."""
    router = APIRouter(include_in_schema=False)

    def url(request: Request, path: str) -> str:
        return html.escape(f"{request.scope.get('root_path', '')}{path}", quote=True)

    @router.get(paths.docs)
    async def swagger(request: Request) -> HTMLResponse:
        a = f"{paths.assets}/"
        return _page(f"{title} - Swagger UI",
                     f'<link rel="stylesheet" href="{url(request, a + "swagger-ui.css")}">'
                     f'<link rel="icon" href="{url(request, a + "favicon.png")}">',
                     f'<div id="swagger-ui" data-openapi-url="{url(request, paths.openapi)}"></div>'
                     f'<script src="{url(request, a + "swagger-ui-bundle.js")}"></script>'
                     f'<script src="{url(request, a + "swagger-init.js")}"></script>')

    @router.get(paths.oauth2_redirect)
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()  # FastAPI's (inline script, no CDN): default CSP of the app

    @router.get(paths.redoc)
    async def redoc(request: Request) -> HTMLResponse:
        a = f"{paths.assets}/"
        return _page(f"{title} - ReDoc", f'<link rel="icon" href="{url(request, a + "favicon.png")}">',
                     f'<redoc spec-url="{url(request, paths.openapi)}"></redoc>'
                     f'<script src="{url(request, a + "redoc.standalone.js")}"></script>')

    @router.get(paths.assets + "/{name}")
    async def asset(name: str) -> Response:
        if name not in ASSETS:
            raise HTTPException(404, "not found")
        return Response(asset_bytes(name), media_type=ASSETS[name][2],
                        headers={"cache-control": "public, max-age=86400"})

    return router


__all__ = ["ASSETS", "DOCS_CSP", "DocsPaths", "asset_bytes", "docs_router"]
