import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from reclift.evaluation.report import HtmlReport


def test_report_is_self_contained_and_escapes(tmp_path):
    rep = HtmlReport("Demo <shop>", "run 1")
    rep.section("Overview")
    rep.kpis({"events": 1_000_000, "CTR": 0.0312})
    rep.text("a < b & c")
    rep.table([{"item": "<x>", "score": 1.5}, {"item": "y", "score": 2}], caption="top")
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [3, 1, 2])
    rep.section("Plots")
    rep.figure(fig, "a line")
    path = rep.write(tmp_path / "r.html")
    html = path.read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "Demo &lt;shop&gt;" in html and "a &lt; b &amp; c" in html and "&lt;x&gt;" in html
    assert "<svg" in html and 'href="#plots"' in html
    assert "1,000,000" in html
    # self-contained: no external scripts, stylesheets or images
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']https?:", html)
