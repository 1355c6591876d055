"""VIPEval-lite: metrics against scikit-learn and hand-computed cases, manifests, folder layouts, and a --quick
build + run end to end on a tiny real dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vipguard.bench import metrics
from vipguard.bench.build import BuildConfig, split_photos
from vipguard.bench.degrade import grid, jpeg
from vipguard.bench.manifest import Manifest, ManifestError, Record, from_folders, load_manifest


# -- metrics ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_auc_and_ap_match_sklearn(seed: int) -> None:
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 60)
    y[:2] = (0, 1)
    s = np.round(rng.random(60) + 0.4 * y, 1)  # rounding makes ties
    assert metrics.auc(y, s) == pytest.approx(sk.roc_auc_score(y, s))
    assert metrics.average_precision(y, s) == pytest.approx(sk.average_precision_score(y, s))
    fpr, tpr, _ = metrics.roc_curve(y, s)
    sk_fpr, sk_tpr, _ = sk.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)


def test_best_threshold_is_the_balanced_optimum() -> None:
    from vipguard.bench.metrics import best_threshold

    groups = ["genuine"] * 4 + ["swap"] * 2 + ["other"] * 2
    scores = [0.9, 0.8, 0.7, 0.4, 0.75, 0.3, 0.1, 0.2]
    t, acc = best_threshold(groups, scores)
    # 0.4: all genuine accepted, 1/2 swaps and 2/2 others rejected → 0.5·1 + 0.5·0.75 = 0.875, the best
    # (0.7 gives 0.5·0.75 + 0.5·0.75, 0.8 gives 0.5·0.5 + 0.5·1)
    assert t == pytest.approx(0.4) and acc == {"genuine": 1.0, "swap": 0.5, "other": 1.0}
    t2, acc2 = best_threshold(["genuine", "other"], [0.9, 0.1])
    assert acc2 == {"genuine": 1.0, "other": 1.0} and 0.1 < t2 <= 0.9


def test_hand_computed_roc_eer_acc() -> None:
    # genuine: 0.9, 0.8, 0.4; negatives: 0.7, 0.3, 0.2 → ROC points (fpr, tpr):
    # (0,0) (0,1/3) (0,2/3) (1/3,2/3) (1/3,1) (2/3,1) (1,1); AUC = 1 - (1/3)(1/3) = 8/9
    y, s = [1, 1, 1, 0, 0, 0], [0.9, 0.8, 0.4, 0.7, 0.3, 0.2]
    assert metrics.auc(y, s) == pytest.approx(8 / 9)
    # |FNR - FPR| is smallest (0) at (fpr, tpr) = (1/3, 2/3) → EER = 1/3
    assert metrics.eer(y, s) == pytest.approx(1 / 3)
    assert metrics.acc(y, s) == pytest.approx(4 / 6)  # 0.9, 0.8 right; 0.4 wrong; 0.7 wrong; 0.3, 0.2 right
    assert metrics.eer([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert metrics.auc([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert metrics.eer([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]) == 1.0


def test_bootstrap_interval_brackets_the_value_and_errors() -> None:
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(40), np.zeros(40)].astype(int)
    s = rng.random(80) + 0.5 * y
    est = metrics.bootstrap(y, s, n=200, seed=1)
    for e in est.values():
        assert e.low <= e.value <= e.high
    assert metrics.summary(y, s, 0)["auc"]["low"] is None
    assert metrics.summary([1, 1], [0.2, 0.3])["auc"] is None  # one class: no metric, no crash
    with pytest.raises(metrics.MetricError):
        metrics.auc([1, 1], [0.2, 0.3])
    with pytest.raises(metrics.MetricError):
        metrics.auc([1, 0], [0.2])


def test_degradations_keep_shape_and_input() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)
    before = image.copy()
    cells = grid()
    assert [c.key for c in cells] == [f"{k}{lv}" for k in ("noise", "blur", "jpeg") for lv in (1, 2, 3)]
    for cell in cells:
        out = cell.apply(image, np.random.default_rng(1))
        assert out.shape == image.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(image, before)
    assert np.abs(jpeg(image, 30).astype(int) - image).mean() > np.abs(jpeg(image, 90).astype(int) - image).mean()


# -- manifests -------------------------------------------------------------------------------------------------
def test_split_never_puts_a_photo_in_two_splits(tmp_path: Path) -> None:
    photos = [tmp_path / f"X_{i:04d}.jpg" for i in range(1, 48)]
    for seed in range(5):
        enrol, test = split_photos(photos, BuildConfig(), np.random.default_rng(seed))
        assert [p.name for p in enrol] == [f"X_{i:04d}.jpg" for i in range(1, 21)]
        assert len(test) == 20 and not set(enrol) & set(test)
        assert all(int(p.stem[-4:]) > 20 for p in test)
    dup = Manifest((Record.genuine("a.jpg", "X", "enrol"), Record.genuine("a.jpg", "X", "test")), tmp_path)
    assert "two splits" in dup.problems()[0]
    with pytest.raises(ManifestError):
        Record("b.png", "X", 1, "fake", "swap", "test")  # label must match kind
    with pytest.raises(ManifestError):
        Record("b.png", "X", 0, "fake", "swap", "enrol")  # only genuine photos are enrolled


def _png(path: Path) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.zeros((8, 8, 3), np.uint8))


def test_from_folders_parses_a_layout(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    for rel in ("Ann/enrol/1.png", "Ann/enrol/2.jpg", "Ann/genuine/3.png", "Ann/fake/swap/4.png",
                "Ann/fake/gan/5.png", "Ann/other/6.png", "Bob/enrol/1.png", "Bob/fake/swap/2.png"):
        _png(root / rel)
    (root / "Ann" / "enrol" / "notes.txt").write_text("not an image")
    m = from_folders(root)
    assert m.vips == ["Ann", "Bob"]
    assert m.counts() == {"enrol/genuine": 3, "test/fake/gan": 1, "test/fake/swap": 2, "test/genuine": 1,
                          "test/other": 1}
    fake = m.select(vip="Ann", kind="fake")
    assert {r.method for r in fake} == {"swap", "gan"} and all(r.label == 0 for r in fake)
    assert all(m.resolve(r).is_file() for r in m.records)
    out = tmp_path / "ds" / "manifest.json"
    m2 = Manifest(from_folders(root, root=out.parent).records, out.parent)
    m2.write(out)
    loaded = load_manifest(out.parent)
    assert [m.resolve(r).resolve() for r in m.records] == [loaded.resolve(r).resolve() for r in loaded.records]
    _png(tmp_path / "bad" / "Cy" / "genuine" / "1.png")
    with pytest.raises(ManifestError, match="enrol"):
        from_folders(tmp_path / "bad")


# -- end to end ------------------------------------------------------------------------------------------------
def test_quick_build_and_run_end_to_end(tmp_path: Path, lfw: Path, store) -> None:
    from vipguard.cli import main

    ds, res = tmp_path / "ds", tmp_path / "res"
    argv = ["bench", "build", "--photos", str(lfw), "--out", str(ds), "--vip", "Colin_Powell", "--enrol", "6",
            "--genuine", "3", "--per-method", "1", "--others", "1", "--pool", "12", "--method", "swap",
            "--method", "selfswap", "--method", "eyes", "--seed", "3"]
    assert main(argv) == 0
    manifest = load_manifest(ds)
    assert not manifest.problems()
    enrol = {r.path for r in manifest.select(split="enrol")}
    test = {r.path for r in manifest.select(split="test")}
    assert len(enrol) == 6 and not enrol & test
    others = manifest.select(kind="other")
    assert {r.method for r in others} == {"random", "lookalike"}
    assert all(not Path(r.path).name.startswith(tuple("ABCDEFGHIJKL")) for r in others)  # M–Z only
    assert {r.method for r in manifest.select(kind="fake")} <= {"swap", "selfswap", "eyes"}
    assert main(["bench", "run", str(ds), "--out", str(res), "--quick"]) == 0
    results = json.loads((res / "results.json").read_text())
    for key in ("overall", "per_vip", "per_method", "mean_over_vips", "robustness", "ablation", "scores",
                "timings_s", "scorers"):
        assert key in results
    assert set(results["overall"]) == {"vipguard", "similarity", "ict_ref", "one_shot"}
    assert set(results["overall"]["vipguard"]) >= {"auc", "eer", "acc", "ap", "n"}
    assert set(results["robustness"]) == {"none", "noise2", "blur2", "jpeg2"}
    assert set(results["ablation"]["sizes"]) == {"1", "5"}
    md = (res / "results.md").read_text()
    assert "Table 1" in md and "Table 10" in md and "Ablation" in md and "Table 4: accuracy at the verdict" in md
    at = results["at_verdict"]
    genuine = [r for r in results["scores"] if r["label"] == 1]
    assert at["vipguard"]["genuine"] == pytest.approx(np.mean([r["verdict"] == "genuine" for r in genuine]))
    assert set(at["similarity_best"]) == set(at["vipguard"]) and 0 < at["similarity_threshold"] <= 1
    assert (res / "report.html").read_text().count("data:image/png;base64") >= 2
