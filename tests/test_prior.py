"""Learning the genuine prior (vipguard.lite.prior) from synthetic background people: no photos, no models.

A synthetic person is a unit identity vector; their photos are it plus noise (a spread of its own), their later
photos are shifted by a drift of their own. The background has 4–9 enrolment photos per person, as the LFW
people behind the shipped prior do; the VIPs it must serve enrol with more."""

from __future__ import annotations

import numpy as np
import pytest

from vipguard.lite.decision import GenuineRange, loo_similarities
from vipguard.lite.prior import Draw, learn, learn_shift, person_row, shift_by_size, subsample, tail_loss


def person(rng, photos, heavy=False, dim=64):
    """(enrolment half, later half) of one synthetic person's L2-normalised embeddings; ``heavy``: one photo in
    ten is a poor one (three times the noise)."""
    mu = rng.normal(size=dim)
    mu /= np.linalg.norm(mu)
    sigma = rng.uniform(0.45, 0.75)
    drift = rng.normal(size=dim)
    drift *= rng.uniform(0.0, 0.5) / np.linalg.norm(drift)

    def photos_of(m, offset):
        noise = rng.normal(size=(m, dim)) * sigma / np.sqrt(dim)
        if heavy:
            noise *= np.where(rng.random((m, 1)) < 0.1, 3.0, 1.0)
        x = mu + offset + noise
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    return photos_of(photos // 2, 0.0), photos_of(photos - photos // 2, drift)


def background(seed=0, people=120, heavy=False):
    rng = np.random.default_rng(seed)
    draws = []
    for i in range(people):
        enrol, later = person(rng, int(rng.integers(8, 19)), heavy)
        draws += subsample(i, enrol, later, rng, draws=5)
    return draws


@pytest.fixture(scope="module")
def clean():
    draws = background()
    return draws, learn(draws)


def test_subsample_sizes_and_the_whole_half():
    rng = np.random.default_rng(1)
    enrol, later = person(rng, 12)
    draws = subsample(7, enrol, later, rng, draws=4)
    sizes = [d.n for d in draws]
    assert sizes == [3] * 4 + [4] * 4 + [5] * 4 + [6]
    whole = draws[-1]
    assert whole.full and whole.person == 7 and not any(d.full for d in draws[:-1])
    np.testing.assert_allclose(whole.enrol, loo_similarities(enrol))
    centre = enrol.mean(0) / np.linalg.norm(enrol.mean(0))
    np.testing.assert_allclose(whole.later, later @ centre)
    assert person_row(whole, False)["n"] == 6 and person_row(whole, False)["later_n"] == 6


def test_a_prior_learned_on_few_photos_holds_its_operating_point_for_more(clean):
    """Learned from people with 4–9 enrolment photos, the floors keep their genuine-reject rates for VIPs that
    enrol 15 (fresh synthetic people, not in the background)."""
    _, prior = clean
    rng = np.random.default_rng(11)
    rejected = {rate: [] for rate in (0.01, 0.03, 0.10)}
    for _ in range(200):
        enrol, later = person(rng, 30)
        enrol = enrol[:15]
        g = GenuineRange.fit(loo_similarities(enrol), prior)
        sims = later @ (enrol.mean(0) / np.linalg.norm(enrol.mean(0)))
        for rate in rejected:
            rejected[rate].append(np.mean(sims < g.floor(rate)))
    for rate, r in rejected.items():
        assert abs(np.mean(r) - rate) < max(0.01, 0.25 * rate), (rate, np.mean(r))


def test_the_learned_shift_depends_on_the_enrolment_size(clean):
    draws, prior = clean
    table = shift_by_size(prior, draws)
    assert min(table) == 3 and max(table) >= 8 and table[3][2] == 120  # every person enrols with 3
    assert prior.drift_var_n > 0 and prior.shift(3)[1] > prior.shift(15)[1] >= prior.drift_sd**2
    # fewer photos: a leave-one-out centre of n - 1 photos lowers the enrolment similarities more
    assert prior.shift(3)[0] < prior.shift(15)[0]
    with pytest.raises(ValueError, match="two sizes"):
        learn_shift(prior, [d for d in draws if d.n == 3])


def test_a_heavier_lower_tail_is_learned_as_fewer_degrees_of_freedom(clean):
    _, prior = clean
    heavy = learn(background(seed=1, heavy=True))
    assert heavy.tail_dof < prior.tail_dof / 2
    loss = tail_loss(prior, clean[0])
    assert loss(prior.tail_dof) <= min(loss(prior.tail_dof * 3), loss(max(prior.tail_dof / 3, 1.5)))


def test_draws_with_too_few_photos_are_left_out(clean):
    draws, prior = clean
    tiny = [Draw(999, np.array([0.9]), np.array([0.8, 0.7]), True), Draw(998, np.array([0.9, 0.8]), np.array([0.7]), True)]
    assert shift_by_size(prior, draws + tiny) == shift_by_size(prior, draws)
    assert learn(draws + tiny) == learn(draws)
