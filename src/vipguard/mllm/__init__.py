"""The paper-faithful MLLM tier: Qwen2.5-VL + LoRA + FaceChecker + VIP tokens (Stages 1–3, Yes/No score).

Needs the ``mllm`` extra (torch, transformers, peft). Importing this package does not import torch; the
submodules do.
"""
