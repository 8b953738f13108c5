"""Option types shared by several commands."""

from __future__ import annotations

from typing import Any

import click

from queuectl.errors import InvalidSpec
from queuectl.timefmt import parse_duration


class Duration(click.ParamType):  # type: ignore[type-arg]
    """Seconds, or a duration such as 90s, 15m, 1h30m or 7d (timefmt.parse_duration)."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float):
            return value
        try:
            return parse_duration(str(value))
        except InvalidSpec as err:
            self.fail(str(err), param, ctx)


RUN_AT_HELP = (
    "Not before this time, in local time unless it names a zone or offset: 20:00 (the next "
    "one), 'tomorrow 09:00', 'mon 9am', 2026-12-06T20:00, '2026-12-06 20:00 Asia/Tokyo', "
    "2026-12-06T20:00+09:00, 'in 2h'."
)


class RunAt(click.ParamType):  # type: ignore[type-arg]
    """A moment as a person types it, handed on as the ISO 8601 UTC text a job spec's
    `run_at` holds (values.run_at)."""

    name = "time"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from queuectl.cli.values import run_at

        try:
            return run_at(str(value))
        except ValueError as err:
            self.fail(str(err), param, ctx)
