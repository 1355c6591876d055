"""Forgery methods on real LFW photos: detectable outputs, identity transfer, locality, determinism, QC, CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from vipguard.faces import Pose
from vipguard.forge import (
    FORGERS, SELF_TARGET_METHODS, ForgeError, ForgeInput, forge_batch, identity_centre, input_problem, prepare_input,
    result_face,
)
from vipguard.forge.checks import NO_FACE_IN_RESULT

from .conftest import VIPS, photos

PAIRS = 12
PARTIAL = ("eyes", "nose", "mouth", "inner")


@pytest.fixture(scope="module")
def inputs(lfw, analyzer) -> dict[str, list]:
    """Analysed VIP photos (two per VIP) and other people's photos, plus pose-compatible pairs of each kind."""
    vip = [[prepare_input(str(p), analyzer) for p in photos(lfw, name, 1, 4)] for name in VIPS]
    people = sorted(d for d in lfw.iterdir() if d.is_dir() and d.name not in VIPS)[::97][:24]
    others = []
    for folder in people:
        try:
            others.append(prepare_input(str(sorted(folder.glob("*.jpg"))[0]), analyzer))
        except ForgeError:
            continue
    swap_pairs, used = [], set()
    for source in [p for person in vip for p in person[:3]]:
        for k, target in enumerate(others):
            if k not in used and input_problem(source, target) is None:
                swap_pairs.append((source, target))
                used.add(k)
                break
    self_pairs = [(a, b) for person in vip for a in person for b in person
                  if a is not b and input_problem(a, b) is None][:: 2][:PAIRS]
    return {"vip": vip, "others": others, "pairs": swap_pairs[:PAIRS], "self_pairs": self_pairs}


@pytest.fixture(scope="module")
def forged(inputs, analyzer):
    """Per method: (source, target, result, face found in the result or None), one per pair, seed = pair index."""
    cache: dict[str, list] = {}

    def run(method: str) -> list:
        if method not in cache:
            pairs = inputs["self_pairs"] if method in SELF_TARGET_METHODS else inputs["pairs"]
            forger = FORGERS.create(method)
            rows = []
            for k, (source, target) in enumerate(pairs):
                result = forger.forge(source, target, np.random.default_rng(k))
                rows.append((source, target, result, result_face(result.image, analyzer)[0]))
            cache[method] = rows
        return cache[method]

    return run


def test_enough_pairs(inputs):
    assert len(inputs["pairs"]) >= 10 and len(inputs["self_pairs"]) >= 10


def test_registry_has_every_method():
    assert set(FORGERS.names) == {"swap", "selfswap", *PARTIAL, "morph", "reenact", "efs", "selfmouth", "reshape"}
    assert set(SELF_TARGET_METHODS) == {"selfswap", "selfmouth"}


@pytest.mark.parametrize("method", ["swap", "selfswap", *PARTIAL, "morph", "reenact", "selfmouth", "reshape"])
def test_output_has_a_detectable_face(forged, method):
    rows = forged(method)
    found = sum(face is not None for *_, face in rows)
    assert found / len(rows) >= 0.95
    for source, target, result, _ in rows:
        frame = source.image if method in ("reenact", "reshape") else target.image
        assert result.image.shape == frame.shape and result.image.dtype == np.uint8
        assert result.method == method and result.mask.shape == frame.shape[:2]


def test_swap_moves_identity_to_source(forged):
    rows = [(s, t, face) for s, t, _, face in forged("swap") if face is not None]
    closer = sum(
        float(face.embeddings["mobilefacenet"] @ s.face.embeddings["mobilefacenet"])
        > float(face.embeddings["mobilefacenet"] @ t.face.embeddings["mobilefacenet"])
        for s, t, face in rows
    )
    assert closer / len(rows) >= 0.9


@pytest.mark.parametrize("method", [*PARTIAL, "selfmouth"])
def test_partial_swap_changes_only_its_region(forged, method):
    for _, target, result, _ in forged(method):
        outside = result.mask == 0
        diff = np.abs(result.image.astype(int) - target.image.astype(int)).max(axis=2)
        assert diff[outside].max() <= 1, "pixels outside the dilated region changed"
        assert diff[~outside].mean() > 1.0, "the region did not change"
        assert np.count_nonzero(result.mask) < 0.6 * result.mask.size


def test_reshape_moves_one_feature_of_the_source_and_keeps_the_identity(forged):
    rows = [row for row in forged("reshape") if row[3] is not None]
    kept = [float(face.embeddings["mobilefacenet"] @ s.face.embeddings["mobilefacenet"]) for s, _, _, face in rows]
    assert np.median(kept) >= 0.8, "a reshape keeps the VIP's identity"
    for source, _, result, _ in rows:
        diff = np.abs(result.image.astype(int) - source.image.astype(int)).max(axis=2)
        assert diff[result.mask == 0].max() == 0, "pixels outside the moved area changed"
        assert 0 < np.count_nonzero(result.mask) < 0.5 * result.mask.size
        assert result.params["feature"] in ("eyes", "nose", "mouth", "jaw") and result.params["max_motion_px"] > 1.0
    with pytest.raises(ForgeError, match="not one of"):
        FORGERS.create("reshape", feature="ears")


def test_same_seed_same_bytes_and_seeds_vary(inputs):
    source, target = inputs["pairs"][0]
    for method in FORGERS.names:
        forger = FORGERS.create(method)
        a = forger.forge(source, target, np.random.default_rng(7))
        b = forger.forge(source, target, np.random.default_rng(7))
        assert a.image.tobytes() == b.image.tobytes() and a.params == b.params
    swap = FORGERS.create("swap")
    variants = {swap.forge(source, target, np.random.default_rng(s)).image.tobytes() for s in range(4)}
    assert len(variants) > 1


