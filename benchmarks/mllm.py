"""MLLM tier throughput on a *random* Qwen2.5-VL of a chosen size: images/s of batched Yes/No scoring and the
time of one Stage-3 step (VIP tokens only: forward + backward through the frozen model and the FaceChecker, which
attends over each image's own vision tokens).

    python benchmarks/mllm.py                                  # tiny model, CPU
    python benchmarks/mllm.py --size 1b --device cuda --batch 16 --image-size 448   # ~1B random model, bf16 on CUDA

Weights are random (nothing is downloaded), so the numbers measure compute, not accuracy. On a GPU machine, the
whole recipe (suite in bf16 on CUDA + this benchmark) is in docs/mllm.md ("Checking on a GPU").
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from vipguard.mllm.infer import MLLMScorer
from vipguard.mllm.model import MLLMConfig, VIPGuardMLLM
from vipguard.mllm.prompts import ANSWER_YES, vip_prompt
from vipguard.mllm.tiny import TinySpec, random_model

SIZES = {
    "tiny": TinySpec(),
    # ~1.1 B parameters: Qwen2.5-VL-like text tower (2048 wide, 16 layers) + 8-block vision tower.
    "1b": TinySpec(hidden=2048, layers=16, heads=16, kv_heads=2, intermediate=11008, mrope_section=(16, 24, 24),
                   vision_depth=8, vision_hidden=1280, vision_heads=16, vision_intermediate=3420,
                   initializer_range=0.02, max_pixels=448 * 448),
}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=sorted(SIZES), default="tiny")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--n", type=int, default=32, help="images to score")
    ap.add_argument("--image-size", type=int, default=112, help="square test images (pixels)")
    ap.add_argument("--token-num", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5, help="Stage-3 steps to time")
    ap.add_argument("--threads", type=int, default=1,
                    help="CPU threads (1 avoids oversubscription on small shared machines; 0 = torch's default)")
    args = ap.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    spec = SIZES[args.size]
    dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32
    t0 = time.perf_counter()
    base, tokenizer, image_processor = random_model(spec, args.device, dtype)
    model = VIPGuardMLLM.from_parts(base, tokenizer, image_processor,
                                    MLLMConfig(token_num=args.token_num))
    params = sum(p.numel() for p in model.parameters())
    print(f"model: {args.size} ({params / 1e6:.1f} M parameters, {dtype}) on {args.device}; "
          f"built in {time.perf_counter() - t0:.1f} s")

    rng = np.random.RandomState(0)
    images = [rng.randint(0, 255, (args.image_size, args.image_size, 3), np.uint8) for _ in range(args.n)]
    scores = rng.randint(0, 101, args.n).tolist()
    scorer = MLLMScorer(model, batch_size=args.batch)
    scorer.score_batch(images[: args.batch], scores[: args.batch])  # warm-up
    sync(args.device)
    t0 = time.perf_counter()
    scorer.score_batch(images, scores)
    sync(args.device)
    dt = time.perf_counter() - t0
    n_tokens = len(scorer._encode(images[0], 50).input_ids)
    print(f"scoring: {args.n / dt:.1f} images/s (batch {args.batch}, {args.image_size}px, {n_tokens} tokens/prompt)")

    # Stage 3: only the VIP tokens train (AdamW lr 1.0, wd 1e-3), frozen model in eval mode, batch 1.
    for name, p in model.named_parameters():
        p.requires_grad_(name == "vip_tokens")
    model.eval()
    opt = torch.optim.AdamW([model.vip_tokens], lr=1.0, weight_decay=1e-3)
    item = model.processor.encode(vip_prompt(scores[0]), images[0], ANSWER_YES)
    batch = model.processor.collate([item])
    times = []
    for _ in range(args.steps + 1):
        sync(args.device)
        t0 = time.perf_counter()
        loss = model.loss(batch)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync(args.device)
        times.append(time.perf_counter() - t0)
    print(f"stage-3 step: {1000 * statistics.median(times[1:]):.1f} ms median over {args.steps} "
          f"(loss {loss.item():.3f})")
    if args.device.startswith("cuda"):
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
