"""Text + image encoding for Qwen2.5-VL without ``AutoProcessor`` (which needs torchvision).

``MLLMProcessor`` = a tokenizer + the PIL-backed Qwen2-VL image processor. It expands ``<image>`` into
``<|vision_start|><|image_pad|>×N<|vision_end|>`` and each ``<|face_pad|>`` into one pad per FaceChecker query
(``n_face`` = the VIP tokens in Stage 3; in Stage 2 the reference image's vision-token count, which follows its
grid, as in the authors' processor), builds the ``mm_token_type_ids`` that ``get_rope_index`` needs, and tokenises
the answer separately so the answer tokens (and the Yes/No decision position) do not depend on how the prompt
merges with the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .prompts import ASSISTANT_END, FACE_PAD, IMAGE_PAD, IMAGE_TAG, chat_prefix

IGNORE = -100


class ImageProcessor:
    """Factory for the PIL-backed Qwen2-VL image processor (the fast one imports torchvision)."""

    @staticmethod
    def default(min_pixels: int = 56 * 56, max_pixels: int = 448 * 448):
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

        return Qwen2VLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels)

    @staticmethod
    def load(model_dir: str | Path, max_pixels: int = 448 * 448):
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

        proc = Qwen2VLImageProcessorPil.from_pretrained(str(model_dir), local_files_only=True)
        size = dict(proc.size) if proc.size else {}
        size["longest_edge"] = min(int(size.get("longest_edge", max_pixels)), max_pixels)
        proc.size = type(proc.size)(**size) if not isinstance(proc.size, dict) else size
        return proc


@dataclass(frozen=True)
class Encoded:
    """One encoded sample (1-D tensors) before batching; ``ref_*``: the Stage-2 reference image, if any."""

    input_ids: "torch.Tensor"  # noqa: F821
    labels: "torch.Tensor"  # noqa: F821
    pixel_values: "torch.Tensor"  # noqa: F821
    image_grid_thw: "torch.Tensor"  # noqa: F821
    ref_pixel_values: "torch.Tensor | None" = None  # noqa: F821
    ref_image_grid_thw: "torch.Tensor | None" = None  # noqa: F821


class MLLMProcessor:
    def __init__(self, tokenizer, image_processor, n_face: int):
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.n_face = int(n_face)
        self.merge = int(image_processor.merge_size)
        self.image_token_id = self._id(IMAGE_PAD)
        self.face_token_id = self._id(FACE_PAD)
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self._id("<|endoftext|>")

    def _id(self, token: str) -> int:
        tid = self.tokenizer.convert_tokens_to_ids(token)
        if tid is None or tid == self.tokenizer.unk_token_id:
            raise ValueError(f"tokenizer has no {token!r} token")
        return int(tid)

    # -- pieces --------------------------------------------------------------------------------------------
    def images(self, image_rgb: np.ndarray):
        """pixel_values [patches, C·T·P·P] and image_grid_thw [1, 3] for one RGB uint8 image."""
        out = self.image_processor(images=[np.asarray(image_rgb, np.uint8)], return_tensors="pt")
        return out["pixel_values"], out["image_grid_thw"]

    def n_tokens(self, grid_thw) -> int:
        """LLM tokens of one image with this grid (patches / merge²)."""
        return int(grid_thw.prod()) // (self.merge ** 2)

    def expand(self, user_text: str, grid_thw, n_face: int | None = None) -> str:
        if user_text.count(IMAGE_TAG) != 1:
            raise ValueError(f"the prompt must contain exactly one {IMAGE_TAG}: {user_text[:80]!r}")
        text = user_text.replace(IMAGE_TAG, "<|vision_start|>" + IMAGE_PAD * self.n_tokens(grid_thw) + "<|vision_end|>")
        return text.replace(FACE_PAD, FACE_PAD * (self.n_face if n_face is None else int(n_face)))

    def tokens(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def encode(self, user_text: str, image_rgb: np.ndarray, answer: str | None = None,
               reference_rgb: np.ndarray | None = None) -> Encoded:
        """Prompt (+ answer and ``<|im_end|>`` when given; labels mask everything but the answer).

        ``reference_rgb`` (Stage 2): the reference image, whose vision tokens become the FaceChecker's queries;
        each ``<|face_pad|>`` block then has as many pads as it has tokens.
        """
        import torch

        pixel_values, grid = self.images(image_rgb)
        ref_pixels = ref_grid = None
        n_face = self.n_face
        if reference_rgb is not None:
            ref_pixels, ref_grid = self.images(reference_rgb)
            n_face = self.n_tokens(ref_grid[0])
        prompt = self.tokens(chat_prefix(self.expand(user_text, grid[0], n_face)))
        n_face_tokens = prompt.count(self.face_token_id)
        if n_face_tokens not in (0, 2 * n_face):
            raise ValueError(f"expected 0 or 2 {FACE_PAD} blocks, found {n_face_tokens} pad tokens")
        target = self.tokens(answer + ASSISTANT_END) if answer is not None else []
        ids = torch.tensor(prompt + target, dtype=torch.long)
        labels = torch.tensor([IGNORE] * len(prompt) + target, dtype=torch.long)
        return Encoded(ids, labels, pixel_values, grid, ref_pixels, ref_grid)

    def collate(self, items: list[Encoded], padding_side: str = "right") -> dict:
        """Pad a list of samples into a batch (left padding for scoring/generation, right for training)."""
        import torch

        length = max(len(e.input_ids) for e in items)
        ids = torch.full((len(items), length), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(items), length), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(items), length), dtype=torch.long)
        for i, e in enumerate(items):
            n = len(e.input_ids)
            sl = slice(length - n, length) if padding_side == "left" else slice(0, n)
            ids[i, sl], labels[i, sl], mask[i, sl] = e.input_ids, e.labels, 1
        batch = {
            "input_ids": ids, "labels": labels, "attention_mask": mask,
            "mm_token_type_ids": (ids == self.image_token_id).long() * mask,
            "pixel_values": torch.cat([e.pixel_values for e in items]),
            "image_grid_thw": torch.cat([e.image_grid_thw for e in items]),
        }
        with_ref = [e.ref_pixel_values is not None for e in items]
        if any(with_ref):
            if not all(with_ref):
                raise ValueError("a batch mixes samples with and without a reference image")
            batch["ref_pixel_values"] = torch.cat([e.ref_pixel_values for e in items])
            batch["ref_image_grid_thw"] = torch.cat([e.ref_image_grid_thw for e in items])
        return batch
