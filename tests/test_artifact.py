"""The self-blending artefact detector: pseudo-fake generator, model export, training, packaged weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from vipguard.artifact.data import VIP_IDENTITIES, FaceCrops, crop_face, is_held_out, other_photos
from vipguard.artifact.sbi import boundary_target, degrade, ellipse_mask, self_blend
from vipguard.artifact.train import auc

from .conftest import VIPS


@pytest.fixture(scope="module")
def held_out_crops(lfw, analyzer) -> FaceCrops:
    """Aligned crops + geometry of 24 photos of held-out non-VIP identities (one per identity)."""
    from vipguard.io import load_image

    images, lms, pts, ids, paths = [], [], [], [], []
    for path in other_photos(lfw, per_identity=1, held_out=True)[:30]:
        rgb = load_image(path)
        faces = analyzer.analyze(rgb, primary_only=True, embedders=())
        if not faces:
            continue
        f = faces[0]
        crop, lm, pt = crop_face(rgb, f.detection.landmarks, f.mesh.points if f.mesh else None)
        images.append(crop), lms.append(lm), pts.append(pt), ids.append(path.parent.name), paths.append(str(path))
        if len(images) == 24:
            break
    assert len(images) >= 20
    return FaceCrops(np.stack(images), np.stack(lms), np.stack(pts), np.array(ids), np.array(paths))


def test_vips_are_excluded_from_training_photos(lfw):
    assert set(VIPS) <= set(VIP_IDENTITIES)
    names = {p.parent.name for p in other_photos(lfw, per_identity=1)}
    assert not names & set(VIP_IDENTITIES)
    assert is_held_out("x") in (True, False)


def test_self_blend_is_deterministic_and_boundary_matches_mask(held_out_crops):
    c = held_out_crops
    for i in range(4):
        a = self_blend(c.images[i], c.landmarks[i], c.points[i], np.random.default_rng(i))
        b = self_blend(c.images[i], c.landmarks[i], c.points[i], np.random.default_rng(i))
        other = self_blend(c.images[i], c.landmarks[i], c.points[i], np.random.default_rng(i + 100))
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.mask, b.mask)
        np.testing.assert_array_equal(a.boundary, b.boundary)
        assert not np.array_equal(a.mask, other.mask)
        assert a.image.shape == c.images[i].shape and a.image.dtype == np.uint8
        assert a.mask.min() >= 0 and a.mask.max() == pytest.approx(1.0)
        np.testing.assert_allclose(a.boundary, 4 * a.mask * (1 - a.mask), atol=1e-6)
        # far (> 24 px) from the mask's half-level edge the boundary target vanishes
        hard = (a.mask >= 0.5).astype(np.uint8)
        dist = np.minimum(cv2.distanceTransform(hard, cv2.DIST_L2, 5), cv2.distanceTransform(1 - hard, cv2.DIST_L2, 5))
        assert a.boundary[dist > 24].max(initial=0.0) < 1e-2
        assert a.boundary.max() > 0.9
        assert np.abs(a.image.astype(int) - c.images[i].astype(int)).max() > 0


def test_self_blend_without_mesh_uses_landmark_ellipse(held_out_crops):
    c = held_out_crops
    nan = np.full((478, 2), np.nan, np.float32)
    sb = self_blend(c.images[0], c.landmarks[0], nan, np.random.default_rng(0))
    assert sb.hull == "ellipse"
    ell = ellipse_mask(c.landmarks[0], c.images[0].shape[:2]) > 0
    for lm in c.landmarks[0]:  # every landmark lies inside the ellipse
        assert ell[int(lm[1]), int(lm[0])]
    np.testing.assert_allclose(sb.boundary, boundary_target(sb.mask), atol=1e-6)
    out = degrade(c.images[0], np.random.default_rng(1), p_jpeg=1.0, p_resize=1.0)
    assert out.shape == c.images[0].shape and out.dtype == np.uint8


def test_auc_helper():
    assert auc(np.array([0.1, 0.2]), np.array([0.8, 0.9])) == 1.0
    assert auc(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0.5


def _tiny_config():
    from vipguard.artifact.config import ArtifactConfig

    return ArtifactConfig(stem=8, stages=((12, 1, 2, 2), (16, 1, 1, 2), (24, 1, 2, 2), (32, 1, 2, 2)), fpn=8, head=16)


def test_onnx_export_matches_torch(tmp_path, held_out_crops):
    torch = pytest.importorskip("torch")
    from vipguard.artifact.detector import ArtifactDetector
    from vipguard.artifact.model import ArtifactNet, ExportWrapper, export_onnx, from_pretrained, save_pretrained
    from vipguard.artifact.train import finish  # noqa: F401  (import check)

    torch.manual_seed(0)
    net = ArtifactNet(_tiny_config()).eval()
    export_onnx(net, tmp_path / "model.onnx")
    import hashlib
    from dataclasses import replace

    digest = hashlib.sha256((tmp_path / "model.onnx").read_bytes()).hexdigest()
    save_pretrained(net, tmp_path, replace(net.config, onnx_sha256=digest))
    folders = [tmp_path]
    packaged = Path(__file__).resolve().parents[1] / "src" / "vipguard" / "artifact" / "weights"
    if (packaged / "model.safetensors").is_file():
        folders.append(packaged)
    crops = held_out_crops.images[:4]
    for folder in folders:
        torch_net = from_pretrained(folder)
        det = ArtifactDetector(folder)
        prob, boundary = det.predict(crops)
        with torch.no_grad():
            x = torch.from_numpy(crops.astype(np.float32) / 255.0).permute(0, 3, 1, 2)
            tp, tb = ExportWrapper(torch_net)(x)
        np.testing.assert_allclose(prob, tp.numpy(), atol=1e-4)
        np.testing.assert_allclose(boundary, tb.numpy(), atol=1e-4)


def test_training_lowers_the_loss_and_resumes(tmp_path, held_out_crops):
    pytest.importorskip("torch")
    from vipguard.artifact.train import TrainConfig, train

    cfg = TrainConfig(data="", cache_dir="", epochs=1, steps=30, batch=8, lr=3e-3, warmup=3, seed=0)
    crops = held_out_crops.subset(range(8))
    result = train(cfg, tmp_path, crops=crops, model_config=_tiny_config(), progress=False, export=False)
    losses = result["losses"]
    assert len(losses) == 30 and all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert (tmp_path / "checkpoint.pt").is_file()
    # resuming a finished run does no more steps; asking for one more epoch continues from the checkpoint
    again = train(cfg, tmp_path, resume=True, crops=crops, model_config=_tiny_config(), progress=False, export=False)
    assert again["losses"] == [] and len(again["history"]) == 1
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert log[0]["epoch"] == 1


def test_detector_rejects_a_tampered_onnx(tmp_path):
    from vipguard.artifact.detector import ArtifactDetector, ArtifactWeightsError, default_weights

    src = default_weights()
    if not (src / "model.onnx").is_file():
        pytest.skip("no packaged artefact weights")
    for name in ("config.json", "model.onnx"):
        shutil.copy(src / name, tmp_path / name)
    with (tmp_path / "model.onnx").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ArtifactWeightsError, match="SHA-256"):
        ArtifactDetector(tmp_path)
    with pytest.raises(ArtifactWeightsError, match="missing"):
        ArtifactDetector(tmp_path / "nowhere")


def test_packaged_detector_separates_self_blends_from_real(held_out_crops):
    from vipguard.artifact.detector import ArtifactDetector, ArtifactResult, default_weights

    if not (default_weights() / "model.onnx").is_file():
        pytest.skip("no packaged artefact weights")
    det = ArtifactDetector()
    c = held_out_crops
    real, fake = [], []
    for i in range(len(c)):
        r = det.score_crop(c.images[i], c.landmarks[i])
        sb = self_blend(c.images[i], c.landmarks[i], c.points[i], np.random.default_rng([7, i]))
        f = det.score_crop(sb.image, c.landmarks[i])
        assert isinstance(r, ArtifactResult) and 0.0 <= r.score <= 1.0
        assert r.boundary.shape == (det.size, det.size) and isinstance(r.where, str)
        real.append(r.score), fake.append(f.score)
    assert auc(np.array(real), np.array(fake)) > 0.8


def test_score_from_a_photo_and_cli(lfw, analyzer, capsys):
    from vipguard.artifact.detector import ArtifactDetector, default_weights
    from vipguard.cli import main
    from vipguard.io import load_image

    if not (default_weights() / "model.onnx").is_file():
        pytest.skip("no packaged artefact weights")
    path = other_photos(lfw, per_identity=1, held_out=True)[0]
    rgb = load_image(path)
    face = analyzer.analyze(rgb, primary_only=True, embedders=())[0]
    result = ArtifactDetector().score(rgb, face)
    assert 0.0 <= result.score <= 1.0 and result.where
    assert main(["artifact", "score", "--json", str(path)]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["path"] == str(path) and 0.0 <= record["score"] <= 1.0 and record["error"] is None
