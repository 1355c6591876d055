"""Qwen2.5-VL + LoRA + FaceChecker + VIP tokens, without forking the upstream modeling file.

Injection: ``inputs_embeds`` = token embeddings, with the vision tower's features ``masked_scatter``-ed into the
``<|image_pad|>`` positions and the face tokens into the two ``<|face_pad|>`` blocks (first block: VIP tokens in
Stage 3, the reference face's tokens in Stage 2; second block: FaceChecker output). M-RoPE ``position_ids``
(3×B×L) are computed by the model's own ``get_rope_index`` on the *original* ``input_ids`` and passed explicitly.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
from torch import nn

CONFIG_NAME = "vipguard_mllm.json"
CHECKER_NAME = "face_checker.safetensors"
VIP_NAME = "vip_tokens.safetensors"
LORA_DIR = "lora"
AUTHORS_VIP_FILE = "vip_token.pt"
#: LoRA targets: the language model's attention and MLP projections only (the vision tower also has
#: ``gate_proj``/``up_proj``/``down_proj``, hence a regex anchored on ``language_model``).
LORA_TARGETS = r".*language_model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"


class ModelDirError(FileNotFoundError):
    """A model / checkpoint directory is missing or incomplete."""


@dataclass
class MLLMConfig:
    """Everything needed to rebuild a VIPGuard MLLM besides the weights; saved as JSON beside them."""

    model_dir: str = ""  # base Qwen2.5-VL directory (local)
    face_dim: int = 192  # face-model feature width (MobileFaceNet: 192; TransFace: 512)
    token_num: int = 32  # VIP tokens = tokens per <|face_pad|> block
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

    def save(self, directory: str | Path) -> None:
        Path(directory, CONFIG_NAME).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, directory: str | Path) -> MLLMConfig:
        data = json.loads(Path(directory, CONFIG_NAME).read_text())
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


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


class _CheckerBlock(nn.Module):
    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        self.norm_q = nn.LayerNorm(hidden)
        self.norm_kv = nn.LayerNorm(hidden)
        self.attn = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.norm_ff = nn.LayerNorm(hidden)
        self.ffn = nn.Sequential(nn.Linear(hidden, 4 * hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(4 * hidden, hidden))
        self.drop = nn.Dropout(dropout)

    def forward(self, q: torch.Tensor, kv: torch.Tensor) -> torch.Tensor:
        kv = self.norm_kv(kv)
        x = q + self.drop(self.attn(self.norm_q(q), kv, kv, need_weights=False)[0])
        return x + self.drop(self.ffn(self.norm_ff(x)))


class FaceChecker(nn.Module):
    """Cross-attention from query tokens (VIP tokens, or a reference face's tokens) to the input face's
    face-model features, then an FFN; width = the LLM's hidden size.

    ``forward(queries [B|1, n, H], face [B, T, face_dim] or [B, face_dim]) -> [B, n, H]``.
    ``reference(face)`` turns a *reference* face's features into ``n`` query tokens (Stage 2, where the
    reference image plays the role the VIP tokens play in Stage 3).
    """

    def __init__(self, hidden: int, face_dim: int, n_tokens: int, heads: int = 8, depth: int = 1,
                 dropout: float = 0.1):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden size {hidden} is not divisible by {heads} heads")
        self.hidden, self.face_dim, self.n_tokens = hidden, face_dim, n_tokens
        self.face_proj = nn.Linear(face_dim, hidden)
        self.ref_proj = nn.Linear(face_dim, n_tokens * hidden)
        self.blocks = nn.ModuleList(_CheckerBlock(hidden, heads, dropout) for _ in range(depth))

    @staticmethod
    def _as_sequence(face: torch.Tensor) -> torch.Tensor:
        if face.dim() == 2:
            face = face[:, None, :]
        if face.dim() != 3 or face.shape[1] < 1:
            raise ValueError(f"face features must be [B, T, face_dim] with T ≥ 1, got {tuple(face.shape)}")
        return face

    def reference(self, face: torch.Tensor) -> torch.Tensor:
        face = self._as_sequence(face)
        return self.ref_proj(face.mean(dim=1)).view(face.shape[0], self.n_tokens, self.hidden)

    def forward(self, queries: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
        face = self._as_sequence(face)
        kv = self.face_proj(face.to(self.face_proj.weight.dtype))
        x = queries.to(kv.dtype)
        if x.dim() == 2:
            x = x[None]
        x = x.expand(kv.shape[0], -1, -1)
        for block in self.blocks:
            x = block(x, kv)
        return x


class VIPGuardMLLM(nn.Module):
    """The base model (optionally peft-wrapped), the FaceChecker and the VIP tokens, with the injection."""

    def __init__(self, base: nn.Module, processor, config: MLLMConfig, vip_tokens: torch.Tensor | None = None):
        super().__init__()
        self.base = base
        self.processor = processor
        self.config = config
        hidden = self.qwen.config.text_config.hidden_size
        with torch.random.fork_rng(devices=[]):  # reproducible FaceChecker init, global RNG untouched
            torch.manual_seed(config.seed)
            self.checker = FaceChecker(hidden, config.face_dim, config.token_num, config.checker_heads,
                                       config.checker_depth, config.checker_dropout)
        init = vip_tokens if vip_tokens is not None else vip_token_init(config.token_num, hidden, config.seed)
        self.vip_tokens = nn.Parameter(init.clone().float())
        self.to(self.device)

    # -- parts ---------------------------------------------------------------------------------------------
    @property
    def qwen(self):
        """The underlying ``Qwen2_5_VLForConditionalGeneration`` (unwrapping peft)."""
        base = self.base
        return base.get_base_model() if hasattr(base, "get_base_model") else base

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
        out = self.qwen.model.get_image_features(pixel_values.to(self.device), image_grid_thw.to(self.device))
        pooled = out.pooler_output  # tuple of [tokens_i, H] per image in this transformers version
        return torch.cat(list(pooled), dim=0) if isinstance(pooled, (tuple, list)) else pooled

    def face_block(self, batch_size: int, face: torch.Tensor | None,
                   reference: torch.Tensor | None = None) -> torch.Tensor:
        """[B, 2n, H]: (VIP tokens | reference tokens) followed by the FaceChecker output."""
        if face is None:
            raise ValueError("this prompt has <|face_pad|> blocks: face features are required")
        face = face.to(self.device, torch.float32)
        if reference is not None:
            queries = self.checker.reference(reference.to(self.device, torch.float32))
        else:
            queries = self.vip_tokens[None].expand(batch_size, -1, -1)
        checked = self.checker(queries, face)
        return torch.cat([queries, checked], dim=1)

    def position_ids(self, batch: dict) -> torch.Tensor:
        position_ids, _ = self.qwen.model.get_rope_index(
            batch["input_ids"], batch["mm_token_type_ids"], image_grid_thw=batch["image_grid_thw"],
            attention_mask=batch["attention_mask"])
        return position_ids

    def embed(self, batch: dict, face: torch.Tensor | None = None, reference: torch.Tensor | None = None,
              image_features: torch.Tensor | None = None, face_block: torch.Tensor | None = None):
        """``(inputs_embeds, position_ids)`` for ``batch`` (from :meth:`MLLMProcessor.collate`).

        ``image_features`` / ``face_block`` override what is injected (tests use this for equivalence checks).
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
            counts = face_mask.sum(dim=1)
            if bool((counts != 2 * self.config.token_num).any()):
                raise ValueError(f"every sample needs 2×{self.config.token_num} face pads, got {counts.tolist()}")
            if face_block is None:
                face_block = self.face_block(ids.shape[0], face, reference)
            embeds = embeds.masked_scatter(face_mask[..., None], face_block.to(embeds.dtype))
        on_device = {k: v.to(self.device) for k, v in batch.items() if isinstance(v, torch.Tensor)}
        return embeds, self.position_ids(on_device)

    def forward(self, batch: dict, face: torch.Tensor | None = None, reference: torch.Tensor | None = None,
                **overrides) -> torch.Tensor:
        """Logits [B, L, V] of the injected sequence."""
        embeds, positions = self.embed(batch, face, reference, **overrides)
        out = self.base(inputs_embeds=embeds, attention_mask=batch["attention_mask"].to(self.device),
                        position_ids=positions, use_cache=False)
        return out.logits

    def loss(self, batch: dict, face: torch.Tensor | None = None,
             reference: torch.Tensor | None = None) -> torch.Tensor:
        """Autoregressive cross-entropy on the answer tokens only (labels = -100 elsewhere)."""
        logits = self.forward(batch, face, reference)
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
        if model_dir is not None:
            config.model_dir = str(model_dir)
        base, tokenizer = load_base_model(config.model_dir, device)
        model = cls._assemble(base, tokenizer, config)
        if (path / LORA_DIR).is_dir():
            from peft import PeftModel

            model.base = PeftModel.from_pretrained(model.base, str(path / LORA_DIR), is_trainable=trainable_lora)
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

    # -- VIP tokens in both formats ------------------------------------------------------------------------
    def load_vip_tokens(self, path: str | Path) -> None:
        """Load VIP tokens from ``vip_tokens.safetensors`` or the authors' ``vip_token.pt``
        (``{'vip_token': tensor}``, read with ``weights_only=True``); a directory means the file inside it."""
        from safetensors.torch import load_file

        p = Path(path)
        if p.is_dir():
            p = p / VIP_NAME if (p / VIP_NAME).is_file() else p / AUTHORS_VIP_FILE
        if not p.is_file():
            raise ModelDirError(f"no VIP tokens at {p}")
        if p.suffix == ".safetensors":
            tensor = load_file(str(p))["vip_tokens"]
        else:
            state = torch.load(str(p), map_location="cpu", weights_only=True)
            if not isinstance(state, dict) or "vip_token" not in state:
                raise ValueError(f"{p}: expected a dict with key 'vip_token' (the authors' format)")
            tensor = state["vip_token"]
        tensor = tensor.detach().float().reshape(-1, tensor.shape[-1])
        if tuple(tensor.shape) != tuple(self.vip_tokens.shape):
            raise ValueError(f"{p}: VIP tokens of shape {tuple(tensor.shape)}, the model expects "
                             f"{tuple(self.vip_tokens.shape)} (token_num × hidden)")
        with torch.no_grad():
            self.vip_tokens.copy_(tensor.to(self.vip_tokens.device))

    def save_vip_token_pt(self, directory: str | Path) -> Path:
        """Write the authors' ``vip_token.pt`` (``torch.save({'vip_token': tensor})``) into ``directory``."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        torch.save({"vip_token": self.vip_tokens.detach().float().cpu().clone()}, str(out / AUTHORS_VIP_FILE))
        return out / AUTHORS_VIP_FILE


__all__ = [
    "AUTHORS_VIP_FILE", "CONFIG_NAME", "FaceChecker", "LORA_TARGETS", "MLLMConfig", "ModelDirError", "VIPGuardMLLM",
    "ensure_face_token", "is_checkpoint", "load_base_model", "vip_token_init",
]
