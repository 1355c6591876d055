"""HTML report of checks: the input with the face box, the verdict and its operating point, the explanation, and a
table of every measured piece of evidence (the numbers the explanation cites); for a video, its score timeline, frame
table and lowest-scoring frames."""

from __future__ import annotations

import base64
import html
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..lite.decision import BY_NAME, FEATURE_TABLE
from ..lite.explain import probability_text
from ..lite.guard import Verdict
from .video import ClipVerdict, clip_html, frame_image, typical_frame

COLOURS = {"genuine": "#1b873f", "fake": "#c62828", "different_person": "#ef6c00", "no_face": "#616161",
           "error": "#616161"}


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


def cited(feature: str, value: float) -> str:
    """``value`` of ``feature`` written as explanations write it (:mod:`vipguard.lite.explain`): similarities in
    /100, shape deviations to one decimal, the sharpness step signed, the artefact detector's probability to the
    digits that tell it from 0 and 1 (:func:`~vipguard.lite.explain.probability_text`), the rest to two decimals."""
    kind = BY_NAME[feature].kind
    if kind == "similarity":
        return str(round(100 * max(value, 0)))
    if kind == "geometry":
        return f"{value:.1f}"
    if kind == "boundary_sharpness":
        return f"{value:+.2f}"
    if kind == "artefact":
        return probability_text(value)
    return f"{value:.2f}"


def _bar(value: float, typical: float) -> str:
    pct, tpct = (max(0.0, min(1.0, v)) * 100 for v in (value, typical))
    return (f'<span class="track"><span class="fill" style="width:{pct:.0f}%"></span>'
            f'<span class="typ" style="left:{tpct:.0f}%"></span></span>')


def evidence_table(verdict: Verdict) -> str:
    """Every measured piece of evidence: this face's value and the VIP's typical genuine photo's, as the
    explanation cites them, with a bar for the similarities (the tick marks the typical photo)."""
    rows = []
    for f in FEATURE_TABLE:
        if f.name not in verdict.evidence:
            continue
        value, typical = verdict.evidence[f.name], verdict.typical.get(f.name)
        unit = " /100" if f.kind == "similarity" else ""
        rows.append(f'<tr><td>{html.escape(f.label)}{unit}</td><td class="num">{cited(f.name, value)}</td>'
                    f'<td class="num">{"–" if typical is None else cited(f.name, typical)}</td>'
                    f'<td class="barcell">{_bar(value, typical or 0.0) if f.bar else ""}</td></tr>')
    if not rows:
        return ""
    return ('<table class="evidence"><tr><th>evidence</th><th>this face</th><th>typical genuine photo</th>'
            f'<th></th></tr>{"".join(rows)}</table>')


# kept for callers that list the similarities a report draws as bars
BARS = tuple((f.name, f.label) for f in FEATURE_TABLE if f.bar)


def _genuine_range(verdict: Verdict) -> str:
    """The operating point the verdict used, with the numbers its explanation cites."""
    d = verdict.decision
    if d is None or verdict.vip is None:
        return ""
    term = d.artefact_term
    veto = "" if term is None else f", artefact term {term:.2f} (veto at {probability_text(d.veto)})"
    return (f'<p class="range">genuine range: face similarity ≥ {round(100 * max(d.floor, 0))}/100 for '
            f'{round(100 * (1 - d.reject_rate))} % of {html.escape(verdict.vip)}\'s photos · other people reach '
            f'{round(100 * max(d.identity_floor, 0))}/100 · score = min(head {d.head:.2f}, genuine range '
            f'{d.anchor:.2f}{veto})</p>')


def _decided_by(verdict: Verdict) -> str:
    """What set the verdict, with the region where blending artefacts did (``Verdict.decided_by``)."""
    if not verdict.decided_by:
        return ""
    return f'<p class="decided">decided by: <b>{html.escape(verdict.decided_by)}</b></p>'


def _other_faces(verdict: Verdict) -> str:
    if not verdict.other_faces and not verdict.faces_not_judged:
        return ""
    items = "".join(f"<li>face similarity {f['face_similarity']}/100</li>" for f in verdict.other_faces)
    more = (f"<li>{verdict.faces_not_judged} more face(s) not judged</li>" if verdict.faces_not_judged else "")
    return f'<div class="others">Other faces in the image:<ol start="2">{items}{more}</ol></div>'


def _pictures(verdict: Verdict, image: np.ndarray | None, colour: str) -> str:
    img = f'<img src="{thumbnail(image, verdict.box, colour)}" alt="input">' if image is not None else ""
    if verdict.boundary is not None and verdict.face_crop is not None:
        where = html.escape(verdict.artifact_where or "")
        img += (f'<figure><img class="heat" src="{heat_overlay(verdict.face_crop, verdict.boundary)}" '
                f'alt="blending boundary"><figcaption>blending boundary: {where} '
                f'(artefact score {probability_text(verdict.evidence.get("artifact", 0.0))})</figcaption></figure>')
    return img


