"""Offline API docs (``vipguard.service.docs_assets``) and server-rendered video thumbnails
(``vipguard.service.thumbnails``): on a minimal FastAPI app with the docs router, in Debian's headless Chromium
with every request off this machine blocked; and, once ``create_app`` includes the router, on the service itself
(those tests skip with "not wired" until then)."""

from __future__ import annotations

import base64
import re

import cv2
import numpy as np
import pytest

fastapi = pytest.importorskip("fastapi")
pytest.importorskip("fastapi_offline", reason="the service extra (fastapi-offline) is not installed")
from fastapi.testclient import TestClient  # noqa: E402

from .test_service import CHROMIUM, KEY  # noqa: E402

TITLE = "docs-demo"


def minimal_app():
    from vipguard.service.docs_assets import docs_router

    app = fastapi.FastAPI(title=TITLE, docs_url=None, redoc_url=None)

    @app.get("/ping", summary="Answer pong")
    async def ping() -> dict:
        return {"pong": True}

    app.include_router(docs_router(app.title))
    return app


def wired_app(tmp_path):
    """The service app (models are not loaded: no lifespan), or a skip while create_app serves CDN docs."""
    from vipguard.service import ServiceConfig, create_app

    app = create_app(ServiceConfig(db=tmp_path / "registry.db", api_key=KEY))
    page = TestClient(app).get("/docs")
    if page.status_code != 200 or "/docs-assets/" not in page.text:
        pytest.skip("not wired: create_app does not include docs_assets.docs_router yet (/docs loads from a CDN)")
    return app


def assert_offline_pages(client: TestClient, title: str) -> None:
    """/docs and /redoc name only local scripts and styles, run no inline script, and carry DOCS_CSP."""
    from vipguard.service.docs_assets import ASSETS, DOCS_CSP

    for path, kind in [("/docs", "Swagger UI"), ("/redoc", "ReDoc")]:
        page = client.get(path)
        assert page.status_code == 200 and f"{title} - {kind}" in page.text
        assert page.headers["content-security-policy"] == DOCS_CSP
        assert "http://" not in page.text and "https://" not in page.text  # no CDN, no web font
        assert not re.search(r"<script(?![^>]*\bsrc=)", page.text)  # every script is a file
        refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assets = [r for r in refs if r.startswith("/docs-assets/")]
        assert len(assets) >= 2, refs
        for ref in assets:
            r = client.get(ref)
            assert r.status_code == 200 and r.headers["content-type"] == ASSETS[ref.rsplit("/", 1)[1]][2], ref
    assert client.get("/docs-assets/../app.py").status_code == 404
    assert client.get("/docs-assets/swagger-ui.js").status_code == 404
    schema = client.get("/openapi.json").json()
    assert not [p for p in schema["paths"] if p.startswith(("/docs", "/redoc"))]


def test_docs_router_serves_swagger_and_redoc_from_local_files():
    from vipguard.service.docs_assets import asset_bytes

    client = TestClient(minimal_app())
    assert_offline_pages(client, TITLE)
    assert client.get("/docs-assets/swagger-ui-bundle.js").content == asset_bytes("swagger-ui-bundle.js")
    assert len(asset_bytes("redoc.standalone.js")) > 500_000  # the real bundle, not a stub
    assert "SwaggerUIBundle(" in client.get("/docs-assets/swagger-init.js").text


def test_service_serves_offline_docs_once_wired(tmp_path):
    assert_offline_pages(TestClient(wired_app(tmp_path)), "vipguard")


ORIGIN = "http://vipguard.test"  # the only origin the browser may reach; answered by the app in-process


