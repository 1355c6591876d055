"""Forgeries of a VIP made with classic image operations (landmark warps, blending, morphing).

Importing this package registers every method in :data:`FORGERS`: ``swap``, ``selfswap``, the partial swaps
``eyes``, ``nose``, ``mouth``, ``inner``, ``selfmouth``, ``morph``, ``reenact``, ``efs`` (a proxy for
identity-conditioned entire-face synthesis) and ``reshape`` (one feature of the VIP's own photo moved, no blend).
``SELF_TARGET_METHODS`` names those whose target is another photo of the VIP.
"""

# each module registers its methods, in this order
from . import swap, partial, morph, reenact, efs, selfedit  # noqa: F401, I001
from .base import FORGERS, SELF_TARGET_METHODS, ForgeError, ForgeInput, ForgeResult, ForgeryMethod
from .batch import BatchReport, ForgeItem, Rejection, choose_pairs, forge_batch, forge_one, identity_centre, prepare_input
from .checks import MAX_POSE_GAP, input_problem, result_face

__all__ = [
    "FORGERS", "MAX_POSE_GAP", "SELF_TARGET_METHODS", "BatchReport", "ForgeError", "ForgeInput", "ForgeItem",
    "ForgeResult", "ForgeryMethod", "Rejection", "choose_pairs", "forge_batch", "forge_one", "identity_centre", "input_problem",
    "prepare_input", "result_face",
]
