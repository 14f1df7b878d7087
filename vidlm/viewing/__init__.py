"""Seeing the results: the vanilla-vs-fine-tuned comparison files (`compare`), the notebook viewer (`viewer`), the
shareable page (`page`), plots (`plots`), and the one HTML-escaping helper (`htmltext`)."""

from vidlm.viewing.compare import read_comparison, write_comparison
from vidlm.viewing.page import export_page, gallery
from vidlm.viewing.viewer import CaptionViewer

__all__ = ["CaptionViewer", "export_page", "gallery", "read_comparison", "write_comparison"]
