"""Train the artefact detector on self-blended pseudo-fakes of LFW's non-VIP identities (CPU, one thread).

Each batch is half real crops, half self-blends; both halves get the same JPEG / resize / colour augmentation
so that compression alone is not evidence. Loss = BCE(logit) + λ·BCE(boundary map vs 4·M·(1−M)). Every step's
randomness comes from ``(seed, epoch, step)``, and a checkpoint is written after each epoch, so ``resume``
continues exactly. At the end the model is exported (safetensors + ONNX + config.json with the ONNX SHA-256)
and a model card with held-out metrics is written.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from ..artifact.config import ArtifactConfig
from ..bench import metrics
from ..infra.weights import sha256_of
from .artifact_data import FaceCrops, load_or_build, train_val_test
from .card import recipe
from .sbi import degrade, jpeg, nearest_donors, pair_blend, rescale, self_blend


@dataclass(frozen=True)
class TrainConfig:
    data: str  # LFW folder (one sub-folder per identity)
    cache_dir: str
    epochs: int = 6
    steps: int = 300  # steps per epoch
    batch: int = 32  # half real, half self-blended
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup: int = 100
    boundary_weight: float = 5.0
    seed: int = 0
    per_identity: int = 4
    threads: int = 1
    target_fpr: float = 0.05  # threshold: at most this FPR on validation reals, clean, JPEG 60 and 0.5× resize
    p_resize_real: float = 0.4  # probability of the down-up resize augmentation for real crops
    p_resize_fake: float = 0.4  # ... and for self-blends (higher for reals: blur alone is not evidence)
    init: str = ""  # start from the weights in this folder (model.safetensors + config.json)
    p_pair: float = 0.5  # share of pseudo-fakes that are Face X-ray pair blends (another identity), not self-blends


def _to_tensor(images: list[np.ndarray]):
    import torch

    arr = np.stack(images).astype(np.float32) / 255.0
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()


def boundary_at(mask: np.ndarray, size: int) -> np.ndarray:
    """The boundary target at the head's resolution: 4·m·(1−m) of the area-resized soft mask."""
    m = cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA)
    return (4.0 * m * (1.0 - m)).astype(np.float32)


