"""Face-pipeline benchmark: per-stage latency on one core, the dlib/face_recognition peer, and LFW verification.

    python benchmarks/faces.py                                  # defaults: ~4 min on one core
    python benchmarks/faces.py --pairs 6000 --max-photos 3000   # the full verification run (~10 min)
    python benchmarks/faces.py --skip-verify                    # latency tables only

Stages are timed on ``--n-lfw`` LFW photos (250×250) and ``--n-hires`` photos from ``<data>/hires``, on one core
(OMP/OpenBLAS/OpenCV/TFLite threads pinned to 1). The peer is face_recognition.face_encodings' pipeline called on
dlib directly (HOG detector, upsample 1 → 5-point shape predictor → ResNet descriptor, 1 jitter).
Verification picks ``--pairs`` LFW pairs (half same identity, half different) from at most ``--max-photos``
photos with a fixed seed, embeds every photo once per embedder, and reports ROC AUC and TAR at FAR = 1e-3.
"""

from __future__ import annotations

from one_core import DEFAULT_DATA  # first: pins every thread pool to one core

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

console = Console(width=130)


def lfw_people(lfw: Path) -> dict[str, list[Path]]:
    people = {}
    for d in sorted(p for p in lfw.iterdir() if p.is_dir()):
        photos = sorted(d.glob("*.jpg"))
        if photos:
            people[d.name] = photos
    return people


def pick_lfw(people: dict[str, list[Path]], n: int, seed: int) -> list[Path]:
    rng = np.random.default_rng(seed)
    allp = [p for ps in people.values() for p in ps]
    idx = rng.choice(len(allp), size=min(n, len(allp)), replace=False)
    return [allp[i] for i in sorted(idx)]


def ms(samples: list[float]) -> str:
    if not samples:
        return "–"
    return f"{1000 * statistics.fmean(samples):.1f} / {1000 * statistics.median(samples):.1f}"


class Stages:
    def __init__(self) -> None:
        import dlib

        from vipguard.faces import create_detector, create_embedder
        from vipguard.faces.mesh import FaceMesher
        from vipguard.infra.weights import ModelStore

        store = ModelStore()
        self.yunet = create_detector("yunet")
        self.retina = create_detector("retinaface")
        self.mfn = create_embedder("mobilefacenet", num_threads=1)
        self.dlib_emb = create_embedder("dlib")
        self.mesher = FaceMesher()
        # The peer: face_recognition.face_encodings(img) == these three dlib calls.
        self.hog = dlib.get_frontal_face_detector()
        self.sp5 = dlib.shape_predictor(str(store.path("dlib_shape5")))
        self.net = dlib.face_recognition_model_v1(str(store.path("dlib_resnet")))

    def primary(self, img: np.ndarray):
        from vipguard.faces.quality import primary_index

        dets = self.yunet.detect(img)
        return dets[primary_index(dets, img.shape)] if dets else None

    def peer(self, img: np.ndarray) -> list[np.ndarray]:
        rects = self.hog(img, 1)
        return [np.asarray(self.net.compute_face_descriptor(img, self.sp5(img, r), 1)) for r in rects]

    def close(self) -> None:
        self.mesher.close()


STAGE_NAMES = ["detect yunet", "detect retinaface", "align (norm_crop)", "embed mobilefacenet", "embed dlib",
               "mesh+pose", "ours: yunet+align+mfn", "peer: face_recognition (dlib HOG+5pt+ResNet)"]


