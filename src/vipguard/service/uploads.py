"""Uploads: what one really is, from its bytes (never from its file name or Content-Type), read and decoded once.

:func:`sniff` classifies bytes (the image header is read, nothing decoded). :func:`receive` turns an uploaded file
into what the checks take: a decoded :class:`~vipguard.infra.io.Photo` (its pixels decoded once, from the header
that was sniffed, after the pixel cap was checked against that header) or a :class:`VideoUpload`, which
:func:`video_file` puts in a temporary file for OpenCV. Their failures are HTTP problems naming the upload: over a
size or pixel cap 413, not an image or video 415, corrupt 422.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import UploadFile
from PIL import Image, UnidentifiedImageError

from ..infra.io import (
    IMAGE_FORMATS,
    DecodeLimits,
    InputError,
    Photo,
    decodable_formats,
    decode_opened,
    format_name,
    heif_brand,
    open_header,
    unsupported_format_reason,
)
from .errors import problem

MP4_BRANDS = {b"ftyp"}
MOV_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip"}


@dataclass(frozen=True)
class Sniffed:
    kind: str  # "image" | "video"
    suffix: str  # file suffix to store it under
    width: int = 0
    height: int = 0

    @property
    def pixels(self) -> int:
        return self.width * self.height


class Unsupported(ValueError):
    """Neither a supported image nor a supported video container."""


class Corrupt(ValueError):
    """Recognised as an image format, but its header cannot be read."""


class TooManyPixels(ValueError):
    """An image whose header declares more pixels than Pillow will even open (a decompression bomb)."""


def sniff_video(data: bytes) -> str | None:
    """The container suffix from magic bytes: MP4/MOV (ISO BMFF), AVI (RIFF), Matroska/WebM; else None. An ISO BMFF
    still image (AVIF, HEIC: the HEIF family of brands) is not a video."""
    if heif_brand(data) is not None:
        return None
    if len(data) >= 12 and data[4:8] in MP4_BRANDS:
        return ".mov" if data[8:10] == b"qt" else ".mp4"
    if len(data) >= 8 and data[4:8] in MOV_ATOMS:
        return ".mov"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return ".avi"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return ".mkv"
    return None


def sniff(data: bytes) -> Sniffed:
    """Classify ``data``; the image header is read (size known) but not decoded. Every image format that
    :func:`vipguard.infra.io.decode_image` (the CLI's decoder) opens is an image here; any other is :class:`Unsupported`,
    naming its format. Raises :class:`Unsupported`, :class:`Corrupt` or :class:`TooManyPixels`."""
    with _sniffed(data) as (kind, _):
        return kind


@contextmanager
def _sniffed(data: bytes) -> Iterator[tuple[Sniffed, Image.Image | None]]:
    """:func:`sniff`'s answer and, for an image, its opened header (pixels not yet decoded; closed on exit)."""
    if not data:
        raise Unsupported("the upload is empty")
    suffix = sniff_video(data)
    if suffix is not None:
        yield Sniffed("video", suffix), None
        return
    try:
        image = open_header(data, decodable_formats())
    except Image.DecompressionBombError as exc:
        raise TooManyPixels(str(exc)) from None
    except UnidentifiedImageError:
        raise Unsupported(_unsupported(data)) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise Corrupt(f"corrupt image header: {exc}") from None
    with image:
        width, height = image.size
        yield Sniffed("image", IMAGE_FORMATS[image.format], int(width), int(height)), image


def _unsupported(data: bytes) -> str:
    name = format_name(data)
    if name is None:
        return (f"not a supported image ({', '.join(dict.fromkeys(decodable_formats()))}) or video (MP4, MOV, AVI, "
                "MKV/WebM)")
    return unsupported_format_reason(name)


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int  # one file
    max_pixels: int  # one image


@dataclass(frozen=True)
class VideoUpload:
    name: str  # the client's file name (for messages only)
    data: bytes
    suffix: str  # the container's, from its bytes


def label(upload: UploadFile) -> str:
    """The client's file name, for messages only (base name, printable, bounded)."""
    name = Path((upload.filename or "upload").replace("\\", "/")).name or "upload"
    return "".join(c if c.isprintable() else "?" for c in name)[:120]


def check_size(upload: UploadFile, limits: UploadLimits) -> None:
    """413 from the size Starlette recorded while receiving the part, before any of it is read again."""
    if upload.size is not None and upload.size > limits.max_bytes:
        raise problem(413, f"{label(upload)} is over the {limits.max_bytes}-byte limit")


def receive(upload: UploadFile, limits: UploadLimits, allow_video: bool = True) -> Photo | VideoUpload:
    """The upload read (in a worker thread: it may be spooled to disk), sniffed and, if an image, decoded once."""
    upload.file.seek(0)
    data = upload.file.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise problem(413, f"{label(upload)} is over the {limits.max_bytes}-byte limit")
    return decode(data, label(upload), limits, allow_video)


def decode(data: bytes, name: str, limits: UploadLimits, allow_video: bool = True) -> Photo | VideoUpload:
    """``data`` as a decoded :class:`Photo` named ``name``, or a :class:`VideoUpload`; raises the HTTP problem."""
    try:
        with _sniffed(data) as (kind, header):
            if kind.kind == "video":
                if not allow_video:
                    raise problem(415, f"{name}: a video; enrolment needs photos")
                return VideoUpload(name, data, kind.suffix)
            if kind.pixels > limits.max_pixels:
                raise problem(413, f"{name}: image is {kind.width}x{kind.height}, over the limit of "
                                   f"{limits.max_pixels} pixels")
            try:
                image = decode_opened(header, name, DecodeLimits(max_pixels=limits.max_pixels,
                                                                 max_bytes=limits.max_bytes))
            except InputError as exc:
                raise problem(422, f"{name}: {exc.reason}") from None
            return Photo(name, image)
    except TooManyPixels:
        raise problem(413, f"{name}: image has too many pixels (limit {limits.max_pixels})") from None
    except Unsupported as exc:
        raise problem(415, f"{name}: {exc}") from None
    except Corrupt as exc:
        raise problem(422, f"{name}: {exc}") from None


@contextmanager
def video_file(video: VideoUpload) -> Iterator[Path]:
    """The video in a temporary file (OpenCV reads files), named by its container, never by the client; removed
    on exit."""
    with tempfile.TemporaryDirectory(prefix="vipguard-video-") as tmp:
        path = Path(tmp) / f"upload{video.suffix}"
        path.write_bytes(video.data)
        yield path
