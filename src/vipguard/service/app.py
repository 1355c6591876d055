"""The HTTP service: ``create_app(ServiceConfig(...))`` → a FastAPI app.

``create_app`` checks the registry and the model files at once (:class:`StartupError`, one line); the models load
at start-up (lifespan) into an :class:`~vipguard.service.workers.AnalyzerPool`. Every ``/v1`` request needs
``Authorization: Bearer <key>`` (compared in constant time), checked from the headers before any of the body is
read. Sniffing, decoding and model work run in worker threads, each with its own borrowed analyzer, behind a
bounded queue (503 + ``Retry-After`` when it is full), so the event loop stays responsive; registry reads run in
threads too. Uploads are capped in bytes (whole request and each file) and pixels (413, from the image header, before
any decoding), their type is sniffed from the bytes (415), names are validated (422). A registry fault (corrupt,
read-only, locked, replaced while serving) is a 503 naming the file and the problem; a corrupt VIP row is reported
next to the other VIPs, which stay usable; a second enrolment of a name being enrolled is a 409. Every error is a
JSON body ``{"detail": ...}`` and no traceback. Every response carries security headers
(:mod:`vipguard.service.headers`: nosniff, no framing, a Content-Security-Policy; the page's script and styles are
served files, never inline). The API docs, Swagger UI at ``/docs`` and ReDoc at ``/redoc``, are served offline from
local files with a CSP of their own (:mod:`vipguard.service.docs_assets`); a video's check answer carries
server-rendered JPEG thumbnails of its typical and worst frames (:mod:`vipguard.service.thumbnails`).
"""

from __future__ import annotations

import base64
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
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..apps.video import VideoLimits
from ..infra.io import DecodeLimits, InputError, decode_image
from ..infra.registry import EnrolmentInProgress, ReadOnlyRegistry, Registry, RegistryError, validate_name
from ..lite.enrol import EnrolConfig
from ..lite.guard import Guard, GuardConfig
from .docs_assets import DocsPaths, docs_router
from .headers import HeaderPolicy, SecurityHeaders
from .middleware import UNAUTHORISED, BodyLimit, RequireKey, key_matches
from .uploads import Corrupt, TooManyPixels, Unsupported, sniff
from .workers import AnalyzerPool, PoolBusy

log = logging.getLogger("vipguard.service")
MiB = 1024 * 1024


@dataclass(frozen=True)
class ServiceConfig:
    db: Path | None = None  # registry file (default: $VIPGUARD_HOME/registry.db)
    models: Path | None = None  # model folder (default: $VIPGUARD_HOME/models)
    api_key: str | None = None  # None: no authentication (only with insecure=True)
    insecure: bool = False
    workers: int = 1  # analyzers (threads doing CPU work at once)
    max_queue: int = 64  # requests waiting for an analyzer; one more gets 503 + Retry-After
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


class StartupError(RuntimeError):
    """The service cannot start (unusable registry, missing model files); the message says why, in one line."""


def _problem(status: int, detail: str) -> HTTPException:
    return HTTPException(status_code=status, detail=detail)


STATIC_TYPES = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}


def _static_text(name: str) -> str:
    return resources.files("vipguard.service").joinpath(f"static/{name}").read_text(encoding="utf-8")


