"""One check of one input, image or video, for every front end (the CLI, batch scans, the service, the API).

:func:`check_input` takes the Guard (plus, optionally, another ``judge`` of single images, such as the MLLM tier's:
see :mod:`vipguard.apps.video`) and a source: an image or video file (told apart by suffix), or a :class:`Photo`
already decoded (the service decodes each upload once, while sniffing it). It returns the image's
:class:`~vipguard.lite.guard.Verdict` or the clip's :class:`~vipguard.apps.video.ClipVerdict`, and raises the
project's input errors for an input that cannot be read: :class:`~vipguard.infra.io.InputError` for an image,
its subclass :class:`~vipguard.apps.video.VideoError` for a clip. A verdict that is an ``error`` (an unknown VIP)
is returned, not raised. :func:`check_or_fail` turns the input errors into ``error`` verdicts of the right kind,
for the front ends whose contract is one verdict per input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..infra.io import InputError, Photo, is_video, load_image
from ..lite.guard import Guard, Verdict
from .video import DEFAULT_FPS, ClipVerdict, VideoError, VideoLimits, clip_frame, judge_clip

Source = str | Path | Photo
Judge = Callable[..., Verdict]  # judge(image, vip=, source=) -> Verdict, e.g. Guard.check


@dataclass(frozen=True)
class CheckOptions:
    vip: str | None = None  # judge against this VIP (None: the nearest enrolled one)
    fps: float = DEFAULT_FPS  # videos: frames sampled per second
    limits: VideoLimits = VideoLimits()  # videos: frames, pixels and seconds read at most
    frame: bool = False  # videos: also read the typical frame back (for reports); images: their pixels, always


@dataclass(frozen=True, eq=False)
class Checked:
    verdict: Verdict  # a ClipVerdict for a video
    image: np.ndarray | None = None  # the decoded image, or the clip's typical frame (CheckOptions.frame)


def source_name(source: Source, name: str | None = None) -> str:
    """The name a source goes by in verdicts and messages: ``name`` if given, else the photo's name or the path."""
    if name is not None:
        return name
    return source.name if isinstance(source, Photo) else str(source)


def check_input(guard: Guard, source: Source, options: CheckOptions = CheckOptions(), *,
                judge: Judge | None = None, name: str | None = None) -> Checked:
    """The verdict on ``source`` (see the module's doc); ``judge`` scores each image or sampled frame (default
    ``guard.check``), ``name`` replaces the source's own name in the verdict (a temporary file's, for instance).
    Raises :class:`InputError` (:class:`VideoError` for a clip) when the input cannot be read."""
    label = source_name(source, name)
    if not isinstance(source, Photo) and is_video(source):
        clip = judge_clip(guard, source, options.vip, options.fps, options.limits, label, judge)
        return Checked(clip, clip_frame(source, clip) if options.frame else None)
    image = source.image if isinstance(source, Photo) else load_image(source)
    return Checked((judge or guard.check)(image, vip=options.vip, source=label), image)


def check_or_fail(guard: Guard, source: Source, options: CheckOptions = CheckOptions(), *,
                  judge: Judge | None = None, name: str | None = None) -> Checked:
    """:func:`check_input`, with an input that cannot be read as an ``error`` verdict naming it (a clip's as a
    :class:`ClipVerdict`): one verdict per input, never an exception for bad input."""
    try:
        return check_input(guard, source, options, judge=judge, name=name)
    except VideoError as exc:
        return Checked(ClipVerdict.failed(source_name(source, name), exc.reason))
    except InputError as exc:
        return Checked(Verdict.failed(source_name(source, name), exc.reason))


__all__ = ["CheckOptions", "Checked", "Judge", "Source", "check_input", "check_or_fail", "source_name"]
