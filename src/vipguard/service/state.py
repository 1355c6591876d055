"""The service's shared state, in one object handed to every router: the configuration, the registry, the model
store and (while the app runs) the analyzer pool and the artefact detector; plus the registry look-ups the routes
share."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..artifact.detector import ArtifactDetector
from ..infra.registry import ReadOnlyRegistry, Registry, RegistryError, validate_name
from ..infra.weights import ModelStore
from ..lite.profile import PROFILE_CODEC
from .config import ServiceConfig, StartupError
from .errors import problem
from .uploads import UploadLimits
from .workers import AnalyzerPool

if TYPE_CHECKING:
    from ..lite.background import Background

log = logging.getLogger("vipguard.service")


class ServiceState:
    """Built by ``create_app`` (the registry and the model files checked at once: :class:`StartupError`); the pool
    exists between :meth:`lifespan`'s start and end."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.store = ModelStore(config.models)
        bad = self.store.problems()
        if bad:
            raise StartupError(f"model files missing or corrupt in {self.store.root}: {bad}; run `vipguard setup`")
        self.registry = open_registry(config.db)
        self.uploads = UploadLimits(max_bytes=config.max_file_bytes, max_pixels=config.max_pixels)
        self.key = config.api_key.encode() if config.api_key else None
        self._pool: AnalyzerPool | None = None
        self._artifact: ArtifactDetector | None = None
        self._background: Background | None = None

    @asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        """The app's lifespan: the models load at start-up into the pool, which is closed at shut-down, and the
        artefact detector, which the workers share (onnxruntime runs concurrent calls of one session)."""
        self._pool = AnalyzerPool(self.store, self.config.workers, self.config.max_queue)
        self._artifact = ArtifactDetector()
        try:
            yield
        finally:
            pool, self._pool, self._artifact = self._pool, None, None
            pool.close()

    @property
    def pool(self) -> AnalyzerPool:
        if self._pool is None:
            raise RuntimeError("the service has not started (no analyzer pool)")
        return self._pool

    @property
    def artifact(self) -> ArtifactDetector:
        """The artefact detector of every check and enrolment (the weights shipped in the package)."""
        if self._artifact is None:
            raise RuntimeError("the service has not started (no artefact detector)")
        return self._artifact

    @property
    def waiting(self) -> int:
        return 0 if self._pool is None else self._pool.waiting

    def background(self) -> Background:
        """The bundled background set (other people, forgery targets), loaded on the first enrolment (in a worker
        thread) and kept."""
        if self._background is None:
            from ..lite.background import load_background

            self._background = load_background()
        return self._background

    def known_vip(self, name: str) -> None:
        """In a thread: 422 for an invalid name, 404 for an unknown VIP, 503 (RegistryError) for a corrupt one."""
        valid_name(name)
        if name not in self.registry.names():
            raise problem(404, f"no VIP named {name!r} is enrolled")
        self.registry.get(name)

    def require_vips(self, vip: str | None) -> None:
        """In a thread: ``vip`` must be :meth:`known_vip`; without one, some VIP must be enrolled (409)."""
        if vip is not None:
            self.known_vip(vip)
        elif not self.registry.names():
            raise problem(409, "no VIP is enrolled; enrol one with POST /v1/vips/{name}")


def valid_name(name: str) -> str:
    """``name`` if it is a valid VIP name, else 422 saying why."""
    try:
        return validate_name(name)
    except ValueError as exc:
        raise problem(422, str(exc)) from None


def open_registry(db: Path | None) -> Registry:
    """The registry for writing; a read-only one is served read-only (checks work, enrol/remove answer 503)."""
    try:
        return Registry(db, codec=PROFILE_CODEC)
    except ReadOnlyRegistry as exc:
        log.warning("%s; serving it read-only", exc)
    except RegistryError as exc:
        raise StartupError(str(exc)) from None
    try:
        return Registry(db, codec=PROFILE_CODEC, readonly=True)
    except RegistryError as exc:
        raise StartupError(str(exc)) from None
