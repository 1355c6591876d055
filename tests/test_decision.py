"""The decision module on its own (no models, no photos): genuine range, operating point, verdict rule, explanation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from vipguard.lite.decision import (
    ACCEPT,
    BY_NAME,
    FEATURE_TABLE,
    FEATURES,
    NO_MESH,
    SCORED,
    STRICTNESS,
    GenuinePrior,
    GenuineRange,
    anchor_probability,
    bundled_prior,
    decide,
    learn_prior,
    load_prior,
    loo_similarities,
    reject_rate,
    spread_check,
    summarise,
)
from vipguard.lite.explain import explain

PRIOR = GenuinePrior(loc=0.82, kappa=1.5, scale=0.065, dof=11.0, drift=0.0, drift_sd=0.04, later_ratio=0.92)


def _range(n=15, seed=0, mean=0.85, sd=0.05):
    return GenuineRange.fit(np.random.default_rng(seed).normal(mean, sd, n), PRIOR)


def test_feature_table_is_the_one_source_of_feature_knowledge():
    assert FEATURES == tuple(f.name for f in FEATURE_TABLE) and len(set(FEATURES)) == len(FEATURES)
    # the artefact score passed the do-no-harm rule read as log-odds, not linearly (benchmarks/verdict.py table 3)
    assert SCORED == ("sim_global", "artifact") and BY_NAME["artifact"].reading == "logit"
    assert NO_MESH == {"sim_global", "artifact"}
    assert BY_NAME["geom_eyes"].sign == -1 and BY_NAME["sim_eyes"].needs_mesh
    from vipguard.lite.head import READINGS

    assert {f.reading for f in FEATURE_TABLE} <= set(READINGS)


def test_a_crop_the_detector_does_not_judge_reads_as_the_vips_typical_genuine_score():
    from vipguard.lite.decision import column, for_head

    evidence = np.arange(len(FEATURES), dtype=np.float32) / 100
    typical = np.full(len(FEATURES), 0.5, np.float32)
    assert for_head(evidence, typical, judged=True) is evidence
    out = for_head(evidence, typical, judged=False)
    a = column("artifact")
    assert out[a] == 0.5 and np.array_equal(np.delete(out, a), np.delete(evidence, a))
    assert evidence[a] == a / 100  # the measured evidence (shown in reports) is left as it was


@pytest.mark.parametrize("sign", [+1.0, -1.0])
def test_the_most_a_head_can_say_over_every_artefact_score(sign):
    # what lets --fast leave the detector out: no artefact score the head can read gives it more than highest()
    from vipguard.lite.decision import column
    from vipguard.lite.head import LOGIT_EPS, Head

    cols = (column("sim_global"), column("artifact"))
    head = Head(("sim_global", "artifact"), (0.5, -3.0), (0.2, 2.0), (2.0, sign * 0.8), -1.0, 1.5, 0.1,
                columns=cols, readings=("linear", "logit"))
    row = np.zeros(len(FEATURES), np.float32)
    row[cols[0]] = 0.35
    best = head.highest(row, "artifact")
    scores = []
    for p in (0.0, LOGIT_EPS, 1e-4, 0.01, 0.5, 0.99, 1.0 - LOGIT_EPS, 1.0):
        row[cols[1]] = p
        scores.append(float(head.predict(row)[0]))
    assert max(scores) == pytest.approx(best, rel=1e-9) and all(s <= best + 1e-12 for s in scores)
    # a head that does not read the feature says what it says; one that reads it linearly is unbounded
    assert head.highest(row, "sim_eyes") == pytest.approx(scores[-1])
    linear = Head(("artifact",), (0.0,), (1.0,), (1.0,), 0.0, 1.0, 0.0, columns=(cols[1],), readings=("linear",))
    assert linear.highest(row, "artifact") == 1.0


@pytest.mark.parametrize("given, rate", [(None, 0.03), ("lenient", 0.01), ("default", 0.03), ("STRICT", 0.10),
                                         ("0.05", 0.05), (0.2, 0.2)])
def test_strictness_names_and_rates(given, rate):
    assert reject_rate(given) == pytest.approx(rate)


@pytest.mark.parametrize("bad", ["medium", "0", "0.5", -0.1, "abc"])
def test_bad_strictness_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="strictness|rate"):
        reject_rate(bad)


def test_operating_point_holds_on_genuine_draws():
    """With the person's similarities drawn from the population model, the floor keeps 1 - rate of new photos."""
    rng = np.random.default_rng(1)
    for rate in STRICTNESS.values():
        accepted = []
        for seed in range(200):
            mu = rng.normal(PRIOR.loc, PRIOR.scale / np.sqrt(PRIOR.kappa))
            enrol = rng.normal(mu, PRIOR.scale, 15)
            later = rng.normal(mu, PRIOR.scale * PRIOR.later_ratio, 50) + rng.normal(0, PRIOR.drift_sd)
            accepted.append(np.mean(later >= GenuineRange.fit(enrol, PRIOR).floor(rate)))
        assert abs(np.mean(accepted) - (1 - rate)) < 0.03, rate


