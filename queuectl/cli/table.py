"""Plain-text tables that never lose information, fast enough for 20,000 rows.

Columns that identify and classify (ids, states, counts, queues, times) always keep their
full width. Only free-text columns (a command, an error) shrink, ending in `…`, and only
when the output is a terminal narrower than the table (and not `wide`); in a pipe nothing
is cut. Colour is for terminals only (and never with NO_COLOR set).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import NamedTuple

GAP = "  "
MIN_FREE_WIDTH = 12  # what a free column keeps when the line cannot fit the terminal anyway
MIN_CUT_WIDTH = 6  # narrower than this, a cut column says too little to be worth the fit
_ANSI = {"cyan": 36, "yellow": 33, "green": 32, "magenta": 35, "red": 31, "dim": 2, "bold": 1}


class Column(NamedTuple):
    """One column: `free` text may shrink; `style` picks a colour name for a cell's value."""

    header: str
    free: bool = False
    style: Callable[[str], str | None] | None = None


def render(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], wide: bool = False
) -> list[str]:
    """The table as lines, fitted to the terminal when stdout is one (unless `wide`: then
    nothing is cut). Every cell is shown with its control characters escaped (`\\x1b`),
    never sent to the terminal raw."""
    from queuectl.cli.errors import one_line

    rows = [[one_line(value) for value in row] for row in rows]
    width = _terminal_width()
    widths = _fit(columns, rows, None if wide else width)
    color = width is not None and "NO_COLOR" not in os.environ
    last = len(columns) - 1
    header = GAP.join(
        _pad(_cut(column.header, size), size, index == last)
        for index, (column, size) in enumerate(zip(columns, widths, strict=True))
    )
    lines = [_paint(header, "bold") if color else header]
    for row in rows:
        cells = []
        for index, (column, size, value) in enumerate(zip(columns, widths, row, strict=True)):
            text = _pad(_cut(value, size) if column.free else value, size, index == last)
            style = column.style(value) if color and column.style else None
            cells.append(_paint(text, style) if style else text)
        lines.append(GAP.join(cells))
    return lines


def _terminal_width() -> int | None:
    """The terminal's width, or None when stdout is not a terminal (nothing is cut)."""
    if not sys.stdout.isatty():
        return None
    import shutil  # only on a terminal: it imports the compression modules too

    return shutil.get_terminal_size().columns


def _fit(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int | None) -> list[int]:
    natural = [len(c.header) for c in columns]
    for row in rows:
        for index, value in enumerate(row):
            natural[index] = max(natural[index], len(value))
    free = [i for i, c in enumerate(columns) if c.free]
    if width is None or not free:
        return natural
    fixed = sum(natural[i] for i in range(len(columns)) if i not in free)
    room = width - fixed - len(GAP) * (len(columns) - 1)
    wanted = sum(natural[i] for i in free)
    if wanted <= room:
        return natural
    widths = list(natural)
    share = room // len(free)
    if share < MIN_CUT_WIDTH:  # the line wraps whatever is cut: keep the text readable
        share = MIN_FREE_WIDTH
    for index in free:  # narrow free columns give their spare share to the wide ones
        widths[index] = min(natural[index], share)
    spare = room - sum(widths[i] for i in free)
    for index in free:
        extra = min(max(spare, 0), natural[index] - widths[index])
        widths[index] += extra
        spare -= extra
    return widths


def _cut(text: str, size: int) -> str:
    return text if len(text) <= size else text[: max(size - 1, 0)] + "…"


def _pad(text: str, size: int, last: bool) -> str:
    return text if last else text.ljust(size)


def _paint(text: str, style: str) -> str:
    code = _ANSI.get(style)
    return f"\x1b[{code}m{text}\x1b[0m" if code else text
