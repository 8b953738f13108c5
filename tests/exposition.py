"""A strict reader of the Prometheus text exposition format (0.0.4), for tests: every
line must be a HELP, TYPE or sample line; samples must belong to a declared family."""

from __future__ import annotations

import math
import re

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
SAMPLE = re.compile(rf"^({NAME})(?:\{{((?:{LABEL})(?:,{LABEL})*)?\}})? (\S+)(?: -?\d+)?$")
HELP = re.compile(rf"^# HELP ({NAME}) (.*)$")
TYPE = re.compile(rf"^# TYPE ({NAME}) (counter|gauge|histogram|summary|untyped)$")
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count", "")}

Labels = tuple[tuple[str, str], ...]


def parse(text: str) -> tuple[dict[str, str], dict[tuple[str, Labels], float]]:
    """({family: type}, {(sample name, sorted labels): value}); AssertionError on any
    line that breaks the format."""
    assert text.endswith("\n"), "the exposition must end with a newline"
    types: dict[str, str] = {}
    helps: set[str] = set()
    samples: dict[tuple[str, Labels], float] = {}
    for number, line in enumerate(text.splitlines(), 1):
        where = f"line {number}: {line!r}"
        if line.startswith("#"):
            if found := HELP.match(line):
                assert found[1] not in helps, f"{where}: second HELP"
                helps.add(found[1])
            elif found := TYPE.match(line):
                assert found[1] not in types, f"{where}: second TYPE"
                types[found[1]] = found[2]
            else:
                raise AssertionError(f"{where}: not a HELP or TYPE line")
            continue
        found = SAMPLE.match(line)
        assert found, f"{where}: not a sample line"
        name, value_text = found[1], found[found.lastindex or 0]
        labels = tuple(sorted(re.findall(LABEL, found[2] or "")))
        assert len({k for k, _ in labels}) == len(labels), f"{where}: repeated label"
        value = float(value_text)  # accepts +Inf, -Inf, NaN
        family = _family(name, types)
        assert family is not None, f"{where}: sample before its TYPE line"
        if types[family] == "counter":
            assert name.endswith("_total"), f"{where}: a counter not ending in _total"
            assert value >= 0 and not math.isnan(value), f"{where}: negative counter"
        key = (name, labels)
        assert key not in samples, f"{where}: the same series twice"
        samples[key] = value
    return types, samples


def _family(name: str, types: dict[str, str]) -> str | None:
    if name in types:
        return name
    for family, kind in types.items():
        for suffix in SUFFIXES.get(kind, ()):
            if suffix and name == family + suffix:
                return family
    return None


def check_histograms(types: dict[str, str], samples: dict[tuple[str, Labels], float]) -> None:
    """Buckets are cumulative, end with +Inf, and _count equals the +Inf bucket."""
    for family, kind in types.items():
        if kind != "histogram":
            continue
        series: dict[Labels, list[tuple[float, float]]] = {}
        for (name, labels), value in samples.items():
            if name == f"{family}_bucket":
                rest = tuple(item for item in labels if item[0] != "le")
                le = float(dict(labels)["le"])
                series.setdefault(rest, []).append((le, value))
        for rest, points in series.items():
            points.sort()
            counts = [count for _, count in points]
            assert counts == sorted(counts), f"{family}{rest}: buckets not cumulative"
            assert points[-1][0] == math.inf, f"{family}{rest}: no +Inf bucket"
            assert samples[(f"{family}_count", rest)] == points[-1][1]
            assert (f"{family}_sum", rest) in samples
