"""Server-rendered JPEG thumbnails of a checked clip's frames, for the page (browsers cannot decode every codec
a clip arrives in, e.g. MPEG-4 Part 2 'mp4v', so the page must not depend on decoding the upload itself)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..apps.report import COLOURS, boxed, encoded
from ..apps.video import ClipVerdict, FrameResult, frame_image, typical_frame


@dataclass(frozen=True)
class ThumbnailConfig:
    limit: int = 6  # thumbnails per clip: the typical frame, the worst frames, then frames spread over the clip
    side: int = 240  # longest side, px
    quality: int = 80  # JPEG quality


def chosen_frames(clip: ClipVerdict, limit: int) -> list[tuple[str, FrameResult]]:
    """(role, frame) in time order: ``typical`` (the frame the clip's verdict and box come from), ``worst``
    (the lowest-scoring frames) and ``sample`` frames evenly spread over the clip, ``limit`` at most."""
    roles: dict[int, str] = {}
    typical = typical_frame(clip)
    if typical is not None:
        roles[typical.index] = "typical"
    for i in clip.worst:
        roles.setdefault(clip.frames[i].index, "worst")
    spread = np.linspace(0, len(clip.frames) - 1, max(limit, 1)).round().astype(int) if clip.frames else []
    for i in spread:
        if len(roles) >= limit:
            break
        roles.setdefault(clip.frames[int(i)].index, "sample")
    keep = set(list(roles)[:limit])
    return [(roles[f.index], f) for f in clip.frames if f.index in keep]


def clip_thumbnails(path: str | Path, clip: ClipVerdict, config: ThumbnailConfig = ThumbnailConfig()
                    ) -> list[dict[str, Any]]:
    """JSON-ready thumbnails of ``clip``'s frames read again from the video at ``path``: ``frame``, ``t``,
    ``role``, ``verdict``, ``score`` and ``jpeg`` (base64), the tracked face boxed in its verdict's colour.
    A frame that can no longer be read is left out."""
    out = []
    for role, frame in chosen_frames(clip, config.limit):
        image = frame_image(path, frame.index)
        if image is None:
            continue
        v = frame.verdict
        jpeg = encoded(boxed(image, v.box, COLOURS.get(v.verdict, "#616161"), config.side), "jpeg", config.quality)
        out.append({"frame": frame.index, "t": round(frame.time, 3), "role": role, "verdict": v.verdict,
                    "score": None if v.score is None else round(float(v.score), 4),
                    "jpeg": base64.b64encode(jpeg).decode()})
    return out


__all__ = ["ThumbnailConfig", "chosen_frames", "clip_thumbnails"]
