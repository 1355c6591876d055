"""Explanations generated from the evidence values: which evidence decided, with its measured values."""

from __future__ import annotations

import numpy as np

from ..artifact.detector import NO_BOUNDARY
from .decision import BY_NAME, FEATURE_TABLE, FEATURES, PART_LABELS, SECOND_SHARE, Decision, split_rate

# how far the artefact term must lower a genuine verdict's score for its explanation to say so
NOTABLE_LOWERING = 0.05


def probability_text(p: float) -> str:
    """A probability with the decimals that tell it from 1 and from 0: 0.0076 → 0.008, 0.50, 0.85, 0.991, 0.99994 (an
    over-confident detector's threshold printed as 1.00, or a genuine crop's score printed as 0.00, would say
    nothing)."""
    p = float(p)
    if not np.isfinite(p):
        return f"{p:.2f}"
    gap = min(p, 1.0 - p)  # the distance to the nearer end
    if gap >= 0.1 or gap < 5e-8:
        return f"{p:.2f}"
    decimals = min(7, max(2, int(np.floor(-np.log10(max(gap, 1e-7)))) + 1))  # down to the gap's first digit
    return f"{p:.{decimals}f}"


def unjudged_phrase(sharpness: float, minimum: float) -> str:
    """Why the artefact score did not count: the crop is blurrier than the detector's operating point holds for."""
    return (f"Blending artefacts were not judged: the face is too blurred for the artefact detector (sharpness "
            f"{sharpness:.0f}, below the {minimum:.0f} its threshold was set for).")


def _plural(label: str) -> bool:
    return label.endswith("s") or " and " in label


def _phrase(feature: str, value: float, typical: float, vip: str, where: str | None = None) -> str:
    """One clause for one piece of evidence, phrased by its kind in the feature table."""
    f = BY_NAME[feature]
    part = PART_LABELS.get(f.part or "", "")
    if f.kind == "similarity":
        return f"face similarity to {vip} is {round(100 * max(value, 0))}/100 (genuine photos: ~{round(100 * max(typical, 0))})"
    if f.kind == "part_identity":
        ok = value >= typical - 0.1
        verb = ("match" if ok else "do not match") if _plural(part) else ("matches" if ok else "does not match")
        return f"the {part} {verb} {vip}'s ({value:.2f} vs {typical:.2f} typical)"
    if f.kind == "consistency":
        verb = "agree" if value >= typical - 0.1 else "disagree"
        return f"inner and outer face {verb} on identity ({value:.2f} vs {typical:.2f} typical)"
    if f.kind == "template":
        ok = value >= typical - 0.1
        verb = "resembles" if ok else "differs from"  # the subject is "the appearance", whatever the part
        return f"the appearance of the {part} {verb} {vip}'s template ({value:.2f} vs {typical:.2f} typical)"
    if f.kind == "geometry":
        inside = "within" if value <= typical + 0.5 else "outside"
        return f"the {part} shape is {inside} {vip}'s usual range ({value:.1f} vs {typical:.1f} typical deviation)"
    if f.kind == "boundary_colour":
        kind = "a colour seam" if value > typical else "no colour seam"
        return f"{kind} at the face boundary ({value:.2f} vs {typical:.2f})"
    if f.kind == "boundary_sharpness":
        kind = "differs" if abs(value - typical) > 0.15 else "is consistent"
        return f"sharpness inside vs outside the face {kind} ({value:+.2f} vs {typical:+.2f})"
    place = f", a blending boundary {where}" if where and value > typical and not where.startswith("no ") else ""
    return f"blending-artefact score {probability_text(value)} (genuine photos: {probability_text(typical)}){place}"


def top_evidence(contributions: dict[str, float], towards_genuine: bool, k: int = 2) -> list[str]:
    """The ``k`` features that pushed the decision most in the direction it went."""
    sign = 1.0 if towards_genuine else -1.0
    ranked = sorted(contributions, key=lambda f: -sign * contributions[f])
    return [f for f in ranked[:k] if sign * contributions[f] > 0] or ranked[:1]


PART_EVIDENCE = tuple(f.name for f in FEATURE_TABLE if f.departure)


def largest_departure(values: dict[str, float], usual: dict[str, float], margin: float = 0.1) -> str | None:
    """The facial part that departs most from the VIP's typical genuine photo (None when none departs by
    more than ``margin`` or the parts were not measured)."""
    gaps = {f: usual[f] - values[f] for f in PART_EVIDENCE if f in values and f in usual}
    if not gaps:
        return None
    worst = max(gaps, key=gaps.get)
    return worst if gaps[worst] > margin else None


def genuine_range_phrase(decision: Decision, vip: str) -> str:
    """Where the face's similarity lies against the VIP's genuine range, with the numbers the report shows."""
    sim = round(100 * max(decision.similarity, 0))
    floor = round(100 * max(decision.floor, 0))
    share = round(100 * (1 - split_rate(decision.reject_rate, decision.second is not None)))
    where = "below" if decision.below_floor else "inside"
    return f"face similarity {sim}/100 is {where} {vip}'s genuine range (≥ {floor} for {share} % of their photos)"


