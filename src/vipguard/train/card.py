"""Model cards of the training apps: the recipe line a reader can re-run (no machine paths)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping


def recipe(base: str, config: object, defaults: object, flags: Mapping[str, str]) -> str:
    """``base`` followed by ``flag value`` for every field of ``config`` (name → CLI flag in ``flags``) whose value
    differs from ``defaults``: the command that reproduces the run."""
    out = base
    for name, flag in flags.items():
        if getattr(config, name) != getattr(defaults, name):
            out += f" {flag} {shlex.quote(str(getattr(config, name)))}"
    return out
