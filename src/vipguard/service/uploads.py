"""What an upload really is, from its bytes (never from its file name or Content-Type)."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from ..infra.io import IMAGE_FORMATS, decodable_formats, format_name, heif_brand, open_header, unsupported_format_reason

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
    if not data:
        raise Unsupported("the upload is empty")
    suffix = sniff_video(data)
    if suffix is not None:
        return Sniffed("video", suffix)
    try:
        with open_header(data, decodable_formats()) as image:
            fmt, (width, height) = image.format, image.size
    except Image.DecompressionBombError as exc:
        raise TooManyPixels(str(exc)) from None
    except UnidentifiedImageError:
        raise Unsupported(_unsupported(data)) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise Corrupt(f"corrupt image header: {exc}") from None
    return Sniffed("image", IMAGE_FORMATS[fmt], int(width), int(height))


def _unsupported(data: bytes) -> str:
    name = format_name(data)
    if name is None:
        return (f"not a supported image ({', '.join(dict.fromkeys(decodable_formats()))}) or video (MP4, MOV, AVI, "
                "MKV/WebM)")
    return unsupported_format_reason(name)
