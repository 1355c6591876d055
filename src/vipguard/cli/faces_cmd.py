"""``vipguard faces IMAGE...``: run the face pipeline and print each face's box, landmarks, pose and quality."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import cv2
import typer
from rich.table import Table

from ..faces import AnalyzerConfig, FaceAnalyzer
from ..infra.io import InputError, expand_inputs, load_image
from .common import emit_json, error, open_store, stdout


def register(app: typer.Typer) -> None:
    @app.command("faces")
    def faces(
        images: Annotated[list[Path], typer.Argument(help="image files or folders")],
        json_out: Annotated[bool, typer.Option("--json", help="one JSON object per image per line")] = False,
        save_crops: Annotated[Optional[Path], typer.Option(help="write aligned 112×112 crops here")] = None,
        detector: Annotated[str, typer.Option(help="yunet | retinaface")] = "yunet",
        models: Annotated[Optional[Path], typer.Option(help="model folder")] = None,
    ) -> int:
        """Detect faces; print box, score, 5 landmarks, pose and quality per face."""
        store = open_store(models)
        if store is None:
            return 2
        failed = 0
        if save_crops:
            save_crops.mkdir(parents=True, exist_ok=True)
        table = Table("image", "face", "box", "score", "yaw/pitch/roll", "size", "sharpness", "problems")
        with FaceAnalyzer(AnalyzerConfig(detector=detector), store) as analyzer:
            for path in expand_inputs(images):
                try:
                    image = load_image(path)
                except InputError as exc:
                    failed += 1
                    error(exc)
                    if json_out:
                        emit_json({"path": str(path), "faces": [], "error": exc.reason})
                    continue
                found = analyzer.analyze(image)
                if json_out:
                    emit_json({"path": str(path), "faces": [f.to_dict() for f in found], "error": None})
                if not found:
                    table.add_row(str(path), "-", "no face", "", "", "", "", "")
                for i, face in enumerate(found):
                    if save_crops:
                        crop_path = save_crops / f"{path.stem}_face{i}.png"
                        cv2.imwrite(str(crop_path), cv2.cvtColor(face.aligned, cv2.COLOR_RGB2BGR))
                    pose = face.pose
                    q = face.quality
                    table.add_row(
                        str(path), str(i), " ".join(f"{v:.0f}" for v in face.detection.box),
                        f"{face.detection.score:.2f}",
                        f"{pose.yaw:+.0f}/{pose.pitch:+.0f}/{pose.roll:+.0f}" if pose else "-",
                        f"{q.face_size:.0f}", f"{q.blur:.0f}", "; ".join(q.problems()) or "ok",
                    )
        if not json_out:
            stdout().print(table)
        return 1 if failed else 0
