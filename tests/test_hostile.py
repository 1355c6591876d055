"""A hostile-input corpus of > 400 cases, generated under tmp_path (never stored), through ``vipguard check --json``
and ``POST /v1/check``: every input gets a line / a JSON answer, valid encodings are judged, bad ones are an
``error`` line / a 4xx naming the problem, and there is no traceback anywhere and no 5xx.

:func:`build_corpus` is also what ``benchmarks/load.py`` mixes into its load.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

JUDGED = frozenset({"genuine", "fake", "different_person", "no_face"})


@dataclass(frozen=True)
class Case:
    path: Path
    kind: str  # what the case is, for messages
    expect: str  # "judged" | "error" | "either" (a damaged file that a decoder may still read)

    @property
    def regular(self) -> bool:
        """A regular file (not a link, FIFO, socket or folder): what an upload can carry."""
        return self.path.is_file() and not self.path.is_symlink()


# -- valid encodings ------------------------------------------------------------------------------------------------

def _base(size=(64, 48), seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: size[1], : size[0]]
    rgb = np.stack([x * 255 // size[0], y * 255 // size[1], rng.integers(0, 255, x.shape)], -1)
    return Image.fromarray(rgb.astype(np.uint8))


def _encode(image: Image.Image, fmt: str, **kw) -> bytes | None:
    buf = io.BytesIO()
    try:
        image.save(buf, format=fmt, **kw)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # this Pillow cannot write that mode in that format: not a case
    return buf.getvalue()


FORMATS = {"JPEG": ".jpg", "PNG": ".png", "BMP": ".bmp", "WEBP": ".webp", "TIFF": ".tif", "GIF": ".gif",
           "PPM": ".ppm", "AVIF": ".avif"}


def _modes(base: Image.Image) -> dict[str, Image.Image]:
    grey = base.convert("L")
    f = Image.fromarray(np.asarray(grey, np.float32) / 7.0)
    nan = np.asarray(grey, np.float32).copy()
    nan[3, 3], nan[5, 5], nan[7, 7] = np.nan, np.inf, -np.inf
    return {"RGB": base, "L": grey, "RGBA": base.convert("RGBA"), "LA": grey.convert("LA"),
            "P": base.convert("P"), "1": base.convert("1"), "CMYK": base.convert("CMYK"),
            "I;16": Image.fromarray(np.asarray(grey, np.uint16) * 257), "I": Image.fromarray(np.asarray(grey, np.int32)),
            "F": f, "F_nan": Image.fromarray(nan)}


def _valid(lfw_face: bytes | None) -> list[tuple[str, bytes, str]]:
    """(kind, bytes, suffix) of images every decoder should read."""
    base = _base()
    out = []
    for fmt, suffix in FORMATS.items():
        for mode, image in _modes(base).items():
            data = _encode(image, fmt)
            if data is not None:
                out.append((f"{fmt} {mode}", data, suffix))
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        out.append((f"JPEG EXIF orientation {orientation}", _encode(base, "JPEG", exif=exif), ".jpg"))
    extra = [("progressive JPEG", _encode(base, "JPEG", progressive=True), ".jpg"),
             ("interlaced PNG", _encode(base, "PNG", optimize=True), ".png"),
             ("MPO", _encode(base, "MPO", save_all=True), ".jpg"),
             ("animated GIF", _encode(base, "GIF", save_all=True, append_images=[_base(seed=i) for i in range(1, 40)]),
              ".gif"),
             ("multi-page TIFF", _encode(base, "TIFF", save_all=True, append_images=[_base(seed=2)]), ".tif"),
             ("1x1 PNG", _encode(Image.new("RGB", (1, 1)), "PNG"), ".png"),
             ("1x4000 PNG", _encode(Image.new("L", (1, 4000)), "PNG"), ".png"),
             ("4000x1 PNG", _encode(Image.new("L", (4000, 1)), "PNG"), ".png"),
             ("lossless WEBP RGBA", _encode(base.convert("RGBA"), "WEBP", lossless=True), ".webp"),
             ("TIFF LZW", _encode(base, "TIFF", compression="tiff_lzw"), ".tif"),
             ("TIFF deflate", _encode(base, "TIFF", compression="tiff_adobe_deflate"), ".tif")]
    out += [e for e in extra if e[1] is not None]
    # the content decides, never the name
    wrong = {".jpg": ".png", ".png": ".jpg", ".bmp": ".gif", ".webp": ".jpg", ".tif": ".png", ".gif": ".bmp",
             ".ppm": ".jpg", ".avif": ".webp"}
    out += [(f"{kind} named {wrong[suffix]}", data, wrong[suffix]) for kind, data, suffix in out[:: 7]]
    if lfw_face is not None:
        out.append(("real face photo", lfw_face, ".jpg"))
    return out


# -- bad files ------------------------------------------------------------------------------------------------------

def _png(width: int, height: int, idat: bytes = zlib.compress(b"\x00" * 64)) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def _tiff(width: int, height: int) -> bytes:
    tags = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 8 + 2 + 8 * 12 + 4),
            (278, 4, height), (279, 4, 16)]
    ifd = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", t, typ, 1, v) for t, typ, v in tags)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00\x00\x00\x00" + b"\x00" * 16


def _huge(width: int, height: int) -> list[tuple[str, bytes, str]]:
    """Headers that declare ``width`` x ``height`` pixels over a few bytes of data (decompression bombs)."""
    base = _base((16, 16))
    jpeg = bytearray(_encode(base, "JPEG"))
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5: sof + 9] = struct.pack(">HH", min(height, 65535), min(width, 65535))
    gif = bytearray(_encode(base, "GIF"))
    gif[6:10] = struct.pack("<HH", min(width, 65535), min(height, 65535))
    bmp = bytearray(_encode(base, "BMP"))
    bmp[18:26] = struct.pack("<ii", width, height)
    webp = bytearray(_encode(base.convert("RGBA"), "WEBP", lossless=True))
    w, h = min(width, 16384) - 1, min(height, 16384) - 1
    webp[21:25] = struct.pack("<I", w | (h << 14) | (1 << 28))
    label = f"{width}x{height}"
    return [(f"PNG {label}", _png(width, height), ".png"), (f"JPEG {label}", bytes(jpeg), ".jpg"),
            (f"GIF {label}", bytes(gif), ".gif"), (f"BMP {label}", bytes(bmp), ".bmp"),
            (f"WEBP {label}", bytes(webp), ".webp"), (f"TIFF {label}", _tiff(width, height), ".tif"),
            (f"PPM {label}", f"P5\n{width} {height}\n255\n".encode() + b"\x00" * 64, ".ppm")]


NOT_IMAGES = {
    "text": b"hello, this is a text file\n" * 20, "html": b"<!doctype html><html><body>x</body></html>",
    "json": b'{"image": "no"}', "svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>',
    "pdf": b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF", "zip": b"PK\x05\x06" + b"\x00" * 18,
    "elf": b"\x7fELF\x02\x01\x01" + b"\x00" * 57, "script": b"#!/bin/sh\nrm -rf /\n",
    "utf16": "ceci n'est pas une image".encode("utf-16"), "nul": b"\x00" * 4096,
}
MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".jpg": b"\xff\xd8\xff\xe0", ".gif": b"GIF89a", ".bmp": b"BM",
         ".tif": b"II*\x00", ".webp": b"RIFF\x00\x10\x00\x00WEBPVP8 ", ".ppm": b"P6\n",
         ".avif": b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf",
         ".heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",
         ".mp4": b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00isommp42", ".avi": b"RIFF\x00\x10\x00\x00AVI LIST",
         ".mkv": b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01", ".mov": b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  "}
UNSUPPORTED = ("ICO", "TGA", "PCX", "SGI", "XBM", "IM", "MSP", "DDS", "ICNS", "EPS", "PDF", "JPEG2000", "QOI")
SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm", ".avif", ".heic",
            ".heif", ".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def _bad(valid: list[tuple[str, bytes, str]], rng: np.random.Generator) -> list[tuple[str, bytes, str, str]]:
    """(kind, bytes, suffix, expect) of damaged and hostile files."""
    out = [(f"zero-byte {s}", b"", s, "error") for s in SUFFIXES]
    bases = [(k, d, s) for k, d, s in valid if k.endswith(" RGB") and "named" not in k]
    for kind, data, suffix in bases:
        for cut in (1, 8, 20, len(data) // 10, len(data) // 3, len(data) // 2):
            out.append((f"{kind} truncated to {cut} bytes", data[:cut], suffix, "error"))
        for cut in (len(data) * 9 // 10, len(data) - 1):
            out.append((f"{kind} truncated to {cut} of {len(data)} bytes", data[:cut], suffix, "either"))
        for seed in range(4):
            flipped = bytearray(data)
            at = np.random.default_rng(seed).integers(len(data) // 4, len(data), 12)
            for i in at:
                flipped[i] ^= 0xFF
            out.append((f"{kind} with 12 bytes flipped (seed {seed})", bytes(flipped), suffix, "either"))
    for i in range(60):
        out.append((f"random bytes #{i}", rng.bytes(int(rng.integers(1, 4096))), SUFFIXES[i % len(SUFFIXES)],
                    "error"))
    for suffix, magic in MAGIC.items():
        for n in (0, 16, 2000):
            out.append((f"{suffix} magic + {n} random bytes", magic + rng.bytes(n), suffix, "error"))
    for name, data in NOT_IMAGES.items():
        out += [(f"{name} named {s}", data, s, "error") for s in (".jpg", ".png", ".mp4")]
    for fmt in UNSUPPORTED:
        data = _encode(_base((32, 32)), fmt)
        if data is not None:
            out += [(f"{fmt} image named {s}", data, s, "error") for s in (".jpg", ".png")]
    for width, height in ((100_000, 100_000), (65_535, 65_535), (20_000, 20_000), (50_000, 1_000)):
        out += [(k, d, s, "error") for k, d, s in _huge(width, height)]
    bomb = _png(8_000, 8_000, zlib.compress(b"\x00" * (8_001 * 8_000), 9))  # a real one: 64 Mpx in ~60 KB
    out.append(("PNG decompression bomb 8000x8000", bomb, ".png", "error"))
    png = bytearray(_encode(_base(), "PNG"))
    png[29] ^= 0xFF  # the IHDR CRC
    out.append(("PNG with a bad CRC", bytes(png), ".png", "error"))
    text = _png(16, 16)[:33] + _text_chunk(b"zTXt", b"k\x00\x00" + zlib.compress(b"A" * 5_000_000)) + _png(16, 16)[33:]
    out.append(("PNG with a 5 MB compressed text chunk", text, ".png", "either"))
    return out


def _text_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _video(path: Path) -> bool:
    """A valid 6-frame faceless MP4 (OpenCV), or False when OpenCV cannot write one here."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5.0, (64, 48))
    if not writer.isOpened():
        return False
    for i in range(6):
        writer.write(np.asarray(_base(seed=i))[:, :, ::-1].copy())
    writer.release()
    return path.stat().st_size > 0


