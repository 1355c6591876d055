"""Data-free unit tests (issue #20): no photos from ../shared/data and no model weights — synthetic arrays, stub
models, and the package's own bundled files (the background targets' pre-computed meshes). They pass with the
data folder absent (``VIPGUARD_DATA=/nowhere``) and with no weights (``VIPGUARD_MODELS=/nowhere``); the few
checks that run a real model with a tiny input use the ``store`` fixture and skip without weights.

Covered: ``fit_head``; VipProfile save/load and its version errors; ``compare`` and ``describe`` (stub embedder);
``describe_with`` with the evidence sources it is given; the embedder a profile records and the Guard's refusal
of another; VIP selection with the index, as before it; ``explain`` for every kind of decision; every entry of
every registry of pluggable parts (the Embedder interface included); shipped files carry no machine paths.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
import sqlite3
from dataclasses import replace
from functools import cache
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from vipguard.artifact.detector import NO_BOUNDARY
from vipguard.faces import DETECTORS, EMBEDDERS, MESHERS, l2_normalise
from vipguard.faces.embed import DEFAULT_EMBEDDER, EmbedderId
from vipguard.faces.align import ARCFACE_TEMPLATE, norm_crop
from vipguard.faces.types import Detection, Face
from vipguard.forge import FORGERS, ForgeError, ForgeInput
from vipguard.lite.decision import FEATURES, GenuineRange, column, decide
from vipguard.lite.evidence import GEOMETRY_PARTS, ID_PARTS, PATCH, PATCH_PARTS, FaceDescriptor, compare, describe
from vipguard.lite.explain import deciding, explain
from vipguard.lite.head import Head, central, fit_head
from vipguard.lite.profile import PROFILE_CODEC, PROFILE_VERSION, EmbedderMismatch, VipProfile

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "vipguard"


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """One BLAS thread: on a busy machine (more runnable threads than cores) the many tiny LAPACK calls of
    scipy's ``Delaunay.transform`` (the forgers' piecewise-affine warp) each wait for a multi-threaded BLAS
    pool and a 20 ms forgery takes seconds. Results are the same either way."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):
        yield


