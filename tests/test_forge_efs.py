"""The entire-face-synthesis proxy (``efs``) on real LFW photos: whole frame, no seam, no JPEG grid, partial
identity, determinism and its errors."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from vipguard.faces import cosine, region_mask
from vipguard.faces.embed import DEFAULT_EMBEDDER
from vipguard.forge import FORGERS, ForgeError, ForgeInput, identity_centre, input_problem, prepare_input
from vipguard.forge.warp import face_size, similarity_matrix, transform_points
from vipguard.infra.imageops import jpeg

from .conftest import photos

EFS_VIPS = ("Colin_Powell", "Tony_Blair")


@pytest.fixture(scope="module")
def cases(lfw, analyzer) -> dict[str, list]:
    """Per VIP: an identity centre from photos 11–22, sources 1–3, genuine photos 23–34, and pairs with the most
    similar-looking of a pool of other people (look-alike targets, as the benchmarks use)."""
    pool = []
    for folder in sorted(d for d in lfw.iterdir() if d.is_dir() and d.name not in EFS_VIPS)[::61][:30]:
        try:
            pool.append(prepare_input(str(sorted(folder.glob("*.jpg"))[0]), analyzer))
        except ForgeError:
            continue
    out: dict[str, list] = {"pairs": [], "genuine": []}
    for name in EFS_VIPS:
        centre = identity_centre([prepare_input(str(p), analyzer) for p in photos(lfw, name, 11, 22)])
        out["genuine"] += [(centre, prepare_input(str(p), analyzer)) for p in photos(lfw, name, 23, 34)]
        near = sorted(pool, key=lambda t: -float(cosine(t.face.embeddings[DEFAULT_EMBEDDER], centre)))
        for source in (prepare_input(str(p), analyzer) for p in photos(lfw, name, 1, 3)):
            targets = [t for t in near if input_problem(source, t) is None][:2]
            out["pairs"] += [(centre, source, t) for t in targets]
    return out


@pytest.fixture(scope="module")
def forged(cases) -> list:
    """(centre, source, target, efs result, morph result), seed = pair index."""
    efs, morph = FORGERS.create("efs"), FORGERS.create("morph")
    return [(c, s, t, efs.forge(s, t, np.random.default_rng(k)), morph.forge(s, t, np.random.default_rng(k)))
            for k, (c, s, t) in enumerate(cases["pairs"])]


def blockiness(image: np.ndarray) -> float:
    """Mean absolute grey-level step across 8-pixel block boundaries over the mean step inside blocks
    (about 1 without a JPEG grid, above 1 with one)."""
    g = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)
    dx, dy = np.abs(np.diff(g, axis=1)), np.abs(np.diff(g, axis=0))
    bx, by = np.arange(dx.shape[1]) % 8 == 7, np.arange(dy.shape[0]) % 8 == 7
    return float((dx[:, bx].mean() + dy[by].mean()) / (dx[:, ~bx].mean() + dy[~by].mean()))


def seam_energy(image: np.ndarray, oval: np.ndarray, inside: int) -> float:
    """Gradient magnitude in the band where a blend of ``oval`` would have its seam (from ``inside`` px within the
    oval to 3 px outside it) over that in the bands just inside and just outside that one."""
    g = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    mag = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))

    def disc(r: int) -> np.ndarray:
        return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))

    band = cv2.dilate(oval, disc(3)) & ~cv2.erode(oval, disc(inside))
    inner = cv2.erode(oval, disc(inside + 3)) & ~cv2.erode(oval, disc(inside + 12))
    outer = cv2.dilate(oval, disc(13)) & ~cv2.dilate(oval, disc(6))
    return float(mag[band > 0].mean() / (0.5 * (mag[inner > 0].mean() + mag[outer > 0].mean())))


def embedding(image: np.ndarray, analyzer):
    faces = analyzer.analyze(image, primary_only=True, mesh=False)
    assert faces, "no face found in a forgery"
    return faces[0]


def test_registered_after_the_older_methods_and_whole_frame(forged):
    # after the eight methods before it and before the later ones, so that every seeded draw of theirs stays
    assert FORGERS.names.index("efs") == 8 and FORGERS.names[9:] == ("selfmouth", "reshape") and len(forged) >= 10
    for _, _, target, result, _ in forged:
        assert result.image.shape == target.image.shape and result.image.dtype == np.uint8
        assert result.method == "efs" and result.mask.shape == target.image.shape[:2] and np.all(result.mask == 255)
        assert 0.7 <= result.params["ratio"] <= 0.9 and 0.35 <= result.params["scale"] <= 0.6
        assert result.params["interpolation"] in ("cubic", "lanczos4")


def test_result_has_the_target_frame_size(cases):
    """A target of another size than the source (cropped; its mesh moved with it) gives a result of its size, and
    where the aligned source photo has no pixels (a tightly cropped source) the target alone shows through."""
    _, source, target = cases["pairs"][0]
    crop = ForgeInput(np.ascontiguousarray(target.image[10:240, 30:220]),
                      dataclasses.replace(target.face, mesh=dataclasses.replace(
                          target.face.mesh, points=target.face.mesh.points - [30.0, 10.0, 0.0])), target.path)
    result = FORGERS.create("efs", ratio=0.8).forge(source, crop, np.random.default_rng(0))
    assert result.image.shape == crop.image.shape and result.mask.shape == crop.image.shape[:2]
    small = ForgeInput(np.ascontiguousarray(source.image[60:190, 60:190]),
                       dataclasses.replace(source.face, mesh=dataclasses.replace(
                           source.face.mesh, points=source.face.mesh.points - [60.0, 60.0, 0.0])), source.path)
    corners = np.zeros(target.image.shape[:2], bool)
    corners[:25, :25] = corners[:25, -25:] = corners[-25:, :25] = corners[-25:, -25:] = True
    gap = {}
    for kind, donor in (("full", source), ("tight", small)):
        image = FORGERS.create("efs", ratio=0.8).forge(donor, target, np.random.default_rng(0)).image
        gap[kind] = np.abs(image.astype(float) - target.image.astype(float)).mean(2)[corners].mean()
    assert gap["tight"] < 6.0 and gap["tight"] < 0.3 * gap["full"]


def test_deterministic_for_a_seed_and_varies_across_seeds(cases):
    _, source, target = cases["pairs"][0]
    efs = FORGERS.create("efs")
    a, b = (efs.forge(source, target, np.random.default_rng(7)) for _ in range(2))
    assert a.image.tobytes() == b.image.tobytes() and a.params == b.params
    variants = [efs.forge(source, target, np.random.default_rng(s)) for s in range(4)]
    assert len({v.image.tobytes() for v in variants}) == 4
    assert len({v.params["ratio"] for v in variants}) == 4


def test_no_seam_where_a_morph_has_one(cases):
    """The whole frame changes (no pasted region whose edge could show), and where a morph of the same pair at the
    same ratio feathers its face into the target (the averaged mesh's oval) the efs result carries no more gradient
    than just inside and outside that band, and less than the morph there."""
    efs, morph = FORGERS.create("efs", ratio=0.8), FORGERS.create("morph", ratio=0.8)
    efs_seam, morph_seam = [], []
    for k, (_, source, target) in enumerate(cases["pairs"]):
        result, morphed = (m.forge(source, target, np.random.default_rng(k)) for m in (efs, morph))
        outside = region_mask(target.face.mesh.points[:, :2], "face", target.image.shape, dilate=15) == 0
        changed = np.abs(result.image.astype(int) - target.image.astype(int)).max(2) > 3
        kept = np.all(morphed.image == target.image, axis=2)
        assert changed[outside].mean() > 0.8 and kept[outside].mean() > 0.2
        src_pts, tgt_pts = source.face.mesh.points[:, :2], target.face.mesh.points[:, :2]
        mid = 0.2 * tgt_pts + 0.8 * transform_points(similarity_matrix(src_pts, tgt_pts), src_pts)
        oval = region_mask(mid, "face", target.image.shape)
        inside = int(round(0.14 * face_size(oval)))  # the morph's widest feather
        efs_seam.append(seam_energy(result.image, oval, inside))
        morph_seam.append(seam_energy(morphed.image, oval, inside))
    efs_seam, morph_seam = np.array(efs_seam), np.array(morph_seam)
    assert np.median(efs_seam) < 1.0
    assert np.median(efs_seam) < np.median(morph_seam) and np.mean(efs_seam < morph_seam) >= 0.6


def test_no_jpeg_grid(forged):
    """The re-rendering leaves no 8×8 grid: blockiness about 1, while the same image through JPEG has one."""
    for _, _, _, result, _ in forged:
        assert 0.8 < blockiness(result.image) < 1.1
        assert blockiness(jpeg(result.image, 75)) > 1.15
    assert np.median([blockiness(t.image) for _, _, t, _, _ in forged]) > 1.1  # the LFW photos have one


def test_keeps_part_of_the_identity(forged, cases, analyzer):
    """Closer to the VIP than the look-alike target is, and less close than the VIP's genuine photos."""
    sims, target_sims = [], []
    for centre, _, target, result, _ in forged:
        sims.append(float(cosine(embedding(result.image, analyzer).embeddings[DEFAULT_EMBEDDER], centre)))
        target_sims.append(float(cosine(target.face.embeddings[DEFAULT_EMBEDDER], centre)))
    genuine = [float(cosine(g.face.embeddings[DEFAULT_EMBEDDER], c)) for c, g in cases["genuine"]]
    assert all(s > t + 0.15 for s, t in zip(sims, target_sims))
    assert np.median(sims) > 0.5
    assert np.median(sims) < np.median(genuine) - 0.05
    assert np.mean(np.array(sims) > np.median(genuine)) <= 0.1


def test_ratio_and_inputs_are_validated(cases):
    _, source, target = cases["pairs"][0]
    for ratio in (0.5, 0.69, 0.95):
        with pytest.raises(ForgeError, match="outside"):
            FORGERS.create("efs", ratio=ratio)
    for ratio in (0.7, 0.9):
        result = FORGERS.create("efs", ratio=ratio).forge(source, target, np.random.default_rng(0))
        assert result.params["ratio"] == ratio
    no_mesh = ForgeInput(target.image, dataclasses.replace(target.face, mesh=None), target.path)
    with pytest.raises(ForgeError, match=f"no face mesh in target.*{target.path}"):
        FORGERS.create("efs").forge(source, no_mesh, np.random.default_rng(0))
    no_mesh = ForgeInput(source.image, dataclasses.replace(source.face, mesh=None), source.path)
    with pytest.raises(ForgeError, match="no face mesh in source"):
        FORGERS.create("efs").forge(no_mesh, target, np.random.default_rng(0))
    pts = target.face.mesh.points
    tiny = dataclasses.replace(target.face.mesh, points=pts.mean(0) + (pts - pts.mean(0)) * 0.03)
    speck = ForgeInput(target.image, dataclasses.replace(target.face, mesh=tiny), target.path)
    with pytest.raises(ForgeError, match=f"too small.*{target.path}"):
        FORGERS.create("efs").forge(source, speck, np.random.default_rng(0))
