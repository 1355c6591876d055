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

from vipguard.mllm.infer import MLLMScorer  # noqa: E402
from vipguard.mllm.model import CONFIG_NAME, MLLMConfig, VIPGuardMLLM  # noqa: E402
from vipguard.mllm.prompts import ANSWER_NO, ANSWER_YES, vip_prompt  # noqa: E402
from vipguard.mllm.tiny import build_tiny  # noqa: E402
from vipguard.mllm.vip import CheckpointFormatError, VipWidthError, check_vip_tokens, model_width, read_vip_tokens  # noqa: E402
from vipguard.train import mllm_data as D  # noqa: E402
from vipguard.train.mllm import CheckpointExists, TrainConfig, train  # noqa: E402
from vipguard.train.mllm_records import read_records  # noqa: E402

from .conftest import ROOT  # noqa: E402

FACE_DIM, TOKENS = 8, 4  # FACE_DIM: the stand-in face model's width (it only sets FACE_SCORE)
AUTHORS = ROOT.parent / "shared" / "fixtures" / "authors"  # the authors' public files (tests only)
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
    return VIPGuardMLLM.fresh(tiny, MLLMConfig(token_num=TOKENS), "cpu").eval()


def photos(lfw: Path, name: str, first: int = 1, last: int = 9999) -> list[Path]:
    return [p for p in sorted((lfw / name).glob("*.jpg")) if first <= int(p.stem.rsplit("_", 1)[1]) <= last]


def fake_embed(path: Path) -> np.ndarray:
    """Deterministic stand-in for a face model: one direction per identity (folder) + per-photo noise."""
    def vec(key: str) -> np.ndarray:
        seed = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
        return np.random.RandomState(seed).randn(FACE_DIM).astype(np.float32)
    v = vec(Path(path).parent.name) + 0.3 * vec(str(path))
    return v / np.linalg.norm(v)


# -- injection and the FaceChecker ----------------------------------------------------------------------
def _batch(model, images, references=None, answer=None, side="left"):
    proc = model.processor
    refs = references or [None] * len(images)
    return proc.collate([proc.encode(vip_prompt(50), img, answer, ref) for img, ref in zip(images, refs)],
                        padding_side=side)


def _face_rows(model, batch) -> list[torch.Tensor]:
    """Per sample, the vectors injected at its <|face_pad|> positions ([2n, d])."""
    with torch.no_grad():
        embeds, _ = model.embed(batch)
    mask = batch["input_ids"] == model.processor.face_token_id
    return [embeds[i, mask[i]] for i in range(len(embeds))]


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
        same = pad_vec.expand(2 * 2 * TOKENS, -1)
        ours = model(batch, face_block=same)
        embeds, positions = model.embed(batch, face_block=same)
        expected, _ = qwen.model.get_rope_index(batch["input_ids"], batch["mm_token_type_ids"],
                                                image_grid_thw=batch["image_grid_thw"],
                                                attention_mask=batch["attention_mask"])
        injected = model(batch)
    mask = batch["attention_mask"].bool()
    assert torch.equal(positions, expected)
    assert positions[:, mask].max() < mask.sum(1).max()  # M-RoPE: image tokens share positions
    torch.testing.assert_close(ours[mask], stock[mask], rtol=0, atol=1e-5)
    assert not torch.allclose(injected[mask], stock[mask], atol=1e-3)  # the face tokens matter


def test_face_checker_keys_are_the_input_image_tokens(model):
    """K = V = the input image's vision tokens: other pixels, other FaceChecker output (VIP tokens fixed)."""
    other = RNG.randint(0, 255, IMAGES[0].shape, np.uint8)
    a, b = _batch(model, [IMAGES[0]]), _batch(model, [other])
    with torch.no_grad():
        fa, fb = (model.image_features(x["pixel_values"], x["image_grid_thw"]) for x in (a, b))
        block_a, block_b = model.face_block(a, fa), model.face_block(b, fb)
        direct = model.checker(model.vip_tokens, fa[None]).tokens
    assert fa.shape[0] == model.processor.n_tokens(a["image_grid_thw"][0]) > 1
    torch.testing.assert_close(block_a.checked.tokens, direct, rtol=0, atol=0)  # nothing but the image's tokens
    assert not torch.allclose(block_a.checked.tokens, block_b.checked.tokens, atol=1e-3)
    torch.testing.assert_close(block_a.queries, block_b.queries, rtol=0, atol=0)  # the VIP tokens, unchanged
    rows = _face_rows(model, a)[0]
    torch.testing.assert_close(rows[:TOKENS], model.vip_tokens.detach(), rtol=0, atol=0)  # first block: queries
    torch.testing.assert_close(rows[TOKENS:], block_a.checked.tokens[0], rtol=0, atol=0)  # second: output
    assert block_a.checked.tokens.shape == (1, TOKENS, model.width)  # one output per query