def test_morph_ratio_and_blend_are_validated(inputs):
    source, target = inputs["pairs"][0]
    with pytest.raises(ForgeError):
        FORGERS.create("morph", ratio=0.3)
    with pytest.raises(ForgeError):
        FORGERS.create("swap", blend="cubist").forge(source, target, np.random.default_rng(0))
    near = FORGERS.create("morph", ratio=0.9).forge(source, target, np.random.default_rng(0))
    assert near.params["ratio"] == 0.9
    for blend in ("poisson", "feather"):
        result = FORGERS.create("swap", blend=blend).forge(source, target, np.random.default_rng(0))
        assert result.params["blend"] == blend
        assert np.array_equal(result.image[result.mask == 0], target.image[result.mask == 0])


def test_quality_control_reasons(inputs, analyzer):
    source, target = inputs["pairs"][0]
    mesh = target.face.mesh
    turned = dataclasses.replace(mesh, pose=Pose(mesh.pose.yaw + 40.0, mesh.pose.pitch, mesh.pose.roll))
    far = ForgeInput(target.image, dataclasses.replace(target.face, mesh=turned), target.path)
    assert "yaw gap" in input_problem(source, far)
    assert input_problem(source, far, max_pose_gap=90.0) is None
    no_mesh = ForgeInput(target.image, dataclasses.replace(target.face, mesh=None), target.path)
    assert "no face mesh in target" in input_problem(source, no_mesh)
    with pytest.raises(ForgeError, match="no face mesh"):
        FORGERS.create("swap").forge(source, no_mesh, np.random.default_rng(0))
    assert result_face(np.full((200, 200, 3), 128, np.uint8), analyzer) == (None, NO_FACE_IN_RESULT)


def test_batch_counts_rejections_and_scores(inputs, analyzer):
    vip = inputs["vip"][0]
    mesh = vip[0].face.mesh
    turned = dataclasses.replace(mesh, pose=Pose(mesh.pose.yaw + 60.0, mesh.pose.pitch, mesh.pose.roll))
    bad = ForgeInput(vip[0].image, dataclasses.replace(vip[0].face, mesh=turned), "turned.jpg")
    targets = [bad, *inputs["others"][:6]]
    centre = identity_centre(vip)
    report = forge_batch("swap", vip[:2], targets, n=20, seed=3, analyzer=analyzer, centre=centre)
    assert len(report.items) + len(report.rejections) == 14  # every pair tried once, none repeated
    assert report.reasons["yaw gap over 25°"] >= 2
    for item in report.items:
        assert 0 <= item.face_score <= 100 and item.record()["method"] == "swap"
    again = forge_batch("swap", vip[:2], targets, n=20, seed=3, analyzer=analyzer, centre=centre)
    assert [i.result.image.tobytes() for i in again.items] == [i.result.image.tobytes() for i in report.items]
    look = forge_batch("swap", vip[:2], inputs["others"], n=3, seed=0, analyzer=analyzer,
                       targets_policy="lookalike", lookalike_k=2)
    sims = sorted((float(t.face.embeddings["mobilefacenet"] @ centre), t.path) for t in inputs["others"])
    assert {i.result.target for i in look.items} <= {p for _, p in sims[-2:]}


def test_cli_writes_outputs_and_reports_bad_inputs(lfw, tmp_path, capsys):
    from vipguard.cli import main

    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image at all")
    out = tmp_path / "out"
    sheet = tmp_path / "sheet.png"
    vip = photos(lfw, VIPS[0], 1, 3)
    code = main(["forge", "swap", "--source", str(vip[1]), "--source", str(vip[2]), "--target", str(bad),
                 "--target", str(lfw / "Bob_Geldof"), "--out", str(out), "--n", "2", "--seed", "1",
                 "--sheet", str(sheet)])
    captured = capsys.readouterr()
    assert code != 0
    assert "broken.jpg" in captured.err
    assert "made" in captured.out
    written = sorted(out.glob("*.png"))
    assert written and sheet.is_file()
    record = json.loads(written[0].with_suffix(".json").read_text())
    assert record["method"] == "swap" and Path(record["source"]).parent.name == VIPS[0]
    assert 0 <= record["face_score"] <= 100


def test_cli_rejects_unknown_method_and_misplaced_option(lfw, tmp_path, capsys):
    from vipguard.cli import main

    photo = str(photos(lfw, VIPS[0], 1, 1)[0])
    base = ["--source", photo, "--target", photo, "--out", str(tmp_path)]
    assert main(["forge", "cubism", *base]) == 2
    assert main(["forge", "swap", *base, "--ratio", "0.7"]) == 2
    assert "--ratio" in capsys.readouterr().err


def test_cli_forge_efs_takes_its_own_ratio_range(lfw, tmp_path, capsys):
    from vipguard.cli import main

    source, target = str(photos(lfw, VIPS[0], 1, 1)[0]), str(photos(lfw, VIPS[1], 1, 1)[0])
    base = ["--source", source, "--target", target, "--out", str(tmp_path)]
    assert main(["forge", "efs", *base, "--ratio", "0.5"]) == 2
    assert "efs ratio 0.5 is outside [0.7, 0.9]" in capsys.readouterr().err
    assert main(["forge", "efs", *base, "--ratio", "0.8"]) == 0
    assert len(list(tmp_path.glob("*efs*.png"))) == 1
