"""`python -m queuectl.bench`: the speed figures, each beside a baseline taken
in the same run, so a noisy or slow machine shows up in both numbers rather than in the
verdict.

Not a test: it reports medians with their spread and says which targets were met.
"""

from __future__ import annotations

import msgspec


class Figure(msgspec.Struct):
    """One measured figure on one backend. `samples` are in `unit`; `ratio` compares the
    median with `baseline` (same run) or with the target when there is no baseline."""

    name: str
    backend: str
    unit: str
    samples: list[float]
    target: str = ""
    baseline: float | None = None
    baseline_label: str = ""
    ratio: float | None = None
    met: bool | None = None
    note: str = ""

    @property
    def median(self) -> float:
        ordered = sorted(self.samples)
        mid = len(ordered) // 2
        return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
