"""Self-contained HTML reports (inline SVG plots and CSS; no network needed to open them)."""

from reclift.evaluation.report.html import HtmlReport

__all__ = ["HtmlReport"]