def build_corpus(root: Path, lfw_face: bytes | None = None, seed: int = 0) -> list[Case]:
    """Write the corpus under ``root`` and return its cases (files, links, FIFOs, a socket and folders)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cases: list[Case] = []

    def write(kind: str, data: bytes, suffix: str, expect: str) -> Path:
        path = root / f"{len(cases):04d}{suffix}"
        path.write_bytes(data)
        cases.append(Case(path, kind, expect))
        return path

    valid = _valid(lfw_face)
    for kind, data, suffix in valid:
        write(kind, data, suffix, "judged")
    for kind, data, suffix, expect in _bad(valid, rng):
        write(kind, data, suffix, expect)
    clip = root / f"{len(cases):04d}.mp4"
    if _video(clip):
        cases.append(Case(clip, "valid MP4", "judged"))
        data = clip.read_bytes()
        for cut in (40, len(data) // 2):
            write(f"MP4 truncated to {cut} bytes", data[:cut], ".mp4", "either" if cut > 100 else "error")
    cases += _special(root, cases[0].path)
    names = {"unicode name фото.jpg": "фото.jpg", "name with spaces": "a photo (1).jpg",
             "name with a newline": "line\nbreak.jpg", "250-character name": "n" * 246 + ".jpg",
             "name with Rich markup": "[bold red]x[_].jpg"}
    for kind, name in names.items():
        (root / name).write_bytes(valid[0][1])
        cases.append(Case(root / name, kind, "judged"))
    return cases


def _special(root: Path, target: Path) -> list[Case]:
    """Links, FIFOs, a socket, a device and folders: CLI inputs that are not regular files."""
    out = []
    links = {"link-ok.jpg": target, "link-broken.jpg": root / "nowhere.jpg", "link-loop.jpg": root / "link-loop.jpg",
             "link-devnull.jpg": Path(os.devnull)}
    for name, to in links.items():
        (root / name).symlink_to(to)
        out.append(Case(root / name, f"symlink {name}", "judged" if name == "link-ok.jpg" else "error"))
    for name in ("fifo.jpg", "fifo.mp4", "fifo.png"):
        os.mkfifo(root / name)
        out.append(Case(root / name, f"FIFO {name}", "error"))
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "socket.png"))
    sock.close()
    out.append(Case(root / "socket.png", "socket", "error"))
    out.append(Case(Path(os.devnull), "character device", "error"))
    (root / "folder.jpg").mkdir()
    out.append(Case(root / "folder.jpg", "empty folder named .jpg", "error"))
    (root / "empty").mkdir()
    out.append(Case(root / "empty", "empty folder", "error"))
    (root / "link-folder.jpg").symlink_to(root / "empty", target_is_directory=True)
    out.append(Case(root / "link-folder.jpg", "symlink to an empty folder", "error"))
    (root / "nested" / "deeper").mkdir(parents=True)
    shutil.copy(target, root / "nested" / "deeper" / "a.jpg")
    (root / "nested" / "deeper" / "b.png").write_bytes(b"not a png")
    (root / "nested" / "notes.txt").write_text("not media: not an input")
    out.append(Case(root / "nested", "folder with one good and one bad image", "either"))
    out.append(Case(root / "missing.jpg", "missing file", "error"))
    return out


# -- the tests ------------------------------------------------------------------------------------------------------

import pytest  # noqa: E402  (the corpus builder above needs no pytest: benchmarks/load.py imports it)

from .conftest import photos  # noqa: E402


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, lfw) -> list[Case]:
    cases = build_corpus(tmp_path_factory.mktemp("hostile"), photos(lfw, "Colin_Powell", 30, 30)[0].read_bytes())
    assert len(cases) >= 400, len(cases)
    assert {"judged", "error", "either"} == {c.expect for c in cases}
    return cases


@pytest.fixture(scope="module")
def enrolled(lfw, analyzer, tmp_path_factory) -> Path:
    from .test_service import enrolled_db

    db = tmp_path_factory.mktemp("hostile-db") / "registry.db"
    shutil.copy(enrolled_db(lfw, analyzer, tmp_path_factory), db)
    return db


def test_corpus_through_the_cli(corpus, enrolled, store, tmp_path):
    """One ``vipguard check --json`` over the whole corpus: a line for every input (a folder: a line for each image
    in it), judged or ``error`` as expected, an ``error:`` line on stderr naming each failed input, exit 1, and no
    traceback; the registry is opened read-only and left as it was."""
    before = enrolled.read_bytes()
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "VIPGUARD_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "vipguard", "check", "--json", "--fast", "--db", str(enrolled), "--models",
         str(store.root), *[str(c.path) for c in corpus]], capture_output=True, env=env, timeout=600,
        text=True, errors="replace")  # FFmpeg's own log lines (on stderr) may quote a file's raw bytes
    assert "Traceback" not in result.stdout + result.stderr, result.stderr[-3000:]
    assert result.returncode == 1, result.stderr[-2000:]
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    by_path: dict[str, list[dict]] = {}
    for line in lines:
        by_path.setdefault(line["path"], []).append(line)
    errors = {line["path"] for line in lines if line["verdict"] == "error"}
    for case in corpus:
        got = by_path.get(str(case.path), [])
        if case.kind.startswith("folder with"):  # expanded: deeper/a.jpg (no face), deeper/b.png (not a PNG)
            inside = sorted(k for k in by_path if k.startswith(f"{case.path}/"))
            assert [by_path[k][0]["verdict"] for k in inside] == ["no_face", "error"], (case, inside)
            continue
        assert len(got) == 1, (case, got)
        verdict = got[0]["verdict"]
        if case.expect == "judged":
            assert verdict in JUDGED and got[0]["error"] is None, (case, got[0])
        elif case.expect == "error":
            assert verdict == "error" and got[0]["error"], (case, got[0])
        assert verdict in JUDGED | {"error"}, (case, got[0])
    assert any(line["verdict"] == "genuine" for line in lines)  # the real photo is judged for real
    for path in errors:  # each failed input is named on stderr with its reason
        assert f"error: {path}: " in result.stderr, path
    assert enrolled.read_bytes() == before


def test_corpus_through_the_service(corpus, enrolled, caplog):
    """Every regular file of the corpus uploaded to ``POST /v1/check``: 200 with a verdict for valid encodings, a 4xx
    with a message naming the upload for bad ones, never a 5xx, and nothing logged as an error."""
    from fastapi.testclient import TestClient

    from vipguard.service import ServiceConfig, create_app

    from .test_service import AUTH, KEY

    uploads = [c for c in corpus if c.regular]
    assert len(uploads) >= 380
    app = create_app(ServiceConfig(db=enrolled, api_key=KEY, max_file_bytes=2 * 1024 * 1024,
                                   max_request_bytes=6 * 1024 * 1024, max_pixels=4_000_000))
    seen = {}
    with caplog.at_level("WARNING", logger="vipguard.service"), TestClient(app, raise_server_exceptions=False) as c:
        for i, case in enumerate(uploads):
            name = f"upload-{i}{case.path.suffix[-8:]}"
            r = c.post("/v1/check", headers=AUTH, files={"file": (name, case.path.read_bytes(), "image/jpeg")})
            seen[r.status_code] = seen.get(r.status_code, 0) + 1
            assert r.status_code < 500 and "Traceback" not in r.text, (case, r.status_code, r.text[:300])
            body = r.json()
            if r.status_code == 200:
                assert body["verdict"] in JUDGED, (case, body)
            else:
                assert r.status_code in {413, 415, 422} and body["detail"].startswith(f"{name}: "), (case, body)
            if case.expect == "judged":
                assert r.status_code == 200, (case, body)
            elif case.expect == "error":
                assert r.status_code != 200, (case, body)
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.levelname == "ERROR"]
    assert {200, 413, 415, 422} <= set(seen), seen