def load_docs_offline(client: TestClient, title: str) -> None:
    """Both docs pages render in Chromium while every request goes through an interceptor: requests to ORIGIN are
    answered by ``client`` (the app, in-process), any other is blocked and recorded."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")
    blocked: list[str] = []
    errors: list[str] = []

    def only_the_app(route) -> None:
        url = route.request.url
        if url.startswith(ORIGIN + "/"):
            r = client.get(url[len(ORIGIN):])
            route.fulfill(status=r.status_code, headers=dict(r.headers), body=r.content)
        else:
            blocked.append(url)
            route.abort()

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        context = browser.new_context()
        context.route("**/*", only_the_app)
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{ORIGIN}/docs")
        page.wait_for_selector(f".swagger-ui .info .title:has-text('{title}')", timeout=30000)
        page.wait_for_selector(".swagger-ui .opblock", timeout=30000)  # the operations were read from the schema
        page.goto(f"{ORIGIN}/redoc")
        page.wait_for_selector(f"h1:has-text('{title}')", timeout=30000)
        browser.close()
    assert blocked == []
    # ReDoc's sidebar names a remote "powered by" logo: the pages' CSP stops it before it is requested (no request
    # reaches the route above). Any other CSP complaint or failed load is a bug.
    logo = "Loading the image 'https://cdn.redoc.ly/redoc/logo-mini.svg' violates"
    assert not [e for e in errors if ("Content Security Policy" in e and not e.startswith(logo))
                or "Failed to load" in e], errors


@pytest.mark.skipif(not CHROMIUM.exists(), reason="headless browser test needs /usr/bin/chromium (not installed)")
def test_docs_load_in_chromium_with_the_network_blocked():
    load_docs_offline(TestClient(minimal_app()), TITLE)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="headless browser test needs /usr/bin/chromium (not installed)")
def test_service_docs_load_in_chromium_with_the_network_blocked_once_wired(tmp_path):
    load_docs_offline(TestClient(wired_app(tmp_path)), "vipguard")  # skips until wired


def _clip(path, n: int = 8) -> None:
    """An mp4v clip of ``n`` flat frames, frame i grey level 20 * i (so each frame can be told apart)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 2.0, (160, 120))
    assert writer.isOpened()
    for i in range(n):
        writer.write(np.full((120, 160, 3), 20 * i, np.uint8))
    writer.release()


def test_clip_thumbnails_show_the_typical_and_worst_frames(tmp_path):
    from vipguard.apps.video import ClipVerdict, FrameResult
    from vipguard.lite.guard import Verdict
    from vipguard.service.thumbnails import ThumbnailConfig, clip_thumbnails

    _clip(tmp_path / "clip.mp4")
    scores = [0.9, 0.8, 0.1, 0.95, 0.2, 0.9, 0.85, 0.3]
    frames = tuple(FrameResult(i, i / 2.0, Verdict(f"clip#{i}", "Ada", "genuine" if s >= 0.5 else "fake", s, 80,
                                                   "", box=(40.0 + i, 30.0, 100.0 + i, 90.0)))
                   for i, s in enumerate(scores))
    clip = ClipVerdict("clip.mp4", "Ada", "genuine", 0.85, 80, "", box=frames[6].verdict.box, frames=frames,
                       worst=(2, 4))
    thumbs = clip_thumbnails(tmp_path / "clip.mp4", clip, ThumbnailConfig(limit=4, side=80))
    assert [t["frame"] for t in thumbs] == sorted(t["frame"] for t in thumbs)  # in time order
    roles = {t["frame"]: t["role"] for t in thumbs}
    assert roles[6] == "typical" and roles[2] == roles[4] == "worst" and len(thumbs) == 4
    assert {t["frame"]: (t["verdict"], t["score"]) for t in thumbs}[2] == ("fake", 0.1)
    for t in thumbs:
        image = cv2.imdecode(np.frombuffer(base64.b64decode(t["jpeg"]), np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (60, 80, 3)  # longest side 80
        centre = int(image[30, 35].mean())  # inside the box: the frame's own grey level
        assert abs(centre - 20 * t["frame"]) < 12
        edge = image[15, 25 + t["frame"] // 2]  # the box's top edge, in the verdict's colour
        assert (edge[2] > edge[1] + 40) if t["verdict"] == "fake" else (edge[1] > edge[2] + 40), (t["frame"], edge)
    gone = clip_thumbnails(tmp_path / "missing.mp4", clip)
    assert gone == []  # an unreadable clip gives no thumbnails, not an error
