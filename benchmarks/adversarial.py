"""Adversarial attacks on the lite check (issue #37, item 1): what a forger holding the project's public models can
do to the verdict with perturbations of at most ε per pixel. Measurement only: the product has no defence yet.

    python benchmarks/adversarial.py                      # 5 VIPs, 165 photos, ~11 min (torch on one thread)
    python benchmarks/adversarial.py --out out/adversarial --per-kind 1 --genuine 2    # a quicker look
    python benchmarks/adversarial.py --artifact-weights DIR                # another detector, judged and attacked

Held-out identities and forgeries as ``benchmarks/verdict.py`` makes them: each VIP of its list enrolled from
``_0001``–``_0020``, test photos ``_0021`` onward, forgeries of every kind of that benchmark (its forgery methods,
look-alike swaps, morphs at five ratios, ``efs``) with a VIP test photo as the source and an M–Z person as the
target (self-swap: another VIP test photo; look-alike kinds: one of the five M–Z people nearest the VIP).

Two directions, each measured by the shipped ``Guard.check`` (VIP named, full detail) on the attacked photo as
uint8 — in memory and again after JPEG 85 re-encoding (delivery):

- *evasion*: a forgery perturbed to be called ``genuine``;
- *denial*: a genuine photo perturbed to be called ``fake`` or ``different_person`` (``no_face`` is counted apart).

Attacks, each with ε in 0–255 pixel units on the photo before detection (an L∞ ball, pixels kept in 0–255):

- ``fgsm`` and ``pgd`` (``--steps`` steps of 2.5·ε/steps, best iterate kept, stopped once the decision margin
  ``--margin`` is reached): white-box, through the torch copies of the embedder and the artefact detector and the
  decision (:mod:`vipguard.lite.torch_pipeline`), at the geometry the shipped check computes on the clean photo
  (YuNet's landmarks). The loss is on the decision's own terms: evasion raises each of the head's, the genuine
  range's and the artefact term's log-odds up to the margin; denial lowers the smallest (a soft minimum);
- ``transfer``: the same PGD with the face geometry of another detector (RetinaFace's landmarks): the attacker's
  alignment and detector crop are not the shipped ones, which is also what an attacker faces who cannot run the
  project's detector. (A recognizer the project does not use would be the other transfer source; the one at hand,
  dlib's ResNet, has no gradients here.);
- ``pgd→jpeg``: PGD through the JPEG 85 delivery (BPDA: the re-encoded photo forward, the gradient passed
  straight through), the attack of a forger who knows the photo will be re-encoded;
- ``square``: score-only black box (Square Attack, Andriushchenko et al. 2020) on the score ``Guard.check``
  returns (queried with ``detail="fast"``: the same verdicts and scores to 1e-3), ``--queries`` per photo, on a
  subset: ``--square-per-vip`` swaps/look-alike swaps and genuine photos per VIP.

Reported: the share of photos where the attack succeeds at the verdict (in memory / after JPEG 85), per forgery
kind and pooled, with the unattacked share beside it; and, for the white-box PGD at the largest ε, how often the
copy's verdict at the clean geometry agrees with the shipped check's (the cost of the check detecting the face
again), the median change of similarity and of the artefact log-odds.
"""

from __future__ import annotations

from one_core import DEFAULT_DATA, report  # first: pins every thread pool to one core
from verdict import VIPS, forgeries_of  # noqa: E402  the verdict benchmark's VIPs and forgeries

import argparse  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

EVASION, DENIAL = "evasion", "denial"
DENIED = ("fake", "different_person")  # the verdicts a denial attack wants for a genuine photo
WHITE_BOX = ("fgsm", "pgd")
SQUARE_KINDS = ("swap", "lookalike")  # the black-box evasion subset: the deepfakes proper of #15's targets


@dataclass(frozen=True)
class Sample:
    """One photo to attack: a held-out genuine photo of ``vip`` (denial) or a forgery of ``kind`` (evasion)."""

    vip: str
    kind: str
    image: np.ndarray = field(repr=False)

    @property
    def goal(self) -> str:
        return DENIAL if self.kind == "genuine" else EVASION


