"""Training sets in ms-swift's JSON format (``{"messages": [...], "images": [...]}`` plus a few extra keys).

- ``D_FA`` (Stage 1): facial-attribute VQA (multiple choice, short answer, long description) generated from
  attributes *measured* on each photo by the face pipeline (:func:`measure_attributes`) — never invented.
- ``D_ID`` general (Stage 2): pairs (reference, input) in the exact ratio 2 : 1 : 1 = same-identity real :
  different-identity real : real-vs-fake (the fake shows the reference's identity).
- ``D_ID`` VIP (Stage 3): inputs in the exact ratio 1 : 5 : 5 = genuine VIP : other real people : forgeries.

``images`` = ``[input]``, or ``[input, reference]`` for Stage-2 pairs (the authors' order: the first image's vision
tokens are the FaceChecker's keys, the second's its queries). Extra keys beside ``messages``/``images``:
``label`` (bool) and ``kind``. The face model only measures FACE_SCORE, written into the prompt, so training needs
no face model. Fakes are files the caller provides (any forgery generator's output). The authors' own JSON files
have the same layout and train as they are (:mod:`vipguard.train.mllm_records`).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from ..faces.embed import DEFAULT_EMBEDDER
from ..mllm.prompts import IMAGE_TAG, answer, vip_prompt

Embed = Callable[[Path], "np.ndarray | None"]
GENERAL_RATIO = {"same": 2, "different": 1, "fake": 1}
VIP_RATIO = {"genuine": 1, "other": 5, "fake": 5}
BLENDSHAPES = ("eyeBlinkLeft", "eyeBlinkRight", "jawOpen", "mouthSmileLeft", "mouthSmileRight", "browInnerUp")


# -- measured attributes ----------------------------------------------------------------------------------
def measure_attributes(face) -> dict[str, float]:
    """Geometry ratios, blendshapes and pose measured on a :class:`vipguard.faces.Face` with a mesh."""
    from ..faces import region_indices

    if face.mesh is None:
        raise ValueError("measure_attributes needs a face with a dense mesh (FaceAnalyzer with mesh=True)")
    pts = np.asarray(face.mesh.points, np.float64)[:, :2]
    idx = {k: list(v) for k, v in region_indices().items()}

    def span(name: str, axis: int) -> float:
        p = pts[idx[name], axis]
        return float(p.max() - p.min())

    width, height = span("outline", 0), span("outline", 1)
    if width <= 0 or height <= 0:
        raise ValueError("degenerate face mesh (zero width or height)")
    left, right = pts[idx["left_eye"]].mean(0), pts[idx["right_eye"]].mean(0)
    bs = face.mesh.blendshapes
    pose = face.mesh.pose
    out = {
        "face_aspect": height / width,
        "eye_distance": float(np.linalg.norm(left - right)) / width,
        "eye_width": 0.5 * (span("left_eye", 0) + span("right_eye", 0)) / width,
        "nose_width": span("nose", 0) / width,
        "mouth_width": span("mouth", 0) / width,
        "mouth_height": span("mouth", 1) / height,
        "yaw": float(pose.yaw), "pitch": float(pose.pitch), "roll": float(pose.roll),
    }
    for name in BLENDSHAPES:
        out[name] = float(bs.get(name, 0.0))
    return {k: round(v, 4) for k, v in out.items()}


def _bin(value: float, edges: tuple[float, float], words: tuple[str, str, str]) -> str:
    return words[0] if value < edges[0] else words[2] if value > edges[1] else words[1]


def describe(attrs: Mapping[str, float]) -> dict[str, str]:
    """Words for measured attributes (fixed, documented bins)."""
    blink = 0.5 * (attrs["eyeBlinkLeft"] + attrs["eyeBlinkRight"])
    smile = 0.5 * (attrs["mouthSmileLeft"] + attrs["mouthSmileRight"])
    return {
        "yaw": _bin(attrs["yaw"], (-10, 10), ("turned to the left", "frontal", "turned to the right")),
        "pitch": _bin(attrs["pitch"], (-10, 10), ("tilted down", "level", "tilted up")),
        "shape": _bin(attrs["face_aspect"], (1.15, 1.35), ("wide", "average", "long")),
        "nose": _bin(attrs["nose_width"], (0.22, 0.30), ("narrow", "medium", "broad")),
        "mouth": _bin(attrs["mouth_width"], (0.33, 0.42), ("small", "medium", "wide")),
        "eyes": "closed" if blink > 0.5 else "open",
        "mouth_open": "open" if attrs["jawOpen"] > 0.2 else "closed",
        "smile": "smiling" if smile > 0.3 else "not smiling",
        "brows": "raised" if attrs["browInnerUp"] > 0.3 else "relaxed",
    }


def attribute_vqa(attrs: Mapping[str, float], rng: random.Random) -> list[tuple[str, str, str]]:
    """``(task, question, answer)`` triples from measured attributes: multiple choice, short, long."""
    words = describe(attrs)
    options = ["turned to the left", "frontal", "turned to the right"]
    rng.shuffle(options)
    letters = "ABC"
    mc_q = ("Which option best describes the head pose? "
            + " ".join(f"{letters[i]}. {o}" for i, o in enumerate(options)) + " Answer with the letter.")
    mc_a = letters[options.index(words["yaw"])]
    shape_opts = ["wide", "average", "long"]
    rng.shuffle(shape_opts)
    mc2_q = ("What is the shape of the face? " + " ".join(f"{letters[i]}. {o}" for i, o in enumerate(shape_opts))
             + " Answer with the letter.")
    mc2_a = letters[shape_opts.index(words["shape"])]
    short = [
        ("Is the mouth open?", "Yes." if words["mouth_open"] == "open" else "No."),
        ("Are the eyes open?", "Yes." if words["eyes"] == "open" else "No."),
        ("Is the person smiling?", "Yes." if words["smile"] == "smiling" else "No."),
    ]
    sq, sa = short[rng.randrange(len(short))]
    long_a = (f"The face is {words['shape']} (height/width {attrs['face_aspect']:.2f}) and {words['yaw']}, "
              f"{words['pitch']} (yaw {attrs['yaw']:+.0f}°, pitch {attrs['pitch']:+.0f}°, roll {attrs['roll']:+.0f}°). "
              f"The eyes are {words['eyes']}, {attrs['eye_distance']:.2f} face widths apart; the eyebrows are "
              f"{words['brows']}. The nose is {words['nose']} ({attrs['nose_width']:.2f} of the face width). "
              f"The mouth is {words['mouth']} ({attrs['mouth_width']:.2f} of the face width), "
              f"{words['mouth_open']}, and the person is {words['smile']}.")
    return [("multiple_choice", mc_q, mc_a), ("multiple_choice", mc2_q, mc2_a), ("short_answer", sq, sa),
            ("long_description", "Describe the facial attributes of the person in the image in detail.", long_a)]


def _record(user: str, assistant: str, images: Sequence[Path | str], **extra) -> dict:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}],
            "images": [str(p) for p in images], **extra}


def fa_records(items: Sequence[tuple[Path, Mapping[str, float]]], seed: int = 0) -> list[dict]:
    """D_FA records for ``(image path, measured attributes)`` pairs."""
    rng = random.Random(seed)
    out = []
    for path, attrs in items:
        for task, q, a in attribute_vqa(attrs, rng):
            out.append(_record(IMAGE_TAG + q, a, [path], task=task, attributes=dict(attrs)))
    return out


# -- identity pairs --------------------------------------------------------------------------------------
def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float32).reshape(-1)
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _score(a: np.ndarray, b: np.ndarray) -> int:
    from ..faces.embed import face_score

    return int(face_score(float(np.dot(_unit(a), _unit(b)))))


class _Embeddings:
    """Embeds each path once; paths without a face are dropped (and counted)."""

    def __init__(self, embed: Embed):
        self.embed, self.cache, self.no_face = embed, {}, []

    def keep(self, paths: Sequence[Path]) -> list[Path]:
        out = []
        for p in paths:
            p = Path(p)
            if not p.is_file():
                raise FileNotFoundError(f"image not found: {p}")
            if p not in self.cache:
                self.cache[p] = self.embed(p)
                if self.cache[p] is None:
                    self.no_face.append(p)
            if self.cache[p] is not None:
                out.append(p)
        return out


def id_general_records(identities: Mapping[str, Sequence[Path]], fakes: Mapping[str, Sequence[Path]],
                       embed: Embed, units: int, seed: int = 0) -> list[dict]:
    """``4·units`` D_ID-general pairs in the exact ratio 2 : 1 : 1 (same : different : fake).

    ``identities``: name → real photos; ``fakes``: name → forgeries *of that identity*.
    """
    rng = random.Random(seed)
    emb = _Embeddings(embed)
    real = {k: emb.keep(sorted(v)) for k, v in sorted(identities.items())}
    multi = [k for k, v in real.items() if len(v) >= 2]
    faked = {k: emb.keep(sorted(v)) for k, v in sorted(fakes.items()) if real.get(k)}
    faked = {k: v for k, v in faked.items() if v}
    names = [k for k, v in real.items() if v]
    if not multi:
        raise ValueError("same-identity pairs need an identity with at least 2 photos with a detectable face")
    if len(names) < 2:
        raise ValueError("different-identity pairs need at least 2 identities")
    if not faked:
        raise ValueError("real-vs-fake pairs need forgeries of at least one identity that has real photos")

    def pair(kind: str, ref: Path, inp: Path) -> dict:
        label = kind == "same"
        return _record(vip_prompt(_score(emb.cache[ref], emb.cache[inp])), answer(label), [inp, ref], label=label,
                       kind=kind)

    out = []
    for _ in range(units):
        for _ in range(GENERAL_RATIO["same"]):
            name = rng.choice(multi)
            ref, inp = rng.sample(real[name], 2)
            out.append(pair("same", ref, inp))
        a, b = rng.sample(names, 2)
        out.append(pair("different", rng.choice(real[a]), rng.choice(real[b])))
        name = rng.choice(sorted(faked))
        out.append(pair("fake", rng.choice(real[name]), rng.choice(faked[name])))
    rng.shuffle(out)
    return out


def embedding_centre(vectors: Sequence[np.ndarray]) -> np.ndarray:
    """The VIP's Face Embedding Centre: mean of L2-normalised embeddings, re-normalised."""
    return _unit(np.mean([_unit(v) for v in vectors], axis=0))


