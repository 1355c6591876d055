"""Videos: clips written with OpenCV from real photos — genuine frames vs forged frames give different clip
verdicts; a corrupt clip is a clear error; the face is tracked; `vipguard check clip.mp4` uses the video path."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from vipguard import forge
from vipguard.infra.io import load_image

from .conftest import photos

VIP = "Colin_Powell"


def write_clip(path, frames, repeat: int = 2, fps: float = 4.0) -> None:
    """An mp4v clip; each RGB frame is shown ``repeat`` times (sampling at 2/s then picks each once)."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened()
    for frame in frames:
        for _ in range(repeat):
            writer.write(cv2.cvtColor(np.ascontiguousarray(frame[:h, :w]), cv2.COLOR_RGB2BGR))
    writer.release()


@pytest.fixture(scope="module")
def guard(lfw, analyzer, artifact, tmp_path_factory):
    from vipguard.infra.registry import Registry
    from vipguard.lite.guard import Guard
    from vipguard.lite.profile import PROFILE_CODEC

    from .test_service import enrolled_db

    db = tmp_path_factory.mktemp("video") / "registry.db"
    shutil.copy(enrolled_db(lfw, analyzer, tmp_path_factory), db)
    return Guard(Registry(db, codec=PROFILE_CODEC), analyzer, artifact=artifact)


