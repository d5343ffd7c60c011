"""Tables that fit the terminal, whatever its width.

Rich shrinks a table that is wider than the console by squeezing columns, and a squeezed
header ends in "…" or is cut. `print_table` instead splits the columns into as many stacked
tables as the width needs, repeating the ``key`` columns (the ones that say what a row is)
in each, so every header is printed whole; a cell still too long for its column folds onto
the next line rather than being cut. The width is the console's (``COLUMNS`` when set).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["print_note", "print_table"]

_BORDER = 3  # "│ " + " " around each cell; one more "│" closes the row
_FOLD_AT = 24  # a longer cell may fold: plan its column at this width


def _width(header: str, cells: Sequence[str]) -> int:
    longest = max((len(c) for c in cells), default=0)
    return max(len(header), min(longest, _FOLD_AT))


def _groups(widths: Sequence[int], key: int, room: int) -> list[list[int]]:
    """Column indices of each stacked table: the key columns, then as many others as fit."""
    base = sum(widths[:key]) + _BORDER * key + 1
    groups: list[list[int]] = []
    current: list[int] = []
    used = base
    for i in range(key, len(widths)):
        need = widths[i] + _BORDER
        if current and used + need > room:
            groups.append(current)
            current, used = [], base
        current.append(i)
        used += need
    if current or not groups:
        groups.append(current)
    return [list(range(key)) + g for g in groups]


def print_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    key: int = 1,
    title: str | None = None,
    bold_rows: Sequence[bool] | None = None,
    console: Console | None = None,
) -> None:
    """Print ``rows`` under ``headers``; the first ``key`` columns name the row and are
    repeated when the table has to be split to fit the console's width."""
    console = console or Console()
    widths = [_width(h, [r[i] for r in rows]) for i, h in enumerate(headers)]
    groups = _groups(widths, min(key, len(headers)), console.width)
    for n, columns in enumerate(groups):
        part = "" if len(groups) == 1 else f" ({n + 1}/{len(groups)})"
        table = Table(title=f"{title}{part}" if title else None, title_justify="left")
        for i in columns:
            table.add_column(
                Text(headers[i], no_wrap=True), overflow="fold", min_width=len(headers[i])
            )
        for r, row in enumerate(rows):
            bold = bold_rows is not None and bold_rows[r]
            table.add_row(*(row[i] for i in columns), style="bold" if bold else None)
        console.print(table)


def print_note(text: str, *, console: Console | None = None) -> None:
    """A line of prose under a table, wrapped at the console's width."""
    (console or Console()).print(text, markup=False, highlight=False)