def test_floor_and_anchor_agree():
    g = _range()
    for rate in (0.01, 0.03, 0.1):
        floor = g.floor(rate)
        assert g.cdf(floor) == pytest.approx(rate)
        assert anchor_probability(floor, g, rate) == pytest.approx(0.5)
    assert g.floor(0.01) < g.floor(0.03) < g.floor(0.1) < g.loc
    sims = np.linspace(0.2, 1.0, 50)
    assert np.all(np.diff([anchor_probability(s, g, 0.03) for s in sims]) >= 0)  # monotone in similarity


def test_shrinkage_few_photos_lean_on_the_population():
    """One tight photo pair cannot make a narrow range; many consistent photos can."""
    few = GenuineRange.fit([0.95, 0.95], PRIOR)
    many = GenuineRange.fit(np.full(200, 0.95) + np.random.default_rng(0).normal(0, 0.01, 200), PRIOR)
    assert few.scale > 0.05 and few.loc < 0.95
    assert many.loc == pytest.approx(0.95, abs=0.005) and many.scale < few.scale


def test_a_face_below_the_floor_is_never_genuine_whatever_the_head_says():
    g = _range()
    floor = g.floor(0.03)
    d = decide(1.0, floor - 0.01, g, 0.03, identity_threshold=0.4, select_threshold=0.25)
    assert d.verdict == "fake" and d.score < ACCEPT and d.below_floor
    assert decide(1.0, floor + 0.01, g, 0.03, 0.4, 0.25).verdict == "genuine"
    assert decide(0.2, floor + 0.05, g, 0.03, 0.4, 0.25).verdict == "fake"  # the head can still reject
    assert decide(1.0, 0.3, g, 0.03, 0.4, 0.25).verdict == "different_person"  # below the identity floor
    assert decide(1.0, 0.9, g, 0.03, 0.4, 0.25, claimed=False).verdict == "different_person"


def test_strictness_changes_the_verdict_between_the_floors():
    g = _range()
    sim = (g.floor(0.01) + g.floor(0.10)) / 2
    assert decide(0.99, sim, g, reject_rate("lenient"), 0.4, 0.25).verdict == "genuine"
    assert decide(0.99, sim, g, reject_rate("strict"), 0.4, 0.25).verdict == "fake"


def test_loo_similarities():
    e = np.eye(3)[[0, 0, 1]].astype(float)
    sims = loo_similarities(e)
    assert sims[0] == pytest.approx(1 / np.sqrt(2)) and sims[2] == pytest.approx(0.0)
    assert loo_similarities(e[:1]).size == 0


