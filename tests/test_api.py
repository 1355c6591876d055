"""The one-object Python API (``vipguard.VIPGuard``): a cheap import, clear input errors, photo selection for large
enrolment folders, and the one-liner on a path, a PIL image, an RGB array and a BGR array giving equal scores
(real models, the bundled photos in examples/data)."""

from __future__ import annotations

import pydoc
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "data"


def test_import_is_cheap_and_exports_lazily():
    """``import vipguard`` loads no numpy/OpenCV/model code; ``vipguard.VIPGuard`` imports its module on use."""
    code = ("import sys, vipguard; heavy = [m for m in ('numpy', 'cv2', 'onnxruntime', 'vipguard.api') "
            "if m in sys.modules]; assert not heavy, heavy; "
            "assert vipguard.VIPGuard.__module__ == 'vipguard.api'; assert 'vipguard.api' in sys.modules; "
            "assert 'VIPGuard' in dir(vipguard); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    import vipguard

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        vipguard.Nope  # noqa: B018
    from vipguard import forge  # submodules still import as before

    assert hasattr(forge, "FORGERS")


def test_lite_tier_and_service_import_without_torch():
    """`make demo` installs no torch: nothing the lite tier, the CLI, the reports or the service import needs it
    (torch is made unimportable in a fresh interpreter; the MLLM tier and artefact training are not imported)."""
    code = ("import importlib.abc, sys\n"
            "class Refuse(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in {'torch', 'transformers', 'peft'}:\n"
            "            raise ImportError('imported ' + name)\n"
            "sys.meta_path.insert(0, Refuse())\n"
            "import vipguard.api, vipguard.cli, vipguard.apps.report, vipguard.apps.video, vipguard.apps.scan, vipguard.bench.report\n"
            "import vipguard.artifact.detector, vipguard.service.app, vipguard.service.docs_assets\n"
            "import vipguard.service.thumbnails\n"
            "assert vipguard.cli.main(['--help']) == 0\n"
            "print('no torch')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().endswith("no torch"), out.stderr[-2000:]


def test_help_documents_the_defaults():
    import vipguard

    text = pydoc.render_doc(vipguard.VIPGuard, renderer=pydoc.plaintext)
    assert "max_photos: use at most this many photos (default 30" in text
    assert 'channels: the channel order of a numpy array: ``"rgb"`` (default' in text
    assert "db: the registry file; ``None`` is the CLI's default" in text


@pytest.mark.parametrize(("array", "channels", "error", "message"), [
    (np.zeros((8, 8, 3), np.float32), "rgb", ValueError, "uint8 array, not float32"),
    (np.zeros((8, 8, 4), np.uint8), "rgb", ValueError, r"x\[\.\.\., :3\]"),
    (np.zeros((3, 8, 8), np.uint8), "rgb", ValueError, r"transpose\(1, 2, 0\)"),
    (np.zeros((2, 8, 8, 3), np.uint8), "rgb", ValueError, r"not \(2, 8, 8, 3\)"),
    (np.zeros((0, 8, 3), np.uint8), "rgb", ValueError, "empty"),
    (np.zeros((8, 8, 3), np.uint8), "rgba", ValueError, "channels must be 'rgb' or 'bgr'"),
    ([[0, 0, 0]], "rgb", TypeError, "not list"),
])
def test_as_rgb_refuses_what_it_cannot_read_unambiguously(array, channels, error, message):
    from vipguard.api import as_rgb

    with pytest.raises(error, match=message):
        as_rgb(array, channels)


def test_as_rgb_orders_channels_and_greys():
    from PIL import Image

    from vipguard.api import as_rgb

    bgr = np.zeros((2, 2, 3), np.uint8)
    bgr[..., 0] = 200  # blue, in OpenCV's order
    assert as_rgb(bgr, "bgr")[0, 0].tolist() == [0, 0, 200]
    assert as_rgb(bgr, "rgb")[0, 0].tolist() == [200, 0, 0]
    assert as_rgb(np.full((2, 3), 7, np.uint8)).shape == (2, 3, 3)
    rgba = Image.new("RGBA", (2, 2), (10, 20, 30, 0))  # fully transparent: composited on white, like files
    assert as_rgb(rgba)[0, 0].tolist() == [255, 255, 255]
    with pytest.raises(ValueError, match="PIL image is always converted as RGB"):
        as_rgb(rgba, "bgr")


def test_choose_photos_caps_a_large_folder():
    from vipguard.api import choose_photos

    paths = [Path(f"p{i:02d}.jpg") for i in range(10)]
    assert choose_photos(paths, 20) == paths
    assert choose_photos(paths, 3, "first") == paths[:3]
    assert choose_photos(paths, 3, "spread") == [paths[0], paths[4], paths[9]]  # evenly over the folder
    # "diverse": 8 near-copies of one view, one other view of the same person, one stranger (below the claim)
    rng = np.random.default_rng(0)
    base, turned, stranger = np.eye(16)[0], np.eye(16)[0] * 0.8 + np.eye(16)[1] * 0.6, np.eye(16)[5]
    vecs = {p: v / np.linalg.norm(v) for p, v in zip(paths, [*(base + 0.01 * rng.normal(size=16) for _ in range(8)),
                                                             turned, stranger])}
    picked = choose_photos(paths, 2, "diverse", embed=vecs.get)
    assert paths[8] in picked and paths[9] not in picked  # the other view, not the stranger, nor two copies
    with pytest.raises(ValueError, match="selection must be one of spread, diverse, first"):
        choose_photos(paths, 3, "random")
    with pytest.raises(ValueError, match="at least 1"):
        choose_photos(paths, 0)


@pytest.fixture(scope="module")
def enrolled(store, tmp_path_factory):
    """A VIPGuard on a fresh registry with Tony_Blair enrolled from 6 of the 20 bundled photos (fast settings)."""
    if not (EXAMPLES / "Tony_Blair" / "enrol").is_dir():
        pytest.skip(f"bundled photos not found at {EXAMPLES}")
    import vipguard
    from vipguard.lite.enrol import EnrolConfig

    steps: list[tuple[str, int, int]] = []
    vg = vipguard.VIPGuard(db=tmp_path_factory.mktemp("api") / "registry.db",
                           enrol=EnrolConfig(augmentations=0, fakes_per_photo=0.5))
    result = vg.enroll("Tony_Blair", EXAMPLES / "Tony_Blair" / "enrol", max_photos=6,
                       progress=lambda *s: steps.append(s))
    yield vg, result, steps
    vg.close()


def test_enroll_caps_the_folder_and_reports_progress(enrolled):
    vg, result, steps = enrolled
    assert len(result.photos) == 6 and result.used >= 3  # 6 of 20 photos read, at most
    assert vg.vips == ["Tony_Blair"]
    assert steps and {s[0] for s in steps} <= {"genuine", "forgeries"} and steps[-1][1] == steps[-1][2]
    assert 0 < result.similarity_floor < 1


def test_check_path_pil_rgb_bgr_give_equal_scores(enrolled):
    """The one-liner on four forms of the same unseen photo: one score; BGR passed as RGB changes it."""
    import cv2
    from PIL import Image

    vg, _, _ = enrolled
    photo = sorted((EXAMPLES / "check").glob("Tony_Blair_*.jpg"))[0]
    by_path = vg.check(photo)
    assert by_path.verdict in {"genuine", "fake"} and by_path.vip == "Tony_Blair"
    with Image.open(photo) as pil:
        by_pil = vg.check(pil)
        by_rgb = vg.check(np.asarray(pil.convert("RGB")), channels="rgb")
    by_bgr = vg.check(cv2.imread(str(photo)), channels="bgr")
    assert by_path.score == pytest.approx(by_pil.score, abs=1e-9)
    assert by_path.score == pytest.approx(by_rgb.score, abs=1e-9)
    assert by_path.score == pytest.approx(by_bgr.score, abs=1e-9)
    assert by_path.face_similarity == by_bgr.face_similarity
    swapped = vg.check(cv2.imread(str(photo)), vip="Tony_Blair")  # the mistake `channels` exists to prevent
    assert swapped.evidence["sim_global"] != pytest.approx(by_path.evidence["sim_global"], abs=1e-4)


def test_check_errors_and_remove(enrolled, tmp_path):
    from vipguard.infra.registry import UnknownVip

    vg, _, _ = enrolled
    assert vg.check(tmp_path / "missing.jpg").verdict == "error"
    unknown = vg.check(np.zeros((64, 64, 3), np.uint8), vip="Tony_Blaire")
    assert unknown.verdict == "error" and "did you mean 'Tony_Blair'" in unknown.error
    with pytest.raises(ValueError, match="channels must be"):
        vg.check(tmp_path / "x.jpg", channels="BGR")
    with pytest.raises(UnknownVip):
        vg.remove("Nobody")
