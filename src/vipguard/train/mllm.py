"""Stages 1–3 of VIPGuard's training, with plain PyTorch + peft (no ms-swift).

- Stage 1 (D_FA): LoRA on the language model's q,k,v,o,gate,up,down projections.
- Stage 2 (D_ID general): LoRA (continued from Stage 1) + FaceChecker; the reference image's vision tokens are
  the FaceChecker's queries and fill the first ``<|face_pad|>`` block.
- Stage 3 (D_ID VIP): only the VIP tokens train (AdamW lr 1.0, wd 1e-3, cosine to 1e-4·lr, batch 1,
  gradient accumulation 8, 1 epoch); the output is ``<output-dir>/Stage3/<name>/vip_token.pt`` (the authors'
  format) plus ``vip_tokens.safetensors`` and ``vip_config.json``.

Training JSON: ms-swift records, vipguard's or the authors' own (:mod:`vipguard.train.mllm_records`); records whose
images are missing are skipped and listed (:attr:`TrainResult.missing`, ``train_log.jsonl``), not fatal.

Loss: autoregressive cross-entropy on the answer tokens only. Seeded, reproducible; device is an argument
(bf16 weights on CUDA). An existing checkpoint is an error unless ``overwrite`` or ``resume``.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..mllm.model import MLLMConfig, VIPGuardMLLM, is_checkpoint, vip_token_init
from ..mllm.vip import AUTHORS_VIP_FILE, VIP_NAME, write_vip_tokens
from .mllm_records import MissingImage, TrainRecord, read_records

STAGE_DEFAULTS = {  # the paper's settings
    1: {"lr": 3e-5, "weight_decay": 0.0, "epoch": 2, "gradient_accumulation_steps": 8},
    2: {"lr": 3e-5, "weight_decay": 0.0, "epoch": 1, "gradient_accumulation_steps": 8},
    3: {"lr": 1.0, "weight_decay": 1e-3, "epoch": 1, "gradient_accumulation_steps": 8},
}
STATE_FILE = "train_state.pt"
LOG_FILE = "train_log.jsonl"


class CheckpointExists(FileExistsError):
    pass


@dataclass
class TrainConfig:
    stage: int
    train_json: str
    name: str = "Amair"
    image_root: str | None = None  # where relative image paths in the JSON start (default: the JSON's folder)
    pretrain_path: str | None = None  # previous stage's directory, or a plain Qwen2.5-VL directory
    model_dir: str | None = None  # base Qwen2.5-VL directory, when the checkpoint's recorded one moved
    output_dir: str = "checkpoints"
    device: str = "cpu"
    epoch: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    batch_size: int = 1
    gradient_accumulation_steps: int | None = None
    min_lr_ratio: float = 1e-4
    token_num: int = 32
    lora_r: int = 64
    lora_alpha: int = 128
    max_steps: int | None = None  # optimizer steps (for demos / smoke tests)
    seed: int = 0
    overwrite: bool = False
    resume: bool = False
    progress: bool = True

    def resolved(self) -> TrainConfig:
        if self.stage not in STAGE_DEFAULTS:
            raise ValueError(f"stage must be 1, 2 or 3, got {self.stage}")
        out = TrainConfig(**asdict(self))
        for key, value in STAGE_DEFAULTS[self.stage].items():
            if getattr(out, key) is None:
                setattr(out, key, value)
        return out

    @property
    def out_dir(self) -> Path:
        return Path(self.output_dir) / f"Stage{self.stage}" / self.name


@dataclass
class TrainResult:
    out_dir: Path
    losses: list[float] = field(default_factory=list)  # one per micro-batch
    steps: int = 0  # optimizer steps taken in this run
    trainable: list[str] = field(default_factory=list)
    missing: tuple[MissingImage, ...] = ()  # images the JSON names that do not exist (their records skipped)


def _done(out: Path, stage: int) -> bool:
    return (out / AUTHORS_VIP_FILE).is_file() if stage == 3 else is_checkpoint(out)


def _load_model(cfg: TrainConfig, resume_from: Path | None) -> VIPGuardMLLM:
    if cfg.stage == 3:
        if cfg.pretrain_path is None:
            raise ValueError("stage 3 needs --pretrain-path (the Stage-2 checkpoint)")
        model = VIPGuardMLLM.from_pretrained(cfg.pretrain_path, cfg.device, model_dir=cfg.model_dir)
        if model.config.token_num != cfg.token_num:
            raise ValueError(f"--token-num {cfg.token_num} differs from the checkpoint's {model.config.token_num}")
        if resume_from is not None:
            model.load_vip_tokens(resume_from / VIP_NAME)
        else:
            with torch.no_grad():
                model.vip_tokens.copy_(vip_token_init(cfg.token_num, model.vip_tokens.shape[1], cfg.seed))
        return model
    source = resume_from or (Path(cfg.pretrain_path) if cfg.pretrain_path else (Path(cfg.model_dir)
                                                                                  if cfg.model_dir else None))
    if source is None:
        raise ValueError("give --pretrain-path (previous stage or a Qwen2.5-VL directory) or --model-dir")
    if is_checkpoint(source):
        model = VIPGuardMLLM.from_pretrained(source, cfg.device, model_dir=cfg.model_dir, trainable_lora=True)
    else:
        config = MLLMConfig(token_num=cfg.token_num, lora_r=cfg.lora_r, lora_alpha=cfg.lora_alpha, seed=cfg.seed)
        model = VIPGuardMLLM.fresh(source, config, cfg.device)
    model.add_lora()
    return model


def _select_trainable(model: VIPGuardMLLM, stage: int) -> list[str]:
    for name, p in model.named_parameters():
        if stage == 3:
            train = name == "vip_tokens"
        elif stage == 2:
            train = "lora_" in name or name.startswith("checker.")
        else:
            train = "lora_" in name
        p.requires_grad_(train)
    return [n for n, p in model.named_parameters() if p.requires_grad]


def _usable(records: tuple[TrainRecord, ...], stage: int, source: str) -> list[TrainRecord]:
    if not records:
        raise ValueError(f"{source}: no usable records")
    if stage == 2:
        lacking = [r.index for r in records if r.reference is None]
        if lacking:
            raise ValueError(f"{source}: stage 2 needs a reference image per record (images: [input, reference]); "
                             f"records {lacking[:5]} have none — build pairs with `vipguard mllm data id`")
    return list(records)


def train(cfg: TrainConfig) -> TrainResult:
    """Run one stage; returns the output directory and the per-micro-batch losses."""
    from tqdm.auto import tqdm

    from ..infra.io import load_image

    cfg = cfg.resolved()
    out = cfg.out_dir
    resume_from = None
    if _done(out, cfg.stage) or (out / STATE_FILE).is_file():
        if cfg.resume:
            resume_from = out
        elif cfg.overwrite:
            shutil.rmtree(out)
        else:
            raise CheckpointExists(f"{out} already holds a Stage-{cfg.stage} checkpoint; pass --overwrite to "
                                   f"replace it or --resume to continue it")
    parsed = read_records(cfg.train_json, cfg.image_root)
    records = _usable(parsed.records, cfg.stage, parsed.source)

    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    model = _load_model(cfg, resume_from)
    trainable = _select_trainable(model, cfg.stage)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise RuntimeError(f"stage {cfg.stage}: nothing to train")
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    micro_per_epoch = math.ceil(len(records) / cfg.batch_size)
    total = math.ceil(micro_per_epoch * cfg.epoch / cfg.gradient_accumulation_steps)
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    total = max(total, 1)
    floor = cfg.min_lr_ratio

    def cosine(step: int) -> float:
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine)
    step = 0
    if resume_from is not None and (resume_from / STATE_FILE).is_file():
        state = torch.load(str(resume_from / STATE_FILE), map_location="cpu", weights_only=True)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step = int(state["step"])
    # Stage 3 trains an input of a frozen model: eval mode keeps it deterministic (no dropout).
    model.train(cfg.stage != 3)
    out.mkdir(parents=True, exist_ok=True)
    result = TrainResult(out_dir=out, trainable=trainable, missing=parsed.missing)
    images: dict[Path, np.ndarray] = {}
    gen = torch.Generator().manual_seed(cfg.seed)
    orders = [torch.randperm(len(records), generator=gen).tolist() for _ in range(cfg.epoch)]
    micro = [order[i:i + cfg.batch_size] for order in orders for i in range(0, len(order), cfg.batch_size)]
    skip = step * cfg.gradient_accumulation_steps
    bar = tqdm(total=total, initial=step, desc=f"stage {cfg.stage}", disable=not cfg.progress, unit="step")
    log = (out / LOG_FILE).open("a")
    for m in parsed.missing:
        log.write(json.dumps({"skipped_record": m.index, "missing": str(m.path), "role": m.role}) + "\n")
    optimizer.zero_grad(set_to_none=True)
    accumulated = 0
    try:
        for m_index, chunk in enumerate(micro):
            if m_index < skip:
                continue
            if step >= total:
                break
            items = []
            for r in (records[i] for i in chunk):
                for p in (r.image, r.reference):
                    if p is not None and p not in images:
                        images[p] = load_image(p)
                reference = images[r.reference] if cfg.stage == 2 else None
                items.append(model.processor.encode(r.prompt, images[r.image], r.answer, reference))
            loss = model.loss(model.processor.collate(items, padding_side="right"))
            (loss / cfg.gradient_accumulation_steps).backward()
            result.losses.append(float(loss.detach()))
            accumulated += 1
            if accumulated == cfg.gradient_accumulation_steps or m_index == len(micro) - 1:
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                accumulated = 0
                step += 1
                result.steps += 1
                bar.update(1)
                bar.set_postfix(loss=f"{result.losses[-1]:.4f}")
                log.write(json.dumps({"step": step, "loss": result.losses[-1],
                                      "lr": scheduler.get_last_lr()[0]}) + "\n")
    finally:
        bar.close()
        log.close()
    _save(model, cfg, out, optimizer, scheduler, step)
    return result


def _save(model: VIPGuardMLLM, cfg: TrainConfig, out: Path, optimizer, scheduler, step: int) -> None:
    if cfg.stage == 3:  # save only what trained: the VIP tokens (both formats) and where the model is
        write_vip_tokens(model.vip_tokens, out, {"name": cfg.name, "pretrain_path": str(cfg.pretrain_path),
                                                 "seed": cfg.seed})
    else:
        model.config.stages = [*model.config.stages, f"stage{cfg.stage}"]
        model.save_pretrained(out)
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "step": step},
               str(out / STATE_FILE))
    (out / "train_config.json").write_text(json.dumps(asdict(cfg), indent=2))


__all__ = ["CheckpointExists", "STAGE_DEFAULTS", "TrainConfig", "TrainResult", "train"]