def unit(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return l2_normalise(rng.normal(size=shape)).astype(np.float32)


# ------------------------------------------------------------------------------------------------- fit_head


def _training(n: int = 240, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Column 0 rises with the label, column 1 falls with it, column 2 is noise, column 3 rises a little."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 3 == 0).astype(int)
    x = np.column_stack([2.0 * y + rng.normal(size=n), -1.5 * y + rng.normal(size=n), rng.normal(size=n),
                         0.5 * y + rng.normal(size=n)])
    return x, y


def test_fit_head_separates_the_classes_and_learns_each_direction():
    x, y = _training()
    head = fit_head(x, y, np.ones(len(y)), ("up", "down", "noise", "slight"), c=1.0, seed=0)
    p = head.predict(x)
    assert p.shape == (len(y),) and ((p > 0) & (p < 1)).all()
    assert p[y == 1].mean() > 0.7 > 0.3 > p[y == 0].mean()
    assert head.coef[0] > 0 > head.coef[1] and abs(head.coef[2]) < abs(head.coef[0])
    # calibrated with the classes balanced: 0.5 separates them (balanced accuracy well above chance)
    assert ((p[y == 1] >= 0.5).mean() + (p[y == 0] < 0.5).mean()) / 2 > 0.85
    # each contribution is a feature's share of the decision, measured from the training mean
    row = x[:1]
    contrib = head.contributions(row)
    assert list(contrib) == list(head.features)
    assert sum(contrib.values()) == pytest.approx(float(head.decision(row)[0]) - head.intercept, abs=1e-9)


def test_fit_head_reads_only_its_columns():
    x, y = _training()
    head = fit_head(x, y, np.ones(len(y)), ("up", "noise"), columns=(0, 2), seed=0)
    alone = fit_head(x[:, [0, 2]], y, np.ones(len(y)), ("up", "noise"), seed=0)
    assert head.columns == (0, 2) and head.features == ("up", "noise")
    np.testing.assert_allclose(head.predict(x), alone.predict(x[:, [0, 2]]), atol=1e-12)
    changed = x.copy()
    changed[:, [1, 3]] += 100.0  # columns the head does not read
    np.testing.assert_array_equal(head.predict(changed), head.predict(x))


def test_a_logit_reading_tells_apart_probabilities_that_crowd_at_one():
    """A probability read as log-odds beside a similarity: an over-confident detector puts many genuine faces at
    0.99 and forgeries at 0.99999 — read linearly they are 0.01 apart and weigh little against the similarity, as
    log-odds they are 7 apart. The reading is stored with the head (JSON) and applied at prediction; heads
    without it read linearly."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    n = 400
    y = (np.arange(n) % 2 == 0).astype(int)  # 1: genuine
    sim = np.where(y == 1, rng.normal(0.80, 0.05, n), rng.normal(0.74, 0.05, n))
    logit = np.where(y == 1, rng.normal(-2.0, 4.0, n), rng.normal(10.0, 2.0, n))
    x = np.column_stack([sim, 1 / (1 + np.exp(-logit))])
    as_odds = fit_head(x, y, np.ones(n), ("sim", "artifact"), signs=(1, -1), readings=("linear", "logit"), seed=0)
    linear = fit_head(x, y, np.ones(n), ("sim", "artifact"), signs=(1, -1), seed=0)
    assert as_odds.readings == ("linear", "logit") and linear.readings == ()
    assert roc_auc_score(y, as_odds.predict(x)) > 0.995 > roc_auc_score(y, linear.predict(x)) + 0.01
    assert Head.from_dict(json.loads(json.dumps(as_odds.to_dict()))) == as_odds
    # a saturated 1.0 (float32) reads as a finite log-odds, no inf or nan
    assert np.isfinite(as_odds.predict(np.array([[0.8, 1.0], [0.8, 0.0]]))).all()
    with pytest.raises(ValueError, match="reading"):
        fit_head(x, y, np.ones(n), ("sim", "artifact"), readings=("linear", "cube"))


def test_the_centre_of_a_logit_column_is_where_its_rows_sit_in_log_odds():
    """A VIP's typical genuine value of a probability read as log-odds is the probability of the mean log-odds:
    nine genuine crops at 1e-4 and one at 0.999 centre near 1e-3, not at the mean probability 0.1, which would read
    as a suspicious crop wherever the typical value stands in (an unjudged crop, the explanation's reference)."""
    x = np.column_stack([np.full(10, 0.8), np.r_[np.full(9, 1e-4), 0.999]])
    centre = central(x, ("linear", "logit"))
    assert centre[0] == pytest.approx(0.8)
    assert centre[1] == pytest.approx(1 / (1 + np.exp(-(9 * np.log(1e-4 / (1 - 1e-4)) + np.log(999)) / 10)))
    assert centre[1] < 0.01 < x[:, 1].mean()
    assert np.allclose(central(x, ()), x.mean(0))  # all linear: the plain mean


def test_fit_head_drops_a_column_whose_weight_contradicts_its_sign():
    x, y = _training()
    names = ("up", "down", "noise", "slight")
    head = fit_head(x, y, np.ones(len(y)), names, signs=(+1, +1, 0, +1), seed=0)
    # "down" falls with the genuine class but is declared +1 (higher = more genuine): it must go
    assert "down" not in head.features and head.features[0] == "up"
    assert head.columns == tuple(names.index(f) for f in head.features)
    assert all(c > 0 for f, c in zip(head.features, head.coef) if f in {"up", "slight"})
    # declared with its true sign it stays
    kept = fit_head(x, y, np.ones(len(y)), names, signs=(+1, -1, 0, +1), seed=0)
    assert "down" in kept.features and kept.coef[kept.features.index("down")] < 0


def test_fit_head_is_deterministic_for_a_seed_and_stored_as_plain_numbers():
    x, y = _training()
    w = np.where(y == 1, 1.0, 0.5)
    a = fit_head(x, y, w, ("a", "b", "c", "d"), seed=3)
    b = fit_head(x, y, w, ("a", "b", "c", "d"), seed=3)
    assert a == b
    other = fit_head(x, y, w, ("a", "b", "c", "d"), seed=4)
    assert other.coef == a.coef  # the final fit does not depend on the seed ...
    assert (other.platt_a, other.platt_b) != (a.platt_a, a.platt_b)  # ... the out-of-fold calibration does
    text = json.dumps(a.to_dict())
    assert Head.from_dict(json.loads(text)) == a


def test_fit_head_with_a_single_positive_still_fits():
    x, y = _training()
    y = np.zeros_like(y)
    y[0] = 1
    x[0, 0] = 6.0
    head = fit_head(x, y, np.ones(len(y)), ("a", "b", "c", "d"), seed=0)  # no fold split possible
    p = head.predict(x)
    assert np.isfinite(p).all() and p[0] == p.max()


def test_sample_weights_move_the_head():
    x, y = _training()
    even = fit_head(x, y, np.ones(len(y)), ("a", "b", "c", "d"), seed=0)
    tilted = fit_head(x, y, np.where(y == 1, 5.0, 1.0), ("a", "b", "c", "d"), seed=0)
    assert tilted.intercept > even.intercept  # heavier positives push the raw decision towards them


# ---------------------------------------------------------------------------------------- profile save / load


@cache
def _fitted_head() -> Head:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, len(FEATURES)))
    y = (np.arange(60) % 2).astype(int)
    x[y == 1, column("sim_global")] += 2.0
    return fit_head(x, y, np.ones(60), FEATURES, seed=0)


def synthetic_profile(name: str = "Tony_Blair", seed: int = 0) -> VipProfile:
    """A profile of real shapes (192-d centres, 20×20 templates, 478-point geometry, a fitted head)."""
    rng = np.random.default_rng(seed)
    return VipProfile(
        name=name, centres={k: unit(rng, 192) for k in ID_PARTS},
        patches={k: unit(rng, PATCH * PATCH) for k in PATCH_PARTS},
        geometry_mean=rng.normal(56, 10, (478, 2)).astype(np.float32),
        geometry_std=rng.uniform(0.5, 2, (478, 2)).astype(np.float32),
        typical=rng.normal(size=len(FEATURES)).astype(np.float32), head=_fitted_head(),
        genuine=GenuineRange(0.83, 0.05, 12.0, 9),
        meta={"used": 9, "enrolled": "2024-01-01T00:00:00", "reject_rate": 0.03, "identity_threshold": 0.31,
              "config": {"methods": ["swap", "eyes"], "ratio": [1.0, 5.0, 5.0]}},
    )


def _assert_same_profile(a: VipProfile, b: VipProfile) -> None:
    assert a.name == b.name and a.head == b.head and a.genuine == b.genuine and a.meta == b.meta
    assert a.embedder == b.embedder
    for part in ID_PARTS:
        np.testing.assert_array_equal(a.centres[part], b.centres[part])
    for part in PATCH_PARTS:
        np.testing.assert_array_equal(a.patches[part], b.patches[part])
    for key in ("geometry_mean", "geometry_std", "typical"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
        assert getattr(a, key).dtype == getattr(b, key).dtype


def test_profile_round_trip_keeps_every_field_and_every_verdict():
    profile = synthetic_profile()
    text, blob = profile.to_blobs()
    assert json.loads(text)["version"] == PROFILE_VERSION and blob.startswith(b"PK")  # JSON + npz, no pickle
    loaded = VipProfile.from_blobs(text, blob)
    _assert_same_profile(profile, loaded)
    evidence = np.random.default_rng(5).normal(size=len(FEATURES)).astype(np.float32)
    for sim in (0.2, 0.6, 0.8, 0.95):
        assert loaded.decide(evidence, sim, 0.25) == profile.decide(evidence, sim, 0.25)
    assert loaded.reject_rate == 0.03 and loaded.identity_threshold == 0.31


def test_a_profile_heads_an_unjudged_crop_with_its_typical_genuine_artefact_score():
    """``VipProfile.head_evidence`` is what every head reads (the lite decision, its explanation's contributions,
    the benchmarks): an unjudged crop's artefact score is the VIP's typical one, whatever the detector said."""
    from vipguard.lite.decision import column

    profile = synthetic_profile()
    evidence = np.random.default_rng(7).normal(size=len(FEATURES)).astype(np.float32)
    a = column("artifact")
    assert profile.head_evidence(evidence) is evidence
    read = profile.head_evidence(evidence, judged=False)
    assert read[a] == profile.typical[a] and np.array_equal(np.delete(read, a), np.delete(evidence, a))
    sim = 0.85
    for blend in (0.0, 0.5, 0.9999):  # whatever the unjudged score, the decision is the one on the typical value
        seen = evidence.copy()
        seen[a] = blend
        assert profile.decide(seen, sim, 0.25, judged=False).head == profile.decide(read, sim, 0.25).head
    assert profile.decide(evidence, sim, 0.25).head != profile.decide(evidence, sim, 0.25, judged=False).head


@pytest.mark.parametrize("version", [PROFILE_VERSION - 1, 1, None, PROFILE_VERSION + 1])
def test_profile_of_another_version_says_re_enrol(version):
    text, blob = synthetic_profile("Colin_Powell").to_blobs()
    doc = json.loads(text)
    if version is None:
        del doc["version"]
    else:
        doc["version"] = version
    with pytest.raises(ValueError, match=rf"profile version {version} is not supported \(expected "
                                         rf"{PROFILE_VERSION}\); re-enrol Colin_Powell with `vipguard enroll`"):
        VipProfile.from_blobs(json.dumps(doc), blob)


def test_profile_with_another_feature_layout_says_re_enrol():
    text, blob = synthetic_profile().to_blobs()
    doc = json.loads(text)
    doc["features"] = list(reversed(doc["features"]))
    with pytest.raises(ValueError, match="different evidence layout; re-enrol"):
        VipProfile.from_blobs(json.dumps(doc), blob)


def test_an_old_profile_in_the_registry_is_a_corrupt_row_that_says_re_enrol(tmp_path):
    from vipguard.infra.registry import CorruptProfile, Registry

    registry = Registry(tmp_path / "r.db", codec=PROFILE_CODEC)
    registry.put(synthetic_profile("Tony_Blair"))
    registry.put(synthetic_profile("Colin_Powell", seed=1))
    text, blob = synthetic_profile("Colin_Powell", seed=1).to_blobs()
    doc = {**json.loads(text), "version": PROFILE_VERSION - 1}
    with contextlib.closing(sqlite3.connect(tmp_path / "r.db")) as conn, conn:
        conn.execute("UPDATE vips SET profile = ? WHERE name = 'Colin_Powell'", (json.dumps(doc),))
    fresh = Registry(tmp_path / "r.db", codec=PROFILE_CODEC)
    with pytest.raises(CorruptProfile, match="re-enrol Colin_Powell") as caught:
        fresh.get("Colin_Powell")
    assert "vipguard remove Colin_Powell" in str(caught.value)
    loaded = fresh.load()
    assert [p.name for p in loaded.profiles] == ["Tony_Blair"] and [f.name for f in loaded.faults] == ["Colin_Powell"]


# ---------------------------------------------------------------------------------------------------- compare


def synthetic_descriptor(seed: int = 0, has_mesh: bool = True) -> FaceDescriptor:
    rng = np.random.default_rng(seed)
    return FaceDescriptor(
        embeddings={k: unit(rng, 192) for k in ID_PARTS}, patches={k: unit(rng, PATCH * PATCH) for k in PATCH_PARTS},
        geometry=rng.normal(56, 10, (478, 2)).astype(np.float32),
        blend={"colour": 0.12, "sharpness": -0.3, "artifact": 0.77}, has_mesh=has_mesh,
    )


def _profile_like(descriptor: FaceDescriptor, std: float = 1.0, **changes) -> VipProfile:
    """A profile whose centres, templates and mean geometry are the descriptor's own."""
    base = synthetic_profile()
    fields = dict(base.__dict__, centres=dict(descriptor.embeddings), patches=dict(descriptor.patches),
                  geometry_mean=descriptor.geometry.copy(), geometry_std=np.full((478, 2), std, np.float32))
    return VipProfile(**{**fields, **changes})


def test_compare_of_a_face_with_its_own_profile():
    d = synthetic_descriptor()
    v = compare(d, _profile_like(d))
    assert v.shape == (len(FEATURES),) and v.dtype == np.float32
    for part in ("global", "eyes", "inner", "outer"):
        assert v[column(f"sim_{part}")] == pytest.approx(1.0, abs=1e-6)
    for part in PATCH_PARTS:
        assert v[column(f"patch_{part}")] == pytest.approx(1.0, abs=1e-6)
    for part in GEOMETRY_PARTS:
        assert v[column(f"geom_{part}")] == 0.0
    assert v[column("inner_outer")] == pytest.approx(float(d.embeddings["inner"] @ d.embeddings["outer"]), abs=1e-6)
    assert (v[column("blend_colour")], v[column("blend_sharpness")], v[column("artifact")]) == \
        pytest.approx((0.12, -0.3, 0.77), abs=1e-6)


def test_compare_measures_each_feature_in_its_own_column():
    d = synthetic_descriptor()
    own = _profile_like(d)
    flipped = _profile_like(d, centres={**own.centres, "eyes": -own.centres["eyes"]},
                            patches={**own.patches, "mouth": -own.patches["mouth"]})
    v = compare(d, flipped)
    assert v[column("sim_eyes")] == pytest.approx(-1.0, abs=1e-6)
    assert v[column("patch_mouth")] == pytest.approx(-1.0, abs=1e-6)
    changed = {i for i in range(len(FEATURES)) if abs(v[i] - compare(d, own)[i]) > 1e-6}
    assert changed == {column("sim_eyes"), column("patch_mouth")}


@pytest.mark.parametrize("std, expected", [(1.0, 3.0), (2.0, 1.5), (0.1, 6.0)])  # std floored at 0.5 px
def test_compare_geometry_is_the_rms_deviation_in_standard_deviations(std, expected):
    d = synthetic_descriptor()
    moved = FaceDescriptor(d.embeddings, d.patches, d.geometry + 3.0, d.blend, True)
    v = compare(moved, _profile_like(d, std=std))
    for part in GEOMETRY_PARTS:
        assert v[column(f"geom_{part}")] == pytest.approx(expected, rel=1e-5)
    no_mesh = FaceDescriptor(d.embeddings, d.patches, d.geometry + 3.0, d.blend, False)
    assert all(compare(no_mesh, _profile_like(d, std=std))[column(f"geom_{p}")] == 0.0 for p in GEOMETRY_PARTS)


def test_compare_changes_neither_input_and_depends_on_no_earlier_call():
    a, b = synthetic_descriptor(1), synthetic_descriptor(2)
    pa, pb = _profile_like(a), _profile_like(b)
    before = {k: v.copy() for k, v in a.to_arrays().items()}
    forward = [compare(a, pa), compare(b, pb), compare(a, pb), compare(b, pa)]
    backward = [compare(b, pa), compare(a, pb), compare(b, pb), compare(a, pa)][::-1]
    for x, y in zip(forward, backward):
        np.testing.assert_array_equal(x, y)
    for k, v in a.to_arrays().items():
        np.testing.assert_array_equal(v, before[k])
    np.testing.assert_array_equal(pa.centres["global"], a.embeddings["global"])


def test_descriptor_arrays_round_trip():
    d = synthetic_descriptor(3)
    back = FaceDescriptor.from_arrays(d.to_arrays())
    np.testing.assert_array_equal(compare(back, _profile_like(d)), compare(d, _profile_like(d)))
    assert back.blend == pytest.approx(d.blend) and back.has_mesh


# ------------------------------------------------------------------------------ describe, with a stub embedder


class StubEmbedder:
    """MobileFaceNet's interface without its weights: a (7, 7, 512) map from the crop's pixels and a fixed linear
    head, pooled under region weights as the real one pools."""

    name, dim = "stub", 192

    def __init__(self) -> None:
        self.projection = np.random.default_rng(0).normal(size=(512, 192)).astype(np.float32)
        self.calls = 0

    def feature_maps(self, crops: np.ndarray) -> np.ndarray:
        self.calls += 1
        small = np.stack([cv2.resize(c, (7, 7), interpolation=cv2.INTER_AREA) for c in np.asarray(crops)])
        return np.tile(small.astype(np.float32) / 255.0, (1, 1, 1, 171))[..., :512]

    def embed_pooled(self, feature_map: np.ndarray, weights: np.ndarray) -> np.ndarray:
        pooled = np.einsum("hwc,rhw->rc", feature_map, weights) / weights.sum((1, 2))[:, None]
        return l2_normalise(pooled @ self.projection)

    def embed_maps(self, maps: np.ndarray) -> np.ndarray:
        return l2_normalise(maps.mean((1, 2)) @ self.projection)


@pytest.fixture(scope="module")
def bundled_meshes():
    """Two faces' (detection, mesh) pre-computed for the bundled target photos (no model runs)."""
    from vipguard.lite.background import data_dir

    with np.load(data_dir() / "targets.npz", allow_pickle=False) as npz:
        return [{k: npz[k][i] for k in ("boxes", "scores", "landmarks", "points", "matrices")} for i in (0, 1)]


def synthetic_face(image: np.ndarray, row: dict, mesh: bool = True, shift: tuple[float, float] = (0.0, 0.0)) -> Face:
    from vipguard.faces.mesh import pose_from_matrix
    from vipguard.faces.types import Mesh

    offset = np.array(shift, np.float32)
    landmarks = row["landmarks"] + offset
    box = tuple(float(v) for v in row["boxes"] + np.tile(offset, 2))
    points = row["points"].copy()
    points[:, :2] += offset
    detection = Detection(box, float(row["scores"]), landmarks)
    face_mesh = Mesh(points, {}, row["matrices"], pose_from_matrix(row["matrices"])) if mesh else None
    return Face(detection=detection, aligned=norm_crop(image, landmarks), mesh=face_mesh)


def synthetic_image(seed: int, shape: tuple[int, int]) -> np.ndarray:
    """A smooth, coloured random image (texture for warps and blends to move)."""
    noise = np.random.default_rng(seed).integers(0, 256, (*shape, 3)).astype(np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 3)


def test_describe_with_a_stub_embedder(bundled_meshes):
    image = synthetic_image(0, (250, 250))
    embedder = StubEmbedder()
    d = describe(image, synthetic_face(image, bundled_meshes[0]), embedder, artifact=0.42)
    assert embedder.calls == 1  # every identity part from one pass
    assert set(d.embeddings) == set(ID_PARTS) and d.has_mesh and d.blend["artifact"] == pytest.approx(0.42)
    for v in d.embeddings.values():
        assert v.shape == (192,) and np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)
    assert len({tuple(np.round(v, 5)) for v in d.embeddings.values()}) == len(ID_PARTS)  # parts pooled apart
    for p in d.patches.values():
        assert p.shape == (PATCH * PATCH,) and np.linalg.norm(p) == pytest.approx(1.0, abs=1e-4)
    assert d.geometry.shape == (478, 2) and 0 <= d.geometry.min() and d.geometry.max() <= 112 * 1.2
    # a feature map given by the caller is used as is (no second pass)
    fmap = embedder.feature_maps(synthetic_face(image, bundled_meshes[0]).aligned[None])[0]
    again = describe(image, synthetic_face(image, bundled_meshes[0]), embedder, feature_map=fmap)
    assert embedder.calls == 2
    np.testing.assert_allclose(again.embeddings["inner"], d.embeddings["inner"], atol=1e-6)

    flat = describe(image, synthetic_face(image, bundled_meshes[0], mesh=False), embedder)
    assert not flat.has_mesh and not flat.geometry.any() and not any(p.any() for p in flat.patches.values())
    for part in ID_PARTS:  # without the mesh every part is the whole face
        np.testing.assert_array_equal(flat.embeddings[part], flat.embeddings["global"])


class StubScorer:
    """An artefact evidence source without weights: a fixed score, boundary and place; counts its calls."""

    veto = 0.9

    def __init__(self, score: float = 0.37) -> None:
        self.value, self.calls = score, 0

    def score(self, image: np.ndarray, face: Face):
        from vipguard.artifact.detector import ArtifactResult

        self.calls += 1
        return ArtifactResult(self.value, np.zeros((8, 8), np.float32), "around the eyes")


def test_describe_with_takes_the_embedder_and_the_artefact_scorer_it_is_given(bundled_meshes):
    from vipguard.lite.evidence import describe_with

    image = synthetic_image(0, (250, 250))
    face = synthetic_face(image, bundled_meshes[0])
    embedder, scorer = StubEmbedder(), StubScorer(0.37)
    descriptor, result = describe_with(image, face, embedder, scorer)
    assert scorer.calls == 1 and embedder.calls == 1 and result.where == "around the eyes"
    assert descriptor.blend["artifact"] == pytest.approx(0.37)
    plain = describe(image, face, embedder, artifact=0.37)
    for part in ID_PARTS:
        np.testing.assert_array_equal(descriptor.embeddings[part], plain.embeddings[part])


def test_the_guard_applies_each_crops_own_veto_and_none_to_a_crop_it_does_not_judge():
    from vipguard.artifact.detector import ArtifactResult
    from vipguard.lite.guard import Guard, GuardConfig

    def result(veto=None, sharpness=None):
        return ArtifactResult(0.5, np.zeros((8, 8), np.float32), "x", sharpness=sharpness, min_sharpness=25.0,
                              veto=veto)

    guard = Guard(None, None, artifact=StubScorer())  # type: ignore[arg-type]
    assert guard.veto_for(result()) == 0.9  # the detector's veto
    assert guard.veto_for(result(veto=0.999)) == 0.999  # a noisy crop's own
    assert guard.veto_for(result(veto=0.999, sharpness=10.0)) is None  # too blurred: not judged
    assert guard.veto_for(None) is None
    off = Guard(None, None, GuardConfig(artifact_veto=False), artifact=StubScorer())  # type: ignore[arg-type]
    assert off.veto_for(result(veto=0.999)) is None


# ------------------------------------------------------------- which embedder made a profile, and VIP selection

MOBILE = EmbedderId("mobilefacenet", "a" * 64)


def test_a_profile_records_its_embedder_and_an_old_one_is_taken_as_the_default():
    from vipguard.lite.profile import UNRECORDED_EMBEDDER

    profile = replace(synthetic_profile("Colin_Powell"), embedder=MOBILE)
    text, blob = profile.to_blobs()
    assert json.loads(text)["embedder"] == {"name": "mobilefacenet", "sha256": "a" * 64}
    assert VipProfile.from_blobs(text, blob).embedder == MOBILE
    # a profile stored before the record (same version, no "embedder"): the default embedder, weights unrecorded
    doc = json.loads(text)
    del doc["embedder"]
    old = VipProfile.from_blobs(json.dumps(doc), blob)
    assert old.embedder == UNRECORDED_EMBEDDER == EmbedderId(DEFAULT_EMBEDDER, None)
    old.require_embedder(MOBILE)  # any verified MobileFaceNet weights: compared as before
    old.require_embedder(EmbedderId("mobilefacenet", "b" * 64))
    with pytest.raises(EmbedderMismatch, match="enrolled with the embedder mobilefacenet .weights SHA-256 not "
                                               "recorded. and cannot be compared with faces embedded by dlib"):
        old.require_embedder(EmbedderId("dlib", "c" * 64))


@pytest.mark.parametrize("other", [EmbedderId("dlib", "c" * 64), EmbedderId("mobilefacenet", "b" * 64)],
                         ids=["another embedder", "other weights"])
def test_a_profile_refuses_faces_of_another_embedder_naming_both(other):
    profile = replace(synthetic_profile("Colin_Powell"), embedder=MOBILE)
    profile.require_embedder(MOBILE)
    with pytest.raises(EmbedderMismatch) as caught:
        profile.require_embedder(other)
    message = str(caught.value)
    assert "'Colin_Powell' was enrolled with the embedder mobilefacenet (weights SHA-256 aaaaaaaaaaaa)" in message
    assert f"faces embedded by {other.name} (weights SHA-256 {other.sha256[:12]})" in message
    assert "re-enrol Colin_Powell with `vipguard enroll`" in message


class StubAnalyzer:
    """One face found, and a default embedder that has only its identity: a Guard must refuse a profile of another
    embedder once it has a face, before it embeds (or compares) anything."""

    def __init__(self, identity: EmbedderId) -> None:
        self.embedder_ = SimpleNamespace(identity=identity)
        self.asked: list[str] = []

    def embedder(self, name: str):
        self.asked.append(name)
        return self.embedder_

    def analyze(self, image: np.ndarray, **kwargs) -> list[Face]:
        landmarks = (ARCFACE_TEMPLATE + 4.0).astype(np.float32)
        return [Face(detection=Detection((0.0, 0.0, 60.0, 60.0), 0.99, landmarks), aligned=norm_crop(image, landmarks))]


@pytest.mark.parametrize("vip", ["Colin_Powell", None], ids=["named", "adaptive"])
def test_the_guard_refuses_a_profile_of_another_embedder(tmp_path, vip):
    from vipguard.infra.registry import Registry
    from vipguard.lite.guard import Guard

    registry = Registry(tmp_path / "r.db", codec=PROFILE_CODEC)
    registry.put(replace(synthetic_profile("Colin_Powell"), embedder=MOBILE))
    rng = np.random.default_rng(4)  # and a VIP of another embedder: 128-d centres, which no index could hold
    registry.put(replace(synthetic_profile("Serena_Williams"), embedder=EmbedderId("dlib", "d" * 64),
                         centres={k: unit(rng, 128) for k in ID_PARTS}))
    analyzer = StubAnalyzer(EmbedderId("mobilefacenet", "b" * 64))
    guard = Guard(registry, analyzer, artifact=StubScorer())  # type: ignore[arg-type]
    verdict = guard.check(synthetic_image(1, (64, 64)), vip=vip, source="x.jpg")
    assert verdict.verdict == "error" and verdict.score is None and analyzer.asked == [DEFAULT_EMBEDDER]
    assert "aaaaaaaaaaaa" in verdict.error and "bbbbbbbbbbbb" in verdict.error and "re-enrol" in verdict.error
    assert verdict.error.startswith("VIP 'Colin_Powell' was enrolled with the embedder mobilefacenet")


def _select_before(embeddings: np.ndarray, centres: np.ndarray, vip: str | None, threshold: float):
    """The selection rule as it was before the index (faces × VIPs, one matrix product per check)."""
    sims = embeddings @ centres.T
    face_i, vip_i = (int(i) for i in np.unravel_index(int(np.argmax(sims)), sims.shape))
    if vip is not None or float(sims[face_i, vip_i]) >= threshold:
        return face_i, vip_i, True
    return 0, int(np.argmax(sims[0])), False


def test_selection_with_the_index_makes_the_choice_it_made_before():
    from vipguard.infra.index import VipIndex
    from vipguard.lite.guard import Guard, GuardConfig

    guard = Guard(None, None, GuardConfig(), artifact=StubScorer())  # type: ignore[arg-type]
    rng = np.random.default_rng(3)
    claimed = unclaimed = 0
    for trial in range(300):
        n_vips, n_faces = int(rng.integers(1, 40)), int(rng.integers(1, 6))
        centres = unit(rng, n_vips, 192)
        faces = unit(rng, n_faces, 192)
        if trial % 2:  # one face near one VIP: a claim
            faces[int(rng.integers(n_faces))] = l2_normalise(centres[int(rng.integers(n_vips))]
                                                             + 0.6 * unit(rng, 192))
        index = VipIndex([f"vip{i}" for i in range(n_vips)], centres)
        for vip in (None, "named"):
            got = guard.select(faces, index, vip)
            assert got == _select_before(faces, centres, vip, guard.config.select_threshold), trial
            claimed += got[2] and vip is None
            unclaimed += not got[2]
    assert claimed > 100 and unclaimed > 100  # both branches of the rule were compared


# ---------------------------------------------------------------------------------------------------- explain

GENUINE = GenuineRange(0.85, 0.05, 20.0, 15)


def _values(**given: float) -> np.ndarray:
    v = np.full(len(FEATURES), 0.8, np.float32)
    for name, value in given.items():
        v[column(name)] = value
    return v


TYPICAL = _values(geom_eyes=1.0, geom_nose=1.0, geom_mouth=1.0, geom_outline=1.0, blend_colour=0.1,
                  blend_sharpness=0.0, artifact=0.1, sim_global=0.85)


def test_explain_a_face_that_matches_no_vip():
    d = decide(0.0, 0.18, GENUINE, 0.03, 0.3, 0.25, claimed=False)
    text = explain(d, None, _values(sim_global=0.18), TYPICAL, None)
    assert text == ("The face matches no enrolled VIP: the nearest is at similarity 18/100, below the selection "
                    "threshold.")


def test_explain_genuine_led_by_the_head_names_the_evidence_and_the_range():
    d = decide(0.9, 0.93, GENUINE, 0.03, 0.3, 0.25)
    assert d.verdict == "genuine" and d.head < d.anchor
    text = explain(d, "Tony_Blair", _values(sim_global=0.93, sim_eyes=0.85), TYPICAL,
                   {"sim_eyes": 0.9, "sim_global": 0.4, "patch_nose": -0.2})
    assert text.startswith("Consistent with genuine Tony_Blair (score 0.90): the eyes and brows match Tony_Blair's "
                           "(0.85 vs 0.80 typical); face similarity to Tony_Blair is 93/100 (genuine photos: ~85)")
    assert f"face similarity 93/100 is inside Tony_Blair's genuine range (≥ {round(100 * d.floor)} for 97 % " in text
    assert "Largest departure" not in text


def test_explain_genuine_set_by_the_range():
    d = decide(0.999, 0.84, GENUINE, 0.03, 0.3, 0.25)
    assert d.verdict == "genuine" and d.anchor <= d.head
    text = explain(d, "Tony_Blair", _values(sim_global=0.84), TYPICAL, {"sim_eyes": 5.0})
    assert text == (f"Consistent with genuine Tony_Blair (score {d.score:.2f}): face similarity 84/100 is inside "
                    f"Tony_Blair's genuine range (≥ {round(100 * d.floor)} for 97 % of their photos).")


def test_explain_fake_below_the_range_says_the_identity_is_partly_there():
    d = decide(0.95, 0.55, GENUINE, 0.03, 0.4, 0.25)
    assert d.verdict == "fake" and d.below_floor
    text = explain(d, "Colin_Powell", _values(sim_global=0.55), TYPICAL, {})
    assert text.startswith(f"Likely a forgery of Colin_Powell (score {d.score:.2f}): face similarity 55/100 is below "
                           "Colin_Powell's genuine range")
    assert "yet above what other people reach (40): the identity is partly there." in text


def test_explain_fake_led_by_the_head_names_the_part_and_the_largest_departure():
    d = decide(0.05, 0.92, GENUINE, 0.03, 0.3, 0.25)
    assert d.verdict == "fake" and d.head < d.anchor
    evidence = _values(sim_global=0.92, sim_inner=0.35, patch_mouth=0.2)
    text = explain(d, "Colin_Powell", evidence, TYPICAL, {"sim_inner": -2.0, "sim_global": 0.5, "patch_eyes": -0.1})
    assert text.startswith("Likely a forgery of Colin_Powell (score 0.05): the inner face does not match "
                           "Colin_Powell's (0.35 vs 0.80 typical); the appearance of the eyes and brows")
    assert text.endswith("Largest departure from Colin_Powell's genuine photos: the appearance of the mouth differs "
                         "from Colin_Powell's template (0.20 vs 0.80 typical).")
    # a part that was not measured (a --fast check) is never named as the departure
    fast = explain(d, "Colin_Powell", evidence, TYPICAL, {"sim_inner": -2.0}, measured=frozenset({"sim_global"}))
    assert "Largest departure" not in fast


def test_deciding_names_the_region_only_where_blending_artefacts_set_the_verdict():
    where = "around the mouth"
    vetoed = decide(0.9, 0.92, GENUINE, 0.03, 0.3, 0.25, artifact=0.99999, veto=0.9999)
    assert vetoed.vetoed and vetoed.verdict == "fake"
    assert deciding(vetoed, {"sim_global": 1.0}, where) == "blending artefacts around the mouth"
    assert deciding(vetoed, {}, NO_BOUNDARY) == "blending artefacts (no region the detector stands by)"
    # the head set it, led by the artefact score: the region; led by the similarity: the whole identity
    head = decide(0.05, 0.92, GENUINE, 0.03, 0.3, 0.25)
    assert head.verdict == "fake" and head.head < head.anchor
    assert deciding(head, {"artifact": -3.0, "sim_global": -0.5}, where) == "blending artefacts around the mouth"
    assert deciding(head, {"artifact": -0.1, "sim_global": -2.0}, where).startswith("the whole face's identity")
    # the genuine range set it: no region, whatever the map shows
    ranged = decide(0.95, 0.55, GENUINE, 0.03, 0.4, 0.25)
    assert deciding(ranged, {"artifact": -3.0}, where) == (
        "the whole face's identity (its similarity against the genuine range)")


def test_explain_different_person():
    d = decide(0.9, 0.2, GENUINE, 0.03, 0.3, 0.25)
    assert d.verdict == "different_person"
    text = explain(d, "Serena_Williams", _values(sim_global=0.2), TYPICAL, {})
    assert text.startswith(f"Likely a different person than Serena_Williams (score {d.score:.2f}): face similarity "
                           "20/100 is below Serena_Williams's genuine range")
    assert "partly there" not in text


def test_explain_cites_the_artefact_boundary_only_when_it_is_high():
    from vipguard.lite.explain import _phrase

    assert _phrase("artifact", 0.9, 0.1, "X", "at the jaw") == \
        "blending-artefact score 0.90 (genuine photos: 0.10), a blending boundary at the jaw"
    assert _phrase("artifact", 0.05, 0.1, "X", "at the jaw") == "blending-artefact score 0.05 (genuine photos: 0.10)"
    assert _phrase("artifact", 0.9, 0.1, "X", "no boundary found").endswith("(genuine photos: 0.10)")


# ------------------------------------------------------------------------ every entry of every plugin registry

def _registries_in_source() -> set[str]:
    """``module.NAME`` of every ``NAME = Registry(...)`` of :mod:`vipguard.infra.plugins` in src/vipguard."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        uses_plugins = any(isinstance(n, ast.ImportFrom) and (n.module or "").endswith("plugins")
                           for n in ast.walk(tree))
        for node in ast.walk(tree):
            if uses_plugins and isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Call) \
                    and ast.unparse(node.value.func) in {"Registry", "plugins.Registry"}:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
                found |= {f"{module}.{ast.unparse(t)}" for t in targets}
    return found


COVERED = {"vipguard.faces.detect.DETECTORS", "vipguard.faces.embed.EMBEDDERS", "vipguard.faces.mesh.MESHERS",
           "vipguard.forge.base.FORGERS"}


def test_every_registry_is_covered_here():
    assert _registries_in_source() == COVERED, "a registry was added or moved: test its entries in this file"


def test_the_plugin_registry_contract():
    from vipguard.infra.plugins import Registry

    parts: Registry[str] = Registry("widget")
    parts.register("a")(lambda n=1: "a" * n)
    parts.register("b")(lambda: "b")
    assert parts.names == ("a", "b") and list(parts) == ["a", "b"] and "a" in parts and "c" not in parts
    assert parts.create("a", n=3) == "aaa"
    with pytest.raises(ValueError, match="widget 'a' is already registered"):
        parts.register("a")(lambda: "again")
    with pytest.raises(KeyError, match="unknown widget 'c'; choose one of: a, b"):
        parts.get("c")


@pytest.mark.parametrize("kind, name", [("detector", n) for n in DETECTORS.names]
                         + [("embedder", n) for n in EMBEDDERS.names] + [("mesher", n) for n in MESHERS.names])
def test_every_face_model_without_its_weights_names_the_fix(kind, name, tmp_path):
    """Built from an empty model store, each registered detector, embedder and mesher says which file is missing
    and the command that fetches it (timm's 'clear errors for missing local files')."""
    from vipguard.infra.weights import FIX_COMMAND, ModelStore, WeightsError

    registry = {"detector": DETECTORS, "embedder": EMBEDDERS, "mesher": MESHERS}[kind]
    with pytest.raises(WeightsError) as caught:
        registry.create(name, store=ModelStore(tmp_path / "no-models"))
    message = str(caught.value)
    assert "file is missing" in message and str(tmp_path / "no-models") in message and FIX_COMMAND in message


@pytest.mark.parametrize("name", DETECTORS.names)
def test_every_detector_on_tiny_inputs(name, store):
    detector = DETECTORS.create(name, store=store)
    assert detector.name == name
    assert detector.detect(np.zeros((48, 64, 3), np.uint8)) == []
    found = detector.detect(synthetic_image(1, (120, 90)))
    assert all(isinstance(d, Detection) and d.landmarks.shape == (5, 2) for d in found)
    assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)


@pytest.mark.parametrize("name", EMBEDDERS.names)
def test_every_embedder_on_tiny_inputs(name, store):
    embedder = EMBEDDERS.create(name, store=store)
    assert embedder.name == name
    image = synthetic_image(2, (120, 120))
    assert embedder.embed(image, []).shape == (0, embedder.dim)
    landmarks = (ARCFACE_TEMPLATE + 4.0).astype(np.float32)
    detection = Detection((0.0, 0.0, 119.0, 119.0), 0.99, landmarks)
    vectors = embedder.embed(image, [detection, detection])
    assert vectors.shape == (2, embedder.dim) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-5)  # deterministic
    # the Embedder interface: embed is embed_aligned of the embedder's own alignment, one crop or a batch
    crops = embedder.align(image, [detection, detection])
    assert crops.shape == (2, embedder.size, embedder.size, 3) and crops.dtype == np.uint8
    np.testing.assert_allclose(embedder.embed_aligned(crops), vectors, atol=1e-5)
    np.testing.assert_allclose(embedder.embed_aligned(crops[0]), vectors[:1], atol=1e-5)
    assert embedder.embed_aligned(crops[:0]).shape == (0, embedder.dim)
    assert embedder.align(image, []).shape == (0, embedder.size, embedder.size, 3)
    other = embedder.embed_aligned(np.ascontiguousarray(crops[:1, ::-1]))  # another face: another vector
    assert float(other[0] @ vectors[0]) < 0.999
    # and it says which weights made the vectors: the model store's verified SHA-256
    assert embedder.identity.name == name
    assert embedder.identity.sha256 in {store.entry(n).sha256 for n in store.names}


