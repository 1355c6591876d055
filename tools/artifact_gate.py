"""Set the artefact detector's operating point after training, on genuine photos only: its sharpness floor
(``min_sharpness`` in its config.json) and, when its input path changes (``--reencode``), its threshold and veto.

Threshold (with ``--reencode Q``): the trainer's rule (:func:`vipguard.artifact.gate.choose_threshold`: at most the
training run's target false-positive rate on the trainer's validation identities, clean, JPEG 60, 0.5× resize and
blur σ 1), the crops now re-encoded as JPEG Q before the network, as the detector will see them. ``--cache``: the
trainer's crop cache (default: the user cache, as ``vipguard artifact train``).

Floor: LFW identities held out of the detector's training (``train.artifact_data.is_held_out``; no VIP), first 4
photos each. Each is scored clean, Gaussian-blurred at σ 0.5–3 and down-up resized ×0.5 / 0.35 / 0.25; every crop's
sharpness (``ArtifactResult.sharpness``) and whether it reached the detector's threshold go to
:func:`vipguard.artifact.gate.choose_min_sharpness`. No forgery is read.

    .venv/bin/python tools/artifact_gate.py --lfw ../shared/data/lfw              # measure and print
    .venv/bin/python tools/artifact_gate.py --lfw ../shared/data/lfw --write      # also write config.json
    .venv/bin/python tools/artifact_gate.py --lfw ../shared/data/lfw --reencode 90 --write   # new input path
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from vipguard.artifact.detector import ArtifactDetector, default_weights, prepared
from vipguard.artifact.gate import (
    VALIDATION_CONDITIONS,
    choose_min_sharpness,
    choose_threshold,
)
from vipguard.faces import AnalyzerConfig, FaceAnalyzer
from vipguard.infra.imageops import down_up
from vipguard.infra.io import load_image
from vipguard.lite.explain import probability_text
from vipguard.train.artifact_data import load_or_build, other_photos, train_val_test


def _blur(sigma: float):
    return lambda im: im if sigma == 0 else cv2.GaussianBlur(im, (0, 0), sigma)


def _resize(factor: float):
    return lambda im: down_up(im, (max(1, int(im.shape[1] * factor)), max(1, int(im.shape[0] * factor))))


CONDITIONS = {f"blur σ {s:g}": _blur(s) for s in (0, 0.5, 1, 1.5, 2, 2.5, 3)} | {
    f"resize ×{f:g}": _resize(f) for f in (0.5, 0.35, 0.25)}


def validation_threshold(detector: ArtifactDetector, lfw: Path, cache: Path | None, target_fpr: float) -> float:
    """The trainer's threshold rule on its validation identities, through ``detector``'s own input path."""
    from platformdirs import user_cache_dir

    crops = load_or_build(lfw, cache or Path(user_cache_dir("vipguard")) / "artifact", detector.config,
                          progress=True)
    _, val, _ = train_val_test(crops)
    scores = {name: detector.predict(np.stack([prepared(f(c), detector.config) for c in val.images]))[0]
              for name, f in VALIDATION_CONDITIONS.items()}
    return choose_threshold(scores, target_fpr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lfw", type=Path, required=True)
    parser.add_argument("--weights", type=Path, default=None, help="detector folder (default: the packaged one)")
    parser.add_argument("--max-fpr", type=float, default=0.03,
                        help="false alarms allowed in every sharpness band at or above the floor (#16's ceiling)")
    parser.add_argument("--reencode", type=int, default=None, metavar="Q",
                        help="re-encode every crop as JPEG Q before the network and re-pick the threshold and veto")
    parser.add_argument("--target-fpr", type=float, default=None,
                        help="the threshold's false-positive rate (default: the training run's, in config.json)")
    parser.add_argument("--cache", type=Path, default=None, help="the trainer's crop cache folder")
    parser.add_argument("--write", action="store_true", help="record the operating point in the folder's config.json")
    args = parser.parse_args()
    folder = args.weights or default_weights()
    detector = ArtifactDetector(folder)
    if args.reencode is not None:
        detector.config = replace(detector.config, reencode=args.reencode)
        target = args.target_fpr or detector.config.extra.get("train_config", {}).get("target_fpr", 0.03)
        threshold = round(validation_threshold(detector, args.lfw, args.cache, target), 6)
        print(f"crops re-encoded as JPEG {args.reencode}: threshold {probability_text(threshold)} "
              f"(was {probability_text(detector.threshold)}) at {target:g} on validation reals")
        detector.config = replace(detector.config, threshold=threshold, veto=threshold)
    paths = other_photos(args.lfw, per_identity=4, held_out=True)
    rows: list[tuple[str, float, bool]] = []
    with FaceAnalyzer(AnalyzerConfig(num_threads=1)) as analyzer:
        for path in tqdm(paths, desc="genuine faces"):
            image = load_image(path)
            for name, degrade in CONDITIONS.items():
                shown = degrade(image)
                faces = analyzer.analyze(shown, primary_only=True, embedders=())
                if faces:
                    result = detector.score(shown, faces[0])
                    rows.append((name, result.sharpness, result.score >= detector.threshold))
    s = np.array([r[1] for r in rows])
    alarm = np.array([r[2] for r in rows])
    floor = choose_min_sharpness(s, alarm, args.max_fpr)
    print(f"{len(paths)} photos of held-out identities; threshold {detector.threshold}; floor {floor}")
    print("| condition | faces | sharpness median | false alarms | judged (≥ floor) | false alarms among judged |")
    print("|---|---|---|---|---|---|")
    for name in CONDITIONS:
        m = np.array([r[0] == name for r in rows])
        judged = m & (s >= (floor or 0))
        among = f"{100 * alarm[judged].mean():.1f} %" if judged.any() else "–"
        print(f"| {name} | {m.sum()} | {np.median(s[m]):.1f} | {100 * alarm[m].mean():.1f} % | "
              f"{100 * judged.sum() / max(m.sum(), 1):.1f} % | {among} |")
    if args.write:
        config_path = folder / "config.json"
        data = json.loads(config_path.read_text())
        data["min_sharpness"] = floor
        if args.reencode is not None:
            data |= {"reencode": args.reencode, "threshold": detector.threshold, "veto": detector.threshold}
        config_path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        print(f"wrote min_sharpness = {floor}"
              + (f", reencode = {args.reencode}, threshold = veto = {detector.threshold}" if args.reencode else "")
              + f" to {config_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
