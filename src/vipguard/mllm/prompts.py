"""The authors' prompt and answer texts, and the Qwen chat layout (no Jinja template needed)."""

from __future__ import annotations

FACE_PAD = "<|face_pad|>"
IMAGE_PAD = "<|image_pad|>"
IMAGE_TAG = "<image>"
SPECIAL_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
    "<|video_pad|>", FACE_PAD,
)
SYSTEM = "You are a helpful assistant."

#: The Stage-2/3 question (authors' wording). The first ``<|face_pad|>`` block carries the VIP tokens (Stage 3)
#: or the reference image's vision tokens (Stage 2); the second carries the FaceChecker output.
VIP_PROMPT = (
    "<|face_pad|><image>Please determine whether the person in the input image is VIP user. The face similarity "
    "between the input face and VIP user is {FACE_SCORE}/100. The face tokens are shown as follows, <|face_pad|> . "
    "You should directly answer 'yes' or 'no' without any explanation."
)
#: The authors' answer texts, verbatim.
ANSWER_YES = "<Conclusion>[Yes] The two images are of the same person.</Conclusion>"
ANSWER_NO = "<Conclusion>[No] The two images are of different people.</Conclusion>"


def vip_prompt(face_score: int) -> str:
    """The VIP question with ``FACE_SCORE`` filled in (an int 0–100)."""
    score = int(face_score)
    if not 0 <= score <= 100:
        raise ValueError(f"face_score must be an integer in [0, 100], got {face_score!r}")
    return VIP_PROMPT.replace("{FACE_SCORE}", str(score))


def answer(label: bool) -> str:
    return ANSWER_YES if label else ANSWER_NO


def chat_prefix(user_text: str, system: str = SYSTEM) -> str:
    """Qwen chat text up to and including the assistant header (``<image>``/``<|face_pad|>`` still unexpanded)."""
    return (f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user_text}<|im_end|>\n"
            f"<|im_start|>assistant\n")


ASSISTANT_END = "<|im_end|>"
