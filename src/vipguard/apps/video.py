"""Videos: sample frames, track the face, judge each frame with the Guard, and give one verdict for the clip.

Frames are decoded with OpenCV at ``fps`` samples per second. The face is tracked from frame to frame: the first
frame where a face claims a VIP fixes the clip's VIP (unless one was given) and the face box; later frames keep the
face nearest the previous box (with several faces, the frame is cropped around that face before judging). The clip
verdict is robust to a few bad frames: the median score of the frames that show a face decides genuine or not (as
for one image), the majority of the other frames' verdicts tells a forgery from a different person, and the worst
frames are listed. A score timeline (PNG, matplotlib Agg) can be embedded in an HTML report (:func:`timeline_png`,
:func:`clip_html`).
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..infra.io import InputError, regular_file_size
from ..lite.decision import ACCEPT
from ..lite.guard import Guard, Verdict

DEFAULT_FPS = 2.0


@dataclass(frozen=True)
class VideoLimits:
    max_frames: int = 240  # sampled frames judged at most (the rest of a long clip is not read)
    max_pixels: int = 8_000_000  # per frame
    max_seconds: float = 3600.0


@dataclass(frozen=True)
class FrameResult:
    index: int  # frame number in the clip
    time: float  # seconds
    verdict: Verdict

    def to_json(self) -> dict[str, Any]:
        v = self.verdict
        return {"frame": self.index, "t": round(self.time, 3), "verdict": v.verdict,
                "score": None if v.score is None else round(float(v.score), 6), "face_similarity": v.face_similarity,
                "vip": v.vip, "box": None if v.box is None else [round(float(x), 1) for x in v.box]}


@dataclass(frozen=True)
class ClipVerdict(Verdict):
    """A :class:`Verdict` for a whole clip (same JSON contract) plus the per-frame results."""

    frames: tuple[FrameResult, ...] = ()
    worst: tuple[int, ...] = ()  # positions in ``frames`` of the lowest-scoring frames
    fps: float = DEFAULT_FPS
    duration: float | None = None

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["frames"] = [f.to_json() for f in self.frames]
        out["worst_frames"] = [self.frames[i].index for i in self.worst]
        out["sample_fps"] = self.fps
        out["duration"] = None if self.duration is None else round(self.duration, 3)
        return out

    @classmethod
    def failed(cls, path: str, message: str) -> ClipVerdict:
        return cls(path, None, "error", None, 0, f"Could not check this video: {message}", message)


class VideoError(InputError):
    """A video that cannot be read: one of the project's input errors (``source``, ``reason``)."""


def sample_frames(path: str | Path, fps: float = DEFAULT_FPS, limits: VideoLimits = VideoLimits()
                  ) -> Iterator[tuple[int, float, np.ndarray]]:
    """(frame index, time in s, RGB frame) at about ``fps`` per second; :class:`VideoError` if unreadable."""
    source = str(path)
    if fps <= 0 or not math.isfinite(fps):
        raise ValueError(f"fps must be positive, not {fps}")
    _require_regular(path, source)
    cap = _open_capture(source)
    try:
        if not cap.isOpened():
            raise VideoError(source, "not a readable video (corrupt file or unsupported container/codec)")
        native = cap.get(cv2.CAP_PROP_FPS)
        native = native if math.isfinite(native) and 0.1 <= native <= 1000 else 25.0
        width, height = cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)
        if width * height > limits.max_pixels:
            raise VideoError(source, f"frames are {int(width)}x{int(height)}, over the limit of "
                                     f"{limits.max_pixels} pixels")
        step = max(1.0, native / fps)
        index, next_pick, sampled = 0, 0.0, 0
        while sampled < limits.max_frames and index / native <= limits.max_seconds:
            if not cap.grab():
                break
            if index + 1e-6 >= next_pick:
                ok, frame = cap.retrieve()
                if ok and frame is not None and frame.ndim == 3:
                    if frame.shape[0] * frame.shape[1] > limits.max_pixels:
                        raise VideoError(source, f"a frame is over the limit of {limits.max_pixels} pixels")
                    yield index, index / native, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                    sampled += 1
                next_pick += step
            index += 1
        if sampled == 0:
            raise VideoError(source, "no frame could be decoded (corrupt, empty or unsupported video)")
    finally:
        cap.release()


