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
