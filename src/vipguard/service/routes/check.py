"""``POST /v1/check``: an uploaded image or video, judged by :func:`vipguard.apps.check.check_input` in a worker
thread. The upload is read, sniffed and (an image) decoded once there; a video's answer adds thumbnails of its
typical and worst frames and a score timeline."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from starlette.concurrency import run_in_threadpool

from ...apps.check import CheckOptions, check_or_fail
from ...apps.video import timeline_png
from ...lite.guard import Guard, GuardConfig, judged_without
from .. import uploads
from ..errors import problem
from ..state import ServiceState


def router(state: ServiceState) -> APIRouter:
    routes = APIRouter()
    config = state.config

    @routes.post("/v1/check", summary="Check an image or a video: genuine VIP, forgery of the VIP, or a different "
                                      "person",
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
            raise problem(422, f"strictness: {exc}") from None
        await run_in_threadpool(state.require_vips, vip)
        uploads.check_size(file, state.uploads)
        options = CheckOptions(vip=vip, fps=config.video_fps, limits=config.video)

        def job(analyzer) -> dict:
            received = uploads.receive(file, state.uploads)
            guard = Guard(state.registry, analyzer, guard_config, artifact=state.artifact)
            if isinstance(received, uploads.VideoUpload):
                out = _clip_answer(guard, received, options)
            else:
                out = check_or_fail(guard, received, options).verdict.to_json()
                out["image_size"] = [int(received.image.shape[1]), int(received.image.shape[0])]
            faults = judged_without(state.registry, guard_config, vip)  # never every profile of many
            if faults:  # judged without them: say so
                out["registry_problems"] = [str(f) for f in faults]
            return out

        return await state.pool.run(job)

    return routes


def _clip_answer(guard: Guard, video: uploads.VideoUpload, options: CheckOptions) -> dict:
    """The clip's verdict with thumbnails and timeline; an unreadable clip is 422 naming the upload."""
    from ..thumbnails import clip_thumbnails

    with uploads.video_file(video) as path:
        clip = check_or_fail(guard, path, options, name=video.name).verdict
        if clip.verdict == "error":
            raise problem(422, f"{video.name}: {clip.error}")
        thumbnails = clip_thumbnails(path, clip)  # frames read again from the upload, while it exists
    out = clip.to_json()
    out["thumbnails"] = thumbnails
    out["timeline_png"] = base64.b64encode(timeline_png(clip)).decode() if clip.frames else None
    return out
