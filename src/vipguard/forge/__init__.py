"""Forgeries of a VIP made with classic image operations (landmark warps, blending, morphing)."""

from .base import FORGERS, ForgeError, ForgeInput, ForgeResult, ForgeryMethod

__all__ = ["FORGERS", "ForgeError", "ForgeInput", "ForgeResult", "ForgeryMethod"]