@pytest.fixture(scope="module")
def clips(lfw, analyzer, tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    genuine = [load_image(p) for p in photos(lfw, VIP, 20, 40)[:6]]
    people = [p for p in sorted(lfw.iterdir()) if p.name[0] >= "M"][::50][:6]
    targets = [load_image(sorted(p.glob("*.jpg"))[-1]) for p in people]
    rng = np.random.default_rng(0)
    fakes = []
    for img, tgt in zip(genuine, targets):
        src_face = analyzer.analyze(img, primary_only=True)[0]
        tgt_face = analyzer.analyze(tgt, primary_only=True)[0]
        fakes.append(forge.FORGERS.create("swap").forge(forge.ForgeInput(img, src_face, "vip"),
                                                        forge.ForgeInput(tgt, tgt_face, "target"), rng).image)
    write_clip(folder / "genuine.mp4", genuine)
    write_clip(folder / "forged.mp4", fakes)
    two = [np.concatenate([g, t], axis=1) for g, t in zip(genuine[:3], targets[:3])]
    write_clip(folder / "two_faces.mp4", two)
    (folder / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    return folder


def test_genuine_and_forged_clips_differ(guard, clips):
    from vipguard.apps.video import check_video

    real = check_video(guard, clips / "genuine.mp4", vip=VIP)
    fake = check_video(guard, clips / "forged.mp4", vip=VIP)
    assert len(real.frames) == 6 and len(fake.frames) == 6
    assert real.verdict == "genuine" and real.vip == VIP
    assert fake.verdict in {"fake", "different_person"}
    assert fake.score < real.score
    # every frame is judged by the one decision module (genuine range at the VIP's operating point)
    assert all(f.verdict.decision is not None and f.verdict.decision.verdict == f.verdict.verdict
               for f in real.frames + fake.frames)
    record = fake.to_json()
    assert {"path", "vip", "verdict", "score", "face_similarity", "explanation", "error"} <= set(record)
    assert len(record["frames"]) == 6 and record["worst_frames"] and "Video:" in record["explanation"]
    json.dumps(record)


def test_adaptive_vip_and_timeline(guard, clips):
    from vipguard.apps.video import check_video, clip_html, timeline_png

    clip = check_video(guard, clips / "genuine.mp4")
    assert clip.vip == VIP and clip.verdict == "genuine"
    png = timeline_png(clip)
    assert png.startswith(b"\x89PNG") and len(png) > 2000
    assert clip_html(clip).count("<tr>") == len(clip.frames) + 1


def test_face_is_tracked_among_several(guard, clips):
    from vipguard.apps.video import check_video

    clip = check_video(guard, clips / "two_faces.mp4", vip=VIP)
    assert len(clip.frames) == 3
    for frame in clip.frames:  # the VIP is on the left half (250 px) of every frame
        assert frame.verdict.box is not None and frame.verdict.box[2] <= 260 and frame.verdict.faces >= 2
    assert clip.verdict == "genuine"


def test_corrupt_missing_and_unknown(guard, clips, tmp_path):
    from vipguard.apps.video import check_video

    for path in (clips / "corrupt.mp4", tmp_path / "missing.mp4"):
        clip = check_video(guard, path)
        assert clip.verdict == "error" and clip.score is None and clip.error
    assert "not a readable video" in check_video(guard, clips / "corrupt.mp4").error
    assert check_video(guard, clips / "genuine.mp4", vip="Nobody").verdict == "error"


def test_aggregate_is_robust():
    from vipguard.apps.video import FrameResult, aggregate
    from vipguard.lite.guard import Verdict

    def frame(i, verdict, score):
        return FrameResult(i, i / 2, Verdict(f"c#{i}", "V", verdict, score, 80, verdict, box=(0, 0, 10, 10)))

    mostly_real = [frame(0, "genuine", 0.9), frame(1, "fake", 0.1), frame(2, "genuine", 0.8)]
    assert aggregate("c", mostly_real, 2.0, 1.0).verdict == "genuine"
    mostly_fake = [frame(0, "fake", 0.2), frame(1, "genuine", 0.95), frame(2, "fake", 0.3),
                   frame(3, "different_person", 0.1)]
    clip = aggregate("c", mostly_fake, 2.0, 1.5)
    assert clip.verdict == "fake" and clip.score == pytest.approx(0.25) and clip.frames[clip.worst[0]].index == 3
    empty = [FrameResult(0, 0.0, Verdict("c#0", None, "no_face", None, 0, "none"))]
    assert aggregate("c", empty, 2.0, 0.0).verdict == "no_face"


def test_cli_check_routes_videos(guard, clips, capsys):
    from vipguard.cli import main

    status = main(["check", str(clips / "genuine.mp4"), str(clips / "corrupt.mp4"), "--json",
                   "--db", str(guard.registry.path)])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert status == 1  # the corrupt clip failed
    assert [r["verdict"] for r in lines] == ["genuine", "error"]
    assert len(lines[0]["frames"]) == 6 and lines[1]["frames"] == []


def test_cli_check_fps_option(guard, clips, capsys):
    from vipguard.cli import main

    assert main(["check", str(clips / "genuine.mp4"), "--json", "--fps", "1", "--db", str(guard.registry.path)]) == 0
    line = json.loads(next(s for s in capsys.readouterr().out.splitlines() if s.startswith("{")))
    assert line["verdict"] == "genuine" and len(line["frames"]) == 3  # half the frames of the default 2 fps


def test_fifo_and_folder_are_refused_without_blocking(tmp_path):
    """A FIFO named .mp4 used to read as 'file not found' (and OpenCV would block on it); a folder named .mp4 is
    'a directory'; neither is ever opened."""
    import os

    from vipguard.apps.video import VideoError, frame_image, sample_frames

    (tmp_path / "clips.mp4").mkdir()
    cases = [(tmp_path / "clips.mp4", "is a directory with no image or video files"),
             (tmp_path / "missing.mp4", "file not found")]
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.mp4")
        cases.append((tmp_path / "pipe.mp4", "not a regular file (a FIFO"))
    for path, reason in cases:
        with pytest.raises(VideoError) as err:
            next(sample_frames(path))
        assert err.value.source == str(path) and err.value.reason.startswith(reason)
        assert frame_image(path, 0) is None


def test_bad_videos_leave_only_our_error_on_stderr(tmp_path, store):
    """FFmpeg and OpenCV print their own lines for a bad clip ("moov atom not found", "Could not find decoder",
    sometimes raw bytes of the file). `vipguard check` (a fresh process: FFmpeg reads its log level when it is
    first initialised) must leave only one `error:` line per bad clip on stderr, and still decode a good clip."""
    import os
    import subprocess
    import sys

    from .test_registry import two_vips

    db = tmp_path / "registry.db"
    two_vips(db)
    good = tmp_path / "good.mp4"
    write_clip(good, [np.full((120, 160, 3), 40 * i, np.uint8) for i in range(4)])
    data = good.read_bytes()
    rng = np.random.default_rng(0)
    flipped = bytearray(data)
    for i in rng.choice(np.arange(60, len(data) - 400), size=len(data) // 20, replace=False):
        flipped[i] ^= 0xFF
    bad = {"truncated.mp4": data[:len(data) // 2], "garbage.mp4": b"\x00\x00\x00\x18ftypmp42" +
           rng.integers(0, 256, 3000, dtype=np.uint8).tobytes(), "bitflipped.mp4": bytes(flipped)}
    for name, content in bad.items():
        (tmp_path / name).write_bytes(content)
    env = {k: v for k, v in os.environ.items() if k not in {"OPENCV_FFMPEG_LOGLEVEL", "OPENCV_LOG_LEVEL"}}
    result = subprocess.run([sys.executable, "-m", "vipguard", "check", str(good), *(str(tmp_path / n) for n in bad),
                             "--db", str(db), "--json"], env=env, capture_output=True, text=True, timeout=300)
    records = {json.loads(line)["path"].rsplit("/", 1)[1]: json.loads(line) for line in result.stdout.splitlines()}
    assert result.returncode == 1 and records["good.mp4"]["verdict"] == "no_face", result.stderr
    assert len(records["good.mp4"]["frames"]) > 0
    assert [records[n]["verdict"] for n in bad] == ["error"] * 3
    # the only other output is blank lines (the progress bar's, off a terminal)
    assert [line for line in result.stderr.splitlines() if line.strip()] == \
        [f"error: {tmp_path / n}: {records[n]['error']}" for n in bad]