def second_opinion_phrase(decision: Decision, vip: str) -> str:
    """What the second recognizer says, where the VIP was enrolled with one (``decision.second``)."""
    second = decision.second
    sim = round(100 * max(second.similarity, 0))
    floor = second.floor(decision.reject_rate)
    where = "below" if second.similarity < floor else "inside"
    share = 100 * (1 - SECOND_SHARE * decision.reject_rate)
    return (f"a second recognizer ({second.embedder}) puts it at {sim}/100, {where} {vip}'s genuine range by that "
            f"recognizer (≥ {round(100 * max(floor, 0))} for {share:.2f} % of their photos)")


def second_decided(decision: Decision) -> bool:
    """The second recognizer set the score, and its similarity lies below its own genuine range."""
    return decision.second_lowered and decision.second.similarity < decision.second.floor(decision.reject_rate)


def deciding(decision: Decision, contributions: dict[str, float] | None, where: str | None = None) -> str:
    """What set the verdict, in a few words, with the region where blending artefacts did (the report's "decided
    by"). Only the artefact detector localises: the face similarity is the identity of the whole face, and the
    part-level evidence points at the edited part about as often as chance (benchmarks/localise.py, 2b)."""
    at = f" {where}" if where and where != NO_BOUNDARY else " (no region the detector stands by)"
    if decision.vetoed or (decision.verdict != "genuine" and decision.artefact_lowered):
        return f"blending artefacts{at}"
    if second_decided(decision):
        return f"the whole face's identity, by the second recognizer ({decision.second.embedder})"
    if decision.anchor <= decision.head:
        return "the whole face's identity (its similarity against the genuine range)"
    top = top_evidence(contributions or {}, decision.verdict == "genuine", k=1)
    if top and BY_NAME[top[0]].kind == "artefact":
        return f"blending artefacts{at}" if decision.verdict != "genuine" else "no blending artefacts"
    return "the whole face's identity (the per-VIP head)"


def explain(decision: Decision, vip: str | None, evidence: np.ndarray, typical: np.ndarray,
            contributions: dict[str, float] | None, where: str | None = None,
            measured: frozenset[str] | None = None) -> str:
    """One or two sentences naming what decided ``decision.verdict``, with its values: the VIP's genuine range
    when it set the score (``decision.anchor`` ≤ ``decision.head``), otherwise the evidence the head weighed most."""
    values = dict(zip(FEATURES, (float(v) for v in evidence)))
    usual = dict(zip(FEATURES, (float(v) for v in typical)))
    verdict, score = decision.verdict, decision.score
    if vip is None:
        return (f"The face matches no enrolled VIP: the nearest is at similarity "
                f"{round(100 * max(values['sim_global'], 0))}/100, below the selection threshold.")
    anchored = decision.anchor <= decision.head
    if decision.vetoed:  # below ACCEPT by construction: never a genuine verdict
        at = f" {where}" if where and where != NO_BOUNDARY else ""
        reasons = (f"blending artefacts{at}: the artefact detector's score {probability_text(decision.artifact)} "
                   f"reaches its veto ({probability_text(decision.veto)}), which no genuine photo should; face "
                   f"similarity {round(100 * max(decision.similarity, 0))}/100")
        picked = ["artifact", "sim_global"]
    elif second_decided(decision):
        reasons = f"{second_opinion_phrase(decision, vip)}; {genuine_range_phrase(decision, vip)}"
        picked = ["sim_global"]
    elif anchored:
        reasons = genuine_range_phrase(decision, vip)
        if verdict == "fake":
            reasons += (f", yet above what other people reach ({round(100 * max(decision.identity_floor, 0))}): "
                        f"the identity is partly there")
        picked: list[str] = ["sim_global"]
    else:
        picked = top_evidence(contributions or {}, verdict == "genuine")
        reasons = "; ".join(_phrase(f, values[f], usual[f], vip, where) for f in picked)
        if verdict == "genuine":
            reasons += f"; {genuine_range_phrase(decision, vip)}"
    lowered = decision.without_artefact - score  # by the artefact term (0 where it did not set the score)
    if verdict == "genuine" and decision.artefact_lowered and lowered >= NOTABLE_LOWERING:  # accepted, ranked lower
        reasons += (f"; the blending-artefact score {probability_text(decision.artifact)} (veto at "
                    f"{probability_text(decision.veto)}) lowers the score to {decision.score:.2f}")
    lead = {"genuine": f"Consistent with genuine {vip}", "fake": f"Likely a forgery of {vip}",
            "different_person": f"Likely a different person than {vip}"}[verdict]
    text = f"{lead} (score {score:.2f}): {reasons}."
    parts = {f: v for f, v in values.items() if measured is None or f in measured}
    worst = largest_departure(parts, usual)
    if worst is not None and worst not in picked:
        text += f" Largest departure from {vip}'s genuine photos: {_phrase(worst, values[worst], usual[worst], vip)}."
    return text