def _clip_section(clip: ClipVerdict) -> str:
    """The clip's sampling summary, the score timeline with the frame table (:func:`vipguard.apps.video.clip_html`)
    and the lowest-scoring frames, each with its time, verdict and score as the explanation cites them."""
    counts = Counter(f.verdict.verdict for f in clip.frames)
    typical = typical_frame(clip)
    summary = (f'<p class="clipsum">{len(clip.frames)} frames sampled at {clip.fps:g}/s: '
               + ", ".join(f"{n} {v.replace('_', ' ')}" for v, n in counts.most_common())
               + (f"; median score {clip.score:.2f}" if clip.score is not None else "")
               + (f"; typical frame t={typical.time:.1f} s" if typical is not None else "") + "</p>")
    worst = []
    for i in clip.worst:
        frame = clip.frames[i]
        image = frame_image(clip.path, frame.index)
        if image is None:
            continue
        v = frame.verdict
        worst.append(f'<figure><img src="{thumbnail(image, v.box, COLOURS.get(v.verdict, "#616161"), 200)}" '
                     f'alt="frame at {frame.time:.1f} s"><figcaption>t={frame.time:.1f} s · '
                     f'{v.verdict.replace("_", " ")} · score {"–" if v.score is None else f"{v.score:.2f}"}'
                     f"</figcaption></figure>")
    frames = f'<h3>Lowest-scoring frames</h3><div class="frames">{"".join(worst)}</div>' if worst else ""
    return summary + clip_html(clip) + frames


def card(verdict: Verdict, image: np.ndarray | None) -> str:
    """One input's section: picture(s), verdict, operating point, explanation, other faces, evidence table and,
    for a clip, its timeline and worst frames (the evidence then is the typical frame's, which it cites)."""
    colour = COLOURS.get(verdict.verdict, "#616161")
    clip = verdict if isinstance(verdict, ClipVerdict) else None
    typical = typical_frame(clip) if clip is not None else None
    detail = typical.verdict if typical is not None else verdict
    score = "–" if verdict.score is None else f"{verdict.score:.2f}"
    return (
        f'<section class="card"><div class="pic">{_pictures(detail, image, colour)}</div><div class="info">'
        f'<h2>{html.escape(Path(verdict.path).name)}</h2>'
        f'<p class="verdict" style="background:{colour}">{verdict.verdict.replace("_", " ")}</p>'
        f'<p>VIP: <b>{html.escape(verdict.vip or "none")}</b> · score {score} · '
        f'face similarity {verdict.face_similarity}/100</p>{_decided_by(detail)}{_genuine_range(detail)}'
        f'<p class="why">{html.escape(verdict.explanation)}</p>{_other_faces(detail)}{evidence_table(detail)}'
        f'{_clip_section(clip) if clip is not None else ""}</div></section>'
    )


STYLE = """body{font-family:system-ui,sans-serif;margin:2em;background:#fafafa;color:#222;max-width:1200px}
.card{display:flex;flex-wrap:wrap;gap:1.5em;background:#fff;border-radius:8px;padding:1em;margin:1em 0;
box-shadow:0 1px 3px #0002}
.pic img{max-width:320px;border-radius:4px;display:block} figure{margin:.5em 0}
figcaption{font-size:.8em;color:#555;max-width:320px} .info{flex:1;min-width:300px}
h2{margin:.2em 0;font-size:1.1em;overflow-wrap:anywhere} h3{font-size:1em;margin:1em 0 .3em}
.verdict{display:inline-block;color:#fff;padding:.2em .8em;border-radius:1em;font-weight:600;margin:.2em 0}
.why{font-style:italic} .decided{margin:.3em 0} table{border-collapse:collapse;font-size:.88em;margin:.5em 0}
td,th{padding:.15em .6em;text-align:left;border-bottom:1px solid #eee} .num{text-align:right;white-space:nowrap}
.evidence{width:100%} .barcell{width:35%}
.track{position:relative;display:block;height:.8em;background:#eee;border-radius:.4em;min-width:6em}
.fill{position:absolute;left:0;top:0;bottom:0;background:#5c6bc0;border-radius:.4em}
.typ{position:absolute;top:-.2em;bottom:-.2em;width:2px;background:#222}
.clip img{max-width:100%} .frames{display:flex;flex-wrap:wrap;gap:.8em} .frames img{max-width:200px}"""


def render(items: Sequence[tuple[Verdict, np.ndarray | None]], title: str = "vipguard report") -> str:
    cards = "".join(card(verdict, image) for verdict, image in items)
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            "<p>Each card: the verdict, what decided it, the operating point it used, the explanation, and every "
            "piece of evidence measured on the face next to the VIP's typical genuine photo (the numbers the "
            "explanation cites; bars "
            f"for similarities, the black tick at the typical photo).</p>{cards}</body></html>")


def write_report(path: Path, items: Sequence[tuple[Verdict, np.ndarray | None]], title: str = "vipguard report") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(items, title), encoding="utf-8")
