"""``vipguard.apps.check``: one check of one input, image or video, for the CLI, scans, the service and the API;
and enrolment from decoded photos (the service's uploads) giving the same profile as from the files.

The check tests need no data and no model: a stub Guard judges every image the same way and records what it was
given; the enrolment test uses the real models and photos."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from PIL import Image

from vipguard.apps.check import CheckOptions, Checked, check_input, check_or_fail
from vipguard.apps.video import ClipVerdict, VideoError, check_video
from vipguard.infra.io import InputError, Photo, load_image
from vipguard.lite.guard import Verdict

from .conftest import photos

BOX = (10.0, 12.0, 40.0, 44.0)


class StubGuard:
    """What check_input needs of a Guard: ``check``, ``registry.names()`` and ``analyzer.detector``. Every image
    is a genuine face of "Someone" whose score is the image's mean brightness (so frames differ)."""

    def __init__(self, names=("Someone",)) -> None:
        self.registry = SimpleNamespace(names=lambda: list(names))
        self.analyzer = SimpleNamespace(detector=SimpleNamespace(detect=lambda frame: []))
        self.seen: list[tuple[np.ndarray, str | None, str]] = []

    def check(self, image: np.ndarray, vip: str | None = None, source: str = "<image>") -> Verdict:
        self.seen.append((image, vip, source))
        score = float(image.mean()) / 255
        return Verdict(source, "Someone", "genuine", score, 90, "stub", box=BOX, faces=1)


def _png(path: Path, value: int = 128, size=(48, 64)) -> Path:
    Image.fromarray(np.full((*size, 3), value, np.uint8)).save(path)
    return path


def _clip(path: Path, values=(60, 120, 180, 240), fps: float = 2.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (64, 48))
    for v in values:
        writer.write(np.full((48, 64, 3), v, np.uint8))
    writer.release()
    return path


def test_an_image_file_is_decoded_once_and_judged(tmp_path):
    guard = StubGuard()
    path = _png(tmp_path / "face.png", 100)
    checked = check_input(guard, path, CheckOptions(vip="Someone"))
    assert isinstance(checked, Checked) and not isinstance(checked.verdict, ClipVerdict)
    assert checked.verdict.path == str(path) and checked.verdict.verdict == "genuine"
    assert np.array_equal(checked.image, load_image(path))  # the pixels judged come back, for a report
    (image, vip, source), = guard.seen
    assert image is checked.image and vip == "Someone" and source == str(path)


def test_a_decoded_photo_is_judged_as_given_under_its_name():
    guard = StubGuard()
    pixels = np.full((30, 40, 3), 51, np.uint8)
    checked = check_input(guard, Photo("upload.jpg", pixels))
    assert checked.verdict.path == "upload.jpg" and checked.verdict.score == pytest.approx(0.2)
    assert guard.seen[0][0] is pixels and checked.image is pixels  # not copied, not decoded again
    assert check_input(guard, Photo("upload.jpg", pixels), name="shown.jpg").verdict.path == "shown.jpg"


def test_another_judge_replaces_the_guards_check(tmp_path):
    guard = StubGuard()
    calls = []

    def judge(image, vip=None, source="<image>"):
        calls.append(source)
        return Verdict(source, None, "different_person", 0.1, 20, "other judge")

    image = check_input(guard, _png(tmp_path / "a.png"), judge=judge).verdict
    clip = check_input(guard, _clip(tmp_path / "c.mp4"), judge=judge).verdict
    assert image.verdict == "different_person" and clip.verdict == "different_person"
    assert not guard.seen and len(calls) == 1 + len(clip.frames) and calls[1].startswith(f"{tmp_path / 'c.mp4'}#t=")


def test_a_video_file_gives_the_clip_verdict_and_its_typical_frame(tmp_path):
    guard = StubGuard()
    path = _clip(tmp_path / "clip.mp4")
    options = CheckOptions(fps=2.0, frame=True)
    checked = check_input(guard, path, options)
    clip = checked.verdict
    assert isinstance(clip, ClipVerdict) and clip.verdict == "genuine" and len(clip.frames) == 4
    assert clip.path == str(path) and clip.to_json()["sample_fps"] == 2.0
    assert checked.image is not None and checked.image.shape == (48, 64, 3)  # read back for the report
    assert check_input(guard, path).image is None  # not asked for: no second read of the clip
    # the same verdict as vipguard.apps.video.check_video gives (the CLI's and scan's contract)
    assert clip.to_json() == check_video(StubGuard(), path, fps=2.0).to_json()
    named = check_input(guard, path, CheckOptions(limits=options.limits), name="upload.mp4").verdict
    assert named.path == "upload.mp4" and named.frames[0].verdict.path.startswith("upload.mp4#t=")


