"""Build the genuine-similarity population prior (src/vipguard/data/genuine_prior.json) from LFW "other" people.

For every person whose name starts with A–L (the bundled background's half; tests and benchmarks draw their
"other people" from M–Z), who is none of the 19 VIPs and has at least ``--min-photos`` photos: whole-face
similarities (MobileFaceNet, the Guard's ``sim_global``). The first half of each person's photos (by LFW index) plays the enrolment photos, the rest the later photos a
Guard meets. The file keeps, per person, the counts and the mean and variance of the enrolment photos'
leave-one-out similarities and of the later photos' similarities to the enrolment centre;
:func:`vipguard.lite.decision.learn_prior` turns them into the prior that every enrolment shrinks toward.

    .venv/bin/python tools/build_prior.py --lfw ../shared/data/lfw
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from build_background import VIPS
from tqdm import tqdm

from vipguard.faces import FaceAnalyzer
from vipguard.infra.io import load_image
from vipguard.lite.decision import loo_similarities


def split_stats(vectors: np.ndarray) -> dict:
    """Enrolment-like and later-photo statistics of one person: the first half of their photos (by LFW index)
    play the enrolment photos (leave-one-out similarities), the rest the later photos a Guard meets (similarity
    to the first half's centre)."""
    half = len(vectors) // 2
    enrol, later = vectors[:half], vectors[half:]
    loo = loo_similarities(enrol)
    centre = enrol.mean(0) / np.linalg.norm(enrol.mean(0))
    sims = later @ centre
    return {"n": half, "mean": round(float(loo.mean()), 5), "var": round(float(loo.var(ddof=1)), 6),
            "later_n": len(sims), "later_mean": round(float(sims.mean()), 5),
            "later_var": round(float(sims.var(ddof=1)), 6)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lfw", type=Path, default=Path("../shared/data/lfw"))
    parser.add_argument("--out", type=Path, default=Path("src/vipguard/data/genuine_prior.json"))
    parser.add_argument("--min-photos", type=int, default=8)
    args = parser.parse_args()
    people = sorted(p for p in args.lfw.iterdir() if p.is_dir() and p.name not in VIPS and p.name[0] <= "L"
                    and len(list(p.glob("*.jpg"))) >= args.min_photos)
    rows = []
    with FaceAnalyzer() as analyzer:
        embedder = analyzer.embedder("mobilefacenet")
        for person in tqdm(people, desc="identities"):
            vectors = []
            for path in sorted(person.glob("*.jpg")):
                faces = analyzer.analyze(load_image(path), primary_only=True, embedders=(), mesh=False)
                if faces:
                    vectors.append(embedder.embed_aligned(faces[0].aligned[None])[0])
            if len(vectors) >= args.min_photos:
                rows.append(split_stats(np.stack(vectors)))
    doc = {"source": "LFW identities A-L with >= min_photos photos, none of the 19 VIPs; sim_global (MobileFaceNet); first half = enrolment (leave-one-out), second half = later photos",
           "min_photos": args.min_photos, "identities": rows}
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{len(rows)} identities → {args.out}")


if __name__ == "__main__":
    main()