@pytest.fixture(scope="module")
def forge_inputs(bundled_meshes):
    """A source and a target of different sizes (so the output shows whose frame it keeps), each a synthetic
    image with a bundled face's detection and mesh; the source face is moved into its larger frame."""
    source_image = synthetic_image(3, (270, 260))
    target_image = synthetic_image(4, (250, 250))
    source = ForgeInput(source_image, synthetic_face(source_image, bundled_meshes[0], shift=(5.0, 10.0)), "src.png")
    target = ForgeInput(target_image, synthetic_face(target_image, bundled_meshes[1]), "tgt.png")
    return source, target


@pytest.mark.parametrize("name", FORGERS.names)
def test_every_forger_on_synthetic_faces(name, forge_inputs):
    source, target = forge_inputs
    method = FORGERS.create(name)
    assert method.name == name
    result = method.forge(source, target, np.random.default_rng(7))
    again = method.forge(source, target, np.random.default_rng(7))
    assert result.method == name and result.source == "src.png" and result.target == "tgt.png"
    assert result.image.dtype == np.uint8 and result.mask.dtype == np.uint8
    assert result.image.tobytes() == again.image.tobytes() and result.params == again.params  # seeded
    frame = source.image if result.image.shape == source.image.shape else target.image
    assert result.image.shape == frame.shape and result.mask.shape == frame.shape[:2]
    changed, outside = result.mask > 0, result.mask == 0
    assert changed.sum() > 100
    np.testing.assert_array_equal(result.image[outside], frame[outside])  # only the mask changed
    assert (result.image[changed] != frame[changed]).any()
    json.dumps(result.provenance())  # provenance is plain data
    assert source.image.tobytes() == synthetic_image(3, (270, 260)).tobytes()  # inputs untouched
    assert target.image.tobytes() == synthetic_image(4, (250, 250)).tobytes()


