"""What every CLI sub-command shares: the settings for the root ``--config`` option.

`line311.cli` mounts the sub-apps of this package; they read their settings from here, so
the imports go one way only (``cli`` → ``commands``).
"""

from __future__ import annotations

import typer

from line311.config import Settings, load_settings
from line311.logs import configure_logging

__all__ = ["settings_from"]


def settings_from(ctx: typer.Context | None) -> Settings:
    """Load settings for a command, honouring the root ``--config`` option."""
    config_file = None
    root = ctx.find_root() if ctx is not None else None
    if root is not None and isinstance(root.obj, dict):
        config_file = root.obj.get("config")
    settings = load_settings(config_file)
    configure_logging(settings.log_level, settings.log_format)
    return settings
