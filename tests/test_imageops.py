"""Data-free tests of the shared image operations (``vipguard.infra.imageops``) and of the one recipe writer of the
training apps' model cards (``vipguard.train.card``): each has one home that every user calls."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vipguard.infra import imageops


def _image(seed: int = 0, size: tuple[int, int] = (48, 64)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), size[::-1], interpolation=cv2.INTER_CUBIC)
    return np.clip(base.astype(int) + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)


def test_jpeg_loses_more_at_lower_quality_and_keeps_shape_and_channel_order():
    img = _image()
    hi, lo = imageops.jpeg(img, 95), imageops.jpeg(img, 20)
    assert hi.shape == lo.shape == img.shape and hi.dtype == np.uint8
    assert np.abs(lo.astype(int) - img).mean() > np.abs(hi.astype(int) - img).mean()
    red = np.zeros((32, 32, 3), np.uint8)
    red[..., 0] = 220  # RGB in, RGB out: a red image stays red (no BGR swap)
    out = imageops.jpeg(red, 90)
    assert out[..., 0].mean() > 200 and out[..., 2].mean() < 20


def test_jpeg_takes_a_flipped_view():
    img = _image(1)
    np.testing.assert_array_equal(imageops.jpeg(img[:, ::-1], 80), imageops.jpeg(np.ascontiguousarray(img[:, ::-1]), 80))


def test_down_up_and_rescale_keep_the_size_and_lose_detail():
    img = _image(2)
    out = imageops.rescale(img, 0.5)
    assert out.shape == img.shape
    lap = lambda a: cv2.Laplacian(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()  # noqa: E731
    assert lap(out) < lap(img)
    np.testing.assert_array_equal(imageops.rescale(img, 0.5), imageops.down_up(img, (32, 24)))
    assert imageops.rescale(img, 1e-3).shape == img.shape  # at least one pixel


def test_every_user_calls_the_one_home():
    from vipguard.bench import degrade
    from vipguard.lite import enrol
    from vipguard.train import sbi

    assert degrade.jpeg is sbi.jpeg is enrol.jpeg is imageops.jpeg
    assert sbi.rescale is imageops.rescale


@dataclass(frozen=True)
class _Config:
    lr: float = 1e-3
    batch: int = 32
    data: str = ""


def test_recipe_lists_only_what_differs_from_the_defaults_and_quotes_it():
    from vipguard.train.card import recipe

    flags = {"lr": "--lr", "batch": "--batch"}
    assert recipe("train", _Config(), _Config(), flags) == "train"
    assert recipe("train", _Config(lr=0.01, data="/home/me/lfw"), _Config(), flags) == "train --lr 0.01"
    assert recipe("t", _Config(batch=8), _Config(), {"batch": "--batch size"}) == "t --batch size 8"