def _open_capture(source: str) -> cv2.VideoCapture:
    """``cv2.VideoCapture(source)`` without FFmpeg's and OpenCV's own log lines on stderr ("moov atom not found",
    "Could not find decoder", sometimes with raw bytes of the file): a bad video is reported once, by our error.

    Both are switched off here, when a video is opened, never at import; each is process-wide. OpenCV reads
    ``OPENCV_FFMPEG_LOGLEVEL`` when it first initialises FFmpeg and ``OPENCV_LOG_LEVEL`` at import, so a level the
    user set in either variable is kept (e.g. ``OPENCV_FFMPEG_LOGLEVEL=16`` to see FFmpeg's errors)."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    if "OPENCV_LOG_LEVEL" not in os.environ:
        cv2.setLogLevel(0)  # cv::utils::logging::LOG_LEVEL_SILENT; a failure is our VideoError, not a log line
    return cv2.VideoCapture(source)


def _require_regular(path: str | Path, source: str) -> None:
    """A :class:`VideoError` unless ``path`` is a regular file (OpenCV would block on a FIFO or read a device)."""
    try:
        regular_file_size(path)
    except InputError as exc:
        raise VideoError(source, exc.reason) from None


def _centre_distance(a: Sequence[float], b: Sequence[float]) -> float:
    ax, ay = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
    bx, by = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    return math.hypot(ax - bx, ay - by)


def _crop_around(image: np.ndarray, box: Sequence[float], margin: float = 0.8) -> tuple[np.ndarray, float, float]:
    """The region around ``box`` (``margin`` × its size on each side) and its top-left offset."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    left, top = max(0, int(x1 - margin * w)), max(0, int(y1 - margin * h))
    right = min(image.shape[1], int(math.ceil(x2 + margin * w)))
    bottom = min(image.shape[0], int(math.ceil(y2 + margin * h)))
    return np.ascontiguousarray(image[top:bottom, left:right]), float(left), float(top)


class FaceTracker:
    """Judges frames one by one, following one face (the one nearest the previous box)."""

    def __init__(self, guard: Guard, vip: str | None = None, judge: Callable[..., Verdict] | None = None) -> None:
        self.guard = guard
        self.vip = vip
        self.check = guard.check if judge is None else judge  # judge(image, vip=, source=): e.g. the MLLM tier
        self.box: tuple[float, ...] | None = None

    def judge(self, frame: np.ndarray, source: str) -> Verdict:
        detections = self.guard.analyzer.detector.detect(frame) if self.box is not None else None
        if detections is not None and len(detections) > 1:
            tracked = min(detections, key=lambda d: _centre_distance(d.box, self.box))
            crop, dx, dy = _crop_around(frame, tracked.box)
            verdict = self.check(crop, vip=self.vip, source=source)
            if verdict.box is not None:
                b = verdict.box
                verdict = replace(verdict, box=(b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy, *b[4:]),
                                  faces=len(detections))
        else:
            verdict = self.check(frame, vip=self.vip, source=source)
        if verdict.box is not None:
            self.box = tuple(verdict.box[:4])
        if self.vip is None and verdict.vip is not None and verdict.verdict != "error":
            self.vip = verdict.vip  # the clip's VIP is fixed by the first face that claims one
        return verdict


def _clip_verdict(verdicts: Sequence[str], score: float, threshold: float) -> str:
    """Genuine when the median score passes the threshold (as for one image); otherwise the majority of the
    frames' non-genuine verdicts, a tie going to ``fake``."""
    if score >= threshold:
        return "genuine"
    counts = Counter(v for v in verdicts if v != "genuine")
    if not counts:
        return "fake"
    return "fake" if counts["fake"] >= counts["different_person"] else "different_person"


