"""Markdown chapters with YAML front matter -> checked manuscript, EPUB 3, print PDF, status report."""

__version__ = "0.1.0"
