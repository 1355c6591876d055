"""`vipguard check --tier mllm` follows the same JSON contract as the lite tier (tiny random Qwen2.5-VL)."""

from __future__ import annotations

import json

import pytest

from .conftest import photo_folder, photos

pytest.importorskip("torch")


def test_check_tier_mllm_json_contract(lfw, store, tmp_path, capsys):
    from vipguard.cli import main

    db = str(tmp_path / "r.db")
    enrol = photo_folder(lfw, "Colin_Powell", 1, 5, tmp_path / "enrol")
    assert main(["enroll", "Colin_Powell", str(enrol), "--db", db]) == 0
    tiny = tmp_path / "tiny"
    assert main(["mllm", "build-tiny", "--out", str(tiny)]) == 0
    capsys.readouterr()

    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    genuine = photos(lfw, "Colin_Powell", 30, 30)[0]
    code = main(["check", str(genuine), str(bad), "--db", db, "--json", "--tier", "mllm", "--model-dir", str(tiny)])
    lines = [json.loads(s) for s in capsys.readouterr().out.splitlines()]
    assert code == 1  # the bad file fails, the batch goes on
    first, second = lines
    assert {"path", "vip", "verdict", "score", "face_similarity", "explanation", "error"} <= set(first)
    assert first["vip"] == "Colin_Powell" and first["face_similarity"] > 50
    assert 0.0 <= first["score"] <= 1.0 and first["verdict"] in {"genuine", "fake"}
    assert "MLLM P(yes)" in first["explanation"]
    # the same decision module as the lite tier: the VIP's genuine range at the enrolment operating point
    assert first["decision"]["genuine_reject_rate"] == 0.03 and "genuine range" in first["explanation"]
    assert second["verdict"] == "error" and second["score"] is None

    assert main(["check", str(genuine), "--db", db, "--tier", "mllm"]) == 2
    assert "--model-dir" in capsys.readouterr().err


def test_check_video_tier_mllm_uses_the_mllm_scorer(lfw, store, tmp_path, capsys, monkeypatch):
    """A clip with --tier mllm: the lite tier's frame sampling and clip aggregation, every frame scored by the
    MLLM (each frame's score is the MLLM judge's own, and its explanation cites P(yes))."""
    from vipguard.cli import main
    from vipguard.infra.io import load_image
    from vipguard.mllm import guard as mllm_guard

    from .test_video import write_clip

    db = str(tmp_path / "r.db")
    enrol = photo_folder(lfw, "Colin_Powell", 1, 5, tmp_path / "enrol")
    assert main(["enroll", "Colin_Powell", str(enrol), "--db", db]) == 0
    tiny = tmp_path / "tiny"
    assert main(["mllm", "build-tiny", "--out", str(tiny)]) == 0
    clip = tmp_path / "clip.mp4"
    write_clip(clip, [load_image(p) for p in photos(lfw, "Colin_Powell", 30, 32)])
    judged: list[float] = []
    real = mllm_guard.mllm_judge

    def counting(*args, **kwargs):
        judge = real(*args, **kwargs)

        def wrapped(image, vip=None, source="<image>"):
            verdict = judge(image, vip=vip, source=source)
            judged.append(verdict.score)
            return verdict
        return wrapped

    monkeypatch.setattr(mllm_guard, "mllm_judge", counting)
    capsys.readouterr()
    code = main(["check", str(clip), "--db", db, "--json", "--tier", "mllm", "--model-dir", str(tiny)])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert len(out["frames"]) == 3 == len(judged)  # 3 frames sampled at 2/s, each judged by the MLLM
    assert [f["score"] for f in out["frames"]] == [round(s, 6) for s in judged]
    assert "MLLM P(yes)" in out["explanation"] and out["vip"] == "Colin_Powell"
