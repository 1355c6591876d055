"""The MLLM tier end to end on a tiny *random* Qwen2.5-VL, offline on a CPU (``make mllm-demo``).

1. build a tiny random Qwen2.5-VL directory (same layout as a real checkpoint),
2. measure facial attributes and face embeddings on a few real photos (../shared/data/lfw),
3. build D_FA, D_ID general (2:1:1) and D_ID VIP (1:5:5) JSON files,
4. run Stages 1–3 for a few steps each,
5. score held-out images (genuine VIP, other people, forgeries) and print a table,
6. enrol the VIP and run ``vipguard check IMAGE CLIP --tier mllm`` end to end on an image and a short clip
   (the clip goes through the same frame sampling and aggregation as the lite tier, each frame scored by the MLLM).

The weights are random, so the scores demonstrate the plumbing, not accuracy: bring real Qwen2.5-VL weights
for that (docs/mllm.md). Forgeries: pass ``--fakes DIR`` (e.g. the output of ``vipguard forge``); without it,
crude stand-ins (another person's photo with the VIP's face centre pasted in) are made here.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "lfw"
VIP, OTHERS = "Tony_Blair", ("George_W_Bush", "Colin_Powell", "Junichiro_Koizumi", "Serena_Williams")


def crude_fakes(vip_photos: list[Path], other_photos: list[Path], out: Path) -> list[Path]:
    """Stand-in forgeries: the VIP's central face region blended onto another person's photo."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (v, o) in enumerate(zip(vip_photos, other_photos)):
        a, b = cv2.imread(str(v)), cv2.imread(str(o))
        b = cv2.resize(b, (a.shape[1], a.shape[0]))
        mask = np.zeros(a.shape[:2], np.float32)
        h, w = mask.shape
        cv2.ellipse(mask, (w // 2, h // 2), (w // 6, h // 4), 0, 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (31, 31), 0)[..., None]
        p = out / f"fake_{i:02d}.jpg"
        cv2.imwrite(str(p), (a * (1 - mask) + b * mask).astype(np.uint8))
        paths.append(p)
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("out/mllm-demo"))
    ap.add_argument("--data", type=Path, default=DATA, help="LFW-style folder of <Name>/<Name>_NNNN.jpg")
    ap.add_argument("--fakes", type=Path, help="folder of forgeries of the VIP (default: crude stand-ins)")
    ap.add_argument("--steps", type=int, default=4, help="optimizer steps per stage")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    if not args.data.is_dir():
        print(f"error: photos not found at {args.data}", file=sys.stderr)
        return 2

    import torch

    from vipguard.faces import FaceAnalyzer
    from vipguard.faces.embed import face_score
    from vipguard.infra.io import load_image
    from vipguard.mllm.infer import MLLMScorer
    from vipguard.mllm.tiny import build_tiny
    from vipguard.train import mllm_data as D
    from vipguard.train.mllm import TrainConfig, train

    torch.set_num_threads(1)  # tiny model: one thread is fastest on a small shared CPU
    out = args.out
    t_start = time.perf_counter()
    tiny = build_tiny(out / "tiny-qwen")
    print(f"1. tiny random Qwen2.5-VL → {tiny}")

    def imgs(name: str, first: int, last: int) -> list[Path]:
        return [p for p in sorted((args.data / name).glob("*.jpg"))
                if first <= int(p.stem.rsplit("_", 1)[1]) <= last]

    vip_train, vip_test = imgs(VIP, 1, 4), imgs(VIP, 5, 6)
    others_train = [p for n in OTHERS[:2] for p in imgs(n, 1, 6)]
    others_test = [p for n in OTHERS[2:] for p in imgs(n, 1, 1)]
    if args.fakes:
        fakes = sorted(p for p in args.fakes.rglob("*") if p.suffix.lower() in {".jpg", ".png", ".jpeg"})
    else:
        fakes = crude_fakes(imgs(VIP, 7, 12), [p for n in OTHERS for p in imgs(n, 2, 3)][:6], out / "fakes")
    fakes_train, fakes_test = fakes[:-2], fakes[-2:]

    cache: dict[Path, object] = {}
    with FaceAnalyzer() as analyzer:
        def face(p: Path):
            if p not in cache:
                found = analyzer.analyze(load_image(p), primary_only=True)
                cache[p] = found[0] if found else None
            return cache[p]

        def embed(p: Path):
            f = face(p)
            return f.embeddings["mobilefacenet"] if f is not None else None

        fa_items = [(p, D.measure_attributes(face(p))) for p in vip_train + others_train[:2] if face(p)]
        fa = D.fa_records(fa_items)
        general = D.id_general_records({VIP: vip_train, OTHERS[0]: imgs(OTHERS[0], 1, 4),
                                        OTHERS[1]: imgs(OTHERS[1], 1, 4)}, {VIP: fakes_train}, embed, units=2)
        vip, centre = D.id_vip_records(vip_train, others_train, fakes_train, embed)
        tests = [(p, "genuine") for p in vip_test] + [(p, "other") for p in others_test] + \
                [(p, "fake") for p in fakes_test]
        test_faces = {p: face(p) for p, _ in tests}
    files = {k: D.save_json(v, out / "data" / f"{k}.json") for k, v in
             (("d_fa", fa), ("d_id_general", general), ("d_id_vip", vip))}
    print(f"2-3. data: D_FA {len(fa)} records, D_ID general {len(general)} pairs (2:1:1), "
          f"D_ID VIP {len(vip)} records (1:5:5) → {out / 'data'}")

    common = dict(name="demo", output_dir=str(out / "checkpoints"), device=args.device, token_num=8,
                  lora_r=8, lora_alpha=16, batch_size=1, gradient_accumulation_steps=2,
                  max_steps=args.steps, overwrite=True, progress=False)
    r1 = train(TrainConfig(stage=1, train_json=str(files["d_fa"]), pretrain_path=str(tiny), lr=1e-3, **common))
    r2 = train(TrainConfig(stage=2, train_json=str(files["d_id_general"]), pretrain_path=str(r1.out_dir),
                           lr=1e-3, **common))
    r3 = train(TrainConfig(stage=3, train_json=str(files["d_id_vip"]), pretrain_path=str(r2.out_dir), **common))
    for r in (r1, r2, r3):
        print(f"4. {r.out_dir.parent.name}: {r.steps} steps, loss {r.losses[0]:.3f} → {r.losses[-1]:.3f} "
              f"({len(r.trainable)} trainable tensors)")

    scorer = MLLMScorer.from_dirs(r2.out_dir, r3.out_dir, device=args.device)
    rows = []
    for p, kind in tests:
        f = test_faces[p]
        if f is None:
            rows.append((p.name, kind, "-", "no face", ""))
            continue
        fs = int(face_score(float(np.dot(f.embeddings["mobilefacenet"], centre))))  # FACE_SCORE for the prompt
        prob = scorer.score(load_image(p), fs)
        text = scorer.explain(load_image(p), fs, 12)[:40].replace("\ufffd", "?")
        rows.append((p.name, kind, str(fs), f"{prob:.3f}", text))
    print("5. scores (random weights: plumbing, not accuracy)")
    header = ("image", "truth", "face_score", "P(yes)", "generated (first tokens)")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("   " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    code = check_end_to_end(out, vip_train, vip_test, r2.out_dir, r3.out_dir, args.device)
    print(f"done in {time.perf_counter() - t_start:.0f} s; VIP tokens in the authors' format: "
          f"{r3.out_dir / 'vip_token.pt'}")
    return code


def write_clip(path: Path, photos: list[Path], fps: float = 2.0) -> Path:
    """A short mp4 clip showing each photo for one sampled frame."""
    frames = [cv2.imread(str(p)) for p in photos]
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for frame in frames:
        writer.write(cv2.resize(frame, (w, h)))
    writer.release()
    return path


def check_end_to_end(out: Path, enrol: list[Path], test: list[Path], stage2: Path, stage3: Path,
                     device: str) -> int:
    """``vipguard enroll`` then ``vipguard check IMAGE CLIP --tier mllm --json`` through the CLI."""
    from vipguard.cli import main as cli

    db, folder = out / "registry.db", out / "enrol"
    if db.exists():
        db.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    for p in enrol:
        shutil.copy(p, folder / p.name)
    if cli(["enroll", VIP, str(folder), "--db", str(db)]) != 0:
        print("error: enrolment failed", file=sys.stderr)
        return 1
    clip = write_clip(out / "clip.mp4", test + enrol[:1])
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = cli(["check", str(test[0]), str(clip), "--db", str(db), "--json", "--tier", "mllm",
                    "--model-dir", str(stage2), "--vip-dir", str(stage3), "--device", device])
    print("6. vipguard check --tier mllm (an image and a short clip)")
    for line in buf.getvalue().splitlines():
        r = json.loads(line)
        frames = f", {len(r['frames'])} frames" if "frames" in r else ""
        print(f"   {Path(r['path']).name}: {r['verdict']} (score {r['score']}, similarity {r['face_similarity']}"
              f"{frames}) — {r['explanation'][:90]}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