def test_attention_over_image_tokens_is_not_uniform(model):
    batch = _batch(model, [IMAGES[1]])
    with torch.no_grad():
        block = model.face_block(batch, model.image_features(batch["pixel_values"], batch["image_grid_thw"]))
    weights = block.checked.attention[0][0]  # [heads, queries, T]
    t = weights.shape[-1]
    assert t == model.processor.n_tokens(batch["image_grid_thw"][0]) > 1
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:2]))
    assert float((weights - 1 / t).abs().max()) > 0.05  # attention picks image tokens (uniform = 1/T)
    assert float(weights.std(-1).min()) > 1e-3


def test_stage2_reference_image_tokens_are_the_queries(model):
    small, large = IMAGES[0], RNG.randint(0, 255, (112, 112, 3), np.uint8)
    batch = _batch(model, [IMAGES[1], IMAGES[1]], references=[small, large])
    proc = model.processor
    counts = [proc.n_tokens(g) for g in batch["ref_image_grid_thw"]]
    assert counts[0] != counts[1]  # the block length follows the reference's grid
    assert (batch["input_ids"] == proc.face_token_id).sum(1).tolist() == [2 * n for n in counts]
    with torch.no_grad():
        ref = model.image_features(batch["ref_pixel_values"], batch["ref_image_grid_thw"])
    rows = _face_rows(model, batch)
    for i, chunk in enumerate(torch.split(ref, counts)):
        torch.testing.assert_close(rows[i][: counts[i]], chunk, rtol=0, atol=0)  # first block = f_query
    other = _face_rows(model, _batch(model, [IMAGES[1]], references=[RNG.randint(0, 255, small.shape, np.uint8)]))
    assert not torch.allclose(other[0][counts[0]:], rows[0][counts[0]:], atol=1e-3)  # output follows the reference


def test_batch_of_three_equals_three_single_calls(model):
    three = [IMAGES[0], IMAGES[1], RNG.randint(0, 255, (56, 112, 3), np.uint8)]  # 4, 12, 8 tokens: padded keys
    scorer = MLLMScorer(model, batch_size=3)
    batched = scorer.score_batch(three, [20, 80, 55])
    single = [scorer.score(i, s) for i, s in zip(three, [20, 80, 55])]
    np.testing.assert_allclose(batched, single, atol=1e-5)
    assert all(0.0 < p < 1.0 for p in batched)
    rows = _face_rows(model, _batch(model, three))
    for i, img in enumerate(three):
        torch.testing.assert_close(rows[i], _face_rows(model, _batch(model, [img]))[0], rtol=0, atol=1e-5)
    # no leakage: another third image leaves the first two samples' FaceChecker output as it was
    changed = _face_rows(model, _batch(model, [three[0], three[1], RNG.randint(0, 255, (56, 112, 3), np.uint8)]))
    for i in (0, 1):
        torch.testing.assert_close(changed[i], rows[i], rtol=0, atol=1e-5)


def test_explain_is_greedy(model):
    scorer = MLLMScorer(model)
    enc = scorer._encode(IMAGES[0], 20)
    b = model.processor.collate([enc], padding_side="left")
    with torch.no_grad():
        first = int(model(b)[0, -1].argmax())
    text = scorer.explain(IMAGES[0], 20, max_new_tokens=3)
    expected = model.processor.tokenizer.decode([first], skip_special_tokens=True).strip()
    assert text.startswith(expected)


