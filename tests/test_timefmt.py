"""Durations: one parser for every option that takes one (`--older-than 7d`, ...)."""

from __future__ import annotations

import pytest

from queuectl.errors import InvalidSpec
from queuectl.timefmt import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        ("90s", 90),
        ("500ms", 0.5),
        ("15m", 900),
        ("1.5h", 5400),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("2d12h", 216_000),
        ("1w", 604_800),
        (" 7d ", 604_800),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "h", "1x", "1h30", "-1s", "1hh", "7d\nx", "1e3s"])
def test_not_durations_are_one_line_errors(text: str) -> None:
    with pytest.raises(InvalidSpec) as raised:
        parse_duration(text)
    assert "\n" not in str(raised.value)


def test_too_long_a_duration_is_refused() -> None:
    with pytest.raises(InvalidSpec, match="too long"):
        parse_duration("200000w")