def test_a_video_is_sampled_within_its_limits(tmp_path):
    from vipguard.apps.video import VideoLimits

    path = _clip(tmp_path / "clip.mp4", values=tuple(range(20, 220, 20)), fps=10.0)
    clip = check_input(StubGuard(), path, CheckOptions(fps=10.0, limits=VideoLimits(max_frames=3))).verdict
    assert [f.index for f in clip.frames] == [0, 1, 2]
    with pytest.raises(VideoError, match="over the limit of 100 pixels"):
        check_input(StubGuard(), path, CheckOptions(limits=VideoLimits(max_pixels=100)))


@pytest.mark.parametrize("name, data", [("broken.jpg", b"\xff\xd8\xff\xe0 not really a jpeg"),
                                        ("empty.png", b""), ("text.png", b"hello")])
def test_an_unreadable_image_raises_an_input_error_naming_it(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    guard = StubGuard()
    with pytest.raises(InputError) as info:
        check_input(guard, path)
    assert not isinstance(info.value, VideoError) and info.value.source == str(path) and not guard.seen
    failed = check_or_fail(guard, path)  # the CLI's and scan's contract: an error verdict, same reason
    assert failed.verdict.to_json() == Verdict.failed(str(path), info.value.reason).to_json()
    assert failed.image is None


def test_a_missing_file_and_a_folder_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        check_input(StubGuard(), tmp_path / "nope.jpg")
    (tmp_path / "dir.jpg").mkdir()
    with pytest.raises(InputError, match="directory"):
        check_input(StubGuard(), tmp_path / "dir.jpg")
    with pytest.raises(VideoError, match="file not found"):
        check_input(StubGuard(), tmp_path / "nope.mp4")


def test_an_unreadable_video_raises_a_video_error_and_fails_as_a_clip(tmp_path):
    path = tmp_path / "garbage.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200)
    guard = StubGuard()
    with pytest.raises(VideoError) as info:
        check_input(guard, path)
    assert isinstance(info.value, InputError) and str(path) in str(info.value)
    failed = check_or_fail(guard, path, name="clip.mp4").verdict
    assert isinstance(failed, ClipVerdict) and failed.verdict == "error" and failed.path == "clip.mp4"
    assert failed.to_json() == check_video(guard, path, source="clip.mp4").to_json()  # as before: frames [], ...
    assert failed.to_json()["frames"] == [] and failed.error == info.value.reason


def test_an_unknown_vip_is_an_error_verdict_not_an_input_error(tmp_path):
    guard = StubGuard(names=("Someone",))
    clip = check_input(guard, _clip(tmp_path / "c.mp4"), CheckOptions(vip="Nobody")).verdict
    assert isinstance(clip, ClipVerdict) and clip.verdict == "error" and "Nobody" in clip.error
    assert not guard.seen  # refused before a frame is read


def test_bytes_decode_once_in_the_service_uploads_layer():
    """An upload's bytes become a Photo (decoded once, from the sniffed header) or a video; bad ones are the HTTP
    problems the service answers, naming the upload."""
    pytest.importorskip("fastapi")
    from fastapi import HTTPException

    from vipguard.infra.io import decode_image
    from vipguard.service.uploads import UploadLimits, VideoUpload, decode

    buf = io.BytesIO()
    Image.fromarray(np.arange(48 * 64 * 3, dtype=np.uint8).reshape(48, 64, 3)).save(buf, format="PNG")
    limits = UploadLimits(max_bytes=1 << 20, max_pixels=4000)
    photo = decode(buf.getvalue(), "a.png", limits)
    assert isinstance(photo, Photo) and photo.name == "a.png"
    assert np.array_equal(photo.image, decode_image(buf.getvalue(), "a.png"))  # the CLI's decoder: same pixels
    assert check_input(StubGuard(), photo).verdict.path == "a.png"
    video = decode(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00isommp42", "c.mp4", limits)
    assert isinstance(video, VideoUpload) and video.suffix == ".mp4"
    for data, max_pixels, allow_video, status, words in [
        (buf.getvalue(), 3000, True, 413, "a.png: image is 64x48, over the limit of 3000 pixels"),
        (b"nope", 4000, True, 415, "a.png: not a supported image"),
        (buf.getvalue()[:100], 4000, True, 422, "a.png: corrupt or truncated image"),
        (video.data, 4000, False, 415, "a.png: a video; enrolment needs photos"),
    ]:
        with pytest.raises(HTTPException) as info:
            decode(data, "a.png", UploadLimits(1 << 20, max_pixels), allow_video)
        assert info.value.status_code == status and info.value.detail.startswith(words), info.value.detail


def _profile_doc(result) -> tuple[dict, dict[str, np.ndarray]]:
    text, blob = result.profile.to_blobs()
    import json

    doc = json.loads(text)
    for volatile in ("enrolled", "seconds"):
        doc["meta"].pop(volatile)
    with np.load(io.BytesIO(blob)) as npz:
        return doc, {k: npz[k] for k in npz.files}


def test_enrolment_from_decoded_photos_equals_enrolment_from_files(lfw, analyzer, artifact, tmp_path):
    """The same photos given as files or as decoded Photos (named by their paths) give the same profile, reports,
    forgeries and training rows; with a near-duplicate, an identity outlier and self-swaps in the mix."""
    from vipguard.lite.background import load_background
    from vipguard.lite.enrol import EnrolConfig, Enroller

    paths = photos(lfw, "Tony_Blair", 1, 6)
    image = cv2.imread(str(paths[2]))
    copy = tmp_path / "copy_of_three.jpg"
    cv2.imwrite(str(copy), cv2.resize(image, (230, 230)), [cv2.IMWRITE_JPEG_QUALITY, 80])
    paths = [*paths, copy, photos(lfw, "Serena_Williams", 1, 1)[0]]
    enroller = Enroller(analyzer, load_background(), EnrolConfig(augmentations=1, fakes_per_photo=1.5,
                                                                methods=("selfswap", "swap", "eyes", "morph")),
                        artifact=artifact)
    from_files = enroller.enrol("Tony_Blair", paths)
    from_photos = enroller.enrol("Tony_Blair", [Photo(str(p), load_image(p)) for p in paths])
    assert from_files.photos == from_photos.photos
    assert any("near-duplicate" in r.reasons[0] for r in from_files.photos if r.reasons)
    assert from_files.profile.meta["outliers"] == from_photos.profile.meta["outliers"] == [str(paths[-1])]
    assert "selfswap" in from_files.training.methods
    doc_files, arrays_files = _profile_doc(from_files)
    doc_photos, arrays_photos = _profile_doc(from_photos)
    assert doc_files == doc_photos
    assert arrays_files.keys() == arrays_photos.keys()
    for key in arrays_files:
        assert np.array_equal(arrays_files[key], arrays_photos[key]), key
    assert np.array_equal(from_files.training.x, from_photos.training.x)
    assert (from_files.fakes, from_files.others, from_files.rejected_fakes) == \
        (from_photos.fakes, from_photos.others, from_photos.rejected_fakes)


def test_enrolment_reports_photos_with_the_same_name_apart(lfw, analyzer, artifact):
    """Uploads may share a file name: each decoded photo has its own report, in order (a repeated photo is the
    near-duplicate, not the first one it repeats)."""
    from vipguard.lite.background import load_background
    from vipguard.lite.enrol import EnrolConfig, Enroller

    images = [load_image(p) for p in photos(lfw, "Tony_Blair", 5, 8)]
    blank = np.full_like(images[0], 200)
    given = [Photo("photo.jpg", image) for image in [*images, images[0].copy(), blank]]
    enroller = Enroller(analyzer, load_background(), EnrolConfig(augmentations=0, fakes_per_photo=0.5),
                        artifact=artifact)
    result = enroller.enrol("Tony_Blair", given)
    assert [r.path for r in result.photos] == ["photo.jpg"] * 6
    assert [r.used for r in result.photos] == [True] * 4 + [False, False]
    assert result.photos[4].reasons[0].startswith("near-duplicate of photo.jpg (similarity 1.000)")
    assert result.photos[5].reasons == ("no face found",)
    assert result.profile.meta["rejected"] == 2 and result.profile.meta["duplicates"] == ["photo.jpg"]
