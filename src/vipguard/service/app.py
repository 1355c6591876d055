"""The HTTP service: ``create_app(ServiceConfig(...))`` → a FastAPI app.

Models are loaded once at start-up (lifespan) into an :class:`~vipguard.service.workers.AnalyzerPool`; CPU work runs
in worker threads, each with its own borrowed analyzer, so the event loop stays responsive. Every ``/v1`` endpoint
needs ``Authorization: Bearer <key>`` (compared in constant time). Uploads are capped in bytes (whole request and
each file) and pixels (413), their type is sniffed from the bytes (415), names are validated (422), and every error
is a JSON body ``{"detail": ...}`` with a 4xx status and no traceback. Every response carries security headers
(:mod:`vipguard.service.headers`: nosniff, no framing, a Content-Security-Policy; the page's script and styles are
served files, never inline).
"""

from __future__ import annotations

import base64
import hmac
import logging
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..enrol import EnrolConfig
from ..guard import Guard, GuardConfig
from ..io import DecodeLimits, InputError, decode_image
from ..registry import Registry, validate_name
from ..video import VideoLimits
from .headers import HeaderPolicy, SecurityHeaders
from .uploads import Corrupt, TooManyPixels, Unsupported, sniff
from .workers import AnalyzerPool

log = logging.getLogger("vipguard.service")
MiB = 1024 * 1024


@dataclass(frozen=True)
class ServiceConfig:
    db: Path | None = None  # registry file (default: $VIPGUARD_HOME/registry.db)
    models: Path | None = None  # model folder (default: $VIPGUARD_HOME/models)
    api_key: str | None = None  # None: no authentication (only with insecure=True)
    insecure: bool = False
    workers: int = 1  # analyzers (threads doing CPU work at once)
    max_file_bytes: int = 25 * MiB  # one uploaded file
    max_request_bytes: int = 120 * MiB  # a whole request (enrolment sends several photos)
    max_pixels: int = 25_000_000  # one image
    max_photos: int = 40  # photos in one enrolment
    video_fps: float = 2.0
    strictness: str | float | None = None  # default operating point of checks (None: each VIP's own)
    enrol: EnrolConfig = field(default_factory=EnrolConfig)
    video: VideoLimits = field(default_factory=lambda: VideoLimits(max_frames=120, max_pixels=8_000_000))

    def __post_init__(self) -> None:
        if not self.api_key and not self.insecure:
            raise ValueError("an API key is required (set VIPGUARD_API_KEY), or run with --insecure-no-auth")


class _BodyLimit:
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
                await _send_json(send, 413, {"detail": f"request body is over the {self.limit}-byte limit"})
                return
        state = {"seen": 0, "tripped": False, "sent": False}

        async def limited_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["seen"] += len(message.get("body", b""))
                if state["seen"] > self.limit:
                    state["tripped"] = True
                    raise _Oversize()
            return message

        async def guarded_send(message: Message) -> None:
            if not state["tripped"]:
                await send(message)
            elif not state["sent"] and message["type"] == "http.response.start":
                state["sent"] = True
                await _send_json(send, 413, {"detail": f"request body is over the {self.limit}-byte limit"})

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _Oversize:
            if not state["sent"]:
                state["sent"] = True
                await _send_json(send, 413, {"detail": f"request body is over the {self.limit}-byte limit"})


class _Oversize(Exception):
    pass


async def _send_json(send: Send, status: int, body: dict) -> None:
    import json

    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


def _problem(status: int, detail: str) -> HTTPException:
    return HTTPException(status_code=status, detail=detail)


STATIC_TYPES = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}


def _static_text(name: str) -> str:
    return resources.files("vipguard.service").joinpath(f"static/{name}").read_text(encoding="utf-8")


