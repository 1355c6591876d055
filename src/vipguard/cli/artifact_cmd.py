"""``vipguard artifact train|score``: train the self-blending artefact detector, or score faces in images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import emit_json, error, open_store, stdout


def torch_available() -> bool:
    """Whether torch is installed (training needs it; the lite tier's `make demo` install has none)."""
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="Blending-artefact detector (self-blended images, Face X-ray boundary).",
                      no_args_is_help=True)
    app.add_typer(sub, name="artifact")

    @sub.command("train")
    def train_cmd(
        data: Annotated[Path, typer.Option(help="LFW folder (one sub-folder per identity)")],
        out: Annotated[Path, typer.Option(help="output folder (checkpoint, weights, model card)")],
        backbone: Annotated[str, typer.Option(
            help="'' = the small CNN trained from scratch (v1); 'efficientnet_lite0' (the shipped detector's) or "
                 "'efficientnet_lite2' = v2, a head on frozen ImageNet features (needs `vipguard setup`)")] = "",
        epochs: Annotated[Optional[int], typer.Option(help="epochs (v1: 6, v2: 24)")] = None,
        steps: Annotated[int, typer.Option(help="v1: steps per epoch")] = 300,
        rounds: Annotated[int, typer.Option(help="v2: augmented (real, own pseudo-fake) pairs per face")] = 2,
        batch: Annotated[Optional[int], typer.Option(help="batch size, half real (v1: 32, v2: 64)")] = None,
        seed: Annotated[int, typer.Option(help="random seed")] = 0,
        resume: Annotated[bool, typer.Option("--resume", help="continue from OUT/checkpoint.pt")] = False,
        cache: Annotated[Optional[Path], typer.Option(help="cache folder for the analysed crops")] = None,
        threads: Annotated[Optional[int], typer.Option(help="torch threads (default 1)")] = None,
        lr: Annotated[Optional[float], typer.Option(help="peak learning rate (v1: 3e-3, v2: 2e-3)")] = None,
        warmup: Annotated[int, typer.Option(help="v1: warm-up steps")] = 100,
        resize_real: Annotated[Optional[float], typer.Option(
            help="v1: resize-augmentation probability, reals (0.4)")] = None,
        resize_fake: Annotated[Optional[float], typer.Option(
            help="v1: resize-augmentation probability, pseudo-fakes (0.4)")] = None,
        resize: Annotated[Optional[float], typer.Option(
            help="v2: resize-augmentation probability, one draw for a real view and its pseudo-fake (0.5)")] = None,
        sharpen: Annotated[Optional[float], typer.Option(
            help="v2: unsharp-mask augmentation probability, one draw for the pair (0.3)")] = None,
        noise: Annotated[Optional[float], typer.Option(
            help="v2: sensor-noise augmentation probability (RGB Gaussian, σ 2–12), one draw for the pair (0)")
        ] = None,
        init: Annotated[Optional[Path], typer.Option(
            help="v1: start from the weights in this folder; v2: start the head (and, with --finetune-from, the "
                 "trained blocks) from this detector folder")
        ] = None,
        finetune_from: Annotated[Optional[int], typer.Option(
            help="v2: also train backbone blocks FINETUNE_FROM..10 (the stride-16 stage, 5..10; batch-norm "
                 "statistics frozen) on the cached stride-8 features; default: the backbone stays frozen")] = None,
        finetune_lr_scale: Annotated[float, typer.Option(
            help="v2 with --finetune-from: the backbone blocks' learning rate relative to the head's")] = 0.1,
        feature_cache: Annotated[Optional[Path], typer.Option(
            help="v2: folder for the per-round feature files (default: OUT)")] = None,
        edits: Annotated[float, typer.Option(
            help="v2: share of pseudo-fakes drawn from the identity-passing edit families (part, ghost, geometry; "
                 "vipguard.train.edits) instead of self-blends and pair blends")] = 0.0,
        exclude_family: Annotated[str, typer.Option(
            help="v2: leave this family out of training (sbi, pair, part, ghost, geometry): the fold of a "
                 "leave-one-family-out table")] = "",
        crop: Annotated[str, typer.Option(help="crop geometry: native (the photo's pixel grid) or aligned")] = "native",
        size: Annotated[int, typer.Option(help="crop side in pixels (a multiple of 16)")] = 144,
        pair: Annotated[float, typer.Option(help="share of pseudo-fakes that are Face X-ray blends of two "
                                                 "different people (the rest: self-blends)")] = 0.5,
        target_fpr: Annotated[Optional[float], typer.Option(
            help="operating threshold: at most this false-positive rate on validation reals (clean, JPEG 60, 0.5× "
                 "resize; v1: 0.05, v2: 0.03); with --resume on a finished run, re-picks it")] = None,
    ) -> int:
        """Train on self-blends of the non-VIP identities in DATA; export to OUT."""
        from platformdirs import user_cache_dir

        from ..artifact.config import ArtifactConfig
        from ..artifact.crop import CROP_MODES
        from ..artifact.variants import VARIANTS
        from ..train.artifact import TrainConfig, train
        from ..train.artifact_frozen import (
            FrozenTrainConfig,
            finetune_range,
            train_frozen,
        )

        if not data.is_dir():
            error(f"data folder not found: {data}")
            return 2
        if backbone and backbone not in VARIANTS:
            error(f"--backbone must be '' (the small CNN) or one of {', '.join(VARIANTS)}; got {backbone!r}")
            return 2
        if crop not in CROP_MODES or size < 32 or size % 16:
            error(f"--crop must be one of {', '.join(CROP_MODES)} and --size a multiple of "
                  f"16 (at least 32); got {crop!r}, {size}")
            return 2
        if (target_fpr is not None and not 0.0 < target_fpr < 0.5) or not 0.0 <= pair <= 1.0:
            error(f"--target-fpr must lie in (0, 0.5) and --pair in [0, 1]; got {target_fpr}, {pair}")
            return 2
        if not torch_available():
            error("training the artefact detector needs torch: pip install 'vipguard[mllm]' (`make test` installs it)")
            return 2
        cache_dir = cache or Path(user_cache_dir("vipguard")) / "artifact"
        v1_only, v2_only = {"p_resize_real": resize_real, "p_resize_fake": resize_fake}, {"p_resize": resize,
                                                                                         "p_sharpen": sharpen,
                                                                                         "p_noise": noise}
        flags = {"p_resize_real": "--resize-real", "p_resize_fake": "--resize-fake", "p_resize": "--resize",
                 "p_sharpen": "--sharpen", "p_noise": "--noise"}
        wrong = [flags[k] for k, v in (v1_only if backbone else v2_only).items() if v is not None]
        if wrong:
            error(f"{', '.join(wrong)} do not apply with --backbone {backbone!r}: v1 draws the resize of reals and "
                  "pseudo-fakes apart (--resize-real/--resize-fake); v2 degrades a real view and its pseudo-fake "
                  "with one draw (--resize/--sharpen/--noise)")
            return 2
        if not backbone and (finetune_from is not None or feature_cache is not None or edits or exclude_family):
            error("--finetune-from, --feature-cache, --edits and --exclude-family apply to v2 only (--backbone "
                  "efficientnet_lite0 or efficientnet_lite2)")
            return 2
        from ..train.artifact_frozen import VIEW_FAMILIES

        if not 0.0 <= edits <= 1.0 or (exclude_family and exclude_family not in VIEW_FAMILIES):
            error(f"--edits must lie in [0, 1] and --exclude-family be one of {', '.join(VIEW_FAMILIES)}; got "
                  f"{edits}, {exclude_family!r}")
            return 2
        given = {k: v for k, v in {"epochs": epochs, "batch": batch, "threads": threads, "lr": lr,
                                   "target_fpr": target_fpr, **(v2_only if backbone else v1_only)}.items()
                 if v is not None}
        common = {"data": str(data), "cache_dir": str(cache_dir), "seed": seed, "p_pair": pair, **given}
        if backbone:
            from ..infra.weights import WeightsError

            mcfg = ArtifactConfig(backbone=backbone, size=size, crop=crop, fpn=48, head=96)
            try:
                fcfg = FrozenTrainConfig(rounds=rounds, finetune_from=finetune_from,
                                         finetune_lr_scale=finetune_lr_scale, init=str(init) if init else "",
                                         p_edits=edits, exclude_family=exclude_family, **common)
                finetune_range(fcfg, backbone)
            except ValueError as exc:
                error(str(exc))
                return 2
            if init and not (init / "model.safetensors").is_file():
                error(f"--init: no model.safetensors in {init}")
                return 2
            try:
                result = train_frozen(fcfg, out, resume=resume, model_config=mcfg, feature_dir=feature_cache)
            except WeightsError as exc:
                error(str(exc))
                return 2
        else:
            config = TrainConfig(steps=steps, warmup=warmup, init=str(init) if init else "", **common)
            result = train(config, out, resume=resume, model_config=ArtifactConfig(size=size, crop=crop))
        stdout().print(json.dumps({"metrics": result.get("metrics"), "threshold": result.get("threshold")}))
        return 0

    @sub.command("score")
    def score_cmd(
        images: Annotated[list[Path], typer.Argument(help="image files or folders")],
        json_out: Annotated[bool, typer.Option("--json", help="one JSON object per image per line")] = False,
        models: Annotated[Optional[Path], typer.Option(help="face model folder")] = None,
    ) -> int:
        """Probability that the main face in each image was blended in, and where the boundary lies."""
        from ..artifact.detector import ArtifactDetector
        from ..faces import AnalyzerConfig, FaceAnalyzer
        from ..infra.io import InputError, expand_inputs, load_image
        from ..lite.explain import probability_text

        store = open_store(models)
        if store is None:
            return 2
        detector = ArtifactDetector()
        failed = 0
        with FaceAnalyzer(AnalyzerConfig(embedders=()), store) as analyzer:
            for path in expand_inputs(images):
                record: dict = {"path": str(path), "score": None, "judged": None, "fake": None, "where": None,
                                "error": None}
                try:
                    rgb = load_image(path)
                    faces = analyzer.analyze(rgb, primary_only=True, embedders=())
                except InputError as exc:
                    failed += 1
                    record["error"] = exc.reason
                else:
                    if faces:
                        result = detector.score(rgb, faces[0])
                        # "fake" only where the crop is sharp enough for the threshold to mean what it says
                        record.update(score=round(result.score, 6), judged=result.judged,
                                      fake=result.judged and result.score >= detector.threshold, where=result.where)
                    else:
                        record["where"] = "no face"
                if json_out:
                    emit_json(record)
                elif record["error"]:
                    error(f"{path}: {record['error']}")
                elif record["score"] is None:
                    stdout().print(f"{path}\tno face")
                else:
                    verdict = ("blended" if record["fake"] else "clean") if record["judged"] else "too blurred to judge"
                    stdout().print(f"{path}\t{probability_text(record['score'])}\t{verdict}\t{record['where']}")
        return 1 if failed else 0