@dataclass(frozen=True)
class Outcome:
    """The shipped check of one photo after one attack (``attack`` "none": the photo as made)."""

    photo: int  # the photo's index in the benchmark's list
    vip: str
    kind: str
    attack: str
    eps: int
    memory: str  # Guard.check's verdict on the uint8 photo
    jpeg: str  # ... after JPEG 85 re-encoding
    score: float | None
    jpeg_score: float | None
    similarity: float | None
    artifact: float | None
    surrogate_genuine: bool | None = None  # the copy's verdict at the attack's fixed geometry
    steps: int | None = None  # gradient steps or queries spent
    linf: int = 0  # the largest pixel change actually made
    box: tuple[float, ...] | None = None  # the face the check judged

    @property
    def goal(self) -> str:
        return DENIAL if self.kind == "genuine" else EVASION

    def succeeded(self, goal: str, delivered: bool) -> bool:
        verdict = self.jpeg if delivered else self.memory
        return verdict == "genuine" if goal == EVASION else verdict in DENIED


class Kit:
    """The shipped check and its differentiable copies, built once: the analyzer, the ONNX artefact detector, a
    registry of the enrolled VIPs with the Guard on it (full detail, as shipped) and a fast one for black-box
    queries, the torch embedder and detector, and RetinaFace for the transfer geometry."""

    def __init__(self, folder: Path, artifact_weights: Path | None = None):
        from vipguard.artifact.detector import ArtifactDetector
        from vipguard.faces import FaceAnalyzer
        from vipguard.faces.detect import create_detector
        from vipguard.faces.torch_mobilefacenet import TorchMobileFaceNet
        from vipguard.infra.registry import Registry
        from vipguard.lite.guard import Guard, GuardConfig
        from vipguard.lite.profile import PROFILE_CODEC
        from vipguard.lite.torch_pipeline import load_detector

        self.analyzer = FaceAnalyzer()
        self.artifact = ArtifactDetector(artifact_weights)
        self.registry = Registry(folder / "registry.db", codec=PROFILE_CODEC)
        self.guard = Guard(self.registry, self.analyzer, artifact=self.artifact)
        self.fast = Guard(self.registry, self.analyzer, GuardConfig(detail="fast"), artifact=self.artifact)
        self.embedder = TorchMobileFaceNet()
        self.net, self.config = load_detector(artifact_weights)
        self.retinaface = create_detector("retinaface", num_threads=1)
        self.profiles: dict = {}

    def check(self, profile_name: str):
        from vipguard.lite.torch_pipeline import DifferentiableCheck

        return DifferentiableCheck(self.profiles[profile_name], self.embedder, self.net, self.config,
                                   self.guard.veto)

    def close(self) -> None:
        self.analyzer.close()


# ------------------------------------------------------------------------------------------------ the photos


def analysed(kit: Kit, path: Path):
    """(photo, its dominant face with mesh) or None, as the verdict benchmark's forgers take them."""
    from vipguard.infra.io import load_image

    image = load_image(path)
    faces = kit.analyzer.analyze(image, primary_only=True, embedders=())
    return (image, faces[0]) if faces and faces[0].mesh is not None else None


def other_people(kit: Kit, lfw: Path, count: int, seed: int) -> tuple[list, np.ndarray]:
    """M–Z people who are no VIP, drawn as ``benchmarks/verdict.py`` draws them: their first photo analysed, and
    each one's embedding (for the look-alikes)."""
    from vipguard.faces.embed import DEFAULT_EMBEDDER

    rng = np.random.default_rng(seed)
    mz = sorted(d.name for d in lfw.iterdir() if d.is_dir() and "M" <= d.name[:1].upper() <= "Z" and d.name not in VIPS)
    names = [mz[i] for i in sorted(rng.choice(len(mz), size=min(count, len(mz)), replace=False))]
    people = [o for o in (analysed(kit, sorted((lfw / n).glob("*.jpg"))[0]) for n in names) if o is not None]
    embedder = kit.analyzer.embedder(DEFAULT_EMBEDDER)
    return people, np.stack([embedder.embed_aligned(face.aligned[None])[0] for _, face in people])


