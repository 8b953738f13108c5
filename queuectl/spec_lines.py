"""Many job specs at once: one JSON array, or JSON lines (spec.py checks each spec).

JSON lines are decoded in one msgspec call when every line is one object; any error sends
the input to the line-by-line path, whose messages name the line (or array item).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import repeat

import msgspec

from queuectl.errors import InvalidSpec
from queuectl.models import NewJob
from queuectl.spec import JobSpec, load_json, parse_job, spec_from_mapping, to_new_job

_decoder = msgspec.json.Decoder(JobSpec)


def parse_job_lines(text: str, cwd: str | None = None) -> list[tuple[str, NewJob]]:
    """Many specs: one JSON array, or JSON lines. Returns (where, job) pairs, `where`
    being "line 3" or "item 2", and errors name the line (or array item). `cwd` is the
    directory of the specs that name none."""
    stripped = text.lstrip()
    jobs = list(_array_items(stripped, cwd) if stripped.startswith("[") else _lines(text, cwd))
    if not jobs:
        raise InvalidSpec("no job specs found in the input")
    seen: set[str] = set()
    for where, job in jobs:
        if job.id in seen:
            raise InvalidSpec(f"{where}: duplicate job id {job.id!r} in the input")
        seen.add(job.id)
    return jobs


def _lines(text: str, cwd: str | None) -> Iterable[tuple[str, NewJob]]:
    at_once = _lines_at_once(text, cwd)
    return at_once if at_once is not None else _line_by_line(text, cwd)


def _line_by_line(text: str, cwd: str | None) -> Iterator[tuple[str, NewJob]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield f"line {number}", _located(f"line {number}", line, cwd)


def _lines_at_once(text: str, cwd: str | None) -> list[tuple[str, NewJob]] | None:
    """Every line decoded in one msgspec call when each non-blank line is one JSON object
    (it starts with `{` and ends with `}`, so no value can span lines); None sends other
    input, and every error, to the line-by-line path, whose messages name the line."""
    stripped = list(map(str.strip, text.splitlines()))
    if all(stripped):  # no blank line: the common case, checked in C
        numbers: Sequence[int] = range(1, len(stripped) + 1)
        lines = stripped
    else:
        numbers = [number for number, line in enumerate(stripped, start=1) if line]
        lines = [line for line in stripped if line]
    if not (
        all(map(str.startswith, lines, repeat("{"))) and all(map(str.endswith, lines, repeat("}")))
    ):
        return None
    try:
        specs = _decoder.decode_lines(text)
        if len(specs) != len(numbers):
            return None
        return [
            (f"line {n}", to_new_job(spec, cwd)) for n, spec in zip(numbers, specs, strict=True)
        ]
    except (msgspec.MsgspecError, InvalidSpec):
        return None


def _array_items(text: str, cwd: str | None) -> Iterable[tuple[str, NewJob]]:
    items = load_json(text)
    if not isinstance(items, list):
        raise InvalidSpec("expected a JSON array of job specs")
    result = []
    for index, item in enumerate(items):
        where = f"item {index}"
        if not isinstance(item, dict):
            raise InvalidSpec(f"{where}: a job spec must be a JSON object")
        try:
            result.append((where, to_new_job(spec_from_mapping(item), cwd)))
        except InvalidSpec as err:
            raise InvalidSpec(f"{where}: {err}", field=err.field) from None
    return result


def _located(where: str, line: str, cwd: str | None) -> NewJob:
    try:
        return parse_job(line, cwd)
    except InvalidSpec as err:
        raise InvalidSpec(f"{where}: {err}", field=err.field) from None