def make_batch(crops: FaceCrops, rng: np.random.Generator, batch: int, boundary_size: int,
               augment: bool = True, p_resize: tuple[float, float] = (0.4, 0.4),
               donors: np.ndarray | None = None, p_pair: float = 0.0,
               ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """(images, labels (B,), boundary targets (B, b, b)): first half real, second half pseudo-fakes.

    ``p_resize``: probability of the down-up resize augmentation for (real, pseudo-fake) crops. A pseudo-fake is
    a Face X-ray pair blend with a donor from ``donors`` (:func:`~.sbi.nearest_donors`) with probability
    ``p_pair``, else a self-blend.
    """
    idx = rng.integers(0, len(crops), batch)
    half = batch // 2
    images, labels, targets = [], np.zeros(batch, np.float32), np.zeros((batch, boundary_size, boundary_size),
                                                                          np.float32)
    for j, i in enumerate(idx):
        if j < half:
            img = crops.images[i]
        else:
            if donors is not None and rng.random() < p_pair:
                d = int(donors[i][int(rng.integers(donors.shape[1]))])
                sb = pair_blend(crops.images[i], crops.landmarks[i], crops.points[i], crops.images[d],
                                crops.landmarks[d], rng)
            else:
                sb = self_blend(crops.images[i], crops.landmarks[i], crops.points[i], rng)
            img, labels[j], targets[j] = sb.image, 1.0, boundary_at(sb.mask, boundary_size)
        if augment:
            if rng.random() < 0.5:
                img, targets[j] = img[:, ::-1], targets[j][:, ::-1]
            img = degrade(img, rng, p_resize=p_resize[0] if j < half else p_resize[1])
        images.append(np.ascontiguousarray(img))
    return images, labels, targets


def optimise(opt, logit, boundary_logits, labels: np.ndarray, targets: np.ndarray, boundary_weight: float
             ) -> tuple[float, float, float]:
    """One optimiser step on BCE(logit) + ``boundary_weight``·BCE(boundary map); returns (loss, its two parts)."""
    import torch

    bce = torch.nn.functional.binary_cross_entropy_with_logits
    loss_cls = bce(logit, torch.from_numpy(np.asarray(labels, np.float32)))
    loss_b = bce(boundary_logits.squeeze(1), torch.from_numpy(np.asarray(targets, np.float32)))
    loss = loss_cls + boundary_weight * loss_b
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item(), loss_cls.item(), loss_b.item()


def auc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """ROC AUC of ``positives`` over ``negatives`` (:func:`vipguard.bench.metrics.auc`; NaN when a side is empty)."""
    if not len(negatives) or not len(positives):
        return float("nan")
    return metrics.auc(np.r_[np.zeros(len(negatives)), np.ones(len(positives))], np.r_[negatives, positives])


def predict(net, images: list[np.ndarray], batch: int = 64) -> np.ndarray:
    """Probabilities from the torch model (eval mode, no grad)."""
    import torch

    net.eval()
    out = []
    with torch.no_grad():
        for k in range(0, len(images), batch):
            logit, _ = net(_to_tensor(images[k:k + batch]))
            out.append(torch.sigmoid(logit).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def held_out_sets(crops: FaceCrops, seed: int) -> dict[str, list[np.ndarray]]:
    """Fixed evaluation sets: clean reals, JPEG-60 reals, 0.5×-resized reals, one self-blend per face and (with
    faces of two or more identities) one Face X-ray pair blend per face, its donor another held-out identity."""
    fakes = [self_blend(crops.images[i], crops.landmarks[i], crops.points[i],
                        np.random.default_rng([seed, 999_999, i])).image for i in range(len(crops))]
    reals = list(crops.images)
    sets = {"real": reals, "real_jpeg60": [jpeg(r, 60) for r in reals],
            "real_resize05": [rescale(r, 0.5) for r in reals], "fake": fakes,
            "fake_jpeg60": [jpeg(f, 60) for f in fakes]}
    if len(set(crops.identities.tolist())) > 1:
        donors = nearest_donors(crops.landmarks, crops.identities, k=1)[:, 0]
        sets["fake_pair"] = [pair_blend(crops.images[i], crops.landmarks[i], crops.points[i], crops.images[d],
                                        crops.landmarks[d], np.random.default_rng([seed, 888_888, i])).image
                             for i, d in enumerate(donors)]
    return sets


def evaluate(net, sets: dict[str, list[np.ndarray]], threshold: float | None = None) -> dict[str, float]:
    probs = {k: predict(net, v) for k, v in sets.items()}
    out = {"auc": auc(probs["real"], probs["fake"]), "auc_jpeg60": auc(probs["real_jpeg60"], probs["fake_jpeg60"])}
    if "fake_pair" in probs:
        out["auc_pair"] = auc(probs["real"], probs["fake_pair"])
    if threshold is not None:
        out.update({f"fpr_{k[5:] or 'clean'}" if k.startswith("real") else f"tpr_{k[5:] or 'clean'}":
                    float((probs[k] >= threshold).mean()) for k in probs})
    return out


def _log(out_dir: Path, record: dict) -> None:
    with (out_dir / "train_log.jsonl").open("a") as fh:
        fh.write(json.dumps(record) + "\n")


def train(config: TrainConfig, out_dir: Path, resume: bool = False, model_config: ArtifactConfig | None = None,
          crops: FaceCrops | None = None, progress: bool = True, export: bool = True,
          on_step: Callable[[int, float], None] | None = None) -> dict:
    """Train, checkpoint each epoch, then export; returns the final metrics (and the per-step losses)."""
    import torch
    from tqdm import tqdm

    from ..artifact.model import ArtifactNet

    torch.set_num_threads(config.threads)
    cv2.setNumThreads(1)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    mcfg = model_config or ArtifactConfig()
    if crops is None:
        crops = load_or_build(Path(config.data), Path(config.cache_dir), mcfg, config.per_identity, progress)
    train_set, val, test = train_val_test(crops)

    torch.manual_seed(config.seed)
    net = ArtifactNet(mcfg)
    decay = [p for n, p in net.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in net.named_parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=config.lr)
    total = config.epochs * config.steps

    def lr_at(step: int) -> float:
        if step < config.warmup:
            return config.lr * (step + 1) / config.warmup
        t = (step - config.warmup) / max(1, total - config.warmup)
        return config.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    ckpt_path = out_dir / "checkpoint.pt"
    start_epoch, history = 0, []
    if resume and ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        # the operating point does not change training: a finished run can be resumed to re-pick its threshold
        same = {k: v for k, v in asdict(config).items() if k != "target_fpr"}
        if {k: v for k, v in ckpt["train_config"].items() if k != "target_fpr"} != same:
            raise ValueError(f"{ckpt_path} was written with a different training config; use a new --out")
        net.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        start_epoch, history = ckpt["epoch"] + 1, ckpt["history"]
    elif config.init:
        from safetensors.torch import load_file

        net.load_state_dict(load_file(str(Path(config.init) / "model.safetensors")))

    donors = nearest_donors(train_set.landmarks, train_set.identities) if config.p_pair > 0 else None
    losses: list[float] = []
    val_sets = held_out_sets(val, config.seed) if len(val) and export else None
    for epoch in range(start_epoch, config.epochs):
        net.train()
        torch.manual_seed(config.seed * 1_000 + epoch)
        t0, running = time.time(), []
        bar = tqdm(range(config.steps), desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress,
                   mininterval=15.0)
        for step in bar:
            global_step = epoch * config.steps + step
            for group in opt.param_groups:
                group["lr"] = lr_at(global_step)
            rng = np.random.default_rng([config.seed, epoch, step])
            images, labels, targets = make_batch(train_set, rng, config.batch, mcfg.boundary_size,
                                                 p_resize=(config.p_resize_real, config.p_resize_fake),
                                                 donors=donors, p_pair=config.p_pair)
            logit, bmap = net(_to_tensor(images))
            loss, loss_cls, loss_b = optimise(opt, logit, bmap, labels, targets, config.boundary_weight)
            losses.append(loss)
            running.append((loss_cls, loss_b))
            if on_step is not None:
                on_step(global_step, float(loss))
            if step % 20 == 0:
                recent = np.mean(running[-50:], axis=0)
                bar.set_postfix(cls=f"{recent[0]:.3f}", bnd=f"{recent[1]:.4f}", lr=f"{lr_at(global_step):.1e}")
        record = {"epoch": epoch + 1, "loss_cls": float(np.mean([r[0] for r in running])),
                  "loss_boundary": float(np.mean([r[1] for r in running])), "seconds": round(time.time() - t0, 1)}
        if val_sets is not None:
            record.update({f"val_{k}": v for k, v in evaluate(net, val_sets).items()})
        history.append(record)
        _log(out_dir, record)
        if progress:
            tqdm.write(json.dumps(record))
        torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch, "history": history,
                    "train_config": asdict(config), "model_config": json.loads(mcfg.to_json())}, ckpt_path)

    result = {"history": history, "losses": losses, "net": net}
    if export:
        result.update(finish(net, mcfg, config, out_dir, val, test, history))
    return result


