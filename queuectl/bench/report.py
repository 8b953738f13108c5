"""The benchmark's output: a Markdown table of medians, or JSON for machines."""

from __future__ import annotations

import msgspec

from queuectl.bench import Figure


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def markdown(figures: list[Figure]) -> str:
    lines = [
        "| figure | backend | median | min-max | baseline (same run) | ratio | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        spread = (
            f"{_number(min(f.samples))}-{_number(max(f.samples))}" if len(f.samples) > 1 else ""
        )
        baseline = f"{f.baseline_label} {_number(f.baseline)}" if f.baseline is not None else ""
        ratio = f"{f.ratio:.2f}" if f.ratio is not None else ""
        met = {True: "yes", False: "no", None: ""}[f.met]
        name = f"{f.name} ({f.note})" if f.note else f.name
        lines.append(
            f"| {name} | {f.backend} | {_number(f.median)} {f.unit} | {spread} | {baseline} "
            f"| {ratio} | {f.target} | {met} |"
        )
    return "\n".join(lines)


def as_json(figures: list[Figure], context: dict[str, object]) -> str:
    rows = [{**msgspec.to_builtins(f), "median": f.median} for f in figures]
    return msgspec.json.encode({**context, "figures": rows}).decode()