def create_app(config: ServiceConfig) -> FastAPI:
    """The service app; models load when the app starts (``with TestClient(app)`` or uvicorn)."""
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from ..weights import ModelStore

        store = ModelStore(config.models)
        bad = {k: v for k, v in store.status().items() if v != "ok"}
        if bad:
            raise RuntimeError(f"model files missing or corrupt in {store.root}: {bad}; run `vipguard setup`")
        state["registry"] = Registry(config.db)
        state["pool"] = AnalyzerPool(store, config.workers)
        state["background"] = None
        try:
            yield
        finally:
            state.pop("pool").close()

    app = FastAPI(
        title="vipguard", version="1", lifespan=lifespan,
        description="Identity-aware deepfake detection for protected people (VIPs): enrol a VIP from authentic "
                    "photos, then check images and videos. All /v1 endpoints need `Authorization: Bearer <key>`.",
    )
    app.add_middleware(_BodyLimit, limit=config.max_request_bytes)
    docs = frozenset(p for p in (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url) if p)
    app.add_middleware(SecurityHeaders, policy=HeaderPolicy(exempt_paths=docs))  # outermost: on 413s too
    bearer = HTTPBearer(auto_error=False, description="the service's API key (VIPGUARD_API_KEY)")
    expected = config.api_key.encode() if config.api_key else None

    def authorised(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:  # noqa: B008
        if expected is None:
            return
        given = (creds.credentials if creds is not None else "").encode()
        if not hmac.compare_digest(given, expected):
            raise HTTPException(401, "missing or wrong API key (Authorization: Bearer <key>)",
                                headers={"WWW-Authenticate": "Bearer"})

    Auth = Depends(authorised)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()]
        return JSONResponse({"detail": "invalid request: " + "; ".join(problems)}, status_code=422)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:  # a bug, not bad input: no traceback out
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    def registry() -> Registry:
        return state["registry"]

    def valid_name(name: str) -> str:
        try:
            return validate_name(name)
        except ValueError as exc:
            raise _problem(422, str(exc)) from None

    def known_vip(name: str) -> str:
        valid_name(name)
        if name not in registry().names():
            raise _problem(404, f"no VIP named {name!r} is enrolled")
        return name

    async def read_upload(upload: UploadFile) -> bytes:
        data = await upload.read(config.max_file_bytes + 1)
        if len(data) > config.max_file_bytes:
            raise _problem(413, f"{_label(upload)} is over the {config.max_file_bytes}-byte limit")
        return data

    def check_image_header(data: bytes, label: str, allow_video: bool):
        try:
            kind = sniff(data)
        except TooManyPixels:
            raise _problem(413, f"{label}: image has too many pixels (limit {config.max_pixels})") from None
        except Unsupported as exc:
            raise _problem(415, f"{label}: {exc}") from None
        except Corrupt as exc:
            raise _problem(422, f"{label}: {exc}") from None
        if kind.kind == "video" and not allow_video:
            raise _problem(415, f"{label}: a video; enrolment needs photos")
        if kind.kind == "image" and kind.pixels > config.max_pixels:
            raise _problem(413, f"{label}: image is {kind.width}x{kind.height}, over the limit of "
                                f"{config.max_pixels} pixels")
        return kind

    def decode(data: bytes, label: str):
        try:
            return decode_image(data, label, DecodeLimits(max_pixels=config.max_pixels,
                                                         max_bytes=config.max_file_bytes))
        except InputError as exc:
            raise _problem(422, f"{label}: {exc.reason}") from None

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(_static_text("index.html"))

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in STATIC_TYPES:
            raise _problem(404, "not found")
        return Response(_static_text(name), media_type=STATIC_TYPES[name])

    @app.get("/healthz", summary="Liveness: the models are loaded")
    async def healthz() -> dict:
        return {"status": "ok", "workers": config.workers}

    @app.get("/v1/vips", dependencies=[Auth], summary="List the enrolled VIPs")
    async def list_vips() -> dict:
        return {"vips": registry().summary()}

    @app.delete("/v1/vips/{name}", dependencies=[Auth], summary="Remove an enrolled VIP",
                responses={404: {"description": "unknown VIP"}, 422: {"description": "invalid name"}})
    async def remove_vip(name: str) -> dict:
        valid_name(name)
        if not registry().remove(name):
            raise _problem(404, f"no VIP named {name!r} is enrolled")
        return {"removed": name}

    @app.post("/v1/vips/{name}", dependencies=[Auth], status_code=201,
              summary="Enrol (or re-enrol) a VIP from authentic photos",
              responses={413: {"description": "too large"}, 415: {"description": "not an image"},
                         422: {"description": "invalid name, or no usable photo"}})
    async def enrol_vip(name: str, photos: Annotated[list[UploadFile], File(description="authentic photos")]) -> dict:
        valid_name(name)
        if not photos:
            raise _problem(422, "no photos were sent")
        if len(photos) > config.max_photos:
            raise _problem(413, f"{len(photos)} photos; at most {config.max_photos} per enrolment")
        from ..background import load_background
        from ..enrol import Enroller, EnrolError

        with tempfile.TemporaryDirectory(prefix="vipguard-enrol-") as tmp:
            paths, labels = [], {}
            for i, upload in enumerate(photos):
                data = await read_upload(upload)
                label = _label(upload)
                kind = check_image_header(data, label, allow_video=False)
                decode(data, label)  # corrupt files are rejected here (422) rather than silently skipped
                path = Path(tmp) / f"photo_{i:03d}{kind.suffix}"  # never the client's file name
                path.write_bytes(data)
                paths.append(path)
                labels[str(path)] = label
            if state["background"] is None:
                state["background"] = load_background()

            def job(analyzer):
                return Enroller(analyzer, state["background"], config.enrol).enrol(name, paths)

            try:
                result = await state["pool"].run(job)
            except EnrolError as exc:
                raise _problem(422, str(exc)) from None
        registry().put(result.profile)
        return {
            "name": name, "used": result.used, "rejected": len(result.photos) - result.used,
            "photos": [{"filename": labels.get(p.path, Path(p.path).name), "used": p.used, "reasons": list(p.reasons)}
                       for p in result.photos],
            "fakes": result.fakes, "others": result.others, "seconds": round(result.seconds, 2),
        }

    @app.post("/v1/check", dependencies=[Auth],
              summary="Check an image or a video: genuine VIP, forgery of the VIP, or a different person",
              responses={404: {"description": "unknown VIP"}, 409: {"description": "no VIP enrolled"},
                         413: {"description": "too large"}, 415: {"description": "not an image or video"},
                         422: {"description": "invalid VIP name, or a corrupt file"}})
    async def check(
        file: Annotated[UploadFile, File(description="an image (JPEG, PNG, ...) or a video (MP4, MOV, AVI, MKV)")],
        vip: Annotated[str | None, Form(description="judge against this VIP (default: the nearest one)")] = None,
        strictness: Annotated[str | None, Form(description="operating point: lenient | default | strict or a "
                                                           "genuine-reject rate in (0, 0.5); default: the "
                                                           "service's, else each VIP's own")] = None,
    ) -> dict:
        vip = vip or None
        try:
            guard_config = GuardConfig(strictness=strictness or config.strictness)
        except ValueError as exc:
            raise _problem(422, f"strictness: {exc}") from None
        if vip is not None:
            known_vip(vip)
        elif not registry().names():
            raise _problem(409, "no VIP is enrolled; enrol one with POST /v1/vips/{name}")
        data = await read_upload(file)
        label = _label(file)
        kind = check_image_header(data, label, allow_video=True)
        if kind.kind == "image":
            image = decode(data, label)

            def job(analyzer):
                return Guard(registry(), analyzer, guard_config).check(image, vip=vip, source=label)

            verdict = await state["pool"].run(job)
            out = verdict.to_json()
            out["image_size"] = [int(image.shape[1]), int(image.shape[0])]
            return out
        from ..video import check_video, timeline_png

        with tempfile.TemporaryDirectory(prefix="vipguard-video-") as tmp:
            path = Path(tmp) / f"upload{kind.suffix}"
            path.write_bytes(data)

            def video_job(analyzer):
                return check_video(Guard(registry(), analyzer, guard_config), path, vip=vip, fps=config.video_fps,
                                   limits=config.video, source=label)

            clip = await state["pool"].run(video_job)
        if clip.verdict == "error":
            raise _problem(422, f"{label}: {clip.error}")
        out = clip.to_json()
        out["timeline_png"] = base64.b64encode(timeline_png(clip)).decode() if clip.frames else None
        return out

    return app


def _label(upload: UploadFile) -> str:
    """The client's file name, for messages only (base name, printable, bounded)."""
    name = Path((upload.filename or "upload").replace("\\", "/")).name or "upload"
    return "".join(c if c.isprintable() else "?" for c in name)[:120]
