"""Helpers shared by the command modules: consoles, the model store and error reporting."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from ..infra.weights import ModelStore, WeightsError


def stdout() -> Console:
    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def error(message: object) -> None:
    """Print ``error: message`` on stderr; the message is printed literally, so ``pip install 'vipguard[ray]'``
    or a path with brackets is not eaten as Rich markup."""
    stderr().print(f"[red]error:[/] {escape(str(message))}")


def open_store(models: Path | None) -> ModelStore | None:
    """The model store, or None after printing which command fixes a missing/corrupt one."""
    store = ModelStore(models)
    bad = store.problems()
    if bad:
        for name, problem in bad.items():
            error(f"model {name}: {problem} in {store.root}")
        stderr().print("run: vipguard setup  (or: make setup)")
        return None
    return store


def emit_json(record: dict) -> None:
    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    sys.stdout.flush()


__all__ = ["ModelStore", "WeightsError", "emit_json", "error", "open_store", "stderr", "stdout"]
