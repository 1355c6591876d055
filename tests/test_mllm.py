"""The MLLM tier on a tiny random Qwen2.5-VL (CPU): injection, stages 1–3, persistence, data builders, CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from vipguard.mllm import data as D  # noqa: E402
from vipguard.mllm.infer import MLLMScorer  # noqa: E402
from vipguard.mllm.model import MLLMConfig, VIPGuardMLLM  # noqa: E402
from vipguard.mllm.prompts import ANSWER_NO, ANSWER_YES, vip_prompt  # noqa: E402
from vipguard.mllm.tiny import build_tiny  # noqa: E402
from vipguard.mllm.train import CheckpointExists, TrainConfig, train  # noqa: E402

FACE_DIM, TOKENS = 8, 4
RNG = np.random.RandomState(0)
IMAGES = [RNG.randint(0, 255, (56, 56, 3), np.uint8), RNG.randint(0, 255, (84, 112, 3), np.uint8)]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest single-threaded (no oversubscription on a shared CPU); restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("mllm") / "tiny-qwen")


@pytest.fixture(scope="module")
def model(tiny) -> VIPGuardMLLM:
    return VIPGuardMLLM.fresh(tiny, MLLMConfig(face_dim=FACE_DIM, token_num=TOKENS), "cpu").eval()


def photos(lfw: Path, name: str, first: int = 1, last: int = 9999) -> list[Path]:
    return [p for p in sorted((lfw / name).glob("*.jpg")) if first <= int(p.stem.rsplit("_", 1)[1]) <= last]


def fake_embed(path: Path) -> np.ndarray:
    """Deterministic stand-in for a face model: one direction per identity (folder) + per-photo noise."""
    def vec(key: str) -> np.ndarray:
        seed = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
        return np.random.RandomState(seed).randn(FACE_DIM).astype(np.float32)
    v = vec(Path(path).parent.name) + 0.3 * vec(str(path))
    return v / np.linalg.norm(v)


# -- injection --------------------------------------------------------------------------------------------
def test_injection_equals_stock_forward(model):
    proc = model.processor
    items = [proc.encode(vip_prompt(40), IMAGES[0], ANSWER_YES), proc.encode(vip_prompt(90), IMAGES[1])]
    batch = proc.collate(items, padding_side="left")
    qwen = model.qwen
    with torch.no_grad():
        stock = qwen(input_ids=batch["input_ids"], pixel_values=batch["pixel_values"],
                     image_grid_thw=batch["image_grid_thw"], mm_token_type_ids=batch["mm_token_type_ids"],
                     attention_mask=batch["attention_mask"]).logits
        pad_vec = qwen.get_input_embeddings().weight[proc.face_token_id]
        same = pad_vec.expand(2, 2 * TOKENS, -1)
        ours = model(batch, face_block=same)
        embeds, positions = model.embed(batch, face_block=same)
        expected, _ = qwen.model.get_rope_index(batch["input_ids"], batch["mm_token_type_ids"],
                                                image_grid_thw=batch["image_grid_thw"],
                                                attention_mask=batch["attention_mask"])
        injected = model(batch, torch.randn(2, FACE_DIM))
    mask = batch["attention_mask"].bool()
    assert torch.equal(positions, expected)
    assert positions[:, mask].max() < mask.sum(1).max()  # M-RoPE: image tokens share positions
    torch.testing.assert_close(ours[mask], stock[mask], rtol=0, atol=1e-5)
    assert not torch.allclose(injected[mask], stock[mask], atol=1e-3)  # the face tokens matter


def test_face_checker_shapes(model):
    checker = model.checker
    q = torch.randn(3, TOKENS, checker.hidden)
    assert checker(q, torch.randn(3, FACE_DIM)).shape == (3, TOKENS, checker.hidden)
    assert checker(q, torch.randn(3, 5, FACE_DIM)).shape == (3, TOKENS, checker.hidden)
    assert checker.reference(torch.randn(3, 2, FACE_DIM)).shape == (3, TOKENS, checker.hidden)
    with pytest.raises(ValueError):
        checker(q, torch.randn(3, 0, FACE_DIM))


def test_batch_scores_match_single_and_explain_is_greedy(model):
    scorer = MLLMScorer(model)
    faces = [RNG.randn(FACE_DIM).astype(np.float32) for _ in IMAGES]
    batch = scorer.score_batch(IMAGES, faces, [20, 80])
    single = [scorer.score(i, f, s) for i, f, s in zip(IMAGES, faces, [20, 80])]
    np.testing.assert_allclose(batch, single, atol=1e-5)
    assert all(0.0 < p < 1.0 for p in batch)
    # generate() with our inputs_embeds reproduces the first greedy token of our own forward
    enc = scorer._encode(IMAGES[0], 20)
    b = model.processor.collate([enc], padding_side="left")
    with torch.no_grad():
        first = int(model(b, torch.from_numpy(faces[0])[None])[0, -1].argmax())
    text = scorer.explain(IMAGES[0], faces[0], 20, max_new_tokens=3)
    expected = model.processor.tokenizer.decode([first], skip_special_tokens=True).strip()
    assert text.startswith(expected)


# -- training ---------------------------------------------------------------------------------------------
def _snapshot(m: VIPGuardMLLM) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def _changed(before: dict, m: VIPGuardMLLM) -> set[str]:
    return {k for k, v in m.state_dict().items() if not torch.equal(before[k], v)}


@pytest.fixture(scope="module")
def records(lfw, tmp_path_factory):
    root = tmp_path_factory.mktemp("mllm-data")
    names = ["Tony_Blair", "George_W_Bush"]
    identities = {n: photos(lfw, n, 1, 3) for n in names}
    fakes = {"Tony_Blair": photos(lfw, "Colin_Powell", 1, 1)}  # stand-in "forgery" files for the test
    general = D.id_general_records(identities, fakes, fake_embed, units=1, seed=0)
    vip, _ = D.id_vip_records(photos(lfw, "Tony_Blair", 1, 1), photos(lfw, "George_W_Bush", 1, 5),
                              photos(lfw, "Colin_Powell", 1, 5), fake_embed, seed=0)
    fa = D.fa_records([(photos(lfw, "Tony_Blair", 1, 1)[0], _attrs())], seed=0)
    out = {}
    for key, recs in (("fa", fa[:2]), ("general", general[:2]), ("vip", vip[:2])):
        out[key] = str(D.save_json(recs, root / f"{key}.json"))
    return out


def _attrs() -> dict:
    base = {k: 0.1 for k in D.BLENDSHAPES}
    return {**base, "face_aspect": 1.3, "eye_distance": 0.4, "eye_width": 0.2, "nose_width": 0.25,
            "mouth_width": 0.4, "mouth_height": 0.1, "yaw": 3.0, "pitch": -2.0, "roll": 1.0}


def _cfg(stage: int, train_json: str, out: Path, **kw) -> TrainConfig:
    base = dict(stage=stage, train_json=train_json, name="t", output_dir=str(out), batch_size=2,
                gradient_accumulation_steps=1, epoch=6, token_num=TOKENS, face_dim=FACE_DIM, lora_r=4,
                lora_alpha=8, progress=False, seed=0)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def stages(tiny, records, tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt")
    r1 = train(_cfg(1, records["fa"], out, pretrain_path=str(tiny), lr=1e-2))
    r2 = train(_cfg(2, records["general"], out, pretrain_path=str(r1.out_dir), lr=1e-2))
    r3 = train(_cfg(3, records["vip"], out, pretrain_path=str(r2.out_dir), lr=0.1))
    return out, r1, r2, r3


def test_each_stage_loss_decreases(stages):
    _, *results = stages
    for r in results:
        assert r.steps == 6
        assert r.losses[-1] < r.losses[0], r.losses


def test_stage_trainable_sets(stages):
    _, r1, r2, r3 = stages
    assert r1.trainable and all("lora_" in n and "language_model" in n for n in r1.trainable)
    assert not any("visual" in n for n in r1.trainable + r2.trainable)
    assert any(n.startswith("checker.") for n in r2.trainable)
    assert all("lora_" in n or n.startswith("checker.") for n in r2.trainable)
    assert r3.trainable == ["vip_tokens"]


def test_stage3_changes_only_vip_tokens(records, stages, tmp_path, monkeypatch):
    from vipguard.mllm import train as T

    _, _, r2, _ = stages
    model = VIPGuardMLLM.from_pretrained(r2.out_dir)
    before = _snapshot(model)
    monkeypatch.setattr(T, "_load_model", lambda c, resume: model)  # train this very object, compare bitwise
    train(_cfg(3, records["vip"], tmp_path, pretrain_path=str(r2.out_dir), lr=0.1, epoch=2))
    assert _changed(before, model) == {"vip_tokens"}


def test_stage1_and_2_change_only_lora_and_checker(tiny, records, tmp_path, monkeypatch):
    from vipguard.mllm import train as T

    for stage, key, allowed in ((1, "fa", ("lora_",)), (2, "general", ("lora_", "checker."))):
        model = VIPGuardMLLM.fresh(tiny, MLLMConfig(face_dim=FACE_DIM, token_num=TOKENS, lora_r=4, lora_alpha=8))
        model.add_lora()
        before = _snapshot(model)
        monkeypatch.setattr(T, "_load_model", lambda c, resume, m=model: m)
        train(_cfg(stage, records[key], tmp_path / str(stage), lr=1e-2, epoch=2))
        changed = _changed(before, model)
        assert changed and all(any(a in k for a in allowed) for k in changed), changed
        if stage == 2:
            assert any(k.startswith("checker.") for k in changed)


def test_save_load_round_trip_and_authors_vip_token(stages, tmp_path):
    out, _, r2, r3 = stages
    assert (r3.out_dir / "vip_token.pt").is_file()
    faces = [fake_embed(Path("x/Tony_Blair/a.jpg")), fake_embed(Path("x/George_W_Bush/b.jpg"))]
    a = MLLMScorer.from_dirs(r2.out_dir, r3.out_dir).score_batch(IMAGES, faces, [70, 30])
    model = VIPGuardMLLM.from_pretrained(r2.out_dir)
    model.load_vip_tokens(r3.out_dir / "vip_token.pt")  # the authors' format
    b = MLLMScorer(model).score_batch(IMAGES, faces, [70, 30])
    np.testing.assert_array_equal(a, b)
    saved = model.save_pretrained(tmp_path / "again")
    c = MLLMScorer(VIPGuardMLLM.from_pretrained(saved)).score_batch(IMAGES, faces, [70, 30])
    np.testing.assert_array_equal(a, c)
    # an authors'-format file written by plain torch.save loads, a wrong shape is refused
    tok = torch.randn(TOKENS, model.vip_tokens.shape[1])
    torch.save({"vip_token": tok}, tmp_path / "vip_token.pt")
    model.load_vip_tokens(tmp_path)
    assert torch.equal(model.vip_tokens.detach(), tok)
    torch.save({"vip_token": torch.randn(TOKENS + 1, 3)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="shape"):
        model.load_vip_tokens(tmp_path / "bad.pt")


def test_existing_checkpoint_needs_overwrite(stages, records):
    out, _, r2, _ = stages
    cfg = _cfg(3, records["vip"], out, pretrain_path=str(r2.out_dir), lr=0.1, max_steps=1)
    with pytest.raises(CheckpointExists, match="--overwrite"):
        train(cfg)


def test_missing_model_dir_is_a_clear_error(tmp_path):
    from vipguard.mllm.model import ModelDirError, load_base_model

    with pytest.raises(ModelDirError, match=str(tmp_path / "nope")):
        load_base_model(tmp_path / "nope")


# -- data builders ----------------------------------------------------------------------------------------
def _check_records(recs: list[dict]) -> None:
    for r in recs:
        assert all(Path(p).is_file() for p in r["images"])
        if "reference" in r:
            assert Path(r["reference"]).is_file()
        assert r["messages"][1]["content"] == (ANSWER_YES if r["label"] else ANSWER_NO)
        assert "{FACE_SCORE}" not in r["messages"][0]["content"]


def test_general_pairs_ratio_2_1_1(lfw):
    identities = {n: photos(lfw, n, 1, 4) for n in ("Tony_Blair", "George_W_Bush", "Colin_Powell")}
    fakes = {"Tony_Blair": photos(lfw, "Serena_Williams", 1, 2)}
    recs = D.id_general_records(identities, fakes, fake_embed, units=5, seed=1)
    kinds = [r["kind"] for r in recs]
    assert (kinds.count("same"), kinds.count("different"), kinds.count("fake")) == (10, 5, 5)
    _check_records(recs)
    assert all(Path(r["reference"]).parent.name == "Tony_Blair" for r in recs if r["kind"] == "fake")
    assert all(Path(r["reference"]).parent == Path(r["images"][0]).parent for r in recs if r["kind"] == "same")
    assert recs == D.id_general_records(identities, fakes, fake_embed, units=5, seed=1)  # seeded


def test_vip_records_ratio_1_5_5(lfw):
    genuine = photos(lfw, "Tony_Blair", 1, 3)
    recs, centre = D.id_vip_records(genuine, photos(lfw, "George_W_Bush", 1, 20),
                                    photos(lfw, "Colin_Powell", 1, 4), fake_embed, seed=0)
    kinds = [r["kind"] for r in recs]
    assert (kinds.count("genuine"), kinds.count("other"), kinds.count("fake")) == (3, 15, 15)
    _check_records(recs)
    assert abs(float(np.linalg.norm(centre)) - 1) < 1e-5
    import re

    def mean_score(kind: str) -> float:
        return float(np.mean([int(re.search(r"VIP user is (\d+)/100", r["messages"][0]["content"]).group(1))
                              for r in recs if r["kind"] == kind]))
    assert mean_score("genuine") > mean_score("other")


def test_fa_records_from_measured_attributes(lfw, analyzer):
    from vipguard.io import load_image

    path = photos(lfw, "Tony_Blair", 1, 1)[0]
    face = analyzer.analyze(load_image(path), primary_only=True)[0]
    attrs = D.measure_attributes(face)
    assert 0.8 < attrs["face_aspect"] < 2.0 and 0.1 < attrs["eye_distance"] < 0.8
    assert attrs["yaw"] == round(face.mesh.pose.yaw, 4)
    recs = D.fa_records([(path, attrs)], seed=0)
    assert {r["task"] for r in recs} == {"multiple_choice", "short_answer", "long_description"}
    words = D.describe(attrs)
    long = next(r for r in recs if r["task"] == "long_description")["messages"][1]["content"]
    assert words["shape"] in long and f"{attrs['face_aspect']:.2f}" in long
    mc = recs[0]
    q, a = mc["messages"][0]["content"], mc["messages"][1]["content"]
    assert f"{a}. {words['yaw']}" in q


# -- CLI --------------------------------------------------------------------------------------------------
def test_cli_build_tiny_data_and_train(tmp_path, lfw, monkeypatch):
    from vipguard.cli import main

    tiny_dir = tmp_path / "tiny"
    assert main(["mllm", "build-tiny", "--out", str(tiny_dir)]) == 0
    assert (tiny_dir / "config.json").is_file()
    recs = D.fa_records([(photos(lfw, "Tony_Blair", 1, 1)[0], _attrs())], seed=0)[:1]
    js = D.save_json(recs, tmp_path / "fa.json")
    args = ["mllm", "train", "stage1", "--name", "cli", "--train-json", str(js), "--pretrain-path", str(tiny_dir),
            "--output-dir", str(tmp_path / "ck"), "--max-steps", "1", "--gradient-accumulation-steps", "1",
            "--lora-r", "4", "--lora-alpha", "8", "--token-num", "4", "--face-dim", "8"]
    assert main(args) == 0
    assert json.loads((tmp_path / "ck/Stage1/cli/vipguard_mllm.json").read_text())["lora_r"] == 4
    assert main(args) != 0  # exists
    assert main([*args, "--overwrite"]) == 0
    assert main([*args, "--resume", "--max-steps", "2"]) == 0  # one more step from the saved optimizer state
    log = (tmp_path / "ck/Stage1/cli/train_log.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in log][-1] == 2
