"""Writing forgeries: PNG outputs with sidecar JSON provenance, and contact sheets (source | target | result)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from .base import ForgeInput
from .batch import ForgeItem

SHEET_LABELS = ("source", "target", "result")


def output_name(index: int, item: ForgeItem) -> str:
    """A stable file stem for the ``index``-th output: number, method, source and target file stems."""
    src = Path(item.result.source).stem if item.result.source else "source"
    tgt = Path(item.result.target).stem if item.result.target else "target"
    return f"{index:03d}_{item.result.method}_{src}__{tgt}"


def write_item(item: ForgeItem, folder: Path, index: int) -> Path:
    """Write ``item``'s image as PNG and its :meth:`ForgeItem.record` as a sidecar JSON; returns the PNG path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{output_name(index, item)}.png"
    if not cv2.imwrite(str(path), cv2.cvtColor(item.result.image, cv2.COLOR_RGB2BGR)):
        raise OSError(f"{path}: could not write the image")
    path.with_suffix(".json").write_text(json.dumps(item.record(), indent=2, ensure_ascii=False) + "\n")
    return path


def _tile(image: np.ndarray, size: int) -> np.ndarray:
    """``image`` scaled to fit a ``size``×``size`` tile, centred on black."""
    h, w = image.shape[:2]
    scale = size / max(h, w)
    resized = cv2.resize(image, (max(int(round(w * scale)), 1), max(int(round(h * scale)), 1)),
                         interpolation=cv2.INTER_AREA)
    tile = np.zeros((size, size, 3), np.uint8)
    y, x = (size - resized.shape[0]) // 2, (size - resized.shape[1]) // 2
    tile[y:y + resized.shape[0], x:x + resized.shape[1]] = resized
    return tile


def contact_sheet(rows: Sequence[Sequence[np.ndarray]], tile: int = 160,
                  labels: Sequence[str] = SHEET_LABELS) -> np.ndarray:
    """An RGB grid of ``rows`` (each a sequence of RGB images) with a label bar over the columns."""
    if not rows:
        raise ValueError("a contact sheet needs at least one row")
    columns = max(len(r) for r in rows)
    bar = np.full((20, columns * tile, 3), 255, np.uint8)
    for c, label in enumerate(labels[:columns]):
        cv2.putText(bar, label, (c * tile + 6, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    blank = np.zeros((tile, tile, 3), np.uint8)
    grid = [np.hstack([_tile(img, tile) for img in row] + [blank] * (columns - len(row))) for row in rows]
    return np.vstack([bar, *grid])


def sheet_rows(items: Sequence[ForgeItem], inputs: dict[str, ForgeInput],
               count: int = 3) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(source, target, result) images of the first ``count`` items; ``inputs`` maps paths to inputs."""
    return [(inputs[i.result.source].image, inputs[i.result.target].image, i.result.image)
            for i in items[:count] if i.result.source in inputs and i.result.target in inputs]


def write_sheet(path: Path, sheet: np.ndarray, colours: int = 256) -> None:
    """Write ``sheet`` (RGB); a PNG is stored with an adaptive palette of ``colours`` to stay small."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(sheet)
    if path.suffix.lower() == ".png":
        image = image.quantize(colors=colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        image.save(path, optimize=True)
    else:
        image.save(path)
