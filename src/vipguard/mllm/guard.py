"""The MLLM tier behind the same Guard contract: face pipeline, adaptive VIP selection and FACE_SCORE from the
lite tier; the Yes/No probability and the generated explanation from the VIPGuard MLLM."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..faces import face_score
from ..guard import Guard, Verdict


def mllm_judge(guard: Guard, model_dir: Path | None, vip_dir: Path | None, device: str = "cpu",
               explain: bool = True) -> Callable[..., Verdict]:
    """A ``check(image, vip=None, source=...)`` function that scores with the MLLM."""
    if model_dir is None:
        raise ValueError("--tier mllm needs --model-dir (a local Qwen2.5-VL / VIPGuard checkpoint directory)")
    from .infer import MLLMScorer

    scorer = MLLMScorer.from_dirs(model_dir, vip_dir, device=device)

    def judge(image: np.ndarray, vip: str | None = None, source: str = "<image>") -> Verdict:
        profiles = guard.profiles(vip)
        if isinstance(profiles, str):
            return Verdict.failed(source, profiles)
        faces = guard.analyzer.analyze(image, max_faces=guard.config.max_faces, mesh=False)
        if not faces:
            return Verdict(source, vip, "no_face", None, 0, "No face was found in this image.")
        fi, vi, claimed = guard.select(np.stack([f.embeddings["mobilefacenet"] for f in faces]), profiles, vip)
        face, profile = faces[fi], profiles[vi]
        cos = float(face.embeddings["mobilefacenet"] @ profile.centre)
        similarity = face_score(cos)
        score = scorer.score(image, face.embeddings["mobilefacenet"], similarity)
        if not claimed:
            verdict, name = "different_person", None
        elif score >= guard.config.threshold:
            verdict, name = "genuine", profile.name
        else:
            verdict = "fake" if guard.carries_identity(cos, profile) else "different_person"
            name = profile.name
        answer = scorer.explain(image, face.embeddings["mobilefacenet"], similarity) if explain else ""
        text = (f"MLLM P(yes) = {score:.2f} at face similarity {similarity}/100 to {profile.name}. "
                f"{answer}").strip()
        return Verdict(source, name, verdict, score, similarity, text, box=face.detection.box, faces=len(faces))

    return judge