def samples(kit: Kit, args) -> list[Sample]:
    """Enrol every VIP, then its held-out genuine photos (denial) and forgeries (evasion)."""
    from vipguard.lite.background import load_background
    from vipguard.lite.enrol import Enroller

    lfw = args.data / "lfw"
    enroller = Enroller(kit.analyzer, load_background(), artifact=kit.artifact)
    people, vectors = other_people(kit, lfw, args.others, args.seed)
    out = []
    for vip in args.vips:
        photos = sorted((lfw / vip).glob("*.jpg"))
        profile = enroller.enrol(vip, photos[:20]).profile
        kit.registry.put(profile)
        kit.profiles[vip] = profile
        test = [t for t in (analysed(kit, p) for p in photos[20: 20 + args.test_pool]) if t is not None]
        out += [Sample(vip, "genuine", image) for image, _ in test[: args.genuine]]
        near = np.argsort(-(vectors @ profile.centre))[:5]
        out += [Sample(vip, kind, image) for kind, image in
                forgeries_of(test, people, near, args.per_kind, args.seed)]
        progress(f"{vip}: enrolled (floor {profile.genuine.floor(profile.reject_rate):.3f}); {len(out)} photos")
    return out


# ------------------------------------------------------------------------------------------------ the attacks


def judged_face(kit: Kit, image: np.ndarray, box) -> np.ndarray | None:
    """The landmarks of the face the shipped check judged (its box), as YuNet finds them on this photo."""
    faces = kit.analyzer.analyze(image, embedders=(), mesh=False)
    if not faces or box is None:
        return None
    return min(faces, key=lambda f: float(np.abs(np.asarray(f.detection.box) - np.asarray(box)).sum())
               ).detection.landmarks


