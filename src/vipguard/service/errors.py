"""Every error the service answers is a JSON body ``{"detail": ...}``, never a traceback: :func:`problem` makes one,
:func:`install_handlers` maps the exceptions that reach the app (HTTP errors, invalid requests, a full queue, a
registry fault, a bug) to their status codes."""

from __future__ import annotations

import logging

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..infra.registry import EnrolmentInProgress, RegistryError
from .workers import PoolBusy

log = logging.getLogger("vipguard.service")


def problem(status: int, detail: str) -> HTTPException:
    return HTTPException(status_code=status, detail=detail)


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()]
    return JSONResponse({"detail": "invalid request: " + "; ".join(problems)}, status_code=422)


async def busy(request: Request, exc: PoolBusy) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": str(exc.retry_after)})


async def registry_fault(request: Request, exc: RegistryError) -> JSONResponse:
    """503 naming the file and the problem (a second enrolment of a name being enrolled: 409)."""
    status = 409 if isinstance(exc, EnrolmentInProgress) else 503
    log.warning("%s %s: %s", request.method, request.url.path, exc)  # one line: the file and the problem
    return JSONResponse({"detail": str(exc)}, status_code=status)


async def crashed(request: Request, exc: Exception) -> JSONResponse:
    """A bug, not bad input: logged here with its traceback, answered with a bare 500."""
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "internal error"}, status_code=500)


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(PoolBusy, busy)
    app.add_exception_handler(RegistryError, registry_fault)
    app.add_exception_handler(Exception, crashed)
