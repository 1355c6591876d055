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

Noisy crops (``--noise``): the same photos' crop noise levels under the threshold's validation conditions set the
noise band (:func:`~vipguard.artifact.gate.choose_noise_band`), and their scores under sensor-like RGB noise of
σ 4, 8 and 12 the veto inside it (:func:`~vipguard.artifact.gate.choose_noise_veto`, at the training run's target
false-positive rate).

    .venv/bin/python tools/artifact_gate.py --lfw ../shared/data/lfw              # measure and print
    .venv/bin/python tools/artifact_gate.py --lfw ../shared/data/lfw --write      # also write config.json
    .venv/bin/python tools/artifact_gate.py --lfw ../shared/data/lfw --reencode 90 --write   # new input path
    .venv/bin/python tools/artifact_gate.py --lfw ../shared/data/lfw --noise --write   # also the noisy-crop veto
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from vipguard.artifact.detector import ArtifactDetector, default_weights, prepared
from vipguard.artifact.gate import (
    NOISE_SIGMAS,
    VALIDATION_CONDITIONS,
    add_noise,
    choose_min_sharpness,
    choose_noise_band,
    choose_noise_veto,
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
    parser.add_argument("--noise", action="store_true",
                        help="also choose the noise band and the veto for noisy crops (noise_band, noise_veto)")
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
    noisy: dict[str, list[tuple[float, float]]] = defaultdict(list)  # condition → (noise level, score)
    with FaceAnalyzer(AnalyzerConfig(num_threads=1)) as analyzer:
        for i, path in enumerate(tqdm(paths, desc="genuine faces")):
            image = load_image(path)
            for name, degrade in CONDITIONS.items():
                shown = degrade(image)
                faces = analyzer.analyze(shown, primary_only=True, embedders=())
                if faces:
                    result = detector.score(shown, faces[0])
                    rows.append((name, result.sharpness, result.score >= detector.threshold))
            if args.noise:
                noisy_conditions = VALIDATION_CONDITIONS | {
                    f"noise σ {s:g}": (lambda im, s=s: add_noise(im, s, np.random.default_rng([i, int(s)])))
                    for s in NOISE_SIGMAS}
                for name, degrade in noisy_conditions.items():
                    shown = degrade(image)
                    faces = analyzer.analyze(shown, primary_only=True, embedders=(), mesh=False)
                    if faces:
                        result = detector.score(shown, faces[0])
                        noisy[name].append((result.noise, result.score))
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
    noise_write = {}
    if args.noise:
        levels = {name: np.array([v[0] for v in noisy[name]]) for name in noisy}
        scores = {name: np.array([v[1] for v in noisy[name]]) for name in noisy}
        band = choose_noise_band({name: levels[name] for name in VALIDATION_CONDITIONS})
        target = detector.config.extra.get("train_config", {}).get("target_fpr", 0.015)
        names = [f"noise σ {s:g}" for s in NOISE_SIGMAS]
        noise_veto = round(choose_noise_veto({n: scores[n] for n in names}, {n: levels[n] for n in names}, band,
                                             target, detector.veto if detector.veto is not None else detector.threshold), 6)
        veto = detector.veto if detector.veto is not None else detector.threshold
        print(f"noise band from {band} (the highest 99.5th percentile of genuine crops' noise levels under the "
              f"threshold's conditions); veto inside it {probability_text(noise_veto)} at {target:g}")
        print("| condition | faces | in the noise band | false alarms at the veto | at the veto in force |")
        print("|---|---|---|---|---|")
        for name in noisy:
            lv, sc = levels[name], scores[name]
            in_force = np.where(lv >= band, noise_veto, veto)
            print(f"| {name} | {len(sc)} | {100 * np.mean(lv >= band):.1f} % | {100 * np.mean(sc >= veto):.1f} % | "
                  f"{100 * np.mean(sc >= in_force):.1f} % |")
        noise_write = {"noise_band": band, "noise_veto": noise_veto}
    if args.write:
        config_path = folder / "config.json"
        data = json.loads(config_path.read_text())
        data["min_sharpness"] = floor
        data |= noise_write
        if args.reencode is not None:
            data |= {"reencode": args.reencode, "threshold": detector.threshold, "veto": detector.threshold}
        config_path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        print(f"wrote min_sharpness = {floor}" + "".join(f", {k} = {v}" for k, v in noise_write.items())
              + (f", reencode = {args.reencode}, threshold = veto = {detector.threshold}" if args.reencode else "")
              + f" to {config_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
