"""Identity-passing edit families as training views (#35): each family's pseudo-fake on real LFW crops, the
leave-one-family-out rule, and the recipe without edits reproduced view for view."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from vipguard.train.artifact_data import FaceCrops
from vipguard.train.edits import FAMILIES, family_view, geometry_warp, ghost_blend, part_blend

from .test_artifact import held_out_crops  # noqa: F401  (fixture)


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(int) - b.astype(int)).max(axis=2) > 2


def test_part_blend_changes_one_small_region_and_marks_its_boundary(held_out_crops):  # noqa: F811
    crops: FaceCrops = held_out_crops
    for i in range(8):
        view = part_blend(crops.images[i], crops.landmarks[i], crops.points[i], np.random.default_rng(i),
                          other=crops.images[(i + 1) % len(crops)])
        changed = _changed(view.image, crops.images[i])
        assert view.hull.startswith("part:") and view.image.dtype == np.uint8
        assert changed.mean() < 0.25, "a part blend touches one region, not the face"
        assert not changed[view.mask < 1e-3].any(), "pixels outside the soft mask stay as they were"
        assert view.boundary.max() > 0.5 and np.allclose(view.boundary, 4 * view.mask * (1 - view.mask))


def test_ghost_blend_dissolves_the_face_at_a_low_ratio(held_out_crops):  # noqa: F811
    crops: FaceCrops = held_out_crops
    for i in range(6):
        view = ghost_blend(crops.images[i], crops.landmarks[i], crops.points[i], np.random.default_rng(i))
        assert view.hull == "ghost" and 0.1 <= view.ratio <= 0.4
        diff = np.abs(view.image.astype(float) - crops.images[i].astype(float)).max(axis=2)
        face = view.mask > 0.9
        assert diff[face].mean() > 1.0 and diff[view.mask < 1e-3].max() <= 1.0


def test_geometry_warp_moves_pixels_without_blending_anything_in(held_out_crops):  # noqa: F811
    crops: FaceCrops = held_out_crops
    for i in range(6):
        view = geometry_warp(crops.images[i], crops.landmarks[i], crops.points[i], np.random.default_rng(i))
        assert view.hull.startswith("geometry:") and view.ratio == 1.0
        changed = _changed(view.image, crops.images[i])
        assert changed.any() and not changed[view.mask < 1e-4].any()
        # every output pixel's value lies within the range of the source's own pixels around it: nothing pasted
        assert view.image.min() >= crops.images[i].min() and view.image.max() <= crops.images[i].max()
    no_mesh = np.full_like(crops.points[0], np.nan)
    for family in FAMILIES:  # a face without a mesh falls back to its five landmarks
        view = family_view(family, crops.images[0], crops.landmarks[0], no_mesh, np.random.default_rng(0))
        assert _changed(view.image, crops.images[0]).any()
    with pytest.raises(ValueError, match="unknown edit family"):
        family_view("tattoo", crops.images[0], crops.landmarks[0], crops.points[0], np.random.default_rng(0))


def test_cli_rejects_edit_options_it_cannot_use(tmp_path, capsys):
    from vipguard.cli import main

    base = ["artifact", "train", "--data", str(tmp_path), "--out", str(tmp_path / "o")]
    assert main(base + ["--edits", "0.5"]) == 2  # v1 has no edit families
    assert "apply to v2 only" in capsys.readouterr().err
    v2 = base + ["--backbone", "efficientnet_lite0"]
    assert main(v2 + ["--edits", "2"]) == 2
    assert main(v2 + ["--exclude-family", "tattoo"]) == 2
    err = capsys.readouterr().err
    assert "--edits must lie in [0, 1]" in err and "'tattoo'" in err and "Traceback" not in err


def test_views_record_their_family_and_without_edits_are_the_recipe_as_before(held_out_crops):  # noqa: F811
    from vipguard.train.artifact_frozen import VIEW_FAMILIES, FrozenTrainConfig, kept_pairs, training_views
    from vipguard.train.sbi import nearest_donors

    crops: FaceCrops = held_out_crops.subset(range(16))
    donors = nearest_donors(crops.landmarks, crops.identities)
    base = FrozenTrainConfig(data="", cache_dir="", seed=3)
    images, labels, _, families = training_views(crops, 0, base, 32, donors)
    assert set(families[1::2]) <= {VIEW_FAMILIES.index("sbi"), VIEW_FAMILIES.index("pair")}
    assert (families[0::2] == -1).all() and (labels[0::2] == 0).all() and (labels[1::2] == 1).all()
    again, *_ = training_views(crops, 0, replace(base, exclude_family="part"), 32, donors)
    assert all(np.array_equal(a, b) for a, b in zip(images, again))  # the fold rule never changes a view
    mixed, _, _, fam = training_views(crops, 0, replace(base, p_edits=1.0), 32, donors)
    assert {VIEW_FAMILIES[f] for f in fam[1::2]} <= set(FAMILIES) and len(set(fam[1::2])) >= 2
    kept = kept_pairs(fam, VIEW_FAMILIES[int(fam[1])])
    assert len(kept) < len(fam) // 2 and all(fam[2 * k + 1] != fam[1] for k in kept)
    assert np.array_equal(kept_pairs(fam, ""), np.arange(len(fam) // 2))
    with pytest.raises(ValueError, match="exclude_family"):
        kept_pairs(fam, "tattoo")
