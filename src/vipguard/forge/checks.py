"""Quality control of forgeries: reasons to reject a (source, target) pair or a forged result.

Reasons are short fixed strings (they carry limits, not measured values), so a batch can count them.
"""

from __future__ import annotations

import numpy as np

from ..faces import Face, FaceAnalyzer
from .base import ForgeInput

MAX_POSE_GAP = 25.0
NO_FACE_IN_RESULT = "no face detected in the result"


def input_problem(source: ForgeInput, target: ForgeInput, max_pose_gap: float = MAX_POSE_GAP) -> str | None:
    """Why ``(source, target)`` cannot give a good forgery (no mesh, pose gap over ``max_pose_gap`` degrees
    in yaw or pitch), or ``None`` when the pair is fine."""
    for role, item in (("source", source), ("target", target)):
        if item.face.mesh is None:
            return f"no face mesh in {role} (landmark step failed)"
    s, t = source.face.mesh.pose, target.face.mesh.pose
    if abs(s.yaw - t.yaw) > max_pose_gap:
        return f"yaw gap over {max_pose_gap:g}°"
    if abs(s.pitch - t.pitch) > max_pose_gap:
        return f"pitch gap over {max_pose_gap:g}°"
    return None


def result_face(image: np.ndarray, analyzer: FaceAnalyzer) -> tuple[Face | None, str | None]:
    """The dominant face the pipeline finds in a forged ``image``, or ``(None, reason)`` when there is none."""
    faces = analyzer.analyze(image, primary_only=True, mesh=False)
    if not faces:
        return None, NO_FACE_IN_RESULT
    return faces[0], None