@pytest.mark.parametrize("name", FORGERS.names)
def test_every_forger_refuses_a_face_without_mesh(name, forge_inputs, bundled_meshes):
    source, target = forge_inputs
    flat = ForgeInput(target.image, synthetic_face(target.image, bundled_meshes[1], mesh=False), "flat.png")
    method = FORGERS.create(name)
    if name != "reshape":  # reshape edits the source alone and never reads the target
        with pytest.raises(ForgeError, match=r"no face mesh in (source|target) \((flat|src)\.png\)"):
            method.forge(source, flat, np.random.default_rng(0))
    with pytest.raises(ForgeError, match="no face mesh"):
        method.forge(ForgeInput(source.image, synthetic_face(source.image, bundled_meshes[0], mesh=False)), target,
                     np.random.default_rng(0))


# ----------------------------------------------------------------------------- shipped files: no machine paths

MACHINE_PATH = re.compile(r"(?<![\w.:/~-])(?:/(?:tmp|work|root|home|Users|mnt|var/folders|private/var)/|[A-Za-z]:\\)")
TEXT_SUFFIXES = {".json", ".md", ".txt", ".html", ".js", ".css", ".toml", ".yaml", ".yml", ".cfg"}


def _shipped_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*") if p.is_file() and (p.suffix in TEXT_SUFFIXES or p.suffix == ".npz"))


