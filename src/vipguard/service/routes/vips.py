"""``/v1/vips``: list, remove and enrol VIPs. Enrolment photos are decoded once, in a worker thread, and handed to
the :class:`~vipguard.lite.enrol.Enroller` as decoded photos (no temporary files)."""

from __future__ import annotations

from typing import Annotated, Optional

from fastapi import APIRouter, File, Query, UploadFile
from starlette.concurrency import run_in_threadpool

from ...infra.registry import MAX_PAGE
from .. import uploads
from ..errors import problem
from ..state import ServiceState, valid_name


def router(state: ServiceState) -> APIRouter:
    routes = APIRouter()
    registry = state.registry

    @routes.get("/v1/vips", summary="List the enrolled VIPs (a corrupt one with its `error`), all or one page")
    async def list_vips(
            offset: Annotated[int, Query(ge=0, le=MAX_PAGE, description="skip this many VIPs (name order)")] = 0,
            limit: Annotated[Optional[int], Query(ge=1, le=MAX_PAGE, description="at most this many VIPs "
                                                                                 "(default: all)")] = None) -> dict:
        if offset == 0 and limit is None:  # every row, as before paging: usable VIPs, then corrupt ones
            rows = await run_in_threadpool(registry.summary)
            return {"vips": rows, "total": len(rows), "offset": 0}
        page = await run_in_threadpool(registry.page, offset, limit)  # name order, corrupt rows in their place
        return {"vips": list(page.rows), "total": page.total, "offset": page.offset}

    @routes.delete("/v1/vips/{name}", summary="Remove an enrolled VIP",
                   responses={404: {"description": "unknown VIP"}, 422: {"description": "invalid name"},
                              503: {"description": "registry read-only or unusable"}})
    async def remove_vip(name: str) -> dict:
        valid_name(name)
        if not await run_in_threadpool(registry.remove, name):
            raise problem(404, f"no VIP named {name!r} is enrolled")
        return {"removed": name}

    @routes.post("/v1/vips/{name}", status_code=201, summary="Enrol (or re-enrol) a VIP from authentic photos",
                 responses={409: {"description": "an enrolment of this name is already running"},
                            413: {"description": "too large"}, 415: {"description": "not an image"},
                            422: {"description": "invalid name, or no usable photo"},
                            503: {"description": "busy, or registry read-only or unusable"}})
    async def enrol_vip(name: str, photos: Annotated[list[UploadFile], File(description="authentic photos")]) -> dict:
        valid_name(name)
        registry.require_writable()  # before any work (503)
        if not photos:
            raise problem(422, "no photos were sent")
        if len(photos) > state.config.max_photos:
            raise problem(413, f"{len(photos)} photos; at most {state.config.max_photos} per enrolment")
        for upload in photos:
            uploads.check_size(upload, state.uploads)
        from ...lite.enrol import EnrolError, Enroller

        def job(analyzer):
            # corrupt files are rejected here (422) rather than silently skipped by the enrolment
            received = [uploads.receive(upload, state.uploads, allow_video=False) for upload in photos]
            try:
                enroller = Enroller(analyzer, state.background(), state.config.enrol, artifact=state.artifact)
                result = enroller.enrol(name, received)
            except EnrolError as exc:
                raise problem(422, str(exc)) from None
            registry.put(result.profile)
            return result

        with registry.enrolling(name):  # a second enrolment of this name meanwhile: 409
            result = await state.pool.run(job)
        return {
            "name": name, "used": result.used, "rejected": len(result.photos) - result.used,
            "photos": [{"filename": p.path, "used": p.used, "reasons": list(p.reasons)}
                       for p in result.photos],
            "fakes": result.fakes, "others": result.others, "seconds": round(result.seconds, 2),
            "operating_point": {"similarity_floor": round(result.similarity_floor, 4),
                                "expected_genuine_accept": result.expected_genuine_accept,
                                "genuine_reject_rate": result.profile.meta["reject_rate"],
                                "identity_threshold": result.profile.meta["identity_threshold"]},
        }

    return routes
