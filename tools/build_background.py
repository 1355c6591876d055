"""Build the bundled background set (src/vipguard/data/) from LFW "other" identities.

Uses people whose names start with A–L and who are none of the 19 VIPs of ../shared/data (tests and
benchmarks draw their "other people" from M–Z, so the bundled set never overlaps them).

    .venv/bin/python tools/build_background.py --lfw ../shared/data/lfw --faces 300 --targets 40
"""

from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

from tqdm import tqdm

from vipguard.artifact.detector import ArtifactDetector
from vipguard.faces import FaceAnalyzer
from vipguard.faces.embed import DEFAULT_EMBEDDER
from vipguard.infra.io import load_image
from vipguard.lite.background import save_descriptors, save_targets
from vipguard.lite.evidence import describe_with

VIPS = {
    "Tony_Blair", "Gerhard_Schroeder", "George_W_Bush", "Donald_Rumsfeld", "Colin_Powell", "Ariel_Sharon",
    "Hugo_Chavez", "Junichiro_Koizumi", "Jean_Chretien", "John_Ashcroft", "Serena_Williams", "Jacques_Chirac",
    "Vladimir_Putin", "Luiz_Inacio_Lula_da_Silva", "Gloria_Macapagal_Arroyo", "Jennifer_Capriati",
    "Arnold_Schwarzenegger", "Lleyton_Hewitt", "Laura_Bush",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lfw", type=Path, default=Path("../shared/data/lfw"))
    parser.add_argument("--out", type=Path, default=Path("src/vipguard/data"))
    parser.add_argument("--faces", type=int, default=300)
    parser.add_argument("--targets", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--artifact-weights", type=Path, default=None,
                        help="artefact-detector folder for the 'artifact' evidence (default: the packaged one)")
    args = parser.parse_args()
    people = sorted(p for p in args.lfw.iterdir() if p.is_dir() and p.name not in VIPS and p.name[0] <= "L")
    rng = random.Random(args.seed)
    photos = [rng.choice(sorted(person.glob("*.jpg"))) for person in rng.sample(people, args.faces + args.targets)]
    descriptors, identities, targets, target_faces = [], [], [], []
    artifact = ArtifactDetector(args.artifact_weights)
    with FaceAnalyzer() as analyzer:
        embedder = analyzer.embedder(DEFAULT_EMBEDDER)
        for path in tqdm(photos, desc="background"):
            image = load_image(path)
            faces = analyzer.analyze(image, primary_only=True)
            if not faces or faces[0].mesh is None:
                continue
            if len(targets) < args.targets and not faces[0].quality.problems():
                targets.append(path)
                target_faces.append(faces[0])
            descriptors.append(describe_with(image, faces[0], embedder, artifact)[0])
            identities.append(path.parent.name)
    args.out.mkdir(parents=True, exist_ok=True)
    save_descriptors(args.out / "background.npz", descriptors, identities)
    target_dir = args.out / "targets"
    shutil.rmtree(target_dir, ignore_errors=True)
    target_dir.mkdir()
    for path in targets:
        shutil.copy(path, target_dir / path.name)
    save_targets(args.out / "targets.npz", [p.name for p in targets], target_faces)
    print(f"{len(descriptors)} background descriptors, {len(targets)} target photos in {args.out}")


if __name__ == "__main__":
    main()