def aggregate(path: str, frames: Sequence[FrameResult], fps: float, duration: float | None,
              n_worst: int = 3, threshold: float = ACCEPT) -> ClipVerdict:
    """The clip verdict from per-frame results: median score and similarity; genuine when the median score
    passes ``threshold``, else the majority non-genuine verdict of the frames."""
    faced = [f for f in frames if f.verdict.verdict in {"genuine", "fake", "different_person"}]
    if not faced:
        errors = [f.verdict.error for f in frames if f.verdict.error]
        if errors and len(errors) == len(frames):
            return replace(ClipVerdict.failed(path, errors[0]), frames=tuple(frames), fps=fps, duration=duration)
        return ClipVerdict(path, None, "no_face", None, 0,
                           f"No face was found in any of the {len(frames)} sampled frames.",
                           frames=tuple(frames), fps=fps, duration=duration)
    scores = np.array([f.verdict.score for f in faced], dtype=np.float64)
    score = float(np.median(scores))
    verdict = _clip_verdict([f.verdict.verdict for f in faced], score, threshold)
    similarity = int(round(float(np.median([f.verdict.face_similarity for f in faced]))))
    agreeing = [f for f in faced if f.verdict.verdict == verdict] or faced
    rep = min(agreeing, key=lambda f: abs(float(f.verdict.score) - score))  # the most typical frame
    vip = rep.verdict.vip
    order = sorted(range(len(frames)), key=lambda i: (frames[i].verdict.score is None,
                                                       frames[i].verdict.score or 0.0))
    worst = tuple(i for i in order if frames[i].verdict.score is not None)[:n_worst]
    counts = Counter(f.verdict.verdict for f in frames)
    summary = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in counts.most_common())
    worst_frame = frames[worst[0]] if worst else rep
    explanation = (
        f"Video: {len(frames)} frames sampled at {fps:g}/s ({summary}); median score {score:.2f}. "
        f"Typical frame (t={rep.time:.1f} s): {rep.verdict.explanation}"
    )
    if worst and worst_frame is not rep and worst_frame.verdict.verdict != verdict:
        explanation += (f" Lowest-scoring frame (t={worst_frame.time:.1f} s, {worst_frame.verdict.verdict}, "
                        f"score {worst_frame.verdict.score:.2f}).")
    keys = rep.verdict.evidence.keys()
    evidence = {k: float(np.median([f.verdict.evidence[k] for f in faced if k in f.verdict.evidence])) for k in keys}
    return ClipVerdict(
        path=path, vip=vip, verdict=verdict, score=score, face_similarity=similarity, explanation=explanation,
        error=None, box=rep.verdict.box, faces=max(f.verdict.faces for f in faced), evidence=evidence,
        typical=dict(rep.verdict.typical), frames=tuple(frames), worst=worst, fps=fps, duration=duration,
    )


def check_video(guard: Guard, path: str | Path, vip: str | None = None, fps: float = DEFAULT_FPS,
                limits: VideoLimits = VideoLimits(), source: str | None = None,
                judge: Callable[..., Verdict] | None = None) -> ClipVerdict:
    """Check a video file; an unreadable clip or an unknown VIP gives an ``error`` verdict, never an exception.
    ``judge`` scores each sampled frame (default ``guard.check``; the MLLM tier passes its own)."""
    source = str(path) if source is None else source
    try:
        return judge_clip(guard, path, vip, fps, limits, source, judge)
    except VideoError as exc:
        return ClipVerdict.failed(source, exc.reason)


