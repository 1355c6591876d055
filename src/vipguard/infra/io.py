"""Safe image decoding: every input becomes an RGB ``uint8`` array or an :class:`InputError` naming the problem.

Handles EXIF orientation, grey / palette / CMYK / alpha / 16-bit / float modes, truncated and corrupt files, files
that are not images, paths that are not regular files (folders, FIFOs, sockets, devices: refused before anything is
opened, so nothing blocks), and decompression bombs (the pixel count is checked from the header before decoding).
"""

from __future__ import annotations

import io
import os
import stat
import threading
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError, features

DEFAULT_MAX_PIXELS = 40_000_000
# ``warnings.catch_warnings`` swaps the process-wide filters: two threads doing it at once can leave them wrong.
# Header parses (fast) take this lock, so the service's worker threads can decode at the same time.
_HEADER_LOCK = threading.Lock()
# The image formats vipguard decodes (Pillow's name → the suffix to store one under), for the CLI and the service
# alike; Pillow's other formats (EPS through Ghostscript, PSD, FITS, ...) are refused, naming the format. AVIF needs
# a Pillow built with libavif (the wheels are); HEIF/HEIC needs the pillow-heif plugin to be registered.
IMAGE_FORMATS = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "BMP": ".bmp", "WEBP": ".webp", "TIFF": ".tif",
                 "GIF": ".gif", "PPM": ".ppm", "AVIF": ".avif", "HEIF": ".heic"}
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm",
                            ".avif", ".heic", ".heif"})
# ISO BMFF major brands of still images (HEIF family); any other 'ftyp' file is a video (MP4, MOV, ...).
AVIF_BRANDS = frozenset({b"avif", b"avis"})
HEIF_BRANDS = AVIF_BRANDS | {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})
MEDIA_SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES


