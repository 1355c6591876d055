"""A tiny *random* Qwen2.5-VL directory (config + weights + tokenizer + image-processor config).

Real Qwen2.5-VL weights cannot be shipped or downloaded here, so tests, the demo and ``vipguard mllm build-tiny``
use a model of the same architecture with ~0.5 M parameters. The directory has the same layout as a real
checkpoint directory, so everything that accepts ``--model-dir`` accepts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .prompts import ANSWER_NO, ANSWER_YES, FACE_PAD, SPECIAL_TOKENS, VIP_PROMPT

# Text the tiny BPE is trained on: the prompt, both answers and the attribute vocabulary, so that the tiny
# tokenizer produces short sequences for the texts the pipeline actually uses.
_CORPUS = [
    VIP_PROMPT, ANSWER_YES, ANSWER_NO,
    "You are a helpful assistant.", "system", "user", "assistant",
    "Which option best describes the head pose? A. turned left B. frontal C. turned right",
    "Describe the facial attributes of the person in the image in detail.",
    "Is the mouth open? Are the eyes open? Is the person smiling? yes no",
    "The face is wide narrow average; the eyes are open closed; the nose is broad narrow; the mouth is wide small;",
    "eyebrows raised relaxed; head tilted turned up down left right frontal; lips closed parted.",
    "0 1 2 3 4 5 6 7 8 9 10 20 30 40 50 60 70 80 90 100 . , ; : ' ( ) [ ] < > /",
]


@dataclass(frozen=True)
class TinySpec:
    """Sizes of the tiny random model (defaults follow ``MLLM.md``)."""

    hidden: int = 64
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    intermediate: int = 128
    mrope_section: tuple[int, int, int] = (2, 3, 3)
    vision_depth: int = 2
    vision_hidden: int = 32
    vision_heads: int = 2
    vision_intermediate: int = 64
    vocab_size: int = 512
    initializer_range: float = 0.2
    max_pixels: int = 112 * 112  # images are resized to at most this many pixels (tiny: ≤ 64 patches)
    seed: int = 0


def build_tiny_tokenizer(vocab_size: int = 512):
    """A byte-level BPE trained on the pipeline's own texts, with Qwen's special tokens and ``<|face_pad|>``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - len(SPECIAL_TOKENS), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    tok.train_from_iterator(_CORPUS, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=[t for t in SPECIAL_TOKENS
                                                              if t not in ("<|im_end|>", "<|endoftext|>")])
    fast.add_special_tokens({"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"})
    return fast


def tiny_config(spec: TinySpec, tokenizer):
    """The ``Qwen2_5_VLConfig`` for ``spec`` with ``tokenizer``'s special-token ids."""
    from transformers import Qwen2_5_VLConfig

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    head_dim = spec.hidden // spec.heads
    if sum(spec.mrope_section) * 2 != head_dim:
        raise ValueError(f"mrope_section {spec.mrope_section} must sum to head_dim/2 = {head_dim // 2}")
    return Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer), hidden_size=spec.hidden, intermediate_size=spec.intermediate,
            num_hidden_layers=spec.layers, num_attention_heads=spec.heads, num_key_value_heads=spec.kv_heads,
            max_position_embeddings=4096, initializer_range=spec.initializer_range,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": list(spec.mrope_section)},
            bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
        ),
        vision_config=dict(
            depth=spec.vision_depth, hidden_size=spec.vision_hidden, intermediate_size=spec.vision_intermediate,
            num_heads=spec.vision_heads, out_hidden_size=spec.hidden, fullatt_block_indexes=[spec.vision_depth - 1],
            initializer_range=spec.initializer_range, window_size=112,
        ),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )


def random_model(spec: TinySpec = TinySpec(), device: str = "cpu", dtype=None):
    """``(Qwen2_5_VLForConditionalGeneration, tokenizer, image processor)`` with random weights, in memory
    (benchmarks use this for mid-size models that are not worth writing to disk)."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    from .processor import ImageProcessor

    tokenizer = build_tiny_tokenizer(spec.vocab_size)
    config = tiny_config(spec, tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        with torch.device(device):
            model = Qwen2_5_VLForConditionalGeneration(config)
    if dtype is not None:
        model = model.to(dtype)
    return model, tokenizer, ImageProcessor.default(max_pixels=spec.max_pixels)


def build_tiny(out_dir: str | Path, spec: TinySpec = TinySpec()) -> Path:
    """Write a tiny random Qwen2.5-VL checkpoint directory at ``out_dir`` and return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model, tokenizer, image_processor = random_model(spec)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    image_processor.save_pretrained(out)
    return out


__all__ = ["FACE_PAD", "TinySpec", "build_tiny", "build_tiny_tokenizer", "random_model", "tiny_config"]