def judge_clip(guard: Guard, path: str | Path, vip: str | None = None, fps: float = DEFAULT_FPS,
               limits: VideoLimits = VideoLimits(), source: str | None = None,
               judge: Callable[..., Verdict] | None = None) -> ClipVerdict:
    """:func:`check_video`, raising :class:`VideoError` when not one frame of the clip can be read (a clip that
    breaks off later is judged on the frames before); an unknown VIP is an ``error`` verdict."""
    source = str(path) if source is None else source
    if vip is not None and vip not in guard.registry.names():
        return ClipVerdict.failed(source, f"no VIP named {vip!r} is enrolled")
    tracker = FaceTracker(guard, vip, judge)
    frames: list[FrameResult] = []
    last_time = None
    try:
        for index, t, frame in sample_frames(path, fps, limits):
            frames.append(FrameResult(index, t, tracker.judge(frame, f"{source}#t={t:.2f}")))
            last_time = t
    except VideoError:
        if not frames:
            raise
    return aggregate(source, frames, fps, last_time, threshold=ACCEPT)


def frame_image(path: str | Path, index: int) -> np.ndarray | None:
    """Frame ``index`` of a clip as RGB, or None if it cannot be read."""
    try:
        regular_file_size(path)
    except InputError:
        return None  # documented: None for a clip that cannot be read (here: no longer a regular file)
    cap = _open_capture(str(path))
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
    finally:
        cap.release()
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if ok and frame is not None else None


def typical_frame(clip: ClipVerdict) -> FrameResult | None:
    """The frame the clip verdict's box and explanation come from."""
    return next((f for f in clip.frames if clip.box is not None and f.verdict.box == clip.box), None)


def clip_frame(path: str | Path, clip: ClipVerdict) -> np.ndarray | None:
    """The image of the clip's typical frame (for reports, where the clip's box is drawn), or None."""
    frame = typical_frame(clip)
    return None if frame is None else frame_image(path, frame.index)


def timeline_png(clip: ClipVerdict, threshold: float = ACCEPT, width: float = 6.0, height: float = 2.2) -> bytes:
    """A PNG of the per-frame score over time (matplotlib, Agg; no global pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    colours = {"genuine": "#1b873f", "fake": "#c62828", "different_person": "#ef6c00"}
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    scored = [f for f in clip.frames if f.verdict.score is not None]
    if scored:
        ts = [f.time for f in scored]
        ax.plot(ts, [f.verdict.score for f in scored], color="#5c6bc0", lw=1.2, zorder=1)
        ax.scatter(ts, [f.verdict.score for f in scored], s=18, zorder=2,
                   c=[colours.get(f.verdict.verdict, "#616161") for f in scored])
    empty = [f.time for f in clip.frames if f.verdict.score is None]
    if empty:
        ax.scatter(empty, [0.0] * len(empty), marker="x", s=18, color="#616161", label="no face")
        ax.legend(loc="lower right", fontsize=7)
    ax.axhline(threshold, color="#222", lw=0.8, ls="--")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("time (s)", fontsize=8)
    ax.set_ylabel("score", fontsize=8)
    ax.set_title(f"{Path(clip.path).name}: {clip.verdict.replace('_', ' ')}", fontsize=9)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def clip_html(clip: ClipVerdict) -> str:
    """An HTML fragment (timeline image + frame table) for embedding a clip in a report."""
    uri = "data:image/png;base64," + base64.b64encode(timeline_png(clip)).decode()
    rows = "".join(
        f"<tr><td>{f.time:.1f}</td><td>{html.escape(f.verdict.verdict)}</td>"
        f"<td>{'–' if f.verdict.score is None else f'{f.verdict.score:.3f}'}</td></tr>" for f in clip.frames
    )
    return (f'<div class="clip"><img src="{uri}" alt="score timeline"><table><tr><th>t (s)</th><th>verdict</th>'
            f"<th>score</th></tr>{rows}</table></div>")


__all__ = ["ClipVerdict", "DEFAULT_FPS", "FaceTracker", "FrameResult", "VideoError", "VideoLimits", "aggregate",
           "check_video", "clip_frame", "clip_html", "frame_image", "judge_clip", "sample_frames",
           "timeline_png", "typical_frame"]
