"""The MLLM tier behind the same Guard contract: face pipeline, adaptive VIP selection and FACE_SCORE from the
lite tier; the Yes/No probability and the generated explanation from the VIPGuard MLLM."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..faces import face_score
from ..faces.embed import DEFAULT_EMBEDDER
from ..lite.explain import genuine_range_phrase
from ..lite.guard import Guard, Verdict


def mllm_judge(guard: Guard, model_dir: Path | None, vip_dir: Path | None, device: str = "cpu",
               explain: bool = True) -> Callable[..., Verdict]:
    """A ``check(image, vip=None, source=...)`` function that scores with the MLLM."""
    if model_dir is None:
        raise ValueError("--tier mllm needs --model-dir (a local Qwen2.5-VL / VIPGuard checkpoint directory)")
    from .infer import MLLMScorer

    scorer = MLLMScorer.from_dirs(model_dir, vip_dir, device=device)

    def judge(image: np.ndarray, vip: str | None = None, source: str = "<image>") -> Verdict:
        candidates = guard.candidates(vip)
        if isinstance(candidates, str):
            return Verdict.failed(source, candidates)
        faces = guard.analyzer.analyze(image, max_faces=guard.config.max_faces, embedders=(DEFAULT_EMBEDDER,),
                                       mesh=False)
        if not faces:
            return Verdict(source, vip, "no_face", None, 0, "No face was found in this image.")
        refused = guard.refusal(candidates.profiles)
        if refused is not None:
            return Verdict.failed(source, refused)
        embeddings = np.stack([f.embeddings[DEFAULT_EMBEDDER] for f in faces])
        fi, vi, claimed = guard.select(embeddings, candidates.index, vip)
        face, profile = faces[fi], candidates.profiles[vi]
        cos = float(face.embeddings[DEFAULT_EMBEDDER] @ profile.centre)
        similarity = face_score(cos)
        p_yes = scorer.score(image, similarity)  # the face model's only input to the MLLM: FACE_SCORE
        # the same rule as the lite tier (vipguard.lite.decision), with the MLLM's Yes-probability as the head
        decision = profile.decide(np.zeros(0), cos, guard.config.select_threshold, claimed,
                                  rate=guard.config.rate(profile), head=p_yes)
        verdict, score = decision.verdict, decision.score
        name = profile.name if claimed else None
        answer = scorer.explain(image, similarity) if explain else ""
        text = (f"MLLM P(yes) = {p_yes:.2f}; {genuine_range_phrase(decision, profile.name)}; score {score:.2f}. "
                f"{answer}").strip()
        return Verdict(source, name, verdict, score, similarity, text, box=face.detection.box, faces=len(faces),
                       decision=decision)

    return judge