def test_the_machine_path_pattern():
    for bad in ('"init": "/tmp/artifact_stage1/best.pt"', "data: /work/shared/data/lfw", "(/root/.cache/x)",
                "`/home/ci/run`", "C:\\Users\\me\\w.pt", "'/Users/me/x'"):
        assert MACHINE_PATH.search(bad), bad
    for fine in ("https://example.org/home/page", "lfw/Tony_Blair", "../shared/data/lfw", "~/.local/share/vipguard",
                 "$VIPGUARD_HOME/registry.db", "a/tmp/b"):
        assert not MACHINE_PATH.search(fine), fine


def test_shipped_files_carry_no_machine_paths():
    files = _shipped_files()
    names = {p.name for p in files}
    assert {"genuine_prior.json", "ATTRIBUTION.md", "background.npz", "targets.npz", "MODEL_CARD.md"} <= names
    found = []
    for path in files:
        if path.suffix == ".npz":  # the strings stored in the bundled arrays (names of photos and identities)
            with np.load(path, allow_pickle=False) as npz:
                texts = [str(s) for k in npz.files if npz[k].dtype.kind in "US" for s in npz[k].ravel()]
        else:
            texts = path.read_text(encoding="utf-8").splitlines()
        found += [f"{path.relative_to(PACKAGE)}: {t.strip()[:120]}" for t in texts if MACHINE_PATH.search(t)]
    assert not found, "machine paths in shipped files (record paths relative to the data root):\n" + "\n".join(found)


