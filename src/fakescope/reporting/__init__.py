"""Reports for people: contact sheets, self-contained HTML scan reports, heatmaps."""

from .html import render_report, write_report
from .preview import contact_sheet

__all__ = ["contact_sheet", "render_report", "write_report"]