class InputError(ValueError):
    """An input that cannot be used, with the file it came from and why."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


@dataclass(frozen=True, slots=True, eq=False)
class Photo:
    """A decoded image (RGB ``uint8``, H x W x 3) and the name it is known by (a file's path, an upload's file
    name): the name is for reports and messages only, never opened."""

    name: str
    image: np.ndarray


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_bytes: int = 100 * 1024 * 1024


def load_image(path: str | Path, limits: DecodeLimits = DecodeLimits()) -> np.ndarray:
    """Decode an image file to an RGB ``uint8`` array of shape (H, W, 3)."""
    path = Path(path)
    size = regular_file_size(path)
    if size == 0:
        raise InputError(str(path), "file is empty")
    if size > limits.max_bytes:
        raise InputError(str(path), f"file is {size} bytes, over the {limits.max_bytes}-byte limit")
    return decode_image(read_regular_file(path, limits.max_bytes), str(path), limits)


def regular_file_size(path: str | Path) -> int:
    """The size of ``path`` (links followed) if it is a regular file; otherwise an :class:`InputError` that says
    what it is instead. Nothing is opened, so a FIFO, socket or device can never block or be read."""
    path = Path(path)
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise InputError(str(path), "file not found") from None
    except OSError as exc:
        raise InputError(str(path), f"cannot read the file: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(str(path), _directory_reason(path))
    if not stat.S_ISREG(info.st_mode):
        raise InputError(str(path), f"not a regular file ({_file_kind(info.st_mode)})")
    return info.st_size


def read_regular_file(path: str | Path, max_bytes: int) -> bytes:
    """The bytes of a regular file, at most ``max_bytes`` (an :class:`InputError` otherwise). Opened non-blocking
    and checked again once open, so a file swapped for a FIFO after :func:`regular_file_size` is refused too."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise InputError(str(path), "file not found") from None
    except OSError as exc:
        raise InputError(str(path), f"cannot read the file: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        mode = os.fstat(fh.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise InputError(str(path), f"not a regular file ({_file_kind(mode)})")
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputError(str(path), f"file is over the {max_bytes}-byte limit")
    return data


def _file_kind(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO / named pipe"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    return next((name for test, name in kinds if test(mode)), "not a file")


def _directory_reason(path: Path) -> str:
    if not os.access(path, os.R_OK | os.X_OK):
        return "is a directory that cannot be read (permission denied)"
    if next(_media_in(path), None) is None:
        return "is a directory with no image or video files in it"
    return "is a directory, not a file"


def decode_image(data: bytes, source: str = "<bytes>", limits: DecodeLimits = DecodeLimits()) -> np.ndarray:
    """Decode encoded image bytes to an RGB ``uint8`` array; ``source`` names the input in errors."""
    if not data:
        raise InputError(source, "file is empty")
    try:
        image = open_header(data, decodable_formats())
    except UnidentifiedImageError:
        raise InputError(source, unrecognised_reason(data)) from None
    except Image.DecompressionBombError as exc:
        raise InputError(source, f"refused as a decompression bomb: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(source, f"corrupt or truncated image: {exc}") from None
    return decode_opened(image, source, limits)


def decode_opened(image: Image.Image, source: str, limits: DecodeLimits = DecodeLimits()) -> np.ndarray:
    """The pixels of an image opened by :func:`open_header` (its header parsed, nothing decoded yet) as an RGB
    ``uint8`` array: the pixel count is checked from the header first, then the pixels are decoded once, turned
    upright (EXIF orientation) and converted to RGB. ``source`` names the input in errors."""
    width, height = image.size
    if width * height > limits.max_pixels:  # from the header: nothing has been decoded yet
        raise InputError(
            source, f"image is {width}x{height} = {width * height} pixels, over the limit of {limits.max_pixels}"
        )
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
    except Image.DecompressionBombError as exc:
        raise InputError(source, f"refused as a decompression bomb: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(source, f"corrupt or truncated image: {exc}") from None
    return to_rgb(image)


def open_header(data: bytes, formats: tuple[str, ...] | None = None) -> Image.Image:
    """``Image.open`` of ``data`` (only its header is parsed; pixels decode on ``load()``), with Pillow's
    decompression-bomb warning raised as its :class:`PIL.Image.DecompressionBombError`, whatever the warnings
    filters are, and safe to call from several threads."""
    with _HEADER_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data), formats=formats)
        except Image.DecompressionBombWarning as exc:
            raise Image.DecompressionBombError(str(exc)) from None


def decodable_formats() -> tuple[str, ...]:
    """The formats of :data:`IMAGE_FORMATS` this Pillow can open (Pillow's plugins are loaded on the first call)."""
    Image.init()  # idempotent
    return tuple(name for name in IMAGE_FORMATS if _can_open(name))


def _can_open(name: str) -> bool:
    if name not in Image.OPEN:
        return False
    # Pillow registers its AVIF reader even without libavif (it then identifies nothing)
    return name != "AVIF" or features.check_module("avif")


def heif_brand(data: bytes) -> str | None:
    """'AVIF' or 'HEIC' for an ISO BMFF still image (HEIF family, by the 'ftyp' box's major brand), else None."""
    if len(data) < 12 or data[4:8] != b"ftyp" or data[8:12] not in HEIF_BRANDS:
        return None
    end = min(len(data), max(16, int.from_bytes(data[:4], "big")), 256)
    brands = {data[8:12]} | {data[i:i + 4] for i in range(16, end - 3, 4)}  # major + compatible brands
    return "AVIF" if brands & AVIF_BRANDS else "HEIC"


def format_name(data: bytes) -> str | None:
    """The image format of ``data`` as Pillow (or the HEIF brand) names it, for messages; None if unknown.
    Only the header is parsed, never the pixels."""
    brand = heif_brand(data)
    if brand is not None:
        return brand
    try:
        with open_header(data) as image:
            return image.format
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        return None  # no Pillow plugin recognises it: the caller says "unrecognised format"


def unrecognised_reason(data: bytes) -> str:
    """Why bytes that none of :func:`decodable_formats` opens are refused, naming their format when known."""
    name = format_name(data)
    return "not an image (unrecognised format)" if name is None else unsupported_format_reason(name)


def unsupported_format_reason(name: str) -> str:
    hints = {"HEIC": " (install and register pillow-heif)", "AVIF": " (this Pillow was built without libavif)"}
    hint = hints.get(name, "")
    return f"{name} images are not supported{hint}; use {', '.join(dict.fromkeys(decodable_formats()))}"


def to_rgb(image: Image.Image) -> np.ndarray:
    """Any Pillow mode → RGB ``uint8``; alpha is composited on white, 16-bit is scaled down, float is stretched to
    its finite range (NaN → black, ±inf → the finite extremes)."""
    mode = image.mode
    if mode in {"I;16", "I;16B", "I;16L", "I;16N", "I"}:
        return _grey_rgb(_integer_grey(image))
    if mode == "F":
        return _grey_rgb(_float_grey(np.asarray(image)))
    if mode == "P":
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in {"RGBA", "LA", "PA", "RGBa", "La"}:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(rgb)


def _grey_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[..., None], 3, axis=2)


def _integer_grey(image: Image.Image) -> np.ndarray:
    """16-bit (or 32-bit integer) grey → ``uint8``: scaled by 65535 (by 255 for an ``I`` image that fits 8 bits)."""
    arr = np.asarray(image)
    peak = 65535.0 if image.mode.startswith("I;16") or int(arr.max(initial=0)) > 255 else 255.0
    grey = arr.astype(np.float32)  # exact for 16-bit values; float32 keeps the copy at 4 bytes a pixel
    grey *= np.float32(255.0 / peak)
    grey += np.float32(0.5)
    np.clip(grey, 0, 255, out=grey)
    return grey.astype(np.uint8)


def _float_grey(arr: np.ndarray, block_bytes: int = 8 * 1024 * 1024) -> np.ndarray:
    """Float grey → ``uint8``, its finite range stretched to 0..255; NaN becomes the minimum (black) and ±inf the
    finite extremes, so one bad pixel cannot blank the image. Works in row blocks of ``block_bytes`` (float64)
    rather than on a float64 copy of the whole image; warning-free for any input."""
    out = np.zeros(arr.shape, np.uint8)
    finite = np.isfinite(arr)
    if not finite.any():
        return out
    lo = float(np.min(arr, where=finite, initial=np.inf))
    hi = float(np.max(arr, where=finite, initial=-np.inf))
    if hi <= lo:
        return out  # a flat image: black, as before
    scale = 255.0 / (hi - lo)  # float64: no overflow even for float32's extremes
    rows = max(1, block_bytes // (8 * max(1, int(np.prod(arr.shape[1:])))))
    for start in range(0, arr.shape[0], rows):
        block = arr[start:start + rows].astype(np.float64)
        np.nan_to_num(block, copy=False, nan=lo, posinf=hi, neginf=lo)
        block -= lo
        block *= scale
        block += 0.5
        np.clip(block, 0, 255, out=block)
        out[start:start + rows] = block.astype(np.uint8)
    return out


def is_video(path: str | Path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def expand_inputs(inputs: Iterable[str | Path]) -> Iterator[Path]:
    """Files as given; folders expanded (sorted, recursively) to the image and video files inside.

    Nothing vanishes silently: a folder with no image or video file in it is yielded itself, and inside a folder an
    entry with an image or video suffix that is not a regular file (a FIFO, a socket, a broken link) is yielded
    too, so that :func:`load_image` (or the video reader) turns each into an :class:`InputError` naming it."""
    for item in inputs:
        path = Path(item)
        if not path.is_dir():
            yield path
            continue
        found = False
        for child in _media_in(path):
            found = True
            yield child
        if not found:
            yield path


def _media_in(folder: Path) -> Iterator[Path]:
    """Entries under ``folder`` (sorted, recursively) with an image or video suffix, other than folders."""
    for child in sorted(folder.rglob("*")):
        if child.suffix.lower() in MEDIA_SUFFIXES and not child.is_dir():
            yield child