def test_learn_prior_from_people_statistics():
    rng = np.random.default_rng(0)
    people = []
    for _ in range(300):
        mu = rng.normal(0.8, 0.05)
        a, b = rng.normal(mu, 0.06, 8), rng.normal(mu - 0.02, 0.06, 8)
        people.append({"n": 8, "mean": a.mean(), "var": a.var(ddof=1), "later_n": 8, "later_mean": b.mean(),
                       "later_var": b.var(ddof=1)})
    prior = learn_prior(people)
    assert prior.loc == pytest.approx(0.8, abs=0.01) and prior.scale == pytest.approx(0.06, abs=0.005)
    assert prior.drift == pytest.approx(0.02, abs=0.005) and prior.kappa == pytest.approx(0.06**2 / 0.05**2, rel=0.4)
    with pytest.raises(ValueError):
        learn_prior(people[:1])


def test_bundled_prior_is_shipped_and_sane():
    prior = bundled_prior()
    assert prior.identities >= 50 and 0.7 < prior.loc < 0.9 and 0.03 < prior.scale < 0.12


def test_explanation_names_the_anchoring_with_its_numbers():
    g = _range()
    floor = g.floor(0.03)
    d = decide(0.99, floor - 0.1, g, 0.03, 0.4, 0.25)
    evidence = np.zeros(len(FEATURES), np.float32)
    evidence[0] = floor - 0.1
    text = explain(d, "Colin_Powell", evidence, np.full(len(FEATURES), 0.8), {"sim_global": 1.0})
    assert text.startswith("Likely a forgery of Colin_Powell")
    assert f"face similarity {round(100 * (floor - 0.1))}/100 is below Colin_Powell's genuine range" in text
    assert f"≥ {round(100 * floor)} for 97 % of their photos" in text


def test_every_feature_is_phrased_and_every_cited_departure_has_a_bar():
    from vipguard.apps.report import BARS
    from vipguard.lite.decision import KINDS
    from vipguard.lite.explain import PART_EVIDENCE, _phrase

    for f in FEATURE_TABLE:
        assert f.kind in KINDS
        text = _phrase(f.name, 0.3, 0.8, "Tony_Blair", "at the jaw")
        assert any(ch.isdigit() for ch in text) and "=" not in text, f.name
    assert set(PART_EVIDENCE) <= {name for name, _ in BARS}
    assert "the inner face does not match" in _phrase("sim_inner", 0.2, 0.8, "X")
    assert "the eyes and brows do not match" in _phrase("sim_eyes", 0.2, 0.8, "X")


def test_the_veto_is_left_out_only_where_it_cannot_move_the_score():
    from vipguard.lite.decision import VETO_NEGLIGIBLE, veto_may_change

    g = _range()
    artefacts = np.r_[np.linspace(0.0, 1.0, 101), 0.97, 0.999999, 1.0]
    # far outside the genuine range: the score is already ~0, and whatever the detector would say, leaving it out
    # moves the score by at most VETO_NEGLIGIBLE and never the verdict
    for head, sim in ((0.9, 0.0), (1e-10, g.floor(0.03)), (0.5, -0.3)):
        without = decide(head, sim, g, 0.03, 0.4, 0.25)
        assert not veto_may_change(without.score)
        for a in artefacts:
            vetoed = decide(head, sim, g, 0.03, 0.4, 0.25, artifact=float(a), veto=0.97)
            assert abs(vetoed.score - without.score) <= VETO_NEGLIGIBLE and vetoed.verdict == without.verdict
    # below ACCEPT but not ~0 (a forgery carrying the identity): the veto still lowers the score, so it must run
    fake = decide(0.3, g.floor(0.03) + 0.05, g, 0.03, 0.4, 0.25)
    assert fake.verdict == "fake" and veto_may_change(fake.score)
    assert decide(0.3, g.floor(0.03) + 0.05, g, 0.03, 0.4, 0.25, artifact=0.999, veto=0.97).score < fake.score - 0.1
    assert veto_may_change(decide(0.99, g.floor(0.03) + 0.05, g, 0.03, 0.4, 0.25).score)  # genuine: must run


