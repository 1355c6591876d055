"""What the service is started with (:class:`ServiceConfig`), and the one error that stops it starting."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..apps.video import VideoLimits
from ..lite.enrol import EnrolConfig

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