def other_landmarks(kit: Kit, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
    """RetinaFace's landmarks of the same face (the transfer geometry), or None when it finds none near it."""
    found = kit.retinaface.detect(image)
    if not found:
        return None
    best = min(found, key=lambda d: float(np.abs(d.landmarks - landmarks).mean()))
    eyes = float(np.linalg.norm(landmarks[1] - landmarks[0]))
    return best.landmarks if float(np.abs(best.landmarks - landmarks).mean()) < 0.5 * eyes else None


def objective(check, geometry, goal: str, margin: float, deliver: int | None = None) -> Callable:
    """The attack loss on the decision's terms (log-odds, :class:`~vipguard.lite.torch_pipeline.Terms`): evasion
    raises every term up to ``margin`` (all must hold for a genuine verdict); denial lowers the smallest (soft
    minimum) down to ``-margin``. ``deliver``: the photo passes a JPEG of that quality first (BPDA)."""
    import torch

    from vipguard.infra.imageops import jpeg
    from vipguard.lite.torch_pipeline import Step, quantised, straight_through, to_uint8

    def step(x):
        if deliver is not None:
            x = straight_through(quantised(x), jpeg(to_uint8(x), deliver))
        terms = check.terms(x, geometry)
        stacked = torch.stack(terms.all())
        m = float(terms.margin.detach())
        if goal == EVASION:
            return Step(stacked.clamp(max=margin).sum(), m, m >= margin)
        return Step(torch.logsumexp(-stacked, 0), -m, m <= -margin)

    return step


def shipped(kit: Kit, photo: int, sample: Sample, attack: str, eps: int, image: np.ndarray,
            surrogate: bool | None = None, steps: int | None = None) -> Outcome:
    """The shipped verdict on ``image``, in memory and delivered as JPEG 85."""
    from vipguard.infra.imageops import jpeg

    v = kit.guard.check(image, sample.vip)
    j = kit.guard.check(jpeg(image, 85), sample.vip)
    linf = int(np.abs(image.astype(np.int16) - sample.image.astype(np.int16)).max())
    if linf > eps:
        raise AssertionError(f"{attack} at ε {eps} changed a pixel by {linf}")
    box = None if v.box is None else tuple(float(b) for b in v.box)
    return Outcome(photo, sample.vip, sample.kind, attack, eps, v.verdict, j.verdict, v.score, j.score,
                   v.evidence.get("sim_global"), v.evidence.get("artifact"), surrogate, steps, linf, box)


def white_box(kit: Kit, photo: int, sample: Sample, landmarks: np.ndarray, args) -> list[Outcome]:
    """FGSM and PGD at every ε, PGD with RetinaFace's geometry (transfer) and PGD through JPEG 85."""
    from vipguard.lite.torch_pipeline import FaceGeometry, pgd

    check = kit.check(sample.vip)
    goal = sample.goal
    here = FaceGeometry.of(landmarks, kit.config)
    elsewhere = other_landmarks(kit, sample.image, landmarks)
    plans = [("fgsm", e, here, None, 1, float(e)) for e in args.eps]
    plans += [("pgd", e, here, None, args.steps, None) for e in args.eps]
    if elsewhere is not None:
        plans += [("transfer", e, FaceGeometry.of(elsewhere, kit.config), None, args.steps, None)
                  for e in args.transfer_eps]
    plans += [("pgd→jpeg", e, here, 85, args.steps, None) for e in args.jpeg_eps]
    out = []
    for attack, eps, geometry, deliver, steps, size in plans:
        result = pgd(objective(check, geometry, goal, args.margin, deliver), sample.image, eps, steps, size)
        genuine = (result.progress >= 0) if goal == EVASION else (-result.progress >= 0)
        out.append(shipped(kit, photo, sample, attack, eps, result.image, genuine, result.steps))
    return out


def face_region(landmarks: np.ndarray, kit: Kit, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): the photo box that the embedder's crop and the detector's crop cover (where a
    black-box attacker's perturbation can matter)."""
    import cv2

    from vipguard.lite.torch_pipeline import CROP, FaceGeometry

    geometry = FaceGeometry.of(landmarks, kit.config)
    corners = []
    for matrix, size in ((geometry.align, CROP), (geometry.artefact, kit.config.size)):
        inverse = cv2.invertAffineTransform(matrix)
        square = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
        corners.append(square @ inverse[:, :2].T + inverse[:, 2])
    pts = np.concatenate(corners)
    h, w = shape[:2]
    x0, y0 = np.clip(np.floor(pts.min(0)).astype(int), 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(pts.max(0)).astype(int), [x0 + 1, y0 + 1], [w, h])
    return int(y0), int(y1), int(x0), int(x1)


def square_size(query: int, budget: int, area: int, p_init: float = 0.05) -> int:
    """The side of the next square: Square Attack's schedule (p_init halved at 10, 50, 200, 500, 1000, 2000, 4000,
    6000 and 8000 of 10,000 iterations), rescaled to ``budget`` queries."""
    it = int(query / max(budget, 1) * 10_000)
    halvings = sum(it > t for t in (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000))
    return max(int(round(math.sqrt(p_init / 2**halvings * area))), 1)


def square_attack(query: Callable, image: np.ndarray, region: tuple[int, int, int, int], eps: int, budget: int,
                  goal: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Score-only L∞ random search (Square Attack): vertical ±ε stripes over ``region`` (kept if they beat the photo
    as made), then one square of ±ε at a time, kept when the score moves the attacker's way.
    ``query(uint8) -> (score or None, verdict)``. Stops at success or after ``budget`` queries; returns (the best
    photo, queries spent; 1 when the photo as made already succeeds)."""
    y0, y1, x0, x1 = region
    h, w = y1 - y0, x1 - x0
    base = image.astype(np.int16)

    def loss(candidate: np.ndarray) -> tuple[float, bool]:
        score, verdict = query(candidate)
        if score is None:
            return -math.inf, False
        p = min(max(float(score), 1e-12), 1 - 1e-12)
        logit = math.log(p / (1 - p))
        return (logit, verdict == "genuine") if goal == EVASION else (-logit, verdict in DENIED)

    def apply(delta: np.ndarray) -> np.ndarray:
        return np.clip(base + delta, 0, 255).astype(np.uint8)

    delta = np.zeros_like(base)
    best, done = loss(image)
    if done:
        return image, 1
    stripes = delta.copy()
    stripes[y0:y1, x0:x1] = eps * rng.choice([-1, 1], size=(1, w, 3))
    value, striped = loss(apply(stripes))
    queries = 2
    if value > best or striped:
        delta, best, done = stripes, value, striped
    while queries < budget and not done:
        s = min(square_size(queries, budget, h * w), h, w)
        r, c = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
        trial = delta.copy()
        trial[y0 + r: y0 + r + s, x0 + c: x0 + c + s] = eps * rng.choice([-1, 1], size=(1, 1, 3))
        value, done = loss(apply(trial))
        queries += 1
        if value > best or done:
            delta, best = trial, value
    return apply(delta), queries


def black_box(kit: Kit, photo: int, sample: Sample, landmarks: np.ndarray, args,
              rng: np.random.Generator) -> list[Outcome]:
    """The score-only attack at each ``--square-eps``."""

    def query(image):
        v = kit.fast.check(image, sample.vip)
        return v.score, v.verdict

    region = face_region(landmarks, kit, sample.image.shape)
    out = []
    for eps in args.square_eps:
        image, queries = square_attack(query, sample.image, region, eps, args.queries, sample.goal, rng)
        out.append(shipped(kit, photo, sample, "square", eps, image, None, queries))
    return out


def square_subset(batch: list[Sample], per_vip: int) -> set[int]:
    """Indices of the black-box subset: per VIP the first ``per_vip`` swaps and look-alike swaps (alternating) and
    the first ``per_vip`` genuine photos."""
    chosen: set[int] = set()
    for vip in dict.fromkeys(s.vip for s in batch):
        mine = [i for i, s in enumerate(batch) if s.vip == vip]
        chosen |= set([i for i in mine if batch[i].kind == "genuine"][:per_vip])
        fakes = [[i for i in mine if batch[i].kind == k] for k in SQUARE_KINDS]
        alternating = [i for pair in zip(*fakes) for i in pair]
        chosen |= set(alternating[:per_vip])
    return chosen


def attack_all(kit: Kit, batch: list[Sample], args) -> list[Outcome]:
    """Every attack on every photo, the clean check first (progress on stderr)."""
    rng = np.random.default_rng(args.seed + 37)
    subset = square_subset(batch, args.square_per_vip)
    outcomes = []
    start = time.perf_counter()
    for i, sample in enumerate(batch):
        clean = shipped(kit, i, sample, "none", 0, sample.image)
        outcomes.append(clean)
        landmarks = judged_face(kit, sample.image, clean.box)
        if landmarks is None:
            progress(f"[{i + 1}/{len(batch)}] {sample.vip} {sample.kind}: no face found; not attacked")
            continue
        mine = white_box(kit, i, sample, landmarks, args)
        if i in subset:
            mine += black_box(kit, i, sample, landmarks, args, rng)
        outcomes += mine
        strongest = [o for o in mine if o.attack == "pgd" and o.eps == max(args.eps)]
        progress(f"[{i + 1}/{len(batch)}] {sample.vip} {sample.kind}: clean {clean.memory}, PGD ε{max(args.eps)} "
                 f"{strongest[0].memory if strongest else '-'} / JPEG {strongest[0].jpeg if strongest else '-'}; "
                 f"{time.perf_counter() - start:.0f} s")
    return outcomes


# ------------------------------------------------------------------------------------------------ the tables


def rate(rows: list[Outcome], goal: str, delivered: bool) -> float:
    return 100.0 * float(np.mean([o.succeeded(goal, delivered) for o in rows])) if rows else float("nan")


def cell(rows: list[Outcome], goal: str) -> str:
    """"in memory / JPEG 85" success %, or a dash where the attack was not run."""
    if not rows:
        return "–"
    return f"{rate(rows, goal, False):.0f} / {rate(rows, goal, True):.0f}"


def summary_rows(args) -> list[tuple[str, int]]:
    """(attack, ε) of the summary table, in order, the photos as made first."""
    rows = [("none", 0)] + [(a, e) for a in WHITE_BOX for e in args.eps]
    rows += [("transfer", e) for e in args.transfer_eps] + [("pgd→jpeg", e) for e in args.jpeg_eps]
    return rows + [("square", e) for e in args.square_eps]


def label(attack: str, eps: int) -> str:
    return "as made" if attack == "none" else f"{attack} ε{eps}"


def summary_table(outcomes: list[Outcome], args) -> list[str]:
    """Success at the verdict per attack and ε, pooled: evasion over all forgeries, denial over genuine photos."""
    lines = ["## Success at the verdict, % in memory / after JPEG 85", "",
             "Evasion: forgeries called `genuine`; denial: genuine photos called `fake` or `different_person`. "
             "n: photos attacked (the black box runs on its subset).", "",
             "| attack | evasion n | evasion | denial n | denial |", "|---|---|---|---|---|"]
    for attack, eps in summary_rows(args):
        cells = []
        for goal in (EVASION, DENIAL):
            rows = [o for o in outcomes if o.attack == attack and o.eps == eps and o.goal == goal]
            cells += [str(len(rows)), cell(rows, goal)]
        lines.append(f"| {label(attack, eps)} | " + " | ".join(cells) + " |")
    return lines + [""]


def kind_table(outcomes: list[Outcome], args) -> list[str]:
    """Evasion per forgery kind for the white-box attacks and the largest-ε transfer and JPEG-aware PGD."""
    cols = [("none", 0)] + [(a, e) for a in WHITE_BOX for e in args.eps]
    cols += [(a, max(eps)) for a, eps in (("transfer", args.transfer_eps), ("pgd→jpeg", args.jpeg_eps)) if eps]
    kinds = [k for k in dict.fromkeys(o.kind for o in outcomes) if k != "genuine"]
    lines = ["## Evasion per forgery kind: called `genuine`, % in memory / after JPEG 85", "",
             "| kind | n | " + " | ".join(label(a, e) for a, e in cols) + " |", "|---" * (len(cols) + 2) + "|"]
    for kind in kinds:
        mine = [o for o in outcomes if o.kind == kind]
        n = sum(1 for o in mine if o.attack == "none")
        cells = [cell([o for o in mine if o.attack == a and o.eps == e], EVASION) for a, e in cols]
        lines.append(f"| {kind} | {n} | " + " | ".join(cells) + " |")
    return lines + [""]


def black_box_table(outcomes: list[Outcome], args) -> list[str]:
    lines = ["## Score-only black box (Square Attack on `Guard.check`'s score)", "",
             f"Budget {args.queries} queries per photo; evasion on swaps and look-alike swaps, denial on genuine "
             "photos. Success %, in memory / after JPEG 85; the same photos as made beside it.", "",
             "| direction | n | ε | as made | attacked | queries to success in memory: median (successes) |",
             "|---|---|---|---|---|---|"]
    for goal in (EVASION, DENIAL):
        for eps in args.square_eps:
            rows = [o for o in outcomes if o.attack == "square" and o.eps == eps and o.goal == goal]
            if not rows:
                continue
            photos = {o.photo for o in rows}
            clean = [o for o in outcomes if o.attack == "none" and o.photo in photos]
            won = [o.steps for o in rows if o.succeeded(goal, False)]
            median = f"{np.median(won):.0f} ({len(won)})" if won else "– (0)"
            lines.append(f"| {goal} | {len(rows)} | {eps} | {cell(clean, goal)} | {cell(rows, goal)} | {median} |")
    return lines + [""]


def diagnostics(outcomes: list[Outcome], args) -> list[str]:
    """For the strongest white-box PGD: does the copy's verdict at the clean geometry hold on the shipped check,
    and what moved."""
    eps = max(args.eps)
    lines = [f"## What the white-box PGD at ε {eps} moved", "",
             "| direction | n | copy's verdict = shipped verdict, % | median Δ similarity "
             "| median Δ artefact log-odds | median steps |", "|---|---|---|---|---|---|"]
    clean = {o.photo: o for o in outcomes if o.attack == "none"}
    for goal in (EVASION, DENIAL):
        pairs = [(clean[o.photo], o) for o in outcomes if o.attack == "pgd" and o.eps == eps and o.goal == goal]
        if not pairs:
            continue
        agree = [p.surrogate_genuine == (p.memory == "genuine") for _, p in pairs if p.surrogate_genuine is not None]
        dsim = [p.similarity - c.similarity for c, p in pairs if p.similarity is not None and c.similarity is not None]
        dart = [logit(p.artifact) - logit(c.artifact) for c, p in pairs if p.artifact is not None
                and c.artifact is not None]
        lines.append(f"| {goal} | {len(pairs)} | {100 * np.mean(agree):.0f} | {np.median(dsim):+.3f} | "
                     f"{np.median(dart):+.2f} | {np.median([p.steps for _, p in pairs]):.0f} |")
    return lines + [""]


def logit(p: float) -> float:
    p = min(max(float(p), 1e-7), 1 - 1e-7)  # a float32 probability's resolution near 1
    return math.log(p / (1 - p))


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("VIPGUARD_DATA", DEFAULT_DATA)))
    ap.add_argument("--vips", nargs="+", default=VIPS)
    ap.add_argument("--per-kind", type=int, default=2, help="forgeries of each kind per VIP (evasion)")
    ap.add_argument("--genuine", type=int, default=3, help="held-out genuine photos per VIP (denial)")
    ap.add_argument("--test-pool", type=int, default=40, help="held-out photos per VIP the forgeries are made from")
    ap.add_argument("--others", type=int, default=60, help="M–Z people drawn as forgery targets")
    ap.add_argument("--eps", type=int, nargs="+", default=[2, 4, 8], help="white-box ε, in 0–255 pixel units")
    ap.add_argument("--transfer-eps", type=int, nargs="*", default=[2, 4, 8])
    ap.add_argument("--jpeg-eps", type=int, nargs="*", default=[2, 4, 8], help="ε of PGD through the JPEG 85 delivery")
    ap.add_argument("--square-eps", type=int, nargs="*", default=[4, 8])
    ap.add_argument("--steps", type=int, default=10, help="PGD steps")
    ap.add_argument("--margin", type=float, default=4.0,
                    help="log-odds beyond the decision at which PGD stops (room for re-detection and rounding)")
    ap.add_argument("--queries", type=int, default=300, help="black-box query budget per photo")
    ap.add_argument("--square-per-vip", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--seed", type=int, default=4321)
    ap.add_argument("--artifact-weights", type=Path, default=None,
                    help="an artefact detector folder to judge and attack (default: the packaged one)")
    ap.add_argument("--out", type=Path, default=None, help="write adversarial.md and adversarial.json here")
    args = ap.parse_args(argv)
    if not (args.data / "lfw").is_dir():
        ap.error(f"no LFW folder at {args.data / 'lfw'} (set --data or VIPGUARD_DATA)")

    import torch

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vipguard-adversarial-") as tmp:
        kit = Kit(Path(tmp), args.artifact_weights)
        try:
            batch = samples(kit, args)
            outcomes = attack_all(kit, batch, args)
        finally:
            kit.close()
    seconds = time.perf_counter() - start
    lines = [f"# Adversarial robustness ({len(args.vips)} VIPs: {', '.join(args.vips)}; seed {args.seed}; "
             f"PGD {args.steps} steps, margin {args.margin:g})", "",
             "ε in 0–255 pixel units (L∞, on the photo before detection). Every cell is the shipped `Guard.check` "
             "on the attacked photo: in memory / after JPEG 85.", ""]
    lines += summary_table(outcomes, args) + kind_table(outcomes, args) + black_box_table(outcomes, args)
    lines += diagnostics(outcomes, args)
    no_face = sum(1 for o in outcomes if o.attack != "none" and o.memory == "no_face")
    lines += [f"Attacked photos on which the shipped check found no face (in memory): {no_face}.",
              f"Whole run: {seconds:.0f} s."]
    results = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
               "seconds": seconds, "outcomes": [asdict(o) for o in outcomes]}
    report("\n".join(lines), results, args.out, "adversarial")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
