"""Safe decoding: every bad-input kind gives an InputError naming the file and the problem."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vipguard.infra.io import (
    DecodeLimits,
    InputError,
    decode_image,
    expand_inputs,
    load_image,
    read_regular_file,
    regular_file_size,
    to_rgb,
)


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_modes_become_rgb_uint8():
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8))
    for img, fmt in [
        (rgb.convert("L"), "PNG"), (rgb.convert("P"), "PNG"), (rgb.convert("CMYK"), "JPEG"),
        (rgb.convert("RGBA"), "PNG"), (Image.fromarray(np.full((20, 30), 40000, np.uint16)), "PNG"),
    ]:
        arr = decode_image(_encode(img, fmt), f"x.{fmt.lower()}")
        assert arr.shape == (20, 30, 3) and arr.dtype == np.uint8, img.mode


def test_sixteen_bit_is_scaled_not_clipped():
    arr = decode_image(_encode(Image.fromarray(np.full((4, 4), 32768, np.uint16)), "PNG"))
    assert 120 < arr[0, 0, 0] < 136


def test_alpha_composited_on_white():
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert decode_image(_encode(rgba, "PNG"))[0, 0].tolist() == [255, 255, 255]


def test_exif_orientation_applied():
    img = Image.new("RGB", (40, 20), (10, 20, 30))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    arr = decode_image(_encode(img, "JPEG", exif=exif))
    assert arr.shape[:2] == (40, 20)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "empty"),
        (b"hello, not an image", "not an image"),
        (_encode(Image.new("RGB", (64, 64)), "JPEG")[:300], "truncated"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "image"),
    ],
)
def test_bad_bytes_raise_input_error(data, needle):
    with pytest.raises(InputError) as err:
        decode_image(data, "bad.jpg")
    assert "bad.jpg" in str(err.value) and needle in str(err.value)


def test_decompression_bomb_refused_before_decoding():
    data = _encode(Image.new("L", (3000, 3000)), "PNG")
    with pytest.raises(InputError, match="over the limit"):
        decode_image(data, "bomb.png", DecodeLimits(max_pixels=1_000_000))


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(InputError, match="is a directory with no image or video files"):
        load_image(tmp_path)
    (tmp_path / "a.jpg").write_bytes(b"x")
    with pytest.raises(InputError, match="is a directory, not a file"):
        load_image(tmp_path)


def test_expand_inputs_lists_images_in_folders(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.PNG").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in expand_inputs([tmp_path])] == ["a.jpg", "b.PNG"]


def _float_tiff(values: np.ndarray) -> bytes:
    return _encode(Image.fromarray(values.astype(np.float32)), "TIFF")


def test_float_tiff_with_nan_and_inf_converts_without_warnings():
    """One NaN (or inf) pixel must not blank a float image (it used to come out all black: no face)."""
    ramp = np.tile(np.linspace(-1.0, 3.0, 32, dtype=np.float32), (16, 1))
    bad = ramp.copy()
    bad[3, 5], bad[7, 9], bad[8, 1] = np.nan, np.inf, -np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clean = decode_image(_float_tiff(ramp), "ramp.tif")
        arr = decode_image(_float_tiff(bad), "nan.tif")
    assert arr.dtype == np.uint8 and arr.shape == (16, 32, 3)
    assert arr[0, 0, 0] == 0 and arr[0, -1, 0] == 255  # the finite range is stretched as without the bad pixels
    keep = np.ones((16, 32), bool)
    keep[[3, 7, 8], [5, 9, 1]] = False
    assert np.array_equal(arr[keep], clean[keep])
    assert arr[3, 5, 0] == 0 and arr[7, 9, 0] == 255 and arr[8, 1, 0] == 0  # NaN → black, ±inf → the extremes


@pytest.mark.parametrize("fill", [np.nan, np.inf, 7.0])
def test_float_image_without_range_is_black(fill):
    img = Image.fromarray(np.full((8, 8), fill, np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        arr = to_rgb(img)
    assert arr.dtype == np.uint8 and not arr.any()


def test_float_extremes_do_not_overflow():
    values = np.array([[-3.4e38, 0.0, 3.4e38, np.nan]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        arr = to_rgb(Image.fromarray(values))
    assert arr[0, :, 0].tolist() == [0, 128, 255, 0]


def _special_files(tmp_path):
    """A FIFO and a socket with image / video suffixes, and a character device."""
    socket = pytest.importorskip("socket")
    if not hasattr(os, "mkfifo") or not hasattr(socket, "AF_UNIX"):
        pytest.skip("needs POSIX FIFOs and Unix sockets")
    for name in ("pipe.jpg", "pipe.mp4"):
        os.mkfifo(tmp_path / name)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(tmp_path / "sock.png"))
    return sock, [tmp_path / "pipe.jpg", tmp_path / "pipe.mp4", tmp_path / "sock.png", Path(os.devnull)]


def test_fifos_sockets_and_devices_are_refused_without_blocking(tmp_path):
    """A FIFO named .jpg used to read as 'file is empty' (or block); each is 'not a regular file' at once."""
    sock, paths = _special_files(tmp_path)
    try:
        for path, kind in zip(paths, ["FIFO", "FIFO", "socket", "character device"]):
            with pytest.raises(InputError, match=f"not a regular file \\(a {kind}") as err:
                load_image(path)
            assert err.value.source == str(path)
            with pytest.raises(InputError, match="not a regular file"):
                regular_file_size(path)
    finally:
        sock.close()


def test_read_regular_file_refuses_a_fifo_it_opens(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("needs POSIX FIFOs")
    os.mkfifo(tmp_path / "late.jpg")  # as if swapped in after the stat: opened non-blocking, refused by fstat
    with pytest.raises(InputError, match="FIFO"):
        read_regular_file(tmp_path / "late.jpg", 1000)


def test_expand_inputs_never_drops_an_input_silently(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("x")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.jpg").write_bytes(b"x")
    (tmp_path / "photos" / "b.jpg").symlink_to(tmp_path / "gone.jpg")  # a broken link: reported, not skipped
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "photos" / "c.jpg")
    args = [tmp_path / "empty", tmp_path / "notes", tmp_path / "photos", tmp_path / "missing.jpg"]
    got = list(expand_inputs(args))
    expected = [tmp_path / "empty", tmp_path / "notes", tmp_path / "photos" / "a.jpg", tmp_path / "photos" / "b.jpg"]
    expected += [tmp_path / "photos" / "c.jpg"] if hasattr(os, "mkfifo") else []
    assert got == expected + [tmp_path / "missing.jpg"]
    reasons = {}
    for path in got:
        with pytest.raises(InputError) as err:
            load_image(path)
        reasons[path.name] = err.value.reason
    assert reasons["empty"] == reasons["notes"] == "is a directory with no image or video files in it"
    assert reasons["b.jpg"] == reasons["missing.jpg"] == "file not found"
    assert reasons.get("c.jpg", "not a regular file").startswith("not a regular file")


def test_every_supported_format_decodes():
    """AVIF (when this Pillow has libavif) and camera MPO JPEGs decode like the rest."""
    from PIL import features

    from vipguard.infra.io import IMAGE_FORMATS, decodable_formats

    img = Image.new("RGB", (24, 16), (200, 30, 30))
    formats = [f for f in decodable_formats() if f not in {"HEIF", "MPO"}]
    assert {"JPEG", "PNG", "TIFF", "WEBP"} <= set(formats) and set(formats) <= set(IMAGE_FORMATS)
    assert ("AVIF" in formats) == bool(features.check("avif"))
    for fmt in formats:
        arr = decode_image(_encode(img, fmt), f"x.{fmt.lower()}")
        assert arr.shape == (16, 24, 3) and abs(int(arr[8, 12, 0]) - 200) < 12, fmt
    mpo = _encode(img, "MPO", save_all=True, append_images=[img])
    assert decode_image(mpo, "camera.jpg").shape == (16, 24, 3)


def test_unsupported_formats_are_named():
    from vipguard.infra.io import heif_brand

    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    assert heif_brand(heic) == "HEIC" and heif_brand(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00isommp42") is None
    with pytest.raises(InputError, match="HEIC images are not supported"):
        decode_image(heic, "phone.heic")
    for fmt in ("EPS", "ICO"):  # Pillow opens these, vipguard does not (EPS would run Ghostscript)
        with pytest.raises(InputError, match=f"{fmt} images are not supported; use JPEG"):
            decode_image(_encode(Image.new("RGB", (16, 16)), fmt), f"x.{fmt.lower()}")


def test_avif_without_libavif_is_named(monkeypatch):
    """Pillow registers its AVIF reader even when built without libavif; vipguard then says so, not 'video'."""
    from vipguard.infra import io as vio

    monkeypatch.setattr(vio.features, "check_module", lambda name: False)
    assert "AVIF" not in vio.decodable_formats()
    avif = b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00" * 64
    with pytest.raises(InputError, match="AVIF images are not supported \\(this Pillow was built without libavif"):
        decode_image(avif, "x.avif")