def test_answer_texts_are_the_authors():
    assert ANSWER_YES == "<Conclusion>[Yes] The two images are of the same person.</Conclusion>"
    assert ANSWER_NO == "<Conclusion>[No] The two images are of different people.</Conclusion>"


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
                gradient_accumulation_steps=1, epoch=6, token_num=TOKENS, lora_r=4,
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
    from vipguard.train import mllm as T

    _, _, r2, _ = stages
    model = VIPGuardMLLM.from_pretrained(r2.out_dir)
    before = _snapshot(model)
    monkeypatch.setattr(T, "_load_model", lambda c, resume: model)  # train this very object, compare bitwise
    train(_cfg(3, records["vip"], tmp_path, pretrain_path=str(r2.out_dir), lr=0.1, epoch=2))
    assert _changed(before, model) == {"vip_tokens"}


def test_stage1_and_2_change_only_lora_and_checker(tiny, records, tmp_path, monkeypatch):
    from vipguard.train import mllm as T

    for stage, key, allowed in ((1, "fa", ("lora_",)), (2, "general", ("lora_", "checker."))):
        model = VIPGuardMLLM.fresh(tiny, MLLMConfig(token_num=TOKENS, lora_r=4, lora_alpha=8))
        model.add_lora()
        before = _snapshot(model)
        monkeypatch.setattr(T, "_load_model", lambda c, resume, m=model: m)
        train(_cfg(stage, records[key], tmp_path / str(stage), lr=1e-2, epoch=2))
        changed = _changed(before, model)
        assert changed and all(any(a in k for a in allowed) for k in changed), changed
        if stage == 2:
            assert any(k.startswith("checker.") for k in changed)


def test_save_load_round_trip_and_vip_token_formats(stages, tmp_path):
    out, _, r2, r3 = stages
    assert (r3.out_dir / "vip_token.pt").is_file()
    assert json.loads((r3.out_dir / "vip_config.json").read_text())["format"] == 2
    a = MLLMScorer.from_dirs(r2.out_dir, r3.out_dir).score_batch(IMAGES, [70, 30])
    model = VIPGuardMLLM.from_pretrained(r2.out_dir)
    assert not torch.equal(model.vip_tokens.detach(), read_vip_tokens(r3.out_dir))  # Stage 3 moved them
    model.load_vip_tokens(r3.out_dir / "vip_token.pt")  # the authors' format
    b = MLLMScorer(model).score_batch(IMAGES, [70, 30])
    np.testing.assert_array_equal(a, b)
    saved = model.save_pretrained(tmp_path / "again")
    again = VIPGuardMLLM.from_pretrained(saved)
    for (k, v), (k2, v2) in zip(model.checker.state_dict().items(), again.checker.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    c = MLLMScorer(again).score_batch(IMAGES, [70, 30])
    np.testing.assert_array_equal(a, c)
    # an authors'-format file written by plain torch.save loads; another token count is refused
    tok = torch.randn(TOKENS, model.width)
    torch.save({"vip_token": tok}, tmp_path / "vip_token.pt")
    model.load_vip_tokens(tmp_path)
    assert torch.equal(model.vip_tokens.detach(), tok)
    torch.save({"vip_token": torch.randn(TOKENS + 1, model.width)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="5 VIP tokens"):
        model.load_vip_tokens(tmp_path / "bad.pt")


def test_authors_vip_token_file(model, tmp_path):
    from transformers import Qwen2_5_VLConfig

    path = AUTHORS / "vip_token.pt"
    if not path.is_file():
        pytest.skip(f"the authors' vip_token.pt is not at {path} (../shared/fixtures is absent)")
    raw = torch.load(str(path), map_location="cpu", weights_only=True)  # saved from CUDA: must load on CPU
    assert set(raw) == {"vip_token"} and raw["vip_token"].dtype == torch.float32
    tokens = read_vip_tokens(path)
    assert tokens.shape == (32, 3584) and tokens.dtype == torch.float32 and tokens.device.type == "cpu"
    assert torch.isfinite(tokens).all() and float(tokens.std()) > 0.1
    qwen_7b = Qwen2_5_VLConfig(text_config={"hidden_size": 3584}, vision_config={"out_hidden_size": 3584})
    check_vip_tokens(tokens, 32, model_width(qwen_7b), str(path))  # a 3584-wide model accepts it
    (tmp_path / "Amair").mkdir()
    (tmp_path / "Amair" / "vip_token.pt").write_bytes(path.read_bytes())
    before = model.vip_tokens.detach().clone()
    with pytest.raises(VipWidthError, match=r"3584 \(Qwen2.5-VL-7B\) wide .* is 64 wide"):
        model.load_vip_tokens(tmp_path / "Amair")  # the authors' Stage-3 directory layout
    assert torch.equal(model.vip_tokens.detach(), before)  # refused, untouched


def test_authors_stage3_json_parses_and_reports_missing_images(tmp_path):
    import cv2

    src = AUTHORS / "stage3_example.json"
    if not src.is_file():
        pytest.skip(f"the authors' stage3_example.json is not at {src} (../shared/fixtures is absent)")
    raw = json.loads(src.read_text())
    none = read_records(src, image_root=tmp_path)
    assert none.records == () and [m.index for m in none.missing] == list(range(len(raw)))
    assert all(m.role == "image" and m.path == tmp_path / raw[m.index]["images"][0] for m in none.missing)
    for r in (raw[0], raw[-1]):  # provide two of the eight images
        (tmp_path / r["images"][0]).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / r["images"][0]), IMAGES[0])
    parsed = read_records(src, image_root=tmp_path)
    assert [r.index for r in parsed.records] == [0, len(raw) - 1]
    assert [m.index for m in parsed.missing] == list(range(1, len(raw) - 1))
    first, last = parsed.records
    assert (first.label, first.face_score, last.label) == (False, 74, True)
    assert first.prompt == vip_prompt(74) == raw[0]["messages"][0]["content"]  # their prompt, verbatim
    assert first.answer.strip() == ANSWER_NO and last.answer.strip() == ANSWER_YES
    assert "6 skipped for missing images" in parsed.summary()