def test_genuine_range_uses_the_student_t_of_scipy_stats_bit_for_bit():
    from scipy import stats

    rng = np.random.default_rng(3)
    for _ in range(300):
        r = GenuineRange(loc=rng.uniform(0.3, 0.9), scale=rng.uniform(0.02, 0.2), dof=rng.uniform(2, 60), n=10)
        x, q = rng.uniform(-0.5, 1.0), rng.uniform(0.001, 0.5)
        assert r.cdf(x) == float(stats.t.cdf(x, r.dof, r.loc, r.scale))
        assert r.floor(q) == float(stats.t.ppf(q, r.dof, r.loc, r.scale))


def test_the_artefact_veto_rules_genuine_out_and_only_at_its_threshold():
    from vipguard.lite.decision import VETO_POWER, veto_probability

    g = _range()
    sim = g.floor(0.03) + 0.05  # well inside the genuine range
    base = decide(0.99, sim, g, 0.03, 0.4, 0.25)
    assert base.verdict == "genuine" and not base.vetoed
    below = decide(0.99, sim, g, 0.03, 0.4, 0.25, artifact=0.96, veto=0.97)
    # just under the veto: still genuine, ranked lower by the graded term (1 - 0.5 (odds 0.96 / odds 0.97)^k)
    assert below.verdict == "genuine" and not below.vetoed and below.artefact_lowered
    assert below.score == pytest.approx(1 - 0.5 * (24 / (0.97 / 0.03)) ** VETO_POWER)
    assert ACCEPT < below.score < base.score
    clean = decide(0.99, sim, g, 0.03, 0.4, 0.25, artifact=0.01, veto=0.97)  # a clean photo: the score is the same
    assert clean.score == base.score and not clean.artefact_lowered and clean.artefact_term > 0.97
    at = decide(0.99, sim, g, 0.03, 0.4, 0.25, artifact=0.97, veto=0.97)
    assert at.vetoed and at.verdict == "fake" and at.score < ACCEPT  # the identity is there: a forgery
    assert decide(0.99, 0.3, g, 0.03, 0.4, 0.25, artifact=0.99, veto=0.97).verdict == "different_person"
    assert decide(0.99, sim, g, 0.03, 0.4, 0.25, artifact=0.99, veto=None).verdict == "genuine"  # no veto: none
    assert decide(0.99, sim, g, 0.03, 0.4, 0.25, artifact=None, veto=0.97).verdict == "genuine"  # not measured
    # monotone: a stronger blend never scores higher
    grid = (0.0, 0.5, 0.969, 0.97, 0.98, 0.99, 1.0)
    values = [veto_probability(a, 0.97) for a in grid]
    assert values[0] == 1.0 and all(x > y for x, y in zip(values[:-1], values[1:])) and values[-1] == 0.0
    assert min(values[:3]) > ACCEPT > values[3]  # above ACCEPT below the threshold, under it from the threshold on
    hard = [veto_probability(a, 0.97, power=math.inf) for a in grid]  # the hard veto of before
    assert hard[:3] == [1.0, 1.0, 1.0] and hard[3:] == values[3:]
    text = explain(at, "Colin_Powell", np.r_[sim, np.zeros(len(FEATURES) - 1)].astype(np.float32),
                   np.full(len(FEATURES), 0.8), {"sim_global": 1.0}, where="around the mouth")
    assert text.startswith("Likely a forgery of Colin_Powell")
    assert "blending artefacts around the mouth" in text and "0.97" in text
    lowered = explain(below, "Colin_Powell", np.r_[sim, np.zeros(len(FEATURES) - 1)].astype(np.float32),
                      np.full(len(FEATURES), 0.8), {"sim_global": 1.0})
    assert lowered.startswith("Consistent with genuine Colin_Powell")
    assert f"blending-artefact score 0.96 (veto at 0.97) lowers the score to {below.score:.2f}" in lowered
    odds = (0.97 / 0.03) * ((1 - (base.score - 0.02)) / (1 - ACCEPT)) ** (1 / VETO_POWER)  # lowers it by 0.02
    slight_a = odds / (1 + odds)  # not worth a word
    slight = decide(0.99, sim, g, 0.03, 0.4, 0.25, artifact=slight_a, veto=0.97)
    assert slight.artefact_lowered and "lowers the score" not in explain(
        slight, "Colin_Powell", np.r_[sim, np.zeros(len(FEATURES) - 1)].astype(np.float32),
        np.full(len(FEATURES), 0.8), {"sim_global": 1.0})
    assert "lowers the score" not in explain(clean, "Colin_Powell", np.r_[sim, np.zeros(len(FEATURES) - 1)].astype(
        np.float32), np.full(len(FEATURES), 0.8), {"sim_global": 1.0})


