"""The forgery-method contract: a registry of methods that put (part of) a source identity into a target photo.

``source`` is the identity donor (the VIP), ``target`` the photo whose scene, head and (outside the mask)
pixels are kept. Every method is deterministic given ``rng`` (a seeded ``numpy.random.Generator``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..faces.types import Face
from ..infra.plugins import Registry


class ForgeError(ValueError):
    """A forgery could not be made (no face, failed landmark step, pose gap too large, ...)."""


@dataclass(frozen=True, slots=True)
class ForgeInput:
    """An RGB uint8 photo and its analysed dominant face (with mesh)."""

    image: np.ndarray
    face: Face
    path: str | None = None


@dataclass(frozen=True, slots=True)
class ForgeResult:
    image: np.ndarray  # RGB uint8, the forged photo
    mask: np.ndarray  # uint8 0/255: where the forgery changed pixels (before feathering)
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    target: str | None = None

    def provenance(self) -> dict[str, Any]:
        return {"method": self.method, "source": self.source, "target": self.target, "params": self.params}


class ForgeryMethod(Protocol):
    name: str

    def forge(self, source: ForgeInput, target: ForgeInput, rng: np.random.Generator) -> ForgeResult:
        """Forge ``source``'s identity into ``target``; raises :class:`ForgeError` when it cannot."""


FORGERS: Registry[ForgeryMethod] = Registry("forgery method")

SELF_TARGET_METHODS = ("selfswap", "selfmouth")
"""Methods whose target is another photo of the source's own person: benchmarks and VIPEval-lite give them one."""
