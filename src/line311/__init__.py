"""line311: IVR and call routing for a city's 311 line, driving Asterisk over ARI."""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

CONTENT_DIR = (Path(__file__).parent / "content").resolve()
"""The shipped configuration data: the repository's top-level ``content/`` (``line311/content``
links to it, and a wheel carries a copy). ``content/README.md`` lists every file, what reads it
and the setting that points to it."""
