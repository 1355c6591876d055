"""Qwen2.5-VL + LoRA + FaceChecker + VIP tokens, without forking the upstream modeling file.

Injection, as in the authors' ``modeling_qwen2_5_vl.py``: the vision tower's merged features of the input image
(``image_embeds``) are ``masked_scatter``-ed into the ``<|image_pad|>`` positions; the FaceChecker attends from the
queries (the VIP tokens in Stage 3, the reference image's vision tokens in Stage 2) to those same image features
(K = V = ``image_embeds``, paper Eq. 4/6); ``[queries | FaceChecker output]`` fill the two ``<|face_pad|>`` blocks
in that order. In a batch each sample's FaceChecker sees only its own image's tokens (padding + key mask).
M-RoPE ``position_ids`` (3×B×L) are computed by the model's own ``get_rope_index`` on the *original*
``input_ids`` and passed explicitly.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
from torch import nn

from .checker import CheckerOutput, FaceChecker
from .vip import (AUTHORS_VIP_FILE, FORMAT, VIP_NAME, CheckpointFormatError, check_vip_tokens, model_width,
                  read_vip_tokens)

CONFIG_NAME = "vipguard_mllm.json"
CHECKER_NAME = "face_checker.safetensors"
LORA_DIR = "lora"
#: LoRA targets: the language model's attention and MLP projections only (the vision tower also has
#: ``gate_proj``/``up_proj``/``down_proj``, hence a regex anchored on ``language_model``).
LORA_TARGETS = r".*language_model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"


class ModelDirError(FileNotFoundError):
    """A model / checkpoint directory is missing or incomplete."""


@dataclass
class MLLMConfig:
    """Everything needed to rebuild a VIPGuard MLLM besides the weights; saved as JSON beside them.

    The FaceChecker's width is not configured: it is the base model's vision output size (= text hidden size).
    """

    model_dir: str = ""  # base Qwen2.5-VL directory (local)
    token_num: int = 32  # VIP tokens = tokens per <|face_pad|> block in Stage 3
    checker_heads: int = 8
    checker_depth: int = 1
    checker_dropout: float = 0.1
    lora_r: int = 64
    lora_alpha: int = 128
    lora_dropout: float = 0.05
    lora_targets: str = LORA_TARGETS
    max_pixels: int = 448 * 448
    seed: int = 0
    stages: list[str] = field(default_factory=list)  # stages this checkpoint went through
    format: int = FORMAT  # on-disk format (vipguard.mllm.vip.FORMAT)

    def save(self, directory: str | Path) -> None:
        Path(directory, CONFIG_NAME).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, directory: str | Path) -> MLLMConfig:
        """The config; a format-1 Stage-1 checkpoint loads (see :func:`stored_format`), any other older
        checkpoint is a :class:`CheckpointFormatError` naming the stage to re-run."""
        data = json.loads(Path(directory, CONFIG_NAME).read_text())
        old = int(data.get("format", 1))
        if old < FORMAT:
            _require_stage1_only(Path(directory), data, old)
        known = {f.name for f in fields(cls)} - {"format"}
        return cls(**{k: v for k, v in data.items() if k in known})


def stored_format(directory: str | Path) -> int:
    """The format a checkpoint was written in (1 before ``format`` was recorded)."""
    return int(json.loads(Path(directory, CONFIG_NAME).read_text()).get("format", 1))


def _require_stage1_only(directory: Path, data: dict, old: int) -> None:
    """An older Stage-1 checkpoint stays usable (its LoRA is what Stage 1 trains; its FaceChecker never trained
    and is replaced); a Stage-2 one holds a FaceChecker of the old layout: re-run Stage 2."""
    stages = list(data.get("stages", []))
    if stages == ["stage1"]:
        return
    rerun = "stage 2 (from your Stage-1 checkpoint) and then stage 3" if "stage2" in stages else "stages 1-3"
    raise CheckpointFormatError(
        f"{directory}: checkpoint format {old} (FaceChecker over a {data.get('face_dim', '?')}-d face-model "
        f"embedding) cannot be used by this vipguard (format {FORMAT}: the FaceChecker attends over the input "
        f"image's vision tokens, a different shape). Re-run {rerun}, e.g. vipguard mllm train stage2 "
        f"--pretrain-path checkpoints/Stage1/<name> --overwrite")


def is_checkpoint(directory: str | Path) -> bool:
    return Path(directory, CONFIG_NAME).is_file()


def load_base_model(model_dir: str | Path, device: str = "cpu", dtype: torch.dtype | None = None):
    """``Qwen2_5_VLForConditionalGeneration`` and its tokenizer from a *local* directory (never a hub)."""
    from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration

    path = Path(model_dir)
    if not (path / "config.json").is_file():
        raise ModelDirError(
            f"no Qwen2.5-VL model at {path} (config.json missing). Bring the weights as a local directory "
            f"(see docs/mllm.md) or create a tiny random one: vipguard mllm build-tiny --out {path}")
    if dtype is None:
        dtype = torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(str(path), local_files_only=True, dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    return model.to(device), tokenizer


def ensure_face_token(model, tokenizer, token: str = "<|face_pad|>") -> int:
    """Add ``<|face_pad|>`` to a real Qwen tokenizer when missing; grow the embeddings only if needed."""
    tid = tokenizer.convert_tokens_to_ids(token)
    if tid is None or tid == tokenizer.unk_token_id:
        tokenizer.add_special_tokens({"additional_special_tokens": [token]})
        tid = tokenizer.convert_tokens_to_ids(token)
    if tid >= model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    return int(tid)


def vip_token_init(n: int, hidden: int, seed: int) -> torch.Tensor:
    """N(0, 1) VIP tokens from a seeded generator (the authors' init, made reproducible)."""
    gen = torch.Generator().manual_seed(int(seed))
    return torch.randn(n, hidden, generator=gen)


def pad_tokens(features: torch.Tensor, counts: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenated per-image tokens [ΣT_i, d] → ``(padded [B, max T, d], mask [B, max T])`` (True = real)."""
    if sum(counts) != features.shape[0]:
        raise ValueError(f"{features.shape[0]} vision tokens for images of {counts} tokens")
    padded = features.new_zeros(len(counts), max(counts), features.shape[-1])
    mask = torch.zeros(len(counts), max(counts), dtype=torch.bool, device=features.device)
    for i, chunk in enumerate(torch.split(features, counts)):
        padded[i, : len(chunk)], mask[i, : len(chunk)] = chunk, True
    return padded, mask


@dataclass(frozen=True)
class FaceBlock:
    """What fills the ``<|face_pad|>`` blocks of a batch, and how it was made."""

    queries: torch.Tensor  # [B, n, d] (VIP tokens or reference vision tokens, padded)
    query_counts: tuple[int, ...]  # real queries per sample (= pads per block)
    checked: CheckerOutput  # FaceChecker output [B, n, d] and attention weights over the image tokens
    key_mask: torch.Tensor  # [B, T]: the input image's tokens per sample

    def flat(self) -> torch.Tensor:
        """[Σ 2·n_i, d]: per sample ``[queries | FaceChecker output]``, in ``<|face_pad|>`` order."""
        parts = []
        for i, n in enumerate(self.query_counts):
            parts += [self.queries[i, :n], self.checked.tokens[i, :n].to(self.queries.dtype)]
        return torch.cat(parts)


class VIPGuardMLLM(nn.Module):
    """The base model (optionally peft-wrapped), the FaceChecker and the VIP tokens, with the injection."""

    def __init__(self, base: nn.Module, processor, config: MLLMConfig, vip_tokens: torch.Tensor | None = None):
        super().__init__()
        self.base = base
        self.processor = processor
        self.config = config
        width = model_width(self.qwen.config)
        with torch.random.fork_rng(devices=[]):  # reproducible FaceChecker init, global RNG untouched
            torch.manual_seed(config.seed)
            self.checker = FaceChecker(width, config.checker_heads, config.checker_depth, config.checker_dropout)
        init = vip_tokens if vip_tokens is not None else vip_token_init(config.token_num, width, config.seed)
        check_vip_tokens(init, config.token_num, width)
        self.vip_tokens = nn.Parameter(init.clone().float())
        self.to(self.device)

    # -- parts ---------------------------------------------------------------------------------------------
    @property
    def qwen(self):
        """The underlying ``Qwen2_5_VLForConditionalGeneration`` (unwrapping peft)."""
        base = self.base
        return base.get_base_model() if hasattr(base, "get_base_model") else base

    @property
    def width(self) -> int:
        return self.checker.dim

    @property
    def device(self) -> torch.device:
        return self.qwen.get_input_embeddings().weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.qwen.get_input_embeddings().weight.dtype

    @property
    def has_lora(self) -> bool:
        return hasattr(self.base, "peft_config")

    def add_lora(self) -> None:
        """Wrap the base model with a fresh LoRA adapter on the language model's projections."""
        from peft import LoraConfig, get_peft_model

        if self.has_lora:
            return
        cfg = LoraConfig(r=self.config.lora_r, lora_alpha=self.config.lora_alpha,
                         lora_dropout=self.config.lora_dropout, target_modules=self.config.lora_targets,
                         bias="none")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            self.base = get_peft_model(self.base, cfg)

    # -- injection -----------------------------------------------------------------------------------------
    def image_features(self, pixel_values: torch.Tensor, image_grid_thw: torch.Tensor) -> torch.Tensor:
        """The vision tower's merged output for every image of a batch, concatenated: [ΣT_i, d]."""
        out = self.qwen.model.get_image_features(pixel_values.to(self.device), image_grid_thw.to(self.device))
        pooled = out.pooler_output  # tuple of [tokens_i, H] per image in this transformers version
        return torch.cat(list(pooled), dim=0) if isinstance(pooled, (tuple, list)) else pooled

    def _counts(self, grid: torch.Tensor) -> list[int]:
        return [self.processor.n_tokens(g) for g in grid]

    def face_block(self, batch: dict, image_features: torch.Tensor) -> FaceBlock:
        """FaceChecker over each sample's own image tokens; queries = the reference image's vision tokens when
        the batch has ``ref_pixel_values`` (Stage 2), else the VIP tokens (Stage 3)."""
        keys, key_mask = pad_tokens(image_features, self._counts(batch["image_grid_thw"]))
        n_samples = keys.shape[0]
        if "ref_pixel_values" in batch:
            counts = self._counts(batch["ref_image_grid_thw"])
            ref = self.image_features(batch["ref_pixel_values"], batch["ref_image_grid_thw"])
            queries, query_mask = pad_tokens(ref, counts)
        else:
            counts = [self.config.token_num] * n_samples
            queries, query_mask = self.vip_tokens[None].expand(n_samples, -1, -1), None
        checked = self.checker(queries.float(), keys.float(), key_mask, query_mask)
        return FaceBlock(queries, tuple(counts), checked, key_mask)

    def position_ids(self, batch: dict) -> torch.Tensor:
        position_ids, _ = self.qwen.model.get_rope_index(
            batch["input_ids"], batch["mm_token_type_ids"], image_grid_thw=batch["image_grid_thw"],
            attention_mask=batch["attention_mask"])
        return position_ids

    def embed(self, batch: dict, image_features: torch.Tensor | None = None, face_block: torch.Tensor | None = None):
        """``(inputs_embeds, position_ids)`` for ``batch`` (from :meth:`MLLMProcessor.collate`).

        ``image_features`` / ``face_block`` ([Σ 2·n_i, d]) override what is injected (tests use this for the
        equivalence checks).
        """
        ids = batch["input_ids"].to(self.device)
        embeds = self.qwen.get_input_embeddings()(ids)
        if image_features is None:
            image_features = self.image_features(batch["pixel_values"], batch["image_grid_thw"])
        img_mask = (ids == self.processor.image_token_id)[..., None]
        if int(img_mask.sum()) != image_features.shape[0]:
            raise ValueError(f"{int(img_mask.sum())} <|image_pad|> tokens but {image_features.shape[0]} image features")
        embeds = embeds.masked_scatter(img_mask, image_features.to(embeds.dtype))
        face_mask = ids == self.processor.face_token_id
        if bool(face_mask.any()):
            if face_block is None:
                block = self.face_block(batch, image_features)
                expected = [2 * n for n in block.query_counts]
                if face_mask.sum(dim=1).tolist() != expected:
                    raise ValueError(f"<|face_pad|> tokens per sample {face_mask.sum(dim=1).tolist()}, the "
                                     f"FaceChecker fills {expected} (2 × its queries)")
                face_block = block.flat()
            embeds = embeds.masked_scatter(face_mask[..., None], face_block.to(embeds.dtype))
        on_device = {k: v.to(self.device) for k, v in batch.items() if isinstance(v, torch.Tensor)}
        return embeds, self.position_ids(on_device)

    def forward(self, batch: dict, **overrides) -> torch.Tensor:
        """Logits [B, L, V] of the injected sequence."""
        embeds, positions = self.embed(batch, **overrides)
        out = self.base(inputs_embeds=embeds, attention_mask=batch["attention_mask"].to(self.device),
                        position_ids=positions, use_cache=False)
        return out.logits

    def loss(self, batch: dict) -> torch.Tensor:
        """Autoregressive cross-entropy on the answer tokens only (labels = -100 elsewhere)."""
        logits = self.forward(batch)
        labels = batch["labels"].to(self.device)
        return nn.functional.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]),
                                           labels[:, 1:].reshape(-1), ignore_index=-100)

    # -- persistence ---------------------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> Path:
        """Config JSON + LoRA (peft's own format, if any) + FaceChecker + VIP tokens (safetensors)."""
        from safetensors.torch import save_file

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.config.save(out)
        if self.has_lora:
            self.base.save_pretrained(str(out / LORA_DIR))
        save_file({k: v.detach().float().cpu().contiguous() for k, v in self.checker.state_dict().items()},
                  str(out / CHECKER_NAME))
        save_file({"vip_tokens": self.vip_tokens.detach().float().cpu().contiguous()}, str(out / VIP_NAME))
        return out

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str = "cpu", model_dir: str | Path | None = None,
                        trainable_lora: bool = False) -> VIPGuardMLLM:
        """Rebuild from :meth:`save_pretrained`'s directory, or start fresh from a plain Qwen2.5-VL directory."""
        from safetensors.torch import load_file

        path = Path(directory)
        if not path.is_dir():
            raise ModelDirError(f"checkpoint directory not found: {path}")
        if not is_checkpoint(path):
            return cls.fresh(path, MLLMConfig(model_dir=str(path)), device)
        config = MLLMConfig.load(path)
        legacy = stored_format(path) < FORMAT  # only a Stage-1 checkpoint gets here (MLLMConfig.load)
        if model_dir is not None:
            config.model_dir = str(model_dir)
        base, tokenizer = load_base_model(config.model_dir, device)
        model = cls._assemble(base, tokenizer, config)
        if (path / LORA_DIR).is_dir():
            from peft import PeftModel

            model.base = PeftModel.from_pretrained(model.base, str(path / LORA_DIR), is_trainable=trainable_lora)
        if legacy:
            warnings.warn(f"{path}: Stage-1 checkpoint in format 1: its LoRA is used, its untrained FaceChecker "
                          f"(old face-embedding layout) is replaced by a fresh seeded one", stacklevel=2)
        else:
            model.checker.load_state_dict(load_file(str(path / CHECKER_NAME)))
            model.load_vip_tokens(path / VIP_NAME)
        return model.to(device)

    @classmethod
    def fresh(cls, model_dir: str | Path, config: MLLMConfig, device: str = "cpu") -> VIPGuardMLLM:
        base, tokenizer = load_base_model(model_dir, device)
        config.model_dir = str(model_dir)
        return cls._assemble(base, tokenizer, config).to(device)

    @classmethod
    def _assemble(cls, base, tokenizer, config: MLLMConfig) -> VIPGuardMLLM:
        from .processor import ImageProcessor

        return cls.from_parts(base, tokenizer, ImageProcessor.load(config.model_dir, config.max_pixels), config)

    @classmethod
    def from_parts(cls, base, tokenizer, image_processor, config: MLLMConfig) -> VIPGuardMLLM:
        """Assemble from an in-memory base model, tokenizer and image processor."""
        from .processor import MLLMProcessor

        ensure_face_token(base, tokenizer)
        return cls(base, MLLMProcessor(tokenizer, image_processor, config.token_num), config)

    # -- VIP tokens ----------------------------------------------------------------------------------------
    def load_vip_tokens(self, path: str | Path) -> None:
        """Load VIP tokens from ``vip_tokens.safetensors`` or the authors' ``vip_token.pt`` (a directory means
        the file inside it); another width is a :class:`~vipguard.mllm.vip.VipWidthError` naming both."""
        tensor = read_vip_tokens(path)
        check_vip_tokens(tensor, self.config.token_num, self.width, str(path))
        with torch.no_grad():
            self.vip_tokens.copy_(tensor.to(self.vip_tokens.device))


__all__ = [
    "AUTHORS_VIP_FILE", "CONFIG_NAME", "FaceBlock", "FaceChecker", "LORA_TARGETS", "MLLMConfig", "ModelDirError",
    "VIPGuardMLLM", "ensure_face_token", "is_checkpoint", "load_base_model", "pad_tokens", "stored_format",
    "vip_token_init",
]
