import pytest

from reclift.jobs.demo import run_demo

pytestmark = pytest.mark.browser


def test_demo_report_opens_in_chromium(tmp_path, page):
    result = run_demo(tmp_path / "demo", events=20_000, seed=3, progress=False, say=lambda _m: None)
    page.goto(result.report.as_uri())
    assert page.title().startswith("reclift demo")
    headings = page.locator("section h2").all_inner_texts()
    assert headings[:3] == ["Overview", "Shopping funnel", "Popularity and sessions"]
    events = page.locator("[data-kpi=events] b").inner_text().replace(",", "")
    assert int(events) == result.rows["events"]
    for svg in page.locator("figure.plot svg").all():
        box = svg.bounding_box()
        assert box is not None and box["width"] > 150 and box["height"] > 80
    page.get_by_role("link", name="Recommendations", exact=True).click()
    assert page.url.endswith("#recommendations")
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert page.errors == []
