"""The main job on bundled sample photos: enrol a VIP, forge images of the VIP, check genuine / forged / others.

    python examples/demo.py --out out/demo     (what `make demo` runs)
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import cv2
import numpy as np

from vipguard.cli import main as cli

HERE = Path(__file__).resolve().parent / "data"


def forge_examples(out: Path, seed: int = 7) -> list[Path]:
    """A swap, a partial swap (eyes), a morph and a self-swap of the VIP, from photos not used at enrolment."""
    from vipguard import forge
    from vipguard.faces import FaceAnalyzer
    from vipguard.io import load_image

    rng = np.random.default_rng(seed)
    vip = sorted((HERE / "check").glob("Tony_Blair_*.jpg"))
    others = sorted(p for p in (HERE / "check").glob("*.jpg") if not p.name.startswith("Tony_Blair"))
    plan = [("swap", vip[0], others[0]), ("eyes", vip[1], others[1]), ("morph", vip[2], others[2]),
            ("selfswap", vip[3], vip[0])]
    written = []
    with FaceAnalyzer() as analyzer:
        for method, src, dst in plan:
            inputs = []
            for path in (src, dst):
                image = load_image(path)
                inputs.append(forge.ForgeInput(image, analyzer.analyze(image, primary_only=True)[0], str(path)))
            result = forge.FORGERS.create(method).forge(inputs[0], inputs[1], rng)
            target = out / f"fake_{method}_{src.stem}_on_{dst.stem}.png"
            cv2.imwrite(str(target), cv2.cvtColor(result.image, cv2.COLOR_RGB2BGR))
            written.append(target)
    return written


def run(out: Path) -> int:
    if out.exists():
        shutil.rmtree(out)
    (out / "inputs").mkdir(parents=True)
    db = out / "registry.db"
    print("== 1. enrol Tony_Blair from 20 bundled photos")
    code = cli(["enroll", "Tony_Blair", str(HERE / "Tony_Blair" / "enrol"), "--db", str(db)])
    if code:
        return code
    print("== 2. forge images of the VIP (swap, eyes swap, morph, self-swap)")
    for path in sorted((HERE / "check").glob("*.jpg")):
        shutil.copy(path, out / "inputs" / path.name)
    for path in forge_examples(out / "inputs"):
        print(f"   {path.name}")
    print("== 3. check genuine photos, forgeries and other people (adaptive VIP selection)")
    code = cli(["check", str(out / "inputs"), "--db", str(db), "--report", str(out / "report.html")])
    print(f"report: {out / 'report.html'}")
    return code


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("out/demo"))
    raise SystemExit(run(parser.parse_args().out))
