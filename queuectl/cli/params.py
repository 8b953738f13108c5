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
