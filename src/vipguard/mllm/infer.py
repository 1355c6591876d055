"""Inference: the probability that an image shows the VIP, as the normalised Yes/No probability at the answer
position (as in the paper's evaluation), and an optional generated explanation.

The decision position is found robustly: the Yes- and No-answers are tokenised exactly as in training, and the
prompt is extended by their common token prefix (``<Conclusion>[`` in practice), so the next token decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .model import VIPGuardMLLM
from .processor import Encoded
from .prompts import ANSWER_NO, ANSWER_YES, ASSISTANT_END, vip_prompt


def decision_tokens(processor) -> tuple[list[int], int, int]:
    """(common answer prefix ids, Yes token id, No token id) under ``processor``'s tokenizer."""
    yes = processor.tokens(ANSWER_YES + ASSISTANT_END)
    no = processor.tokens(ANSWER_NO + ASSISTANT_END)
    k = next(i for i, (a, b) in enumerate(zip(yes, no)) if a != b)
    return yes[:k], yes[k], no[k]


class MLLMScorer:
    """Score images against one VIP with a VIPGuard MLLM (Stage-3 VIP tokens loaded)."""

    def __init__(self, model: VIPGuardMLLM, batch_size: int = 8):
        self.model = model.eval()
        self.batch_size = batch_size
        self.prefix, self.yes_id, self.no_id = decision_tokens(model.processor)

    @classmethod
    def from_dirs(cls, model_dir: str | Path, vip_dir: str | Path | None = None, device: str = "cpu",
                  batch_size: int = 8) -> MLLMScorer:
        """``model_dir``: a VIPGuard checkpoint (Stage 2/3 output) or a plain Qwen2.5-VL directory;
        ``vip_dir``: a Stage-3 directory (``vip_tokens.safetensors`` or the authors' ``vip_token.pt``)."""
        model = VIPGuardMLLM.from_pretrained(model_dir, device=device)
        if vip_dir is not None:
            model.load_vip_tokens(vip_dir)
        return cls(model, batch_size)

    def _encode(self, image: np.ndarray, face_score: int, extra: Sequence[int] = (),
                reference: np.ndarray | None = None) -> Encoded:
        enc = self.model.processor.encode(vip_prompt(face_score), image, reference_rgb=reference)
        ids = torch.cat([enc.input_ids, torch.tensor(list(extra), dtype=torch.long)])
        return replace(enc, input_ids=ids, labels=torch.full_like(ids, -100))

    @torch.no_grad()
    def score_batch(self, images: Sequence[np.ndarray], face_scores: Sequence[int],
                    references: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """P(Yes) / (P(Yes) + P(No)) per image. The FaceChecker attends over each image's own vision tokens;
        its queries are the VIP tokens, or (Stage-2 style) each ``references[i]``'s vision tokens."""
        if len(images) != len(face_scores) or (references is not None and len(references) != len(images)):
            raise ValueError("images, face_scores (and references) must have the same length")
        out = []
        for start in range(0, len(images), self.batch_size):
            sl = slice(start, start + self.batch_size)
            refs = references[sl] if references is not None else [None] * len(images[sl])
            items = [self._encode(img, s, self.prefix, ref) for img, s, ref in zip(images[sl], face_scores[sl], refs)]
            batch = self.model.processor.collate(items, padding_side="left")
            logits = self.model(batch)[:, -1].float()
            pair = torch.stack([logits[:, self.yes_id], logits[:, self.no_id]], dim=-1)
            out.append(torch.softmax(pair, dim=-1)[:, 0].cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def score(self, image_rgb_uint8: np.ndarray, face_score: int) -> float:
        return float(self.score_batch([image_rgb_uint8], [face_score])[0])

    @torch.no_grad()
    def explain(self, image_rgb_uint8: np.ndarray, face_score: int, max_new_tokens: int = 128) -> str:
        """The generated answer (greedy), e.g. ``<Conclusion>[Yes] ...</Conclusion>``."""
        model = self.model
        batch = model.processor.collate([self._encode(image_rgb_uint8, face_score)], padding_side="left")
        embeds, _ = model.embed(batch)  # generate() derives the M-RoPE positions from the same ids
        eos = model.processor.tokenizer.convert_tokens_to_ids(ASSISTANT_END)
        generated = model.base.generate(
            input_ids=batch["input_ids"].to(model.device), inputs_embeds=embeds,
            attention_mask=batch["attention_mask"].to(model.device),
            mm_token_type_ids=batch["mm_token_type_ids"].to(model.device),
            image_grid_thw=batch["image_grid_thw"].to(model.device),
            max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=eos,
            pad_token_id=model.processor.pad_token_id)
        new = generated[0, batch["input_ids"].shape[1]:] if generated.shape[1] > embeds.shape[1] else generated[0]
        return model.processor.tokenizer.decode(new, skip_special_tokens=True).strip()


__all__ = ["MLLMScorer", "decision_tokens"]
