"""The benchmark manifest: one record per image (DeepfakeBench-style JSON), read/write and folder layouts.

A record: ``path`` (relative to the manifest's folder, or absolute), ``vip``, ``label`` (1 genuine VIP photo,
0 fake or other person), ``kind`` (``genuine`` | ``other`` | ``fake``), ``method`` (the forgery method for fakes,
``random``/``lookalike`` for other people, null for genuine photos), ``split`` (``enrol`` | ``test``) and optional
provenance (``source``, ``target``, ``seed``).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..infra.io import IMAGE_SUFFIXES

KINDS = ("genuine", "other", "fake")
SPLITS = ("enrol", "test")
MANIFEST = "manifest.json"
VERSION = 1


class ManifestError(ValueError):
    """A manifest or folder layout that cannot be used, with the reason."""


@dataclass(frozen=True, slots=True)
class Record:
    path: str
    vip: str
    label: int
    kind: str
    method: str | None
    split: str
    source: str | None = None
    target: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ManifestError(f"{self.path}: kind must be one of {KINDS}, not {self.kind!r}")
        if self.split not in SPLITS:
            raise ManifestError(f"{self.path}: split must be one of {SPLITS}, not {self.split!r}")
        if self.label != int(self.kind == "genuine"):
            raise ManifestError(f"{self.path}: label {self.label} does not match kind {self.kind!r}")
        if self.split == "enrol" and self.kind != "genuine":
            raise ManifestError(f"{self.path}: only genuine photos can be in the enrol split")

    @classmethod
    def genuine(cls, path: str, vip: str, split: str) -> Record:
        return cls(path, vip, 1, "genuine", None, split)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        extra = data.pop("extra")
        return {k: v for k, v in {**data, **extra}.items() if v is not None or k == "method"}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Record:
        known = {"path", "vip", "label", "kind", "method", "split", "source", "target"}
        missing = {"path", "vip", "label", "kind", "split"} - data.keys()
        if missing:
            raise ManifestError(f"manifest record without {', '.join(sorted(missing))}: {data}")
        return cls(**{k: data.get(k) for k in known}, extra={k: v for k, v in data.items() if k not in known})


@dataclass(frozen=True)
class Manifest:
    """The records of one dataset and the folder their relative paths start from."""

    records: tuple[Record, ...]
    root: Path
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def vips(self) -> list[str]:
        return sorted({r.vip for r in self.records})

    def resolve(self, record: Record) -> Path:
        path = Path(record.path)
        return path if path.is_absolute() else self.root / path

    def select(self, vip: str | None = None, split: str | None = None, kind: str | None = None) -> list[Record]:
        return [r for r in self.records if (vip is None or r.vip == vip) and (split is None or r.split == split)
                and (kind is None or r.kind == kind)]

    def counts(self) -> dict[str, int]:
        c = Counter(f"{r.split}/{r.kind}" + (f"/{r.method}" if r.kind == "fake" else "") for r in self.records)
        return dict(sorted(c.items()))

    def problems(self) -> list[str]:
        """Consistency problems: a photo in two splits, or listed twice for one VIP.

        The same photo of another person may be a negative for several VIPs (one record per VIP).
        """
        out = []
        split_of: dict[str, Record] = {}
        seen: set[tuple[str, str]] = set()
        for r in self.records:
            key = os.path.normpath(str(self.resolve(r)))
            first = split_of.setdefault(key, r)
            if first.split != r.split:
                out.append(f"{r.path} is in two splits ({first.split}/{first.kind} and {r.split}/{r.kind})")
            if (r.vip, key) in seen:
                out.append(f"{r.path} is in the manifest twice for {r.vip}")
            seen.add((r.vip, key))
        return out

    def to_json(self) -> dict[str, Any]:
        return {"version": VERSION, **self.meta, "vips": self.vips, "counts": self.counts(),
                "images": [r.to_json() for r in self.records]}

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n")
        return path


def relative(path: Path | str, root: Path) -> str:
    """``path`` relative to ``root`` (with ``..`` if needed); absolute when on another drive."""
    try:
        return os.path.relpath(Path(path).resolve(), root.resolve())
    except ValueError:
        return str(Path(path).resolve())


def load_manifest(path: Path | str) -> Manifest:
    """Read a manifest file (or the ``manifest.json`` inside a dataset folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    if not path.is_file():
        raise ManifestError(f"{path}: no manifest (build one with `vipguard bench build`)")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: not valid JSON ({exc})") from exc
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list):
        raise ManifestError(f"{path}: expected an object with an 'images' list")
    meta = {k: v for k, v in data.items() if k not in ("images", "vips", "counts")}
    return Manifest(tuple(Record.from_json(r) for r in images), path.parent, meta)


def _images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def from_folders(folder: Path | str, root: Path | None = None) -> Manifest:
    """A manifest from a user's layout: ``<vip>/enrol``, ``<vip>/genuine``, ``<vip>/fake/<method>``, ``<vip>/other``.

    Paths are written relative to ``root`` (default: ``folder``). A VIP folder needs an ``enrol`` folder with at
    least one image and at least one test image.
    """
    folder = Path(folder)
    root = folder if root is None else root
    if not folder.is_dir():
        raise ManifestError(f"{folder}: not a folder")
    records: list[Record] = []
    vips = sorted(p for p in folder.iterdir() if p.is_dir())
    if not vips:
        raise ManifestError(f"{folder}: no VIP folders (expected <vip>/enrol, <vip>/genuine, <vip>/fake/<method>)")
    for vip_dir in vips:
        vip = vip_dir.name
        enrol = _images(vip_dir / "enrol")
        if not enrol:
            raise ManifestError(f"{vip_dir}: no images in {vip_dir / 'enrol'}")
        records += [Record.genuine(relative(p, root), vip, "enrol") for p in enrol]
        records += [Record.genuine(relative(p, root), vip, "test") for p in _images(vip_dir / "genuine")]
        records += [Record(relative(p, root), vip, 0, "other", None, "test") for p in _images(vip_dir / "other")]
        fake_dir = vip_dir / "fake"
        for method_dir in sorted(p for p in fake_dir.iterdir() if p.is_dir()) if fake_dir.is_dir() else []:
            records += [Record(relative(p, root), vip, 0, "fake", method_dir.name, "test")
                        for p in _images(method_dir)]
        loose = _images(fake_dir)
        records += [Record(relative(p, root), vip, 0, "fake", "unknown", "test") for p in loose]
        if not any(r.vip == vip and r.split == "test" for r in records):
            raise ManifestError(f"{vip_dir}: no test images (genuine/, fake/<method>/ or other/)")
    manifest = Manifest(tuple(records), root, {"source": "folders", "folders": str(folder)})
    problems = manifest.problems()
    if problems:
        raise ManifestError("; ".join(problems[:5]))
    return manifest


def group_key(record: Record) -> str:
    """The column a negative belongs to in the per-method tables: the forgery method, or ``other``."""
    return (record.method or "unknown") if record.kind == "fake" else "other"
