"""`--watch [SECONDS]`: a listing redrawn every few seconds until Ctrl-C.

On a terminal each frame is drawn over the last (cursor home, each line erased as it is
written, the rest of the screen after), cut to the screen's height so that it never
scrolls; in a pipe or a file the frames follow one another, a blank line between two,
so a log of them reads as it was shown. Ctrl-C is how a watch is meant to end: exit 0,
no traceback.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
DEFAULT_INTERVAL = 2.0  # seconds, as watch(1)
# A frame on a terminal: cursor home, each line erased before it is written, and the rest
# of the screen erased after the last. Not "erase the screen" (2J), which many terminals
# (tmux, VTE) first copy into their history: a watch would fill it with its frames.
HOME, ERASE_LINE, ERASE_BELOW = "\x1b[H", "\x1b[2K", "\x1b[J"


def watch_option(command: F) -> F:
    """--watch with an optional interval: `--watch` alone redraws every 2 seconds."""
    return click.option(
        "--watch",
        "interval",
        type=click.FloatRange(min=0.01),
        is_flag=False,
        flag_value=DEFAULT_INTERVAL,
        default=None,
        metavar="[SECONDS]",
        help=f"Redraw every SECONDS (default {DEFAULT_INTERVAL:g}) until Ctrl-C: in place "
        "on a terminal, frames apart in a pipe.",
    )(command)


def watch(fetch: Callable[[], T], show: Callable[[T], None], interval: float) -> NoReturn:
    """Every `interval` seconds, `fetch` what a frame shows, then `show` it (printing one
    frame); until Ctrl-C. The screen is cleared only once the frame is drawn, so a slow
    database never leaves it blank."""
    terminal = sys.stdout.isatty()
    try:
        first = True
        while True:
            data = fetch()
            if terminal:
                sys.stdout.write(_screenful(show, data))
            else:
                if not first:
                    sys.stdout.write("\n")
                show(data)
            first = False
            sys.stdout.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        sys.exit(0)


class _Screen(io.StringIO):
    """A frame being drawn for the terminal: it says it is one, so tables are fitted to
    its width and coloured as on the terminal itself."""

    def isatty(self) -> bool:
        return True


def _screenful(show: Callable[[T], None], data: T) -> str:
    """The frame for the terminal: what `show(data)` prints (stderr too, when that is the
    terminal), cut to the terminal's height: a taller frame would scroll the screen, its
    top lines (the table's header) off it and each frame into the terminal's history,
    instead of redrawing in place."""
    import shutil

    screen = _Screen()
    saved = sys.stdout, sys.stderr
    sys.stdout = screen
    if saved[1].isatty():
        sys.stderr = screen
    try:
        show(data)
    finally:
        sys.stdout, sys.stderr = saved
    lines = screen.getvalue().splitlines()
    rows = max(shutil.get_terminal_size().lines, 3)
    if len(lines) >= rows:  # the last row stays for the cursor
        hidden = len(lines) - (rows - 2)
        lines = [*lines[: rows - 2], f"… {hidden} more lines below (a taller terminal shows them)"]
    return HOME + "".join(f"{ERASE_LINE}{line}\n" for line in lines) + ERASE_BELOW
