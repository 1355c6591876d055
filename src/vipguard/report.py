"""HTML report of checks: the input with the face box, per-region evidence bars and the explanation."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from .decision import FEATURE_TABLE
from .guard import Verdict

COLOURS = {"genuine": "#1b873f", "fake": "#c62828", "different_person": "#ef6c00", "no_face": "#616161",
           "error": "#616161"}
BARS = tuple((f.name, f.label) for f in FEATURE_TABLE if f.bar)  # every similarity an explanation may cite


def boxed(image: np.ndarray, box: Sequence[float] | None, colour: str, side: int = 320) -> np.ndarray:
    """A copy of the RGB ``image`` with the face box drawn in ``colour`` (``#rrggbb``), at most ``side`` px."""
    img = np.array(image, dtype=np.uint8, copy=True)
    if box is not None:
        rgb = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
        x1, y1, x2, y2 = (int(round(v)) for v in box[:4])
        cv2.rectangle(img, (x1, y1), (x2, y2), rgb, max(2, img.shape[1] // 150))
    scale = side / max(img.shape[:2])
    if scale < 1:
        img = cv2.resize(img, (int(img.shape[1] * scale), int(img.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    return img


def encoded(image: np.ndarray, fmt: str = "png", quality: int = 85) -> bytes:
    """The RGB ``image`` as PNG or JPEG bytes."""
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == "jpeg" else []
    ok, buf = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ValueError(f"could not encode a {image.shape} image as {fmt}")
    return buf.tobytes()


def data_uri(data: bytes, fmt: str = "png") -> str:
    return f"data:image/{fmt};base64," + base64.b64encode(data).decode()


def thumbnail(image: np.ndarray, box: Sequence[float] | None, colour: str, side: int = 320) -> str:
    """A PNG data URI of the image with the face box drawn."""
    return data_uri(encoded(boxed(image, box, colour, side)))


def heat_overlay(crop: np.ndarray, boundary: np.ndarray, side: int = 160) -> str:
    """A PNG data URI of the detector's face crop with its blending-boundary map as a heat overlay."""
    heat = cv2.applyColorMap(np.clip(boundary * 255.0, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
    heat = cv2.cvtColor(cv2.resize(heat, crop.shape[1::-1]), cv2.COLOR_BGR2RGB)
    alpha = np.clip(cv2.resize(boundary, crop.shape[1::-1]), 0.0, 1.0)[..., None] * 0.7
    mixed = (crop.astype(np.float32) * (1 - alpha) + heat.astype(np.float32) * alpha).astype(np.uint8)
    mixed = cv2.resize(mixed, (side, side), interpolation=cv2.INTER_LINEAR)
    return data_uri(encoded(mixed))


def _bars(verdict: Verdict) -> str:
    rows = []
    for key, label in BARS:
        if key not in verdict.evidence:
            continue
        value, typical = verdict.evidence[key], verdict.typical.get(key, 0.0)
        pct, tpct = max(0.0, min(1.0, value)) * 100, max(0.0, min(1.0, typical)) * 100
        rows.append(
            f'<div class="bar"><span class="lbl">{label}</span><span class="track">'
            f'<span class="fill" style="width:{pct:.0f}%"></span><span class="typ" style="left:{tpct:.0f}%"></span>'
            f'</span><span class="val">{value:.2f}</span></div>'
        )
    return "".join(rows)


def _genuine_range(verdict: Verdict) -> str:
    """The operating point the verdict used, with the numbers its explanation cites."""
    d = verdict.decision
    if d is None or verdict.vip is None:
        return ""
    return (f'<p class="range">genuine range: face similarity ≥ {round(100 * max(d.floor, 0))}/100 for '
            f'{round(100 * (1 - d.reject_rate))} % of {html.escape(verdict.vip)}\'s photos · other people reach '
            f'{round(100 * max(d.identity_floor, 0))}/100 · score = min(head {d.head:.2f}, genuine range '
            f'{d.anchor:.2f})</p>')


def render(items: Sequence[tuple[Verdict, np.ndarray | None]], title: str = "vipguard report") -> str:
    cards = []
    for verdict, image in items:
        colour = COLOURS.get(verdict.verdict, "#616161")
        img = f'<img src="{thumbnail(image, verdict.box, colour)}" alt="input">' if image is not None else ""
        if verdict.boundary is not None and verdict.face_crop is not None:
            where = html.escape(verdict.artifact_where or "")
            img += (f'<figure><img class="heat" src="{heat_overlay(verdict.face_crop, verdict.boundary)}" '
                    f'alt="blending boundary"><figcaption>blending boundary: {where} '
                    f'(artefact score {verdict.evidence.get("artifact", 0.0):.2f})</figcaption></figure>')
        score = "–" if verdict.score is None else f"{verdict.score:.3f}"
        anchor = _genuine_range(verdict)
        cards.append(
            f'<section class="card"><div class="pic">{img}</div><div class="info">'
            f'<h2>{html.escape(Path(verdict.path).name)}</h2>'
            f'<p class="verdict" style="background:{colour}">{verdict.verdict.replace("_", " ")}</p>'
            f'<p>VIP: <b>{html.escape(verdict.vip or "none")}</b> · score {score} · '
            f'face similarity {verdict.face_similarity}/100</p>{anchor}'
            f'<p class="why">{html.escape(verdict.explanation)}</p>{_bars(verdict)}</div></section>'
        )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>
body{{font-family:system-ui,sans-serif;margin:2em;background:#fafafa;color:#222}}
.card{{display:flex;gap:1.5em;background:#fff;border-radius:8px;padding:1em;margin:1em 0;box-shadow:0 1px 3px #0002}}
.pic img{{max-width:320px;border-radius:4px;display:block}} figure{{margin:.5em 0}}
figcaption{{font-size:.8em;color:#555;max-width:320px}} .info{{flex:1}} h2{{margin:.2em 0;font-size:1.1em}}
.verdict{{display:inline-block;color:#fff;padding:.2em .8em;border-radius:1em;font-weight:600;margin:.2em 0}}
.why{{font-style:italic}} .bar{{display:flex;align-items:center;gap:.5em;margin:.25em 0;font-size:.9em}}
.lbl{{width:9em}} .track{{position:relative;flex:1;height:.8em;background:#eee;border-radius:.4em}}
.fill{{position:absolute;left:0;top:0;bottom:0;background:#5c6bc0;border-radius:.4em}}
.typ{{position:absolute;top:-.2em;bottom:-.2em;width:2px;background:#222}} .val{{width:3em;text-align:right}}
</style></head><body><h1>{html.escape(title)}</h1>
<p>Bars: similarity of each facial part to the VIP's enrolment templates; the black tick marks the VIP's typical
genuine photo.</p>{''.join(cards)}</body></html>"""


def write_report(path: Path, items: Sequence[tuple[Verdict, np.ndarray | None]], title: str = "vipguard report") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(items, title), encoding="utf-8")