def create_app(config: ServiceConfig) -> FastAPI:
    """The service app; the registry and the model files are checked now (:class:`StartupError`), the models load
    when the app starts (``with TestClient(app)`` or uvicorn)."""
    from ..infra.weights import ModelStore

    store = ModelStore(config.models)
    bad = {k: v for k, v in store.status().items() if v != "ok"}
    if bad:
        raise StartupError(f"model files missing or corrupt in {store.root}: {bad}; run `vipguard setup`")
    registry = _open_registry(config.db)
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state["pool"] = AnalyzerPool(store, config.workers, config.max_queue)
        state["background"] = None
        try:
            yield
        finally:
            state.pop("pool").close()

    docs = DocsPaths()
    app = FastAPI(
        title="vipguard", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,  # the CDN pages: off
        description="Identity-aware deepfake detection for protected people (VIPs): enrol a VIP from authentic "
                    "photos, then check images and videos. All /v1 endpoints need `Authorization: Bearer <key>`.",
    )
    expected = config.api_key.encode() if config.api_key else None
    app.add_middleware(BodyLimit, limit=config.max_request_bytes)
    app.add_middleware(RequireKey, expected=expected)  # outside the body limit: no key, no word on sizes
    # outermost: on 401s/413s too; the docs pages carry their own CSP (docs_assets.DOCS_CSP), and Swagger's OAuth2
    # redirect page runs an inline script, so none of the three gets the data policy
    app.add_middleware(SecurityHeaders, policy=HeaderPolicy(exempt_paths=docs.pages))
    app.include_router(docs_router(app.title, docs))  # Swagger UI and ReDoc from local files (offline)
    bearer = HTTPBearer(auto_error=False, description="the service's API key (VIPGUARD_API_KEY)")

    def authorised(request: Request, _: Any = Depends(bearer)) -> None:  # noqa: B008 - documents the scheme
        if expected is not None and not key_matches(request.headers.get("authorization"), expected):
            raise HTTPException(401, UNAUTHORISED, headers={"WWW-Authenticate": "Bearer"})  # RequireKey did first

    Auth = Depends(authorised)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()]
        return JSONResponse({"detail": "invalid request: " + "; ".join(problems)}, status_code=422)

    @app.exception_handler(PoolBusy)
    async def busy(request: Request, exc: PoolBusy) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(RegistryError)
    async def registry_fault(request: Request, exc: RegistryError) -> JSONResponse:
        status = 409 if isinstance(exc, EnrolmentInProgress) else 503
        log.warning("%s %s: %s", request.method, request.url.path, exc)  # one line: the file and the problem
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:  # a bug, not bad input: no traceback out
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    def valid_name(name: str) -> str:
        try:
            return validate_name(name)
        except ValueError as exc:
            raise _problem(422, str(exc)) from None

    def known_vip(name: str) -> None:
        """In a thread: 422 for an invalid name, 404 for an unknown VIP, 503 (RegistryError) for a corrupt one."""
        valid_name(name)
        if name not in registry.names():
            raise _problem(404, f"no VIP named {name!r} is enrolled")
        registry.get(name)

    def require_vips(vip: str | None) -> None:
        if vip is not None:
            known_vip(vip)
        elif not registry.names():
            raise _problem(409, "no VIP is enrolled; enrol one with POST /v1/vips/{name}")

    def size_check(upload: UploadFile) -> None:
        """413 from the size Starlette recorded while receiving the part, before any of it is read again."""
        if upload.size is not None and upload.size > config.max_file_bytes:
            raise _problem(413, f"{_label(upload)} is over the {config.max_file_bytes}-byte limit")

    def read_upload(upload: UploadFile) -> bytes:  # in a worker thread
        upload.file.seek(0)
        data = upload.file.read(config.max_file_bytes + 1)
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
        pool = state.get("pool")
        return {"status": "ok", "workers": config.workers, "waiting": pool.waiting if pool else 0,
                "writable": not registry.readonly}

    @app.get("/v1/vips", dependencies=[Auth], summary="List the enrolled VIPs (a corrupt one with its `error`)")
    async def list_vips() -> dict:
        return {"vips": await run_in_threadpool(registry.summary)}

    @app.delete("/v1/vips/{name}", dependencies=[Auth], summary="Remove an enrolled VIP",
                responses={404: {"description": "unknown VIP"}, 422: {"description": "invalid name"},
                           503: {"description": "registry read-only or unusable"}})
    async def remove_vip(name: str) -> dict:
        valid_name(name)
        if not await run_in_threadpool(registry.remove, name):
            raise _problem(404, f"no VIP named {name!r} is enrolled")
        return {"removed": name}

    @app.post("/v1/vips/{name}", dependencies=[Auth], status_code=201,
              summary="Enrol (or re-enrol) a VIP from authentic photos",
              responses={409: {"description": "an enrolment of this name is already running"},
                         413: {"description": "too large"}, 415: {"description": "not an image"},
                         422: {"description": "invalid name, or no usable photo"},
                         503: {"description": "busy, or registry read-only or unusable"}})
    async def enrol_vip(name: str, photos: Annotated[list[UploadFile], File(description="authentic photos")]) -> dict:
        valid_name(name)
        registry.require_writable()  # before any work (503)
        if not photos:
            raise _problem(422, "no photos were sent")
        if len(photos) > config.max_photos:
            raise _problem(413, f"{len(photos)} photos; at most {config.max_photos} per enrolment")
        for upload in photos:
            size_check(upload)
        from ..lite.background import load_background
        from ..lite.enrol import EnrolError, Enroller

        def job(analyzer):
            with tempfile.TemporaryDirectory(prefix="vipguard-enrol-") as tmp:
                paths, labels = [], {}
                for i, upload in enumerate(photos):
                    data, label = read_upload(upload), _label(upload)
                    kind = check_image_header(data, label, allow_video=False)
                    decode(data, label)  # corrupt files are rejected here (422) rather than silently skipped
                    path = Path(tmp) / f"photo_{i:03d}{kind.suffix}"  # never the client's file name
                    path.write_bytes(data)
                    paths.append(path)
                    labels[str(path)] = label
                if state["background"] is None:
                    state["background"] = load_background()
                try:
                    result = Enroller(analyzer, state["background"], config.enrol).enrol(name, paths)
                except EnrolError as exc:
                    raise _problem(422, str(exc)) from None
                registry.put(result.profile)
                return result, labels

        with registry.enrolling(name):  # a second enrolment of this name meanwhile: 409
            result, labels = await state["pool"].run(job)
        return {
            "name": name, "used": result.used, "rejected": len(result.photos) - result.used,
            "photos": [{"filename": labels.get(p.path, Path(p.path).name), "used": p.used, "reasons": list(p.reasons)}
                       for p in result.photos],
            "fakes": result.fakes, "others": result.others, "seconds": round(result.seconds, 2),
            "operating_point": {"similarity_floor": round(result.similarity_floor, 4),
                                "expected_genuine_accept": result.expected_genuine_accept,
                                "genuine_reject_rate": result.profile.meta["reject_rate"],
                                "identity_threshold": result.profile.meta["identity_threshold"]},
        }

    @app.post("/v1/check", dependencies=[Auth],
              summary="Check an image or a video: genuine VIP, forgery of the VIP, or a different person",
              responses={404: {"description": "unknown VIP"}, 409: {"description": "no VIP enrolled"},
                         413: {"description": "too large"}, 415: {"description": "not an image or video"},
                         422: {"description": "invalid VIP name, or a corrupt file"},
                         503: {"description": "busy (see Retry-After), or registry unusable"}})
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
        await run_in_threadpool(require_vips, vip)
        size_check(file)
        label = _label(file)

        def job(analyzer) -> dict:
            data = read_upload(file)
            kind = check_image_header(data, label, allow_video=True)
            guard = Guard(registry, analyzer, guard_config)
            if kind.kind == "image":
                image = decode(data, label)
                out = guard.check(image, vip=vip, source=label).to_json()
                out["image_size"] = [int(image.shape[1]), int(image.shape[0])]
            else:
                out = check_video_upload(guard, data, kind.suffix, label)
            faults = [] if vip is not None else registry.load().faults
            if faults:  # judged without them: say so
                out["registry_problems"] = [str(f) for f in faults]
            return out

        def check_video_upload(guard: Guard, data: bytes, suffix: str, label: str) -> dict:
            from ..apps.video import check_video, timeline_png
            from .thumbnails import clip_thumbnails

            with tempfile.TemporaryDirectory(prefix="vipguard-video-") as tmp:
                path = Path(tmp) / f"upload{suffix}"
                path.write_bytes(data)
                clip = check_video(guard, path, vip=vip, fps=config.video_fps, limits=config.video, source=label)
                if clip.verdict == "error":
                    raise _problem(422, f"{label}: {clip.error}")
                thumbnails = clip_thumbnails(path, clip)  # frames read again from the upload, while it exists
            out = clip.to_json()
            out["thumbnails"] = thumbnails
            out["timeline_png"] = base64.b64encode(timeline_png(clip)).decode() if clip.frames else None
            return out

        return await state["pool"].run(job)

    return app


def _open_registry(db: Path | None) -> Registry:
    """The registry for writing; a read-only one is served read-only (checks work, enrol/remove answer 503)."""
    try:
        return Registry(db)
    except ReadOnlyRegistry as exc:
        log.warning("%s; serving it read-only", exc)
    except RegistryError as exc:
        raise StartupError(str(exc)) from None
    try:
        return Registry(db, readonly=True)
    except RegistryError as exc:
        raise StartupError(str(exc)) from None


def _label(upload: UploadFile) -> str:
    """The client's file name, for messages only (base name, printable, bounded)."""
    name = Path((upload.filename or "upload").replace("\\", "/")).name or "upload"
    return "".join(c if c.isprintable() else "?" for c in name)[:120]
