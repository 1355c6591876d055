"""The differentiable copies behind benchmarks/adversarial.py (#37): each equals the shipped runtime on real photos,
and a tiny attack through them moves the shipped check."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from .conftest import photos

torch = pytest.importorskip("torch")

TEST_VIP = "Tony_Blair"


@pytest.fixture(scope="module")
def faces(lfw, analyzer):
    """(photo, dominant face without mesh) for nine held-out photos of three people."""
    from vipguard.infra.io import load_image

    out = []
    for name in ("Tony_Blair", "Colin_Powell", "Serena_Williams"):
        for path in photos(lfw, name, 21)[:3]:
            image = load_image(path)
            out.append((image, analyzer.analyze(image, primary_only=True, embedders=(), mesh=False)[0]))
    return out


@pytest.fixture(scope="module")
def embedder_copy(store):
    from vipguard.faces.torch_mobilefacenet import TorchMobileFaceNet

    return TorchMobileFaceNet(store.path("mobilefacenet"))


@pytest.fixture(scope="module")
def detector_copy():
    from vipguard.lite.torch_pipeline import load_detector

    return load_detector()


@pytest.fixture(scope="module")
def enrolled(lfw, analyzer, artifact, tmp_path_factory):
    """(registry with TEST_VIP enrolled from _0001–_0020, its profile)."""
    from vipguard.infra.registry import Registry
    from vipguard.lite.background import load_background
    from vipguard.lite.enrol import Enroller
    from vipguard.lite.profile import PROFILE_CODEC

    registry = Registry(tmp_path_factory.mktemp("adv") / "registry.db", codec=PROFILE_CODEC)
    enroller = Enroller(analyzer, load_background(), artifact=artifact)
    profile = enroller.enrol(TEST_VIP, photos(lfw, TEST_VIP, 1, 20)).profile
    registry.put(profile)
    return registry, profile


def test_import_has_no_torch_side_effect():
    code = "import sys, vipguard.faces.torch_mobilefacenet, vipguard.lite.torch_pipeline; print('torch' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"


def test_embedder_copy_equals_litert(analyzer, faces, embedder_copy):
    crops = np.stack([face.aligned for _, face in faces])
    shipped = analyzer.embedder("mobilefacenet").embed_aligned(crops)
    copy = embedder_copy.embed_aligned(crops)
    assert copy.shape == shipped.shape == (len(faces), 192)
    assert np.abs(copy - shipped).max() < 1e-4
    assert np.allclose(np.linalg.norm(copy, axis=1), 1.0, atol=1e-5)


def test_detector_copy_equals_onnx(artifact, faces, detector_copy):
    net, config = detector_copy
    assert config == artifact.config
    crops = np.stack([artifact.prepare(artifact.crop(image, face.detection.landmarks)[0]) for image, face in faces])
    prob, boundary = artifact.predict(crops)
    with torch.no_grad():
        logit, boundary_logits = net(torch.from_numpy(crops.astype(np.float32).transpose(0, 3, 1, 2) / 255.0))
    assert np.abs(torch.sigmoid(logit).numpy() - prob).max() < 1e-4
    assert np.abs(torch.sigmoid(boundary_logits)[:, 0].numpy() - boundary).max() < 1e-4


def test_warp_matches_cv2_alignment(faces):
    from vipguard.faces.align import estimate_norm, norm_crop
    from vipguard.lite.torch_pipeline import warp

    for image, face in faces:
        shipped = norm_crop(image, face.detection.landmarks).astype(np.float32)
        copy = warp(torch.tensor(image, dtype=torch.float32), estimate_norm(face.detection.landmarks), 112).numpy()
        # cv2 rounds its fixed-point result to uint8: the float copy lies within half a level of it, and rounds to it
        # except at the ties its fixed-point weights break the other way
        assert np.abs(copy - shipped).max() <= 0.5 + 1e-3
        assert np.mean(np.rint(copy) != shipped) < 0.02


def test_artefact_term_equals_the_decision():
    from vipguard.lite.decision import VETO_POWER, veto_probability
    from vipguard.lite.torch_pipeline import artefact_log_odds

    veto = 0.999977
    for p in (1e-4, 0.01, 0.5, 0.99, 0.99997, 0.999985, 0.99999):
        term = float(torch.sigmoid(artefact_log_odds(torch.tensor(math.log(p / (1 - p))), veto, VETO_POWER)))
        assert term == pytest.approx(veto_probability(p, veto), abs=1e-6)


def test_differentiable_check_equals_guard(lfw, analyzer, artifact, enrolled, embedder_copy, detector_copy):
    from vipguard.infra.io import load_image
    from vipguard.lite.guard import Guard
    from vipguard.lite.torch_pipeline import DifferentiableCheck, FaceGeometry

    registry, profile = enrolled
    guard = Guard(registry, analyzer, artifact=artifact)
    net, config = detector_copy
    check = DifferentiableCheck(profile, embedder_copy, net, config, guard.veto)
    for path in photos(lfw, TEST_VIP, 21)[:4]:
        image = load_image(path)
        verdict = guard.check(image, TEST_VIP)
        face = analyzer.analyze(image, primary_only=True, embedders=(), mesh=False)[0]
        with torch.no_grad():
            geometry = FaceGeometry.of(face.detection.landmarks, config)
            terms = check.terms(torch.tensor(image, dtype=torch.float32), geometry)
        assert float(terms.similarity) == pytest.approx(verdict.evidence["sim_global"], abs=1e-4)
        assert float(torch.sigmoid(terms.artifact_logit)) == pytest.approx(verdict.evidence["artifact"], abs=1e-4)
        # the score reads the detector's log-odds, which near a probability of 1 amplifies the copies' 1e-6
        assert terms.score == pytest.approx(verdict.score, abs=5e-4)
        assert terms.verdict_genuine == (verdict.verdict == "genuine")


def test_differentiable_check_applies_a_noisy_crops_veto(lfw, analyzer, artifact, enrolled, embedder_copy,
                                                         detector_copy):
    """As the Guard does, a crop in the detector's noise band is held to its noise veto, a clean crop to the
    detector's own; the copy's score follows the Guard's on both."""
    from vipguard.artifact.gate import add_noise
    from vipguard.infra.io import load_image
    from vipguard.lite.guard import Guard
    from vipguard.lite.torch_pipeline import DifferentiableCheck, FaceGeometry

    registry, profile = enrolled
    guard = Guard(registry, analyzer, artifact=artifact)
    net, config = detector_copy
    check = DifferentiableCheck(profile, embedder_copy, net, config, guard.veto)
    clean = load_image(photos(lfw, TEST_VIP, 21)[1])
    noisy = add_noise(clean, 8.0, np.random.default_rng(0))
    for image in (clean, noisy):
        face = analyzer.analyze(image, primary_only=True, embedders=(), mesh=False)[0]
        geometry = FaceGeometry.of(face.detection.landmarks, config)
        with torch.no_grad():
            _, judged, veto = check.detector_crop(torch.tensor(image, dtype=torch.float32), geometry)
            terms = check.terms(torch.tensor(image, dtype=torch.float32), geometry)
        shipped = artifact.score(image, face)
        assert judged == shipped.judged
        assert veto == guard.veto_for(shipped)
        assert terms.score == pytest.approx(guard.check(image, TEST_VIP).score, abs=5e-4)
    assert veto == config.noise_veto > guard.veto  # the noisy photo's crop lies in the band


def test_tiny_pgd_lowers_similarity(lfw, analyzer, artifact, enrolled, embedder_copy, detector_copy):
    from vipguard.infra.io import load_image
    from vipguard.lite.guard import Guard
    from vipguard.lite.torch_pipeline import DifferentiableCheck, FaceGeometry, Step, pgd

    registry, profile = enrolled
    guard = Guard(registry, analyzer, artifact=artifact)
    net, config = detector_copy
    check = DifferentiableCheck(profile, embedder_copy, net, config, guard.veto)
    image = load_image(photos(lfw, TEST_VIP, 21)[0])
    face = analyzer.analyze(image, primary_only=True, embedders=(), mesh=False)[0]
    geometry = FaceGeometry.of(face.detection.landmarks, config)

    def lower(x):
        sim = check.similarity(x, geometry)
        return Step(-sim, -float(sim.detach()), False)

    attacked = pgd(lower, image, eps=2, steps=3)
    assert np.abs(attacked.image.astype(int) - image.astype(int)).max() <= 2
    before = guard.check(image, TEST_VIP).evidence["sim_global"]
    after = guard.check(attacked.image, TEST_VIP).evidence["sim_global"]
    assert after < before - 0.05
