"""Reports for people: contact sheets, (later) HTML scan reports and plots."""

from .preview import contact_sheet

__all__ = ["contact_sheet"]
