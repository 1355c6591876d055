"""Shared fixtures: the real photos in ../shared/data (skip when absent) and the real face models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("VIPGUARD_DATA", ROOT.parent / "shared" / "data"))
LFW = DATA / "lfw"
HIRES = DATA / "hires"
VIPS = ("Tony_Blair", "George_W_Bush", "Colin_Powell", "Serena_Williams", "Junichiro_Koizumi")


@pytest.fixture(scope="session")
def lfw() -> Path:
    if not LFW.is_dir():
        pytest.skip(f"real photos not found at {LFW} (../shared/data is absent)")
    return LFW


@pytest.fixture(scope="session")
def hires() -> Path:
    if not HIRES.is_dir():
        pytest.skip(f"real photos not found at {HIRES} (../shared/data is absent)")
    return HIRES


@pytest.fixture(scope="session")
def store():
    from vipguard.infra.weights import ModelStore

    s = ModelStore()
    bad = {k: v for k, v in s.status().items() if v != "ok"}
    if bad:
        pytest.skip(f"model weights missing ({bad}); run `vipguard setup`")
    return s


@pytest.fixture(scope="session")
def analyzer(store):
    from vipguard.faces import AnalyzerConfig, FaceAnalyzer

    a = FaceAnalyzer(AnalyzerConfig(), store)
    yield a
    a.close()


@pytest.fixture(scope="session")
def artifact():
    """The artefact detector shipped in the package (the Guard's and the Enroller's artefact evidence)."""
    from vipguard.artifact.detector import ArtifactDetector

    return ArtifactDetector()


def photos(lfw: Path, name: str, first: int = 1, last: int = 9999) -> list[Path]:
    """``name``'s LFW photos with index in [first, last]."""
    return [p for p in sorted((lfw / name).glob("*.jpg")) if first <= int(p.stem.rsplit("_", 1)[1]) <= last]


def photo_folder(lfw: Path, name: str, first: int, last: int, folder: Path) -> Path:
    """A folder holding copies of ``name``'s LFW photos with index in [first, last] (an enrolment folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    for p in photos(lfw, name, first, last):
        (folder / p.name).write_bytes(p.read_bytes())
    return folder
