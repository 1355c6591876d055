"""The web page in Debian's headless Chromium (Playwright) against a real server on an empty registry: it enrols a
VIP (per-photo used/rejected), lists and removes VIPs, checks a photo (every face listed, the judged one marked),
clears the old card when a later check fails, and lays its cards out for narrow and wide windows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from .test_service import CHROMIUM, KEY, live_server

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "data"
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="headless browser test needs /usr/bin/chromium (not installed)")


@pytest.fixture(scope="module")
def server(store, tmp_path_factory):
    """A live service on an empty registry, with fast enrolment settings."""
    from vipguard.lite.enrol import EnrolConfig

    if not (EXAMPLES / "Tony_Blair" / "enrol").is_dir():
        pytest.skip(f"bundled photos not found at {EXAMPLES}")
    kwargs = dict(db=tmp_path_factory.mktemp("page") / "registry.db", api_key=KEY,
                  enrol=EnrolConfig(augmentations=0, fakes_per_photo=0.5))
    with live_server(kwargs) as url:
        yield url


@pytest.fixture()
def page(server):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python) is not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{server}/#key={KEY}")
        page.wait_for_selector("#vips[data-loaded]", state="attached", timeout=20000)
        yield page
        browser.close()
    assert not [e for e in errors if "Content Security Policy" in e], errors  # the page obeys its CSP


def _two_faces(tmp_path: Path) -> Path:
    """A photo of Tony Blair beside another person (two faces, side by side)."""
    left = Image.open(sorted((EXAMPLES / "check").glob("Tony_Blair_*.jpg"))[1]).convert("RGB")
    right = Image.open(EXAMPLES / "check" / "Nancy_Pelosi_0001.jpg").convert("RGB").resize(left.size)
    both = Image.new("RGB", (left.width * 2, left.height))
    both.paste(left, (0, 0))
    both.paste(right, (left.width, 0))
    path = tmp_path / ("a_rather_long_upload_name_that_must_wrap_inside_its_card_" * 3 + "two_faces.jpg")
    both.save(path, quality=95)
    return path


def test_page_enrols_checks_and_clears_a_stale_card(page, tmp_path):
    assert page.text_content("#vips-status") == "No VIP is enrolled yet."
    photos = sorted((EXAMPLES / "Tony_Blair" / "enrol").glob("*.jpg"))[:5]
    (tmp_path / "notes.jpg").write_bytes(b"these are not pixels")
    page.fill("#enrol-name", "Tony_Blair")
    page.set_input_files("#enrol-photos", [str(p) for p in photos])
    page.click("#enrol")
    page.wait_for_selector("#enrol-result:not([hidden])", timeout=120000)
    rows = page.query_selector_all("#enrol-photos-table tbody tr")
    assert [r.query_selector("td").text_content() for r in rows] == [p.name for p in photos]
    used = [r.query_selector_all("td")[1].text_content() for r in rows]
    assert used.count("yes") >= 3 and set(used) <= {"yes", "no"}
    assert page.text_content("#enrol-summary").startswith(f"Enrolled Tony Blair: {used.count('yes')} photo(s) used")
    page.wait_for_selector('#vips li[data-name="Tony_Blair"]', timeout=10000)
    assert page.input_value("#vip") == "Tony_Blair"

    # a check: verdict card, and every face listed with the judged one marked
    page.set_input_files("#file", str(_two_faces(tmp_path)))
    page.wait_for_selector("#verdict:not(:empty)", timeout=60000)
    assert page.text_content("#vipname") == "Tony_Blair"
    assert page.text_content("#verdict") in {"genuine", "fake"}
    assert page.is_visible("#decided") and page.text_content("#decided-by")  # what decided the verdict
    faces = page.query_selector_all("#faces li")
    assert len(faces) == 2 and faces[0].get_attribute("class") == "judged"
    assert "to Tony Blair" in faces[0].text_content() and "judged" not in (faces[1].get_attribute("class") or "")
    name, card = page.query_selector("#name").bounding_box(), page.query_selector("#check-card").bounding_box()
    assert name["x"] + name["width"] <= card["x"] + card["width"] and name["height"] > 40  # wrapped, inside

    # a later failing check clears the old card and says why
    page.set_input_files("#file", str(tmp_path / "notes.jpg"))
    page.wait_for_selector("#status:has-text('notes.jpg: 4')", timeout=30000)
    assert not page.is_visible("#result") and page.text_content("#verdict") == ""
    assert page.text_content("#decided-by") == "" and not page.is_visible("#decided")
    assert page.query_selector_all("#faces li") == []


def test_page_removes_a_vip_in_two_clicks(page):
    """Needs the VIP the first test enrolled; a first click arms the button, the second removes."""
    item = page.wait_for_selector('#vips li[data-name="Tony_Blair"]', timeout=10000)
    item.query_selector("button.remove").click()
    assert page.query_selector('#vips li[data-name="Tony_Blair"]') is not None  # armed, not removed
    page.click('#vips li[data-name="Tony_Blair"] button.remove.armed')
    page.wait_for_selector("#vips-status:has-text('Removed Tony Blair.')", timeout=10000)
    assert page.query_selector_all("#vips li") == []
    assert page.query_selector_all('#vip option[value="Tony_Blair"]') == []


def test_page_shows_the_operating_point_and_lays_cards_out(page):
    """The enrolment's operating point (from its JSON) is shown; cards sit side by side when wide, stacked when
    narrow. The enrol response is a canned one here (network interception), so no model runs."""
    body = {"name": "Ada", "used": 3, "rejected": 1, "fakes": 6, "others": 40, "seconds": 4.2,
            "photos": [{"filename": "a.jpg", "used": True, "reasons": []},
                       {"filename": "b.jpg", "used": False, "reasons": ["no face found"]}],
            "operating_point": {"similarity_floor": 0.6354, "expected_genuine_accept": 0.97,
                                "genuine_reject_rate": 0.03, "identity_threshold": 0.4042}}
    page.route("**/v1/vips/Ada", lambda route: route.fulfill(status=201, content_type="application/json",
                                                             body=json.dumps(body)))
    page.fill("#enrol-name", "Ada")
    page.set_input_files("#enrol-photos", [str(next((EXAMPLES / "check").glob("*.jpg")))])
    page.click("#enrol")
    page.wait_for_selector("#enrol-point:not(:empty)", timeout=10000)
    assert page.text_content("#enrol-point") == ("Operating point: face similarity ≥ 64/100 expected for 97 % of "
                                                 "Ada's genuine photos; other people reach 40/100.")
    assert page.query_selector("#enrol-photos-table tbody tr.rejected td:last-child").text_content() == "no face found"
    vips, enrol = (page.query_selector(s).bounding_box() for s in ("#vips-card", "#enrol-card"))
    assert vips["y"] == enrol["y"] and vips["x"] < enrol["x"]  # side by side at 1200 px
    page.set_viewport_size({"width": 420, "height": 1000})
    vips, enrol = (page.query_selector(s).bounding_box() for s in ("#vips-card", "#enrol-card"))
    assert vips["x"] == enrol["x"] and enrol["y"] > vips["y"] + vips["height"] - 1  # stacked at 420 px