def id_vip_records(genuine: Sequence[Path], others: Sequence[Path], fakes: Sequence[Path], embed: Embed,
                   seed: int = 0) -> tuple[list[dict], np.ndarray]:
    """D_ID-VIP records in the exact ratio 1 : 5 : 5 (genuine : other real : fake) and the VIP's centre.

    Every genuine photo with a face is used once; other-people and fake inputs are drawn without replacement
    while enough exist, else with replacement. FACE_SCORE is measured against the centre.
    """
    rng = random.Random(seed)
    emb = _Embeddings(embed)
    gen, oth, fak = emb.keep(sorted(genuine)), emb.keep(sorted(others)), emb.keep(sorted(fakes))
    for what, lst in (("genuine VIP photos", gen), ("photos of other people", oth), ("forgeries", fak)):
        if not lst:
            raise ValueError(f"no {what} with a detectable face")
    centre = embedding_centre([emb.cache[p] for p in gen])
    n = len(gen)

    def draw(pool: list[Path], k: int) -> list[Path]:
        return rng.sample(pool, k) if len(pool) >= k else rng.choices(pool, k=k)

    out = []
    for kind, paths in (("genuine", gen), ("other", draw(oth, VIP_RATIO["other"] * n)),
                        ("fake", draw(fak, VIP_RATIO["fake"] * n))):
        for p in paths:
            label = kind == "genuine"
            out.append(_record(vip_prompt(_score(centre, emb.cache[p])), answer(label), [p], label=label,
                               kind=kind))
    rng.shuffle(out)
    return out, centre


def save_json(records: list[dict], path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(records, ensure_ascii=False, indent=1))
    return p


def load_json(path: str | Path) -> list[dict]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"training JSON not found: {p}")
    records = json.loads(p.read_text())
    if not isinstance(records, list) or not all("messages" in r and "images" in r for r in records):
        raise ValueError(f"{p}: expected a list of {{'messages': [...], 'images': [...]}} records")
    return records


def analyzer_embed(analyzer, embedder: str = DEFAULT_EMBEDDER) -> Embed:
    """An :data:`Embed` backed by :class:`vipguard.faces.FaceAnalyzer` (dominant face; None if no face)."""
    from ..infra.io import load_image

    def embed(path: Path):
        faces = analyzer.analyze(load_image(path), primary_only=True, embedders=(embedder,), mesh=False)
        return faces[0].embeddings[embedder] if faces else None

    return embed


__all__ = [
    "GENERAL_RATIO", "VIP_RATIO", "analyzer_embed", "attribute_vqa", "describe", "embedding_centre",
    "fa_records", "id_general_records", "id_vip_records", "load_json", "measure_attributes", "save_json",
]