def finish(net, mcfg: ArtifactConfig, config, out_dir: Path, val: FaceCrops, test: FaceCrops,
           history: list[dict], card: Callable | None = None) -> dict:
    """Pick the operating threshold on validation reals, measure the test split, export and write the card."""
    from dataclasses import replace

    from ..artifact.detector import prepared
    from ..artifact.gate import VALIDATION_CONDITIONS, choose_threshold
    from ..artifact.model import export_onnx, save_pretrained

    net.eval()
    # every condition (clean, JPEG 60, 0.5× resize, blur σ 1) stays at or below the target FPR on validation reals,
    # each crop prepared as the detector prepares it
    scores = {name: predict(net, [prepared(f(r), mcfg) for r in val.images])
              for name, f in VALIDATION_CONDITIONS.items()}
    threshold = choose_threshold(scores, config.target_fpr)
    metrics = evaluate(net, held_out_sets(test, config.seed + 1), threshold) if len(test) else {}
    metrics = {k: round(v, 4) for k, v in metrics.items()}
    onnx_path = out_dir / "model.onnx"
    export_onnx(net, onnx_path)
    digest = sha256_of(onnx_path)
    extra = {"metrics": metrics, "train_config": {k: v for k, v in asdict(config).items()
                                                  if k not in ("data", "cache_dir")},
             "held_out_faces": {"validation": len(val), "test": len(test)}}
    final = replace(mcfg, threshold=round(threshold, 6), onnx_sha256=digest, extra=extra)
    save_pretrained(net, out_dir, final)
    (card or write_card)(out_dir, final, config, metrics, history, len(val), len(test))
    return {"metrics": metrics, "threshold": threshold, "onnx_sha256": digest}


