"""``vipguard mllm ...``: the paper-faithful MLLM tier (data sets, Stages 1–3, a tiny offline model).

torch / transformers / peft are imported inside the commands, so the rest of the CLI works without them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import error, open_store, stderr, stdout

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def _by_identity(root: Path) -> dict[str, list[Path]]:
    """``root/<identity>/*.jpg`` → {identity: photos}."""
    if not root.is_dir():
        raise typer.BadParameter(f"not a folder: {root}")
    return {d.name: _images(d) for d in sorted(root.iterdir()) if d.is_dir() and _images(d)}


def register(app: typer.Typer) -> None:
    mllm = typer.Typer(help="The MLLM tier (Qwen2.5-VL + LoRA + FaceChecker + VIP tokens): data, training, "
                            "a tiny offline model.", no_args_is_help=True)
    data = typer.Typer(help="Build training sets (ms-swift JSON).", no_args_is_help=True)
    train = typer.Typer(help="Train Stage 1, 2 or 3.", no_args_is_help=True)
    mllm.add_typer(data, name="data")
    mllm.add_typer(train, name="train")
    app.add_typer(mllm, name="mllm")

    @mllm.command("build-tiny")
    def build_tiny_cmd(out: Annotated[Path, typer.Option(help="directory to create")],
                       seed: Annotated[int, typer.Option(help="weights seed")] = 0) -> int:
        """Create a tiny random Qwen2.5-VL directory (config, weights, tokenizer, image processor)."""
        from ..mllm.tiny import TinySpec, build_tiny

        path = build_tiny(out, TinySpec(seed=seed))
        stdout().print(f"tiny Qwen2.5-VL written to {path} (use it as --model-dir / --pretrain-path)")
        return 0

    # -- data --------------------------------------------------------------------------------------------
    @data.command("fa")
    def data_fa(photos: Annotated[list[Path], typer.Argument(help="image files or folders")],
                out: Annotated[Path, typer.Option(help="output JSON")],
                seed: int = 0, models: Annotated[Optional[Path], typer.Option(help="model folder")] = None) -> int:
        """D_FA (Stage 1): attribute questions from attributes measured on each photo."""
        from ..faces import FaceAnalyzer
        from ..infra.io import InputError, expand_inputs, load_image
        from ..train.mllm_data import fa_records, measure_attributes, save_json

        store = open_store(models)
        if store is None:
            return 2
        items, skipped = [], 0
        with FaceAnalyzer(store=store) as analyzer:
            for path in expand_inputs(photos):
                try:
                    faces = analyzer.analyze(load_image(path), primary_only=True)
                except InputError as exc:
                    stderr().print(f"[yellow]skip:[/] {exc}")
                    skipped += 1
                    continue
                if not faces or faces[0].mesh is None:
                    stderr().print(f"[yellow]skip:[/] {path}: no face with a mesh")
                    skipped += 1
                    continue
                items.append((path, measure_attributes(faces[0])))
        records = fa_records(items, seed=seed)
        save_json(records, out)
        stdout().print(f"{len(records)} records from {len(items)} photos ({skipped} skipped) → {out}")
        return 0

    @data.command("id")
    def data_id(real_root: Annotated[Path, typer.Argument(help="folder of <identity>/ photo folders")],
                fakes_root: Annotated[Path, typer.Argument(help="folder of <identity>/ forgeries of that person")],
                out: Annotated[Path, typer.Option(help="output JSON")],
                units: Annotated[int, typer.Option(help="groups of 2 same + 1 different + 1 fake pairs")] = 100,
                seed: int = 0, models: Annotated[Optional[Path], typer.Option(help="model folder")] = None) -> int:
        """D_ID general (Stage 2): pairs in the exact ratio 2 : 1 : 1 (same : different : fake)."""
        from ..faces import FaceAnalyzer
        from ..train.mllm_data import analyzer_embed, id_general_records, save_json

        store = open_store(models)
        if store is None:
            return 2
        with FaceAnalyzer(store=store) as analyzer:
            records = id_general_records(_by_identity(real_root), _by_identity(fakes_root),
                                         analyzer_embed(analyzer), units, seed)
        save_json(records, out)
        stdout().print(f"{len(records)} pairs → {out}")
        return 0

    @data.command("vip")
    def data_vip(genuine: Annotated[Path, typer.Argument(help="folder of the VIP's authentic photos")],
                 others: Annotated[Path, typer.Argument(help="folder of photos of other people")],
                 fakes: Annotated[Path, typer.Argument(help="folder of forgeries of the VIP")],
                 out: Annotated[Path, typer.Option(help="output JSON")],
                 seed: int = 0, models: Annotated[Optional[Path], typer.Option(help="model folder")] = None) -> int:
        """D_ID VIP (Stage 3): inputs in the exact ratio 1 : 5 : 5 (genuine : other real : fake)."""
        import numpy as np

        from ..faces import FaceAnalyzer
        from ..train.mllm_data import analyzer_embed, id_vip_records, save_json

        store = open_store(models)
        if store is None:
            return 2
        with FaceAnalyzer(store=store) as analyzer:
            records, centre = id_vip_records(_images(genuine), _images(others), _images(fakes),
                                             analyzer_embed(analyzer), seed)
        save_json(records, out)
        np.save(out.with_suffix(".centre.npy"), centre)
        stdout().print(f"{len(records)} records → {out} (face-embedding centre: {out.with_suffix('.centre.npy')})")
        return 0

    # -- train -------------------------------------------------------------------------------------------
    def _train(stage: int, name: str, train_json: Path, pretrain_path: Optional[Path], model_dir: Optional[Path],
               output_dir: Path, device: str, epoch: Optional[int], lr: Optional[float], batch_size: int,
               gradient_accumulation_steps: Optional[int], token_num: int, image_root: Optional[Path], lora_r: int,
               lora_alpha: int, max_steps: Optional[int], seed: int, overwrite: bool, resume: bool) -> int:
        from ..mllm.model import ModelDirError
        from ..mllm.vip import CheckpointFormatError
        from ..train.mllm import CheckpointExists, TrainConfig
        from ..train.mllm import train as run

        cfg = TrainConfig(stage=stage, train_json=str(train_json), name=name,
                          pretrain_path=str(pretrain_path) if pretrain_path else None,
                          model_dir=str(model_dir) if model_dir else None, output_dir=str(output_dir),
                          device=device, epoch=epoch, lr=lr, batch_size=batch_size,
                          gradient_accumulation_steps=gradient_accumulation_steps, token_num=token_num,
                          image_root=str(image_root) if image_root else None, lora_r=lora_r,
                          lora_alpha=lora_alpha, max_steps=max_steps, seed=seed,
                          overwrite=overwrite, resume=resume)
        try:
            result = run(cfg)
        except (CheckpointExists, CheckpointFormatError, ModelDirError, FileNotFoundError, ValueError) as exc:
            error(exc)
            return 1
        for m in result.missing:
            stderr().print(f"skipped {m}", markup=False, highlight=False)
        first, last = (result.losses[0], result.losses[-1]) if result.losses else (float("nan"),) * 2
        stdout().print(f"stage {stage}: {result.steps} steps, loss {first:.4f} → {last:.4f}; saved {result.out_dir}")
        return 0

    def make(stage: int, doc: str):
        def command(
            name: Annotated[str, typer.Option("--name", help="run / VIP name")] = "Amair",
            train_json: Annotated[Path, typer.Option("--train-json", help="training JSON")] = Path("train.json"),
            pretrain_path: Annotated[Optional[Path], typer.Option(
                "--pretrain-path", help="previous stage's directory, or a Qwen2.5-VL directory")] = None,
            model_dir: Annotated[Optional[Path], typer.Option(
                "--model-dir", help="base Qwen2.5-VL directory (if the checkpoint's recorded one moved)")] = None,
            output_dir: Annotated[Path, typer.Option("--output-dir")] = Path("checkpoints"),
            device: Annotated[str, typer.Option("--device", help="cpu | cuda | cuda:N")] = "cpu",
            epoch: Annotated[Optional[int], typer.Option("--epoch")] = None,
            lr: Annotated[Optional[float], typer.Option("--lr")] = None,
            batch_size: Annotated[int, typer.Option("--batch-size")] = 1,
            gradient_accumulation_steps: Annotated[Optional[int], typer.Option(
                "--gradient-accumulation-steps")] = None,
            token_num: Annotated[int, typer.Option("--token-num")] = 32,
            image_root: Annotated[Optional[Path], typer.Option(
                "--image-root", help="folder that relative image paths in the JSON start from "
                                     "(default: the JSON's folder)")] = None,
            lora_r: Annotated[int, typer.Option("--lora-r")] = 64,
            lora_alpha: Annotated[int, typer.Option("--lora-alpha")] = 128,
            max_steps: Annotated[Optional[int], typer.Option("--max-steps")] = None,
            seed: Annotated[int, typer.Option("--seed")] = 0,
            overwrite: Annotated[bool, typer.Option("--overwrite")] = False,
            resume: Annotated[bool, typer.Option("--resume")] = False,
        ) -> int:
            return _train(stage, name, train_json, pretrain_path, model_dir, output_dir, device, epoch, lr,
                          batch_size, gradient_accumulation_steps, token_num, image_root, lora_r, lora_alpha,
                          max_steps, seed, overwrite, resume)

        command.__doc__ = doc
        train.command(f"stage{stage}")(command)

    make(1, "Stage 1: LoRA on D_FA (facial attributes).")
    make(2, "Stage 2: LoRA + FaceChecker on D_ID general pairs (images: [input, reference]).")
    make(3, "Stage 3: VIP tokens only, on the VIP's D_ID (writes Stage3/<name>/vip_token.pt).")