def time_stages(st: Stages, images: list[np.ndarray]) -> tuple[dict[str, list[float]], int, int]:
    from vipguard.faces import norm_crop
    from vipguard.faces.quality import primary_index

    t: dict[str, list[float]] = {k: [] for k in STAGE_NAMES}
    no_face = peer_miss = 0
    if images:  # warm-up: first calls allocate
        st.yunet.detect(images[0])
        st.retina.detect(images[0])
        st.peer(images[0])
    for img in images:
        t0 = time.perf_counter()
        dets = st.yunet.detect(img)
        t1 = time.perf_counter()
        t["detect yunet"].append(t1 - t0)
        t0 = time.perf_counter()
        st.retina.detect(img)
        t["detect retinaface"].append(time.perf_counter() - t0)
        if not dets:
            no_face += 1
        else:
            det = dets[primary_index(dets, img.shape)]
            t0 = time.perf_counter()
            crop = norm_crop(img, det.landmarks)
            t2 = time.perf_counter()
            t["align (norm_crop)"].append(t2 - t0)
            t0 = time.perf_counter()
            st.mfn.embed_aligned(crop)
            t3 = time.perf_counter()
            t["embed mobilefacenet"].append(t3 - t0)
            t["ours: yunet+align+mfn"].append(t["detect yunet"][-1] + t["align (norm_crop)"][-1] + (t3 - t0))
            t0 = time.perf_counter()
            st.dlib_emb.embed(img, [det])
            t["embed dlib"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            st.mesher.mesh(img, det)
            t["mesh+pose"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        if not st.peer(img):
            peer_miss += 1
        t["peer: face_recognition (dlib HOG+5pt+ResNet)"].append(time.perf_counter() - t0)
    return t, no_face, peer_miss


def latency(st: Stages, data: Path, people: dict[str, list[Path]], args: argparse.Namespace) -> None:
    from vipguard.infra.io import load_image

    sets = {f"LFW 250×250 (n={args.n_lfw})": [load_image(p) for p in pick_lfw(people, args.n_lfw, args.seed)]}
    hires = sorted((data / "hires").glob("*.jpg"))[: args.n_hires]
    if hires:
        imgs = [load_image(p) for p in hires]
        mp = statistics.median(i.shape[0] * i.shape[1] / 1e6 for i in imgs)
        sets[f"hires (n={len(imgs)}, median {mp:.2f} MP)"] = imgs
    results = {name: time_stages(st, imgs) for name, imgs in sets.items()}
    table = Table(title="Per-image latency, ms (mean / median), 1 thread — shared 2-core machine, timings are noisy")
    table.add_column("stage")
    for name in sets:
        table.add_column(name, justify="right")
    for stage in STAGE_NAMES:
        table.add_row(stage, *(ms(results[n][0][stage]) for n in sets))
    ratio = []
    for n in sets:
        ours = statistics.fmean(results[n][0]["ours: yunet+align+mfn"])
        peer = statistics.fmean(results[n][0]["peer: face_recognition (dlib HOG+5pt+ResNet)"])
        ratio.append(f"{peer / ours:.1f}×")
    table.add_row("peer ÷ ours (mean)", *ratio, style="bold")
    table.add_row("images where yunet found no face", *(str(results[n][1]) for n in sets))
    table.add_row("images where dlib HOG found no face", *(str(results[n][2]) for n in sets))
    console.print(table)


def choose_pairs(people: dict[str, list[Path]], n_pairs: int, max_photos: int, seed: int
                 ) -> tuple[list[Path], list[tuple[int, int, int]]]:
    """A photo pool (people with ≥ 2 photos, shuffled by seed, ≤ 12 photos each; singletons fill any gap) and
    labelled pairs: as many same-identity pairs as the pool allows up to half, the rest different-identity."""
    rng = np.random.default_rng(seed)
    names = list(people)
    order = rng.permutation(len(names))
    multi = [names[i] for i in order if len(people[names[i]]) >= 2]
    single = [names[i] for i in order if len(people[names[i]]) < 2]
    pool: list[Path] = []
    owner: list[int] = []
    k = 0
    for k, name in enumerate(multi):
        if len(pool) >= max_photos:
            break
        ps = people[name]
        take = [ps[i] for i in sorted(rng.choice(len(ps), size=min(12, len(ps), max_photos - len(pool)),
                                                  replace=False))]
        pool += take
        owner += [k] * len(take)
    rest = multi[k:] + single
    rest = [rest[i] for i in rng.permutation(len(rest))]
    for j, name in enumerate(rest):
        if len(pool) >= max_photos:
            break
        pool.append(people[name][0])
        owner.append(10_000_000 + j)
    owner_arr = np.asarray(owner)
    groups: dict[int, list[int]] = {}
    for i, o in enumerate(owner):
        groups.setdefault(o, []).append(i)
    same_all = [(a, b) for g in groups.values() if len(g) >= 2 for ai, a in enumerate(g) for b in g[ai + 1:]]
    n_same = min(n_pairs // 2, len(same_all))
    same = [same_all[i] for i in rng.choice(len(same_all), size=n_same, replace=False)]
    diff: set[tuple[int, int]] = set()
    while len(diff) < n_pairs - n_same:
        a, b = (int(x) for x in rng.integers(0, len(pool), size=2))
        if owner_arr[a] != owner_arr[b]:
            diff.add((min(a, b), max(a, b)))
    pairs = [(a, b, 1) for a, b in same] + [(a, b, 0) for a, b in sorted(diff)]
    return pool, pairs


def verify(st: Stages, people: dict[str, list[Path]], args: argparse.Namespace) -> None:
    from sklearn.metrics import roc_auc_score, roc_curve

    from vipguard.infra.io import load_image

    pool, pairs = choose_pairs(people, args.pairs, args.max_photos, args.seed)
    used = sorted({i for a, b, _ in pairs for i in (a, b)})
    emb: dict[str, dict[int, np.ndarray]] = {"mobilefacenet": {}, "dlib": {}}
    t0 = time.perf_counter()
    secs = {"mobilefacenet": 0.0, "dlib": 0.0}
    for k, i in enumerate(used):
        img = load_image(pool[i])
        det = st.primary(img)
        if det is None:
            continue
        s = time.perf_counter()
        emb["mobilefacenet"][i] = st.mfn.embed(img, [det])[0]
        secs["mobilefacenet"] += time.perf_counter() - s
        s = time.perf_counter()
        emb["dlib"][i] = st.dlib_emb.embed(img, [det])[0]
        secs["dlib"] += time.perf_counter() - s
        if (k + 1) % 500 == 0:
            console.print(f"  embedded {k + 1}/{len(used)} photos ({time.perf_counter() - t0:.0f} s)")
    ok = [(a, b, y) for a, b, y in pairs if a in emb["dlib"] and b in emb["dlib"]]
    y = np.array([p[2] for p in ok])
    n_same = int(y.sum())
    table = Table(title=f"LFW verification: {len(ok)} pairs ({n_same} same / {len(ok) - n_same} different) over "
                        f"{len(used)} photos, seed {args.seed}; yunet primary face, "
                        f"{len(used) - len(emb['dlib'])} photos without a face dropped "
                        f"({len(pairs) - len(ok)} pairs)")
    for c in ["embedder", "ROC AUC", "TAR @ FAR=1e-3", "threshold @ FAR=1e-3", "embed ms/photo (1 core)"]:
        table.add_column(c, justify="right" if c != "embedder" else "left")
    for name, e in emb.items():
        s = np.array([float(np.dot(e[a], e[b])) for a, b, _ in ok])
        fpr, tpr, thr = roc_curve(y, s)
        k = int(np.searchsorted(fpr, 1e-3, side="right")) - 1  # last operating point with FAR ≤ 1e-3
        table.add_row(name, f"{roc_auc_score(y, s):.4f}", f"{tpr[k]:.3f}", f"{thr[k]:.3f}",
                      f"{1000 * secs[name] / max(1, len(e)):.1f}")
    console.print(table)
    console.print(f"  (embedding took {time.perf_counter() - t0:.0f} s; a FAR of 1e-3 rests on "
                  f"{len(ok) - n_same} impostor pairs, i.e. ~{(len(ok) - n_same) * 1e-3:.0f} false accepts)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding lfw/ and hires/")
    ap.add_argument("--n-lfw", type=int, default=100)
    ap.add_argument("--n-hires", type=int, default=10)
    ap.add_argument("--pairs", type=int, default=2000)
    ap.add_argument("--max-photos", type=int, default=800)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--skip-verify", action="store_true")
    args = ap.parse_args(argv)
    console.print("[bold]vipguard face benchmark[/] — one thread per process; note: timings were taken on a "
                  "shared machine (2 cores shared with other jobs), so expect noise.")
    people = lfw_people(args.data / "lfw")
    st = Stages()
    try:
        if not args.skip_latency:
            latency(st, args.data, people, args)
        if not args.skip_verify:
            verify(st, people, args)
    finally:
        st.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
