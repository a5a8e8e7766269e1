import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from reclift.evaluation.report import HtmlReport

pytestmark = pytest.mark.browser


def test_report_renders_in_chromium(tmp_path, page):
    rep = HtmlReport("Browser check", "e2e")
    rep.section("Numbers")
    rep.kpis({"events": 123})
    fig, ax = plt.subplots()
    ax.bar(["a", "b"], [1, 2])
    rep.section("Plot")
    rep.figure(fig, "bars")
    path = rep.write(tmp_path / "r.html")
    page.goto(path.as_uri())
    assert page.title() == "Browser check"
    assert page.locator("[data-kpi=events] b").inner_text() == "123"
    svg = page.locator("figure.plot svg").first
    box = svg.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 100
    page.screenshot(path=str(tmp_path / "shot.png"), full_page=True)
    assert (tmp_path / "shot.png").stat().st_size > 5_000
    assert page.errors == []
