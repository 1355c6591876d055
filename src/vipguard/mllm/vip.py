"""VIP tokens on disk: ``vip_tokens.safetensors`` (ours) and the authors' ``vip_token.pt``
(``torch.save({'vip_token': tensor [token_num, width]})``, often saved from a CUDA device).

The authors' file is read on any machine (``map_location="cpu"``, ``weights_only=True``). Its width must be the
base model's vision output size (= the text hidden size: 3584 for Qwen2.5-VL-7B, 2048 for 3B); another width is a
:class:`VipWidthError` that names both widths.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

VIP_NAME = "vip_tokens.safetensors"
AUTHORS_VIP_FILE = "vip_token.pt"
VIP_CONFIG = "vip_config.json"
#: The on-disk format of vipguard's MLLM checkpoints (config JSON and Stage-3 ``vip_config.json``). 2: the
#: FaceChecker attends over the input image's vision tokens (1, before #17: over a face-model embedding).
FORMAT = 2
#: Known Qwen2.5-VL widths, for error messages.
KNOWN_WIDTHS = {2048: "Qwen2.5-VL-3B", 3584: "Qwen2.5-VL-7B", 5120: "Qwen2.5-VL-32B", 8192: "Qwen2.5-VL-72B"}


class VipWidthError(ValueError):
    """VIP tokens of another width than the model's (they belong to another base model)."""


class CheckpointFormatError(ValueError):
    """A checkpoint written in an older format that this version cannot use: retrain the named stage."""


def _named(width: int) -> str:
    return f"{width} ({KNOWN_WIDTHS[width]})" if width in KNOWN_WIDTHS else str(width)


def read_vip_tokens(path: str | Path) -> torch.Tensor:
    """The float32 [n, width] tensor in ``path`` (a file, or a Stage-3 directory holding one of the two files)."""
    from safetensors.torch import load_file

    p = Path(path)
    if p.is_dir():
        require_format(p)
        p = p / VIP_NAME if (p / VIP_NAME).is_file() else p / AUTHORS_VIP_FILE
    if not p.is_file():
        raise FileNotFoundError(f"no VIP tokens at {p} (expected {VIP_NAME} or the authors' {AUTHORS_VIP_FILE})")
    if p.suffix == ".safetensors":
        state = load_file(str(p))
        key = "vip_tokens"
    else:
        state = torch.load(str(p), map_location="cpu", weights_only=True)
        key = "vip_token"
    if not isinstance(state, dict) or key not in state:
        raise ValueError(f"{p}: expected a dict with key {key!r}"
                         + (" (the authors' format)" if key == "vip_token" else ""))
    tensor = state[key]
    flat = isinstance(tensor, torch.Tensor) and (tensor.dim() == 2 or (tensor.dim() == 3 and tensor.shape[0] == 1))
    if not flat:
        raise ValueError(f"{p}: {key!r} must be a [token_num, width] tensor, got "
                         f"{tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__}")
    return tensor.detach().float().reshape(-1, tensor.shape[-1]).contiguous()


def check_vip_tokens(tensor: torch.Tensor, token_num: int, width: int, source: str = "VIP tokens") -> None:
    """A :class:`VipWidthError` naming both widths, or a ``ValueError`` for another token count."""
    if tensor.shape[-1] != width:
        raise VipWidthError(
            f"{source}: VIP tokens are {_named(int(tensor.shape[-1]))} wide but this model's vision output "
            f"(= text hidden size) is {_named(int(width))} wide: they were trained for another base model")
    if tensor.shape[0] != token_num:
        raise ValueError(f"{source}: {tensor.shape[0]} VIP tokens, the model is configured for {token_num} "
                         f"(token_num; the <|face_pad|> blocks follow it)")


def model_width(qwen_config) -> int:
    """The FaceChecker / VIP-token width of a ``Qwen2_5_VLConfig``: the vision tower's output size, which must
    equal the text hidden size (the merged features fill ``<|image_pad|>``)."""
    vision = int(qwen_config.vision_config.out_hidden_size)
    text = int(qwen_config.text_config.hidden_size)
    if vision != text:
        raise ValueError(f"vision output size {vision} differs from the text hidden size {text}")
    return vision


def write_vip_tokens(tensor: torch.Tensor, directory: str | Path, meta: dict) -> Path:
    """Both formats plus ``vip_config.json`` (``meta`` + the format number) into ``directory``."""
    from safetensors.torch import save_file

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    t = tensor.detach().float().cpu().contiguous()
    save_file({"vip_tokens": t}, str(out / VIP_NAME))
    torch.save({"vip_token": t.clone()}, str(out / AUTHORS_VIP_FILE))
    (out / VIP_CONFIG).write_text(json.dumps({**meta, "format": FORMAT, "token_num": int(t.shape[0]),
                                              "hidden": int(t.shape[1])}, indent=2))
    return out / AUTHORS_VIP_FILE


def require_format(directory: Path) -> None:
    """A Stage-3 directory of ours written before format 2 holds tokens trained against the old FaceChecker.
    (The authors' directories have no ``vip_config.json``: accepted.)"""
    cfg = directory / VIP_CONFIG
    if cfg.is_file() and int(json.loads(cfg.read_text()).get("format", 1)) < FORMAT:
        raise CheckpointFormatError(
            f"{directory}: VIP tokens in checkpoint format 1 (trained against the old face-embedding FaceChecker); "
            f"this vipguard uses format {FORMAT} (the FaceChecker attends over the image's vision tokens). "
            f"Re-run stage 3: vipguard mllm train stage3 --pretrain-path <Stage-2 checkpoint> --overwrite")


__all__ = ["AUTHORS_VIP_FILE", "CheckpointFormatError", "FORMAT", "KNOWN_WIDTHS", "VIP_CONFIG", "VIP_NAME",
           "VipWidthError", "check_vip_tokens", "model_width", "read_vip_tokens", "require_format",
           "write_vip_tokens"]