def test_blend_probabilities_are_printed_with_the_digits_that_tell_them_from_one():
    """An over-confident detector's threshold (0.999936) printed as 1.00 would make "0.9993 reaches its veto (1.00)"
    read as a contradiction, and a genuine crop's 0.003 printed as 0.00 would say nothing; each number is shown down
    to the first digit of its distance from the nearer of 0 and 1."""
    from vipguard.lite.explain import probability_text

    assert [probability_text(p) for p in (0.0076, 0.0003, 0.0, 0.5, 0.85, 0.96, 0.97, 0.991, 0.999936, 0.99936, 1.0)] == [
        "0.008", "0.0003", "0.00", "0.50", "0.85", "0.96", "0.97", "0.991", "0.99994", "0.9994", "1.00"]
    g = _range()
    sim = g.floor(0.03) + 0.05
    vetoed = decide(0.99, sim, g, 0.03, 0.4, 0.25, artifact=0.99997, veto=0.999936)
    text = explain(vetoed, "Colin_Powell", np.r_[sim, np.zeros(len(FEATURES) - 1)].astype(np.float32),
                   np.full(len(FEATURES), 0.8), {"sim_global": 1.0})
    assert "score 0.99997 reaches its veto (0.99994)" in text


def test_the_graded_artefact_term_never_changes_a_verdict_below_the_veto():
    """Below the veto threshold the artefact term only ranks: every verdict is the one without it, no score rises,
    and a stronger blend never scores higher."""
    from vipguard.lite.decision import VETO_POWER, veto_probability

    g = _range()
    rng = np.random.default_rng(5)
    for _ in range(2000):
        head, sim, veto = rng.uniform(0, 1), rng.uniform(g.floor(0.2) - 0.2, g.loc + 0.1), rng.uniform(0.5, 0.999)
        a, b = np.sort(rng.uniform(0, veto, 2))
        without = decide(head, sim, g, 0.03, 0.4, 0.25)
        low = decide(head, sim, g, 0.03, 0.4, 0.25, artifact=a, veto=veto)
        high = decide(head, sim, g, 0.03, 0.4, 0.25, artifact=b, veto=veto)
        assert low.verdict == high.verdict == without.verdict
        assert without.score >= low.score >= high.score
        assert low.score == min(without.score, veto_probability(a, veto))
        # the same evidence under the hard veto (benchmarks' peer of the graded term): the score before the term
        assert low.rescored(math.inf) == without.score and low.rescored(VETO_POWER) == low.score


