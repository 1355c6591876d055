"""What the service is started with (:class:`ServiceConfig`), and the one error that stops it starting."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..apps.video import VideoLimits
from ..lite.enrol import EnrolConfig

MiB = 1024 * 1024
# `vipguard serve --processes N`: the options each server process builds its ServiceConfig from (JSON), set by the
# parent before uvicorn starts the processes; the API key travels as VIPGUARD_API_KEY, never in this variable
OPTIONS_ENV = "VIPGUARD_SERVE_OPTIONS"
KEY_ENV = "VIPGUARD_API_KEY"


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

    def to_environment(self) -> dict[str, str]:
        """What a server process needs to build this configuration again (:meth:`from_environment`): the
        command-line options as JSON under :data:`OPTIONS_ENV`; the key stays in :data:`KEY_ENV`. The limits and
        the enrolment settings are the defaults (``vipguard serve`` sets no others)."""
        options = {"db": None if self.db is None else str(self.db),
                   "models": None if self.models is None else str(self.models),
                   "insecure": self.insecure, "workers": self.workers, "strictness": self.strictness}
        return {OPTIONS_ENV: json.dumps(options)}

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> ServiceConfig:
        """The configuration :meth:`to_environment` wrote, with the key from :data:`KEY_ENV`; StartupError if the
        variable is missing or malformed (the process was not started by ``vipguard serve``)."""
        try:
            options = json.loads(environ[OPTIONS_ENV])
            return cls(db=None if options["db"] is None else Path(options["db"]),
                       models=None if options["models"] is None else Path(options["models"]),
                       api_key=environ.get(KEY_ENV) or None, insecure=bool(options["insecure"]),
                       workers=int(options["workers"]), strictness=options["strictness"])
        except (KeyError, TypeError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
            raise StartupError(f"{OPTIONS_ENV} is missing or malformed ({exc}); start the service with "
                               "`vipguard serve`") from None


class StartupError(RuntimeError):
    """The service cannot start (unusable registry, missing model files); the message says why, in one line."""
