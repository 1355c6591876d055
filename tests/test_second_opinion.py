"""The second identity opinion (``vipguard enroll --second-opinion dlib``): a recognizer of another family whose
genuine range must hold too, at a share of the operating point, so that the two together keep the promise.

Data-free cases check the rule and the profile format; the real cases enrol Colin Powell with dlib as the second
opinion (real models, real LFW photos) and check held-out photos through the Guard and the CLI."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from scipy import special

from vipguard.lite.decision import (
    SECOND_SHARE,
    GenuineRange,
    SecondOpinion,
    bundled_prior,
    decide,
    split_rate,
)
from vipguard.lite.explain import explain

from .conftest import photo_folder, photos
from .test_registry import synthetic_profile

FIRST = GenuineRange(0.85, 0.04, 6.0, 15)
SECOND = GenuineRange(0.96, 0.008, 6.0, 15)


def _decide(similarity: float, second_similarity: float | None, rate: float = 0.03):
    second = None if second_similarity is None else SecondOpinion("dlib", second_similarity, SECOND)
    return decide(0.99, similarity, FIRST, rate, identity_threshold=0.45, select_threshold=0.25, second=second)


def test_the_first_range_works_at_its_share_and_the_two_keep_the_promise():
    rate = 0.03
    with_second, alone = _decide(0.85, 0.96), _decide(0.85, None)
    assert alone.floor == pytest.approx(FIRST.floor(rate))
    assert with_second.floor == pytest.approx(FIRST.floor(rate * (1 - SECOND_SHARE)))
    assert with_second.floor < alone.floor
    assert split_rate(rate, False) == rate and split_rate(rate, True) == pytest.approx(rate * 11 / 12)
    # genuine draws from both ranges (independent: the worst case of the union bound): at most the promised rate
    rng = np.random.default_rng(0)
    first = FIRST.loc + FIRST.scale * rng.standard_t(FIRST.dof, 40_000)
    second = SECOND.loc + SECOND.scale * rng.standard_t(SECOND.dof, 40_000)
    rejected = np.mean([_decide(a, b).score < 0.5 for a, b in zip(first[:4000], second[:4000])])
    expected = 1 - (1 - rate * (1 - SECOND_SHARE)) * (1 - rate * SECOND_SHARE)
    assert rejected == pytest.approx(expected, abs=0.008) and expected <= rate


def test_a_face_the_second_recognizer_puts_outside_its_range_is_not_genuine_and_the_explanation_says_so():
    inside_first = FIRST.loc  # a typical similarity for the first recognizer
    far = SECOND.floor(0.03 * SECOND_SHARE) - 0.02
    d = _decide(inside_first, far)
    assert d.verdict == "fake" and d.score < 0.5 and d.second_lowered and not d.below_floor
    assert d.range_anchor == d.second_anchor < d.anchor
    text = explain(d, "Colin_Powell", np.zeros(15), np.zeros(15), {})
    assert "a second recognizer (dlib) puts it at" in text and "below Colin_Powell's genuine range by that" in text
    # well inside both: genuine, and the second opinion does not lower the score below the first's
    ok = _decide(inside_first, SECOND.loc)
    assert ok.verdict == "genuine" and not ok.second_lowered
    assert ok.second_anchor == pytest.approx(1 - SECOND_SHARE * 0.03)  # at its centre: the odds of its share


def test_second_anchor_is_a_half_exactly_at_its_floor():
    rate = 0.03
    opinion = SecondOpinion("dlib", SECOND.floor(rate * SECOND_SHARE), SECOND)
    assert opinion.anchor(rate) == pytest.approx(0.5)
    assert special.stdtr(SECOND.dof, (opinion.similarity - SECOND.loc) / SECOND.scale) == pytest.approx(
        rate * SECOND_SHARE)


def test_profiles_keep_their_second_recognizer_and_older_ones_load_without():
    from vipguard.faces.embed import EmbedderId
    from vipguard.lite.profile import SecondRecognizer, VipProfile

    plain = synthetic_profile("Alice")
    assert VipProfile.from_blobs(*plain.to_blobs()).second is None
    centre = np.random.default_rng(1).normal(size=128).astype(np.float32)
    with_second = replace(plain, second=SecondRecognizer(EmbedderId("dlib", "ab" * 32), centre, SECOND))
    back = VipProfile.from_blobs(*with_second.to_blobs())
    assert back.second.embedder == with_second.second.embedder and back.second.genuine == SECOND
    np.testing.assert_array_equal(back.second.centre, centre)
    assert back.second.opinion(centre / np.linalg.norm(centre)).similarity == pytest.approx(
        float(np.linalg.norm(centre)), rel=1e-5)
    with pytest.raises(ValueError, match="second opinion"):
        back.require_second(EmbedderId("dlib", "cd" * 32))


def test_a_prior_is_shipped_for_dlib_and_none_for_an_unknown_embedder():
    prior = bundled_prior("dlib")
    assert prior.identities >= 80 and 0.9 < prior.loc < 1.0 and prior.scale < bundled_prior().scale
    with pytest.raises(ValueError, match="no genuine prior is shipped for the embedder 'nonesuch'"):
        bundled_prior("nonesuch")


@pytest.fixture(scope="module")
def powell(lfw, analyzer, artifact, tmp_path_factory):
    from vipguard.infra.registry import Registry
    from vipguard.lite.background import load_background
    from vipguard.lite.enrol import EnrolConfig, Enroller
    from vipguard.lite.profile import PROFILE_CODEC

    registry = Registry(tmp_path_factory.mktemp("second") / "registry.db", codec=PROFILE_CODEC)
    result = Enroller(analyzer, load_background(), EnrolConfig(second_opinion="dlib"), artifact=artifact).enrol(
        "Colin_Powell", photos(lfw, "Colin_Powell", 1, 20))
    registry.put(result.profile)
    return registry, result


def test_enrolment_with_a_second_opinion_fits_its_range_from_the_same_photos(powell):
    _, result = powell
    second = result.profile.second
    assert second.embedder.name == "dlib" and second.centre.shape == (128,)
    assert second.genuine.n == result.used  # the same kept photos
    meta = result.profile.meta["second_opinion"]
    assert meta["embedder"] == "dlib" and meta["similarity_floor"] == pytest.approx(
        second.genuine.floor(0.03 * SECOND_SHARE), abs=1e-4)
    assert result.similarity_floor == pytest.approx(result.profile.genuine.floor(0.03 * (1 - SECOND_SHARE)), abs=1e-4)


def test_checks_of_a_vip_with_a_second_opinion_run_it(powell, lfw, analyzer, artifact):
    from vipguard.lite.guard import Guard

    registry, _ = powell
    guard = Guard(registry, analyzer, artifact=artifact)
    held_out = [guard.check_path(p, vip="Colin_Powell") for p in photos(lfw, "Colin_Powell", 21, 40)]
    assert all(v.decision.second is not None for v in held_out)
    assert np.mean([v.verdict == "genuine" for v in held_out]) >= 0.9
    record = held_out[0].to_json()["decision"]["second_opinion"]
    assert record["embedder"] == "dlib" and 0.85 < record["similarity"] <= 1.0
    other = guard.check_path(sorted((lfw / "Tony_Blair").glob("*.jpg"))[30], vip="Colin_Powell")
    assert other.verdict == "different_person" and other.decision.second.similarity < record["similarity_floor"]


def test_cli_enroll_prints_each_recognizers_floor_and_refuses_an_unknown_one(lfw, store, tmp_path, capsys):
    from vipguard.cli import main

    folder = photo_folder(lfw, "Colin_Powell", 1, 8, tmp_path / "enrol")
    db = str(tmp_path / "registry.db")
    assert main(["enroll", "Colin Powell", str(folder), "--db", db, "--models", str(store.root),
                 "--second-opinion", "nonesuch"]) == 2
    assert "no genuine prior is shipped for the embedder 'nonesuch'" in capsys.readouterr().err
    assert main(["enroll", "Colin Powell", str(folder), "--db", db, "--models", str(store.root),
                 "--second-opinion", "dlib"]) == 0
    out = capsys.readouterr().out
    assert "genuine range (mobilefacenet): face similarity ≥" in out
    assert "second opinion (dlib): face similarity ≥" in out and "0.25 % of genuine photos" in out
    photo = sorted((lfw / "Colin_Powell").glob("*.jpg"))[30]
    assert main(["check", str(photo), "--db", db, "--models", str(store.root), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["decision"]["second_opinion"]["embedder"] == "dlib"
