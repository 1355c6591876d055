"""The HTML check report: every number an explanation cites is shown in the same card with the same value (for
every kind of evidence, and on real checks of genuine photos, forgeries, another person and a video); a video card
has the score timeline, the frame table and the lowest-scoring frames."""

from __future__ import annotations

import html
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "data"
NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?")


def numbers(text: str) -> set[str]:
    return set(NUMBER.findall(text))


def split_cards(page: str) -> list[tuple[str, str]]:
    """(explanation, the rest of the card as plain text) for each card of a report."""
    out = []
    for section in re.findall(r'<section class="card">(.*?)</section>', page, re.S):
        why = re.search(r'<p class="why">(.*?)</p>', section, re.S)
        rest = re.sub(r"<[^>]+>", " ", section.replace(why.group(0), "")) if why else section
        out.append((html.unescape(why.group(1)) if why else "", html.unescape(rest)))
    return out


def assert_cited_numbers_shown(page: str) -> None:
    cards = split_cards(page)
    assert cards
    for why, rest in cards:
        missing = numbers(why) - numbers(rest)
        assert not missing, (missing, why)


def test_every_kind_of_cited_evidence_is_in_the_card():
    """For each feature, an explanation that cites it (the real :func:`vipguard.lite.explain.explain`) and its card."""
    from vipguard.apps.report import cited, render
    from vipguard.lite.decision import FEATURE_TABLE, FEATURES, Decision
    from vipguard.lite.explain import explain
    from vipguard.lite.guard import Verdict

    rng = np.random.default_rng(3)
    evidence = rng.uniform(-0.3, 0.9, len(FEATURES)).astype(np.float32)
    typical = rng.uniform(0.2, 0.95, len(FEATURES)).astype(np.float32)
    evidence[FEATURES.index("artifact")], typical[FEATURES.index("artifact")] = 0.99997, 0.004  # as two decimals:
    # "1.00" and "0.00" in the table, beside "0.99997" and "0.004" in the explanation
    decision = Decision("fake", 0.12, 0.12, 0.61, float(evidence[0]), 0.75, 0.03, 0.41, True)
    items = []
    for f in FEATURE_TABLE:
        text = explain(decision, "Ada", evidence, typical, {f.name: -1.0}, "at the jaw")
        assert cited(f.name, float(evidence[FEATURES.index(f.name)])) in text, text  # f is what it cites
        items.append((Verdict(f"{f.name}.jpg", "Ada", "fake", 0.12, 58, text, decision=decision,
                              evidence=dict(zip(FEATURES, map(float, evidence))),
                              typical=dict(zip(FEATURES, map(float, typical)))), None))
    assert_cited_numbers_shown(render(items))


def test_a_shown_value_that_differs_from_the_cited_one_is_caught():
    """The check above can fail: a card whose table rounds differently from its explanation."""
    page = ('<section class="card"><p class="why">the eyes match (0.13 vs 0.73 typical).</p>'
            '<td>0.13</td><td>0.68</td></section>')
    with pytest.raises(AssertionError, match="0.73"):
        assert_cited_numbers_shown(page)


@pytest.fixture(scope="module")
def checked(store, tmp_path_factory):
    """Real checks with a VIP enrolled from bundled photos: genuine photos, forgeries of the VIP, another person,
    a two-face photo and an mp4v clip; (verdict, image) pairs as the CLI hands them to the report."""
    if not (EXAMPLES / "Tony_Blair" / "enrol").is_dir():
        pytest.skip(f"bundled photos not found at {EXAMPLES}")
    import vipguard
    from vipguard import forge
    from vipguard.apps.check import CheckOptions, check_or_fail
    from vipguard.infra.io import load_image
    from vipguard.lite.enrol import EnrolConfig

    tmp = tmp_path_factory.mktemp("report")
    vg = vipguard.VIPGuard(db=tmp / "registry.db", enrol=EnrolConfig(augmentations=0, fakes_per_photo=0.5))
    vg.enroll("Tony_Blair", EXAMPLES / "Tony_Blair" / "enrol", max_photos=8)
    check = sorted((EXAMPLES / "check").glob("*.jpg"))
    vip = [p for p in check if p.name.startswith("Tony_Blair")]
    others = [p for p in check if not p.name.startswith("Tony_Blair")]
    images = {p.name: load_image(p) for p in check}
    rng = np.random.default_rng(5)
    inputs = [(p.name, images[p.name]) for p in (vip[0], vip[1], others[0])]
    for method, src, dst in [("swap", vip[2], others[1]), ("eyes", vip[3], others[2]), ("morph", vip[1], others[3])]:
        a, b = images[src.name], images[dst.name]
        fa, fb = (vg.analyzer.analyze(x, primary_only=True)[0] for x in (a, b))
        fake = forge.FORGERS.create(method).forge(forge.ForgeInput(a, fa, src.name), forge.ForgeInput(b, fb, dst.name),
                                                  rng).image
        inputs.append((f"fake_{method}.png", fake))
    both = np.concatenate([images[vip[0].name], cv2.resize(images[others[0].name], images[vip[0].name].shape[1::-1])],
                          axis=1)
    inputs.append(("two_faces.png", both))
    items = [(vg.guard.check(image, source=name), image) for name, image in inputs]
    clip = tmp / "clip.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 2.0, (250, 250))
    for p in [*vip, others[0], others[1]]:
        writer.write(cv2.cvtColor(cv2.resize(images[p.name], (250, 250)), cv2.COLOR_RGB2BGR))
    writer.release()
    clip_checked = check_or_fail(vg.guard, clip, CheckOptions(fps=2.0, frame=True))
    items.append((clip_checked.verdict, clip_checked.image))
    yield items
    vg.close()


def test_real_report_shows_what_its_explanations_cite(checked, tmp_path):
    from vipguard.apps.report import write_report

    verdicts = {Path(v.path).name: v.verdict for v, _ in checked}
    assert verdicts[sorted(p.name for p in (EXAMPLES / "check").glob("Tony_Blair_*"))[0]] == "genuine"
    assert len(set(verdicts.values())) >= 2  # more than one kind of explanation
    write_report(tmp_path / "report.html", checked)
    page = (tmp_path / "report.html").read_text()
    assert page.count('<section class="card">') == len(checked)
    assert_cited_numbers_shown(page)
    assert '<div class="others">Other faces in the image:<ol start="2"><li>face similarity' in page
    # every card of a face that claims a VIP says what decided its verdict (a clip's, its typical frame's); a
    # region only where blending artefacts did
    claimed = [v for v, _ in checked if v.vip is not None and v.decision is not None]
    assert claimed and all(v.decided_by for v in claimed)
    assert page.count('<p class="decided">decided by: ') >= len(claimed)
    for v in claimed:
        if v.decision.anchor <= v.decision.head and not v.decision.vetoed:
            assert v.decided_by.startswith("the whole face's identity")


def test_video_card_has_timeline_frame_table_and_worst_frames(checked, tmp_path):
    from vipguard.apps.report import write_report
    from vipguard.apps.video import ClipVerdict

    clip, image = checked[-1]
    assert isinstance(clip, ClipVerdict) and len(clip.frames) == 6 and image is not None
    write_report(tmp_path / "clip.html", [(clip, image)])
    page = (tmp_path / "clip.html").read_text()
    assert '<img src="data:image/png;base64,' in page and 'alt="score timeline"' in page
    assert page.count("<tr><td>") >= len(clip.frames)  # the frame table (video.clip_html)
    assert page.count('alt="frame at ') == len(clip.worst) > 0
    assert f"{len(clip.frames)} frames sampled at 2/s" in page