def test_stage3_trains_on_the_authors_json(stages, tmp_path, lfw, capsys):
    """`vipguard mllm train stage3` on their JSON as it is: --image-root for their relative paths, the records
    without an image skipped and named, the others trained."""
    from vipguard.cli import main

    src = AUTHORS / "stage3_example.json"
    if not src.is_file():
        pytest.skip(f"the authors' stage3_example.json is not at {src}")
    _, _, r2, _ = stages
    raw = json.loads(src.read_text())
    root = tmp_path / "their-repo"
    for r, photo in zip(raw[-3:], photos(lfw, "Tony_Blair", 1, 3)):  # three of their records get an image
        dest = root / r["images"][0]
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(photo.read_bytes())
    capsys.readouterr()
    code = main(["mllm", "train", "stage3", "--name", "Amair", "--train-json", str(src), "--image-root", str(root),
                 "--pretrain-path", str(r2.out_dir), "--output-dir", str(tmp_path / "ck"), "--token-num", "4",
                 "--gradient-accumulation-steps", "1", "--lr", "0.1"])
    err = capsys.readouterr().err
    assert code == 0, err
    skipped = list(range(len(raw) - 3))
    assert all(f"skipped record {i}: image not found: {root / raw[i]['images'][0]}" in err for i in skipped)
    out = tmp_path / "ck" / "Stage3" / "Amair"
    log = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert [x["skipped_record"] for x in log if "skipped_record" in x] == skipped
    assert [x["step"] for x in log if "step" in x] == [1, 2, 3]  # batch 1, accumulation 1: one step per record
    assert read_vip_tokens(out / "vip_token.pt").shape == (TOKENS, 64)


def test_face_checker_masks_padding_and_stacks_blocks():
    from vipguard.mllm.checker import FaceChecker

    torch.manual_seed(0)
    checker = FaceChecker(16, heads=8, depth=2, dropout=0.1).eval()
    assert [k for k in checker.state_dict() if k.startswith("blocks.1.")] == [
        "blocks.1.net.0.weight", "blocks.1.net.0.bias", "blocks.1.net.3.weight", "blocks.1.net.3.bias"]
    queries, keys = torch.randn(3, 16), torch.randn(2, 5, 16)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    with torch.no_grad():
        out = checker(queries, keys, mask)
        alone = checker(queries, keys[1:, :3])
    assert out.tokens.shape == (2, 3, 16) and len(out.attention) == 2
    assert float(out.attention[0][1, :, :, 3:].abs().max()) == 0.0  # padded keys get no weight
    torch.testing.assert_close(out.tokens[1], alone.tokens[0], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="keys must be"):
        checker(queries, torch.randn(2, 5, 8))


