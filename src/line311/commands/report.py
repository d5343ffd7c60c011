"""`line311 report ...` (placeholder: the commands of this area are added here)."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)
