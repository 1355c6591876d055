"""Training JSON (ms-swift format: ``{"messages": [...], "images": [...]}``) → training records.

Reads vipguard's own files and the authors' (e.g. their Stage-3 ``stage2_id0_only_img.json``): the prompt is the
user message, the answer the assistant message that follows it; ``label`` comes from the answer's
``<Conclusion>[Yes]`` / ``[No]``, ``face_score`` from the prompt's ``… is {FACE_SCORE}/100``. ``images[0]`` is the
input image; a second image (or a ``reference`` key) is the Stage-2 reference. Relative image paths are resolved
against ``image_root`` (default: the JSON file's folder). Records whose image files are missing are reported
one by one (:attr:`ParsedRecords.missing`), not fatal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .mllm_data import load_json

_LABEL = re.compile(r"<Conclusion>\s*\[(Yes|No)\]", re.IGNORECASE)
_SCORE = re.compile(r"VIP user is (\d{1,3})/100")


@dataclass(frozen=True)
class TrainRecord:
    index: int  # position in the JSON list
    prompt: str  # user message (``<image>`` / ``<|face_pad|>`` unexpanded)
    answer: str  # assistant message
    image: Path  # the input image
    reference: Path | None = None  # Stage 2: the reference image (FaceChecker queries)
    label: bool | None = None  # [Yes] / [No] in the answer; None for other answers (Stage 1)
    face_score: int | None = None  # FACE_SCORE written into the prompt


@dataclass(frozen=True)
class MissingImage:
    index: int  # record position in the JSON list
    path: Path
    role: str  # "image" or "reference"

    def __str__(self) -> str:
        return f"record {self.index}: {self.role} not found: {self.path}"


@dataclass(frozen=True)
class ParsedRecords:
    source: str
    records: tuple[TrainRecord, ...]  # usable records (all their images exist)
    missing: tuple[MissingImage, ...]  # one entry per missing file; their records are not in ``records``

    def summary(self, show: int = 3) -> str:
        text = f"{self.source}: {len(self.records)} usable records"
        if self.missing:
            skipped = len({m.index for m in self.missing})
            text += f", {skipped} skipped for missing images (" + "; ".join(str(m) for m in self.missing[:show])
            text += f"; … {len(self.missing) - show} more)" if len(self.missing) > show else ")"
        return text


def _turns(record: dict, index: int) -> tuple[str, str]:
    messages = record.get("messages")
    if not isinstance(messages, list):
        raise ValueError(f"record {index}: 'messages' must be a list")
    for i, m in enumerate(messages[:-1]):
        if m.get("role") == "user" and messages[i + 1].get("role") == "assistant":
            return str(m.get("content", "")), str(messages[i + 1].get("content", ""))
    raise ValueError(f"record {index}: no user message followed by an assistant message")


def _resolve(path: str, root: Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else root / p


def parse_records(raw: Sequence[dict], image_root: str | Path, source: str = "<records>") -> ParsedRecords:
    """Parse ms-swift records; images that do not exist are reported per record."""
    root = Path(image_root)
    records, missing = [], []
    for index, record in enumerate(raw):
        prompt, answer = _turns(record, index)
        images = list(record.get("images") or [])
        if not images:
            raise ValueError(f"record {index}: no image ('images' is empty)")
        ref_name = images[1] if len(images) > 1 else record.get("reference")
        image = _resolve(images[0], root)
        reference = _resolve(ref_name, root) if ref_name else None
        gone = [MissingImage(index, p, role) for p, role in ((image, "image"), (reference, "reference"))
                if p is not None and not p.is_file()]
        if gone:
            missing += gone
            continue
        label = _LABEL.search(answer)
        score = _SCORE.search(prompt)
        records.append(TrainRecord(index, prompt, answer, image, reference,
                                   None if label is None else label.group(1).lower() == "yes",
                                   None if score is None else int(score.group(1))))
    return ParsedRecords(source, tuple(records), tuple(missing))


def read_records(path: str | Path, image_root: str | Path | None = None) -> ParsedRecords:
    """:func:`parse_records` of a JSON file; ``image_root`` defaults to the file's folder."""
    p = Path(path)
    return parse_records(load_json(p), p.parent if image_root is None else image_root, str(p))


__all__ = ["MissingImage", "ParsedRecords", "TrainRecord", "parse_records", "read_records"]
