"""A small builder for self-contained HTML reports.

Plots are matplotlib figures rendered to inline SVG, so a report is one file that opens
offline in any browser and can be attached to an e-mail or a ticket.
"""

from __future__ import annotations

import html
import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reclift.workspace.artifacts import atomic_write_text

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2430;
background:#f6f7f9}
header{background:#14213d;color:#fff;padding:1.2rem 2rem}
header h1{margin:0;font-size:1.5rem} header p{margin:.3rem 0 0;opacity:.8}
main{max-width:1100px;margin:0 auto;padding:1rem 2rem 3rem}
section{background:#fff;border-radius:8px;padding:1rem 1.5rem;margin:1rem 0;
box-shadow:0 1px 3px rgba(0,0,0,.08)}
h2{font-size:1.15rem;border-bottom:1px solid #e3e6ea;padding-bottom:.4rem}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0}
th,td{padding:.3rem .7rem;border-bottom:1px solid #eceef1;text-align:left}
th{background:#f0f2f5} td.num{text-align:right;font-variant-numeric:tabular-nums}
.kpis{display:flex;flex-wrap:wrap;gap:1rem}
.kpi{background:#f0f4ff;border-radius:6px;padding:.6rem 1rem;min-width:9rem}
.kpi b{display:block;font-size:1.3rem} .kpi span{font-size:.8rem;color:#55606e}
figure{margin:.5rem 0} figcaption{font-size:.85rem;color:#55606e}
.figs{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:1rem}
.note{font-size:.85rem;color:#55606e}
"""


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:  # NaN
            return "–"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.4g}"
    return str(value)


class HtmlReport:
    """Collect sections of text, key figures, tables and plots; render one HTML file.

    Parameters
    ----------
    title
        Page title.
    subtitle
        One line under the title (data set, run id, ...).
    """

    def __init__(self, title: str, subtitle: str = "") -> None:
        self.title = title
        self.subtitle = subtitle
        self._sections: list[tuple[str, str, list[str]]] = []

    def section(self, title: str, anchor: str | None = None) -> list[str]:
        """Start a section; returns the list of HTML fragments it will hold."""
        parts: list[str] = []
        slug = anchor or "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")
        self._sections.append((title, slug, parts))
        return parts

    def _current(self) -> list[str]:
        if not self._sections:
            return self.section("Overview")
        return self._sections[-1][2]

    def text(self, paragraph: str, *, note: bool = False) -> None:
        """Add a paragraph (escaped)."""
        cls = ' class="note"' if note else ""
        self._current().append(f"<p{cls}>{html.escape(paragraph)}</p>")

    def kpis(self, values: Mapping[str, Any]) -> None:
        """Add a row of headline numbers."""
        cells = "".join(
            f'<div class="kpi" data-kpi="{html.escape(k)}"><b>{html.escape(_fmt(v))}</b>'
            f"<span>{html.escape(k)}</span></div>"
            for k, v in values.items()
        )
        self._current().append(f'<div class="kpis">{cells}</div>')

    def table(self, rows: Sequence[Mapping[str, Any]], *, caption: str | None = None) -> None:
        """Add a table of rows (dicts sharing their keys)."""
        if not rows:
            self.text("(no rows)", note=True)
            return
        headers = list(rows[0])
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
        body = []
        for row in rows:
            cells = []
            for h in headers:
                v = row.get(h, "")
                cls = ' class="num"' if isinstance(v, int | float) else ""
                cells.append(f"<td{cls}>{html.escape(_fmt(v))}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self._current().append(
            f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        )

    def figure(self, fig: Any, caption: str = "") -> None:
        """Add a matplotlib figure as inline SVG (the figure is closed afterwards)."""
        import matplotlib.pyplot as plt

        buf = io.StringIO()
        fig.savefig(buf, format="svg", bbox_inches="tight")
        plt.close(fig)
        svg = buf.getvalue()
        svg = svg[svg.find("<svg") :]
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self._current().append(f'<figure class="plot">{svg}{cap}</figure>')

    def render(self) -> str:
        """The complete HTML document."""
        nav = " · ".join(
            f'<a href="#{slug}">{html.escape(title)}</a>' for title, slug, _ in self._sections
        )
        sections = "".join(
            f'<section id="{slug}"><h2>{html.escape(title)}</h2>{"".join(parts)}</section>'
            for title, slug, parts in self._sections
        )
        generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return (
            "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'>"
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>"
            f"<header><h1>{html.escape(self.title)}</h1>"
            f"<p>{html.escape(self.subtitle)} · generated {generated}</p></header>"
            f"<main><nav>{nav}</nav>{sections}</main></body></html>\n"
        )

    def write(self, path: str | Path) -> Path:
        """Write the report atomically and return its path."""
        path = Path(path)
        atomic_write_text(path, self.render())
        return path