def test_a_decision_rescored_with_the_hard_veto_keeps_every_verdict_and_only_raises_scores():
    """``Decision.rescored`` is the one way a benchmark weighs another shape of the artefact term: at or above the
    veto the hard veto ranks as the graded term does; below it, it leaves min(head, anchor) as it is."""
    g = _range()
    sim = g.floor(0.03) + 0.05
    vetoed = decide(0.99, sim, g, 0.03, 0.4, 0.25, artifact=0.98, veto=0.97)
    assert vetoed.rescored(math.inf) == vetoed.score < ACCEPT
    graded = decide(0.99, sim, g, 0.03, 0.4, 0.25, artifact=0.9, veto=0.97)
    assert graded.rescored(math.inf) == min(graded.head, graded.anchor) > graded.score >= ACCEPT
    unmeasured = decide(0.99, sim, g, 0.03, 0.4, 0.25)  # no artefact score: nothing to rescore
    assert unmeasured.rescored(math.inf) == unmeasured.rescored(0.4) == unmeasured.score


# ------------------------------------------------------------------- the prior's size dependence and its data

OLD_PRIOR = {"loc": 0.8127549425287356, "kappa": 1.3874287768664524, "scale": 0.06512171975492036, "dof": 11.0,
             "drift": -0.0034451724137930964, "drift_sd": 0.0405794586497425, "later_ratio": 0.9216273656448667,
             "identities": 87}  # a profile's meta["genuine_prior"] before the prior depended on the enrolment size


def test_an_old_prior_dict_still_loads_and_fits_as_it_did():
    prior = GenuinePrior.from_dict(OLD_PRIOR)
    assert not prior.robust and prior.tail_dof == 0 and prior.drift_n == prior.drift_var_n == 0
    x = np.random.default_rng(3).normal(0.85, 0.05, 15)
    g = GenuineRange.fit(x, prior)
    # the conjugate update as it was written before the size terms
    n, mean, ss = len(x), x.mean(), ((x - x.mean()) ** 2).sum()
    kappa, dof = prior.kappa + n, prior.dof + n
    loc = (prior.kappa * prior.loc + n * mean) / kappa
    var = (prior.dof * prior.scale**2 + ss + prior.kappa * n / kappa * (mean - prior.loc) ** 2) / dof
    assert g.loc == pytest.approx(loc - prior.drift)
    assert g.scale == pytest.approx(np.sqrt(var * (1 + 1 / kappa) * prior.later_ratio**2 + prior.drift_sd**2))
    assert g.dof == dof
    assert GenuinePrior.from_dict(prior.to_dict()) == prior


def test_the_shift_shrinks_with_the_enrolment_size_toward_its_floor():
    prior = GenuinePrior(loc=0.82, kappa=1.0, scale=0.05, dof=10.0, drift=0.01, drift_sd=0.02, later_ratio=1.0,
                         drift_n=-0.1, drift_var_n=0.02)
    variances = [prior.shift(n)[1] for n in (2, 3, 5, 10, 20, 1000)]
    assert np.all(np.diff(variances) < 0) and variances[-1] == pytest.approx(0.02**2, rel=1e-3)
    assert prior.shift(1000)[0] == pytest.approx(0.01, abs=1e-6) and prior.shift(3)[0] < 0.0
    x = np.random.default_rng(0).normal(0.85, 0.04, 40)
    sizeless = GenuinePrior(**{**prior.to_dict(), "drift_n": 0.0, "drift_var_n": 0.0})
    gaps = [GenuineRange.fit(x[:n], prior).scale - GenuineRange.fit(x[:n], sizeless).scale for n in (3, 6, 12, 40)]
    assert np.all(np.diff(gaps) < 0) and gaps[0] > 0.01 and gaps[-1] < 1e-3


def test_a_robust_range_hardly_moves_for_a_few_poor_photos():
    rng = np.random.default_rng(2)
    good = rng.normal(0.88, 0.02, 15)
    poor = np.r_[good, 0.55, 0.6]
    classic = GenuinePrior(loc=0.82, kappa=1.0, scale=0.04, dof=9.0, later_ratio=1.2)
    robust = GenuinePrior(**{**classic.to_dict(), "robust": True})
    assert abs(GenuineRange.fit(poor, robust).floor(0.03) - GenuineRange.fit(good, robust).floor(0.03)) < 0.01
    assert GenuineRange.fit(good, classic).floor(0.03) - GenuineRange.fit(poor, classic).floor(0.03) > 0.05


