"""vipguard: identity-aware deepfake detection for protected people (VIPGuard), offline on a CPU.

    import vipguard
    vg = vipguard.VIPGuard()                 # the CLI's registry ($VIPGUARD_HOME/registry.db)
    vg.enroll("Tony_Blair", "photos/blair/")
    print(vg.check("suspect.jpg").verdict)

``import vipguard`` loads nothing heavy: the names below are imported from their modules on first use
(``help(vipguard.VIPGuard)`` for the whole API).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> the module that defines it (imported when the name is first used)
_EXPORTS = {
    "VIPGuard": "vipguard.api",
    "Verdict": "vipguard.lite.guard",
    "Guard": "vipguard.lite.guard",
    "GuardConfig": "vipguard.lite.guard",
    "EnrolResult": "vipguard.lite.enrol",
    "EnrolError": "vipguard.lite.enrol",
    "PhotoReport": "vipguard.lite.enrol",
    "VipProfile": "vipguard.lite.profile",
    "Face": "vipguard.faces.types",
    "ClipVerdict": "vipguard.apps.video",
    "UnknownVip": "vipguard.infra.registry",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vipguard' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
