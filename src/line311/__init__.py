"""line311: IVR and call routing for a city's 311 line, driving Asterisk over ARI."""

from __future__ import annotations

__version__ = "0.1.0"
