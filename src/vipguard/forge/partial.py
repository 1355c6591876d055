"""Partial swaps: only one facial region (eyes + brows, nose, mouth, or the inner face) comes from the source.

The source face is warped onto the target's mesh as for a full swap; the region's mask (dilated a little) is
feathered inward, so every pixel outside the dilated mask keeps the target's value exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..faces import region_mask
from .base import FORGERS, ForgeError, ForgeInput, ForgeResult
from .swap import warp_source_face
from .warp import alpha_blend, face_size, feather_alpha, match_colour

PARTIAL_REGIONS = ("eyes", "nose", "mouth", "inner")


@dataclass(frozen=True, slots=True)
class PartialSwap:
    """Swap one ``region``; the dilation and feather widths are drawn per seed, relative to the face size."""

    name: str
    region: str
    colour: bool = True

    def forge(self, source: ForgeInput, target: ForgeInput, rng: np.random.Generator) -> ForgeResult:
        warped, valid, dst_pts = warp_source_face(source, target)
        size = face_size(region_mask(dst_pts, "face", target.image.shape))
        dilate = max(int(round(size * float(rng.uniform(0.03, 0.06)))), 1)
        mask = region_mask(dst_pts, self.region, target.image.shape, dilate=dilate) & valid
        if np.count_nonzero(mask) < 16:
            raise ForgeError(f"target {self.region} region is empty ({target.path or 'image'})")
        if self.colour:
            warped = match_colour(warped, target.image, mask)
        width = max(int(round(2 * dilate * float(rng.uniform(0.8, 1.2)))), 2)
        image = alpha_blend(warped, target.image, feather_alpha(mask, width))
        params = {"region": self.region, "dilate": dilate, "feather": width, "colour": self.colour}
        return ForgeResult(image=image, mask=mask, method=self.name, params=params,
                           source=source.path, target=target.path)


def _register(region: str) -> None:
    def factory(colour: bool = True) -> PartialSwap:
        return PartialSwap(region, region, colour)

    factory.__doc__ = f"Only the source's {region} region into the target photo."
    FORGERS.register(region)(factory)


_register("eyes")
_register("nose")
_register("mouth")
_register("inner")