def test_old_checkpoint_format_is_a_clear_error(stages, tmp_path):
    import shutil
    import warnings

    _, r1, r2, r3 = stages
    old2 = shutil.copytree(r2.out_dir, tmp_path / "old2")
    data = json.loads((old2 / CONFIG_NAME).read_text())
    data.pop("format")
    (old2 / CONFIG_NAME).write_text(json.dumps({**data, "face_dim": 192}))
    with pytest.raises(CheckpointFormatError, match="Re-run stage 2 .*Stage-1 checkpoint.* stage 3"):
        VIPGuardMLLM.from_pretrained(old2)
    # an old Stage-1 checkpoint keeps its LoRA (Stage 1 never trains the FaceChecker), with a warning
    old1 = shutil.copytree(r1.out_dir, tmp_path / "old1")
    data = json.loads((old1 / CONFIG_NAME).read_text())
    data.pop("format")
    (old1 / CONFIG_NAME).write_text(json.dumps({**data, "face_dim": 192}))
    from safetensors.torch import save_file
    save_file({"face_proj.weight": torch.zeros(64, 192)}, str(old1 / "face_checker.safetensors"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        upgraded = VIPGuardMLLM.from_pretrained(old1)
    assert any("format 1" in str(w.message) for w in caught)
    current = VIPGuardMLLM.from_pretrained(r1.out_dir)
    lora = {k: v for k, v in current.state_dict().items() if "lora_" in k}
    assert lora and all(torch.equal(v, upgraded.state_dict()[k]) for k, v in lora.items())
    # old Stage-3 VIP tokens were trained against the old FaceChecker
    old3 = shutil.copytree(r3.out_dir, tmp_path / "old3")
    meta = json.loads((old3 / "vip_config.json").read_text())
    meta.pop("format")
    (old3 / "vip_config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointFormatError, match="Re-run stage 3"):
        upgraded.load_vip_tokens(old3)


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
        assert r["messages"][1]["content"] == (ANSWER_YES if r["label"] else ANSWER_NO)
        assert "{FACE_SCORE}" not in r["messages"][0]["content"]


def test_general_pairs_ratio_2_1_1(lfw):
    identities = {n: photos(lfw, n, 1, 4) for n in ("Tony_Blair", "George_W_Bush", "Colin_Powell")}
    fakes = {"Tony_Blair": photos(lfw, "Serena_Williams", 1, 2)}
    recs = D.id_general_records(identities, fakes, fake_embed, units=5, seed=1)
    kinds = [r["kind"] for r in recs]
    assert (kinds.count("same"), kinds.count("different"), kinds.count("fake")) == (10, 5, 5)
    _check_records(recs)
    assert all(len(r["images"]) == 2 for r in recs)  # [input, reference], the authors' order
    assert all(Path(r["images"][1]).parent.name == "Tony_Blair" for r in recs if r["kind"] == "fake")
    assert all(Path(r["images"][1]).parent == Path(r["images"][0]).parent for r in recs if r["kind"] == "same")
    assert all(Path(r["images"][1]).parent != Path(r["images"][0]).parent for r in recs if r["kind"] == "different")
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
    from vipguard.infra.io import load_image

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
            "--lora-r", "4", "--lora-alpha", "8", "--token-num", "4"]
    assert main(args) == 0
    assert json.loads((tmp_path / "ck/Stage1/cli/vipguard_mllm.json").read_text())["lora_r"] == 4
    assert main(args) != 0  # exists
    assert main([*args, "--overwrite"]) == 0
    assert main([*args, "--resume", "--max-steps", "2"]) == 0  # one more step from the saved optimizer state
    log = (tmp_path / "ck/Stage1/cli/train_log.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in log][-1] == 2
