"""Build the genuine-similarity population prior (src/vipguard/data/genuine_prior.json) from LFW "other" people.

For every person whose name starts with A–L (the bundled background's half; tests and benchmarks draw their
"other people" from M–Z), who is none of the 19 VIPs and has at least ``--min-photos`` photos: the first half of
their photos (by LFW index) enrol as a VIP's photos do (the Enroller's quality screen, near-duplicate and identity
checks and descriptors), the rest are the later photos a Guard meets (every one with a face). Similarities are
whole-face (MobileFaceNet, the Guard's ``sim_global``). Each person is then enrolled again from ``--draws`` random
subsets of every size from the Enroller's minimum up (:func:`vipguard.lite.prior.subsample`), and
:func:`vipguard.lite.prior.learn` turns the draws into the prior every enrolment shrinks toward, with the
enrolment-to-later shift depending on the number of enrolment photos.

The file keeps the learned prior (``prior``), the per-person statistics of the whole halves (``identities``) and
the shift measured per enrolment size (``shift_by_size``: mean, net variance, people).

    .venv/bin/python tools/build_prior.py --lfw ../shared/data/lfw
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from build_background import VIPS
from tqdm import tqdm

from vipguard.artifact.detector import ArtifactDetector
from vipguard.faces import FaceAnalyzer
from vipguard.faces.embed import DEFAULT_EMBEDDER
from vipguard.infra.io import load_image
from vipguard.lite.background import load_background
from vipguard.lite.enrol import EnrolConfig, Enroller, second_embeddings
from vipguard.lite.prior import learn, person_row, shift_by_size, subsample


def later_embeddings(analyzer: FaceAnalyzer, paths: list[Path], embedder: str = DEFAULT_EMBEDDER) -> np.ndarray:
    """Whole-face embeddings of every photo with a face (the dominant one), as the Guard measures them."""
    model = analyzer.embedder(embedder)
    vectors = []
    for path in paths:
        image = load_image(path)
        faces = analyzer.analyze(image, primary_only=True, embedders=(), mesh=False)
        if faces:  # the default embedder's crop is the analyzer's own alignment; another embedder aligns its way
            vectors.append(model.embed_aligned(faces[0].aligned[None])[0] if embedder == DEFAULT_EMBEDDER
                           else model.embed(image, [faces[0].detection])[0])
    return np.stack(vectors) if vectors else np.zeros((0, model.dim))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lfw", type=Path, default=Path("../shared/data/lfw"))
    parser.add_argument("--out", type=Path, default=None,
                        help="default: src/vipguard/data/genuine_prior.json, or genuine_prior_<embedder>.json for "
                             "another embedder (vipguard.lite.decision.bundled_prior)")
    parser.add_argument("--embedder", default=DEFAULT_EMBEDDER,
                        help="whose similarities: the Guard's embedder, or a second opinion's (e.g. dlib)")
    parser.add_argument("--min-photos", type=int, default=8)
    parser.add_argument("--draws", type=int, default=10, help="random enrolment subsets per person and size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = args.out or Path("src/vipguard/data") / (
        "genuine_prior.json" if args.embedder == DEFAULT_EMBEDDER else f"genuine_prior_{args.embedder}.json")
    if not args.lfw.is_dir():
        parser.error(f"{args.lfw}: no such folder (the LFW photos, lfw/<Name>/<Name>_NNNN.jpg)")
    people = sorted(p for p in args.lfw.iterdir() if p.is_dir() and p.name not in VIPS and p.name[0] <= "L"
                    and len(list(p.glob("*.jpg"))) >= args.min_photos)
    smallest = EnrolConfig().min_photos
    rng = np.random.default_rng(args.seed)
    draws, enrolled = [], 0
    with FaceAnalyzer() as analyzer:
        enroller = Enroller(analyzer, load_background(), artifact=ArtifactDetector(None))
        for person in tqdm(people, desc="identities"):
            photos = sorted(person.glob("*.jpg"))
            half = len(photos) // 2
            used, genuine, _, _ = enroller.genuine_photos(photos[:half])  # the Guard's screen, whoever embeds
            later = later_embeddings(analyzer, photos[half:], args.embedder)
            if len(genuine) >= smallest and len(later) >= 2:
                enrol = (np.stack([d.embeddings["global"] for d in genuine]) if args.embedder == DEFAULT_EMBEDDER
                         else second_embeddings(analyzer.embedder(args.embedder), used))
                draws += subsample(enrolled, enrol, later, rng, args.draws, smallest)
                enrolled += 1
    prior = learn(draws)
    table = shift_by_size(prior, draws)
    doc = {"source": f"LFW identities A-L with >= min_photos photos, none of the 19 VIPs; whole-face similarity "
                     f"({args.embedder}); "
                     "first half = enrolment (the Enroller's screen), second half = later photos; enrolment "
                     "subsets of every size (draws per size)",
           "embedder": args.embedder, "min_photos": args.min_photos, "draws": args.draws, "seed": args.seed, "prior": prior.to_dict(),
           "shift_by_size": {str(k): {"mean": round(m, 5), "variance": round(v, 6), "people": c}
                             for k, (m, v, c) in table.items()},
           "identities": [person_row(d, prior.robust) for d in draws if d.full]}
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{prior.identities} identities, {len(draws)} draws → {out}\n{prior}")


if __name__ == "__main__":
    main()