def crop_words(mcfg: ArtifactConfig) -> str:
    """The crop geometry in words, for the model card."""
    if mcfg.crop == "native":
        return (f"the photo's native pixel grid, centred on the face;\nrescaled only when the inter-ocular distance "
                f"is more than ×{mcfg.max_rescale:g} away from {mcfg.iod:g} px")
    return f"aligned on 5 landmarks, margin {mcfg.margin}"


def pair_words(config: TrainConfig) -> str:
    """The Face X-ray pair-blend part of the recipe, for the model card (empty without pair blends)."""
    if config.p_pair <= 0:
        return ""
    return (f"\n- A share {config.p_pair:g} of the fakes are Face X-ray blended images (Li et al. 2020) instead: "
            "the face of another\n  identity with the nearest 5-landmark layout (one of 16), similarity-aligned "
            "(resampled), "
            "colour-transferred\n  in LAB by a random amount (60–100 %) and frequency-jittered, blended inside the "
            "same kind of deformed hull.")


def write_card(out_dir: Path, mcfg: ArtifactConfig, config: TrainConfig, metrics: dict, history: list[dict],
               n_val: int, n_test: int) -> None:
    from ..artifact.model import ArtifactNet, count_parameters

    cmd = recipe(f"vipguard artifact train --crop {mcfg.crop} --size {mcfg.size} --data '<LFW folder>' "
                 f"--out '<output folder>' --epochs {config.epochs} --steps {config.steps} --seed {config.seed}",
                 config, TrainConfig(data="", cache_dir=""),
                 {"batch": "--batch", "lr": "--lr", "warmup": "--warmup", "p_resize_real": "--resize-real",
                  "p_resize_fake": "--resize-fake", "init": "--init", "threads": "--threads", "p_pair": "--pair",
                  "target_fpr": "--target-fpr"})
    rows = "\n".join(f"| {h['epoch']} | {h['loss_cls']:.4f} | {h['loss_boundary']:.4f} | "
                     f"{h.get('val_auc', float('nan')):.4f} | {h.get('val_auc_jpeg60', float('nan')):.4f} | "
                     f"{h['seconds']:.0f} |" for h in history)
    m = metrics
    text = f"""# vipguard artefact detector (self-blended and Face X-ray blended pseudo-fakes, Face X-ray boundary)

A small CNN ({count_parameters(ArtifactNet(mcfg)):,} parameters, inverted-residual blocks) that scores a face
crop ({mcfg.size}×{mcfg.size}: {crop_words(mcfg)}) for blending artefacts: output 1 is the probability
that the face was blended in (a face swap / reenactment composite), output 2 a
{mcfg.boundary_size}×{mcfg.boundary_size} map of where the blending boundary lies (Face X-ray target 4·M·(1−M)).

## Data recipe
- Photos: LFW, identities **other than** the 19 protected VIPs; at most {config.per_identity} photos per identity.
  Faces found by the project's YuNet detector, cropped as above (5 landmarks), 478-point MediaPipe mesh for the masks.
- Identity-level split (SHA-256 of the name): 10 % of identities held out, halved into validation
  ({n_val} faces, used only for the operating threshold and per-epoch monitoring) and test ({n_test} faces).
- Fakes: self-blended images made on the fly (Shiohara & Yamasaki 2022): the face is blended with a copy of
  itself after colour jitter of random strength (RGB / hue / saturation / brightness / contrast, from nearly
  seamless to strong), frequency jitter (down-up scaling, blur, sharpening, JPEG), a sub-pixel resampling through a
  smooth random displacement field (p 0.5) and a small shift/scale, inside a landmark hull (face oval, inner face,
  lower face or oval minus a random arc; 5-point ellipse without a mesh), elastically deformed, eroded/dilated and
  blurred twice; blend ratio from {{0.25, 0.5, 0.75, 1, 1, 1}}.{pair_words(config)}
- Every batch: half real, half pseudo-fakes; both halves get horizontal flips, global colour jitter (p 0.3),
  down-up resize ×0.4–0.95 (p {config.p_resize_real} for reals, {config.p_resize_fake} for pseudo-fakes) and JPEG
  quality 40–95 (p 0.5).
- Loss: BCE(logit) + {config.boundary_weight}·BCE(boundary map). AdamW lr {config.lr}, weight decay
  {config.weight_decay}, {config.warmup} warm-up steps then cosine; batch {config.batch};
  {config.epochs} epochs × {config.steps} steps; seed {config.seed}; {config.threads} CPU thread(s).

## Exact command
```
{cmd}
```
(then `model.safetensors`, `model.onnx`, `config.json` and this card are copied into
`src/vipguard/artifact/weights/`).

## Held-out test metrics ({n_test} faces of identities never seen in training)
| metric | value |
|---|---|
| AUC real vs self-blend (clean) | {m.get('auc', float('nan')):.4f} |
| AUC real vs self-blend (both JPEG q60) | {m.get('auc_jpeg60', float('nan')):.4f} |
| threshold (≤ {100 * config.target_fpr:g} % FPR on validation reals: clean, JPEG 60, 0.5× resize) | \
{mcfg.threshold:.4f} |
| AUC real vs Face X-ray pair blend (another identity) | {m.get('auc_pair', float('nan')):.4f} |
| TPR self-blend at threshold | {m.get('tpr_clean', float('nan')):.4f} |
| TPR pair blend at threshold | {m.get('tpr_pair', float('nan')):.4f} |
| TPR self-blend after JPEG q60 | {m.get('tpr_jpeg60', float('nan')):.4f} |
| FPR real (clean) | {m.get('fpr_clean', float('nan')):.4f} |
| FPR real after JPEG q60 | {m.get('fpr_jpeg60', float('nan')):.4f} |
| FPR real after 0.5× resize | {m.get('fpr_resize05', float('nan')):.4f} |

## Training log
| epoch | BCE logit | BCE boundary | val AUC | val AUC (JPEG 60) | seconds |
|---|---|---|---|---|---|
{rows}

## Limits
Trained only on pseudo-fakes of LFW (250×250, low resolution, JPEG) faces, never on the project's forgery
methods nor on any VIP: it detects blending boundaries and
colour/frequency mismatches, not fully synthesised faces (GAN/diffusion), and it has not been validated on real
deepfake datasets. Scores on very small or heavily compressed faces are less reliable. The ONNX SHA-256 is in
`config.json` and is verified when the detector loads.
"""
    (out_dir / "MODEL_CARD.md").write_text(text)