def test_a_learned_tail_sets_the_predictive_degrees_of_freedom():
    base = GenuinePrior(loc=0.82, kappa=1.0, scale=0.04, dof=9.0)
    heavy = GenuinePrior(**{**base.to_dict(), "tail_dof": 4.0})
    x = np.random.default_rng(4).normal(0.85, 0.03, 15)
    assert GenuineRange.fit(x, base).dof == 24.0 and GenuineRange.fit(x, heavy).dof == 4.0
    assert GenuineRange.fit(x, heavy).floor(0.01) < GenuineRange.fit(x, base).floor(0.01)


def test_summarise_mean_or_median():
    x = [0.9, 0.8, 0.85, 0.1]
    assert summarise(x, False) == pytest.approx((np.mean(x), np.var(x, ddof=1)))
    centre, spread2 = summarise(x, True)
    assert centre == pytest.approx(0.825) and spread2 == pytest.approx((1.4826 * 0.05) ** 2)
    assert summarise([0.7], False) == (0.7, 0.0)
    with pytest.raises(ValueError):
        summarise([], True)


def test_prior_files_new_old_and_bad(tmp_path):
    new = tmp_path / "new.json"
    new.write_text(json.dumps({"prior": {**OLD_PRIOR, "robust": True, "tail_dof": 3.5}}))
    assert load_prior(new).tail_dof == 3.5 and load_prior(new).robust
    rng = np.random.default_rng(0)
    rows = [{"n": 6, "mean": m, "var": 0.003, "later_n": 6, "later_mean": m - 0.01, "later_var": 0.004}
            for m in rng.normal(0.8, 0.05, 30)]
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"identities": rows}))
    assert load_prior(old) == learn_prior(rows)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        load_prior(bad)
    with pytest.raises(ValueError, match="missing.json"):
        load_prior(tmp_path / "missing.json")


def test_bundled_prior_depends_on_the_enrolment_size():
    prior = bundled_prior()
    assert prior.robust and 2.0 < prior.tail_dof < 30.0
    assert prior.shift(3)[1] > prior.shift(20)[1] >= prior.drift_sd**2


def test_spread_check_names_uniform_and_varied_enrolments_and_what_to_add():
    prior = bundled_prior()
    rng = np.random.default_rng(0)
    uniform = spread_check(rng.normal(0.9, 0.1 * prior.scale, 12), prior)
    typical = spread_check(rng.normal(0.82, prior.scale, 12), prior)
    varied = spread_check(rng.normal(0.75, 3 * prior.scale, 12), prior)
    assert (uniform.kind, typical.kind, varied.kind) == ("uniform", "typical", "varied")
    assert typical.advice("Ann") is None
    assert "agree unusually closely" in uniform.advice("Ann") and "other days" in uniform.advice("Ann")
    assert "vary unusually much" in varied.advice("Ann") and "leave out poor photos" in varied.advice("Ann")
    # the share of the spread that rests on the VIP's photos grows with their number, as the conjugate update says
    few, many = (spread_check(rng.normal(0.85, prior.scale, n), prior).own_weight for n in (4, 40))
    assert few == pytest.approx(3 / (prior.dof + 3)) and many == pytest.approx(39 / (prior.dof + 39)) and few < many
    assert spread_check([], prior).own_weight == 0.0


def test_veto_in_force_is_the_crops_own_only_when_judged_and_on():
    from vipguard.lite.decision import veto_in_force

    assert veto_in_force(0.99, None, True) == 0.99  # the detector's own
    assert veto_in_force(0.99, 0.999, True) == 0.999  # a noisy crop's own
    assert veto_in_force(0.99, 0.999, False) is None  # too blurred to judge: no veto
    assert veto_in_force(None, 0.999, True) is None  # the veto switched off
