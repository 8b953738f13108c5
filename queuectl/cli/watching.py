"""`--watch [SECONDS]`: a listing redrawn every few seconds until Ctrl-C.

On a terminal each frame replaces the last (cursor home, clear the screen); in a pipe or
a file the frames follow one another, a blank line between two, so a log of them reads
as it was shown. Ctrl-C is how a watch is meant to end: exit 0, no traceback.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
DEFAULT_INTERVAL = 2.0  # seconds, as watch(1)
CLEAR_SCREEN = "\x1b[H\x1b[2J"  # cursor home, then erase the screen


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
    frame); until Ctrl-C. The screen is cleared only once the data is in, so a slow
    database never leaves it blank."""
    terminal = sys.stdout.isatty()
    try:
        first = True
        while True:
            data = fetch()
            if terminal:
                sys.stdout.write(CLEAR_SCREEN)
            elif not first:
                sys.stdout.write("\n")
            first = False
            show(data)
            sys.stdout.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        sys.exit(0)