def test_barycentric_transforms_equal_scipys_and_mark_degenerate_triangles():
    from scipy.spatial import Delaunay

    from vipguard.forge.warp import barycentric_transforms

    points = np.random.default_rng(0).uniform(0, 200, (478, 2))
    tri = Delaunay(points)
    np.testing.assert_allclose(barycentric_transforms(tri.points, tri.simplices), tri.transform, atol=1e-9)
    flat = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [0.0, 1.0]])
    out = barycentric_transforms(flat, np.array([[0, 1, 2], [0, 1, 3]]))
    assert np.isnan(out[0]).all() and np.isfinite(out[1]).all()  # collinear: no transform; the other one is


def test_protowire_reads_and_writes_messages_field_by_field():
    import struct

    from vipguard.infra import protowire as pw

    packed = struct.pack("<3f", 1.0, 2.5, -3.0)
    message = [(1, pw.VARINT, pw.encode_varint(300)), (2, pw.LENGTH, b"abc"), (3, pw.LENGTH, packed),
               (3, pw.FIXED32, struct.pack("<f", 4.0)), (4, pw.FIXED64, bytes(8))]
    data = pw.encode(message)
    assert pw.fields(data) == message and pw.encode(pw.fields(data)) == data
    assert pw.varint(pw.first(pw.fields(data), 1)) == 300 and pw.first(pw.fields(data), 9) is None
    assert pw.floats(pw.fields(data), 3) == [1.0, 2.5, -3.0, 4.0]
    edited = pw.edit(data, 2, lambda content: content.upper())
    assert pw.first(pw.fields(edited), 2) == b"ABC" and pw.first(pw.fields(pw.edit(data, 2, lambda _: None)), 2) is None
    for broken in (data[:-3], b"\x0a\x05ab", b"\x80"):
        with pytest.raises(pw.WireError):
            pw.fields(broken)
