"""Property-based fuzzing of everything a user can type: job specs, config keys and
values, command-line arguments and `--file` contents.

The contract for each input, whatever it holds:
- rejected: exactly one line on stderr, starting with `error: `, exit 1 or 2, no
  traceback, nothing on stdout, and the database unchanged (its full `iterdump` compared);
- accepted: the job (or setting) is stored as given, and reads back through
  `show --json` (`config get`).

Runs in-process through Click's runner (as tests/cli does) for speed, plus a few real
processes. Deterministic (derandomized, no example database); `--chaos-scale N`
multiplies the number of examples.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from queuectl.cli import main
from queuectl.config import KEYS
from queuectl.spec import MAX_PRIORITY, MAX_RETRIES, MAX_SECONDS
from queuectl.store import open_store
from queuectl.timefmt import parse_duration

MAX_ARG_BYTES = 128 * 1024  # Linux's MAX_ARG_STRLEN, the terminating NUL included

pytestmark = pytest.mark.chaos


# -- running queuectl ----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str

    def check_rejected(self, before: list[str], after: list[str]) -> None:
        """The error contract: one `error:` line, exit 1 or 2, nothing stored."""
        assert self.code in (1, 2), f"exit {self.code}: {self.stderr!r}"
        assert "Traceback" not in self.stderr, self.stderr
        lines = self.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), repr(self.stderr)
        assert self.stdout == "", repr(self.stdout)
        assert after == before, "a rejected command changed the database"


def invoke(db: Path, args: list[str], input: bytes | None = None) -> Outcome:
    """queuectl in-process, the way the console script runs (sys.exit included)."""
    runner = CliRunner()
    env: Mapping[str, str | None] = {"QUEUECTL_DB": str(db), "COLUMNS": "200"}
    with runner.isolation(input=input, env=env) as (out, err, _):
        try:
            main(args)
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        except Exception as escaped:  # a traceback for the user: always a failure
            raise AssertionError(f"{args!r} escaped main(): {escaped!r}") from escaped
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        stdout = out.getvalue().decode("utf-8", "replace")
        stderr = err.getvalue().decode("utf-8", "replace")
    return Outcome(code, stdout, stderr)


def dump(db: Path) -> list[str]:
    """Every row of every table (and the schema), as SQL text."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


@pytest.fixture
def fresh_db(tmp_path: Path) -> Callable[[], Path]:
    """`fresh_db()`: the path of a new, migrated database (a copy of one template)."""
    template = tmp_path / "template.db"
    store = open_store(str(template))
    store.close()
    numbers = itertools.count()

    def make() -> Path:
        path = tmp_path / f"db-{next(numbers)}.db"
        shutil.copyfile(template, path)
        return path

    return make


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Never the user's default database; no terminal-dependent output."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("QUEUECTL_DB", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)


def fuzz_settings(examples: int, scale: float) -> settings:
    return settings(
        max_examples=max(1, int(examples * scale)),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# -- strategies ------------------------------------------------------------------------------

# Text as the shell hands it over: anything but NUL (argv cannot hold it), with lone
# surrogates standing for bytes that are not UTF-8.
argv_text = st.text(
    st.characters(blacklist_characters="\x00", blacklist_categories=()), max_size=30
)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and Infinity too: json.dumps writes them, JSON forbids them
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
names_like = st.from_regex(r"[A-Za-z0-9 ._:@/+\-\n\r\t]{0,12}", fullmatch=True)
times_like = st.sampled_from(
    [
        "2030-01-01",
        "2030-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "9999-12-31T23:59:59-14:00",
        "2030-02-30",
        "tomorrow",
        "",
        "2030-01-01T00:00:00+25:00",
        "2030-01-01\n",
    ]
)
good_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,40}", fullmatch=True)
good_queues = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}", fullmatch=True)


def almost(names: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """A good name with one character too many at its end: the `$` bug's favourite."""
    return st.tuples(names, st.sampled_from(["\n", "\n", "\n", "\r\n", " ", "\x85", "é"])).map(
        "".join
    )


SPEC_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "command": st.text(max_size=30) | json_values,
    "id": names_like | almost(good_ids) | json_values,
    "queue": names_like | almost(good_queues) | json_values,
    "priority": st.integers(min_value=-(2**40), max_value=2**40) | json_values,
    "max_retries": st.integers(min_value=-5, max_value=2 * MAX_RETRIES) | json_values,
    "timeout": st.floats() | json_values,
    "delay": st.floats() | json_values,
    "run_at": times_like | json_values,
}
random_specs = st.builds(
    lambda known, unknown: {**unknown, **known},
    st.fixed_dictionaries({}, optional=SPEC_FIELDS),
    st.dictionaries(st.text(max_size=6), json_values, max_size=2),
)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


good_commands = st.text(min_size=1, max_size=60).filter(lambda c: c.strip() and "\x00" not in c)
valid_specs = st.fixed_dictionaries(
    {"command": good_commands},
    optional={
        "id": good_ids,
        "queue": good_queues,
        "priority": st.integers(min_value=-MAX_PRIORITY - 1, max_value=MAX_PRIORITY),
        "max_retries": st.integers(min_value=0, max_value=MAX_RETRIES),
        "timeout": st.floats(min_value=0, max_value=MAX_SECONDS),
        "run_at": st.datetimes(datetime(1970, 1, 2), datetime(9999, 12, 30)).map(
            lambda moment: moment.isoformat()
        ),
    },
)


# One exec argument holds at most 131071 bytes (MAX_ARG_STRLEN less its NUL).
near_the_exec_limit = st.sampled_from(
    ["e" * (128 * 1024 - 1), "e" * (128 * 1024), "é" * (64 * 1024 - 1), "é" * (64 * 1024)]
)


@st.composite
def mutated_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid spec with one field made random: near misses find the edges of each rule."""
    spec = dict(draw(valid_specs))
    field = draw(st.sampled_from(sorted(SPEC_FIELDS)))
    if field in ("id", "queue") and draw(st.booleans()):
        spec[field] = draw(almost(good_ids if field == "id" else good_queues))
    elif field == "command" and draw(st.booleans()):
        spec[field] = draw(near_the_exec_limit)
    else:
        spec[field] = draw(SPEC_FIELDS[field])
    return spec


def _with(field: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    """Valid specs but for `field`, as JSON."""
    return st.builds(lambda spec, value: {**spec, field: value}, valid_specs, values).map(
        json.dumps
    )


# Three parts in four are near misses: a valid spec with one field made random, a
# command about as long as exec takes, an id or queue with one character too many.
spec_texts = st.one_of(
    mutated_specs().map(json.dumps),
    _with("command", near_the_exec_limit),
    _with("id", almost(good_ids)) | _with("queue", almost(good_queues)),
    st.one_of(
        random_specs.map(json.dumps),
        random_specs.map(lambda spec: json.dumps(spec, ensure_ascii=False)),
        random_specs.map(lambda spec: json.dumps(spec) + " trailing"),
        st.integers(min_value=1, max_value=60_000).map(_nested),
        st.integers(min_value=1, max_value=60_000).map(
            lambda n: '{"command":"x","a":' + _nested(n) + "}"
        ),
        argv_text,
    ),
)

# -- specs -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("isolated")
def test_fuzzed_specs_are_stored_as_given_or_rejected_whole(
    fresh_db: Callable[[], Path], chaos_scale: float
) -> None:
    @fuzz_settings(150, chaos_scale)
    @given(spec_texts)
    def check(text: str) -> None:
        db = fresh_db()  # a replayed example meets the same database (no duplicate id)
        before = dump(db)
        outcome = invoke(db, ["enqueue", text])
        if outcome.code != 0:
            outcome.check_rejected(before, dump(db))
            return
        spec = json.loads(text)  # accepted: it was a JSON object with good fields
        spec = {key: value for key, value in spec.items() if value is not None}  # null = unset
        job_id = outcome.stdout.strip()
        if "id" in spec:
            assert job_id == spec["id"]
        check_round_trip(db, job_id, spec)

    check()


@pytest.mark.usefixtures("isolated")
def test_fuzzed_valid_specs_are_enqueued_and_round_trip(
    fresh_db: Callable[[], Path], chaos_scale: float
) -> None:
    db = fresh_db()
    numbers = itertools.count()

    @fuzz_settings(100, chaos_scale)
    @given(valid_specs)
    def check(spec: dict[str, Any]) -> None:
        if "id" in spec:
            spec = {**spec, "id": f"{spec['id']}.{next(numbers)}"}  # ids are unique
        outcome = invoke(db, ["enqueue", json.dumps(spec)])
        assert outcome.code == 0, f"{spec!r} was refused: {outcome.stderr}"
        check_round_trip(db, outcome.stdout.strip(), spec)

    check()


def check_round_trip(db: Path, job_id: str, spec: dict[str, Any]) -> None:
    shown = invoke(db, ["show", job_id, "--json"])
    assert shown.code == 0, shown.stderr
    job = json.loads(shown.stdout)
    assert (job["id"], job["state"], job["command"]) == (job_id, "pending", spec["command"])
    # What docs/jobs.md promises of every stored job, whatever was accepted:
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,199}", job_id), job_id
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}", job["queue"]), job["queue"]
    assert job["command"].strip() and len(job["command"].encode()) < 128 * 1024
    assert job["queue"] == spec.get("queue", "default")
    assert job["priority"] == spec.get("priority", 0)
    for field in ("max_retries", "timeout"):
        if field in spec:
            assert job[field] == spec[field], field
    if "run_at" in spec:
        moment = datetime.fromisoformat(spec["run_at"].replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        stored = datetime.fromisoformat(job["run_at"].replace("Z", "+00:00"))
        assert abs(stored.timestamp() - moment.timestamp()) < 0.002, (spec["run_at"], stored)


# -- config ------------------------------------------------------------------------------------

config_keys = st.one_of(
    st.sampled_from(list(KEYS)),
    st.sampled_from(list(KEYS)).map(lambda key: key.replace("-", "_").upper()),
    st.sampled_from(list(KEYS)).map(lambda key: key + "\n"),
    argv_text,
)
config_values = st.one_of(
    st.integers(min_value=-10, max_value=2**31).map(str),
    st.floats().map(str),
    st.floats(min_value=0, max_value=200).map(repr),
    st.sampled_from(["", " 5 ", "5\n", "1e3", "0x10", "1_000", "٣", "inf", "nan", "[[[", "5s"]),
    argv_text,
)


@pytest.mark.usefixtures("isolated")
def test_fuzzed_config_values_are_stored_in_range_or_rejected(
    fresh_db: Callable[[], Path], chaos_scale: float
) -> None:
    db = fresh_db()

    @fuzz_settings(200, chaos_scale)
    @given(config_keys, config_values)
    def check(key: str, value: str) -> None:
        before = dump(db)
        outcome = invoke(db, ["config", "set", key, value])
        if outcome.code != 0:
            outcome.check_rejected(before, dump(db))
            return
        if value in ("-h", "--help"):  # the help option wins anywhere, as in git
            assert outcome.stdout.startswith("Usage:") and dump(db) == before
            return
        name, stored = outcome.stdout.strip().split(" = ")
        spec = KEYS[name]
        number = spec.kind(stored)
        assert spec.low <= number <= spec.high
        try:
            given = float(value)
        except ValueError:  # a duration (`5s`, `15m`), taken by the keys in seconds only
            assert spec.seconds, (name, value)
            given = parse_duration(value)
        assert given == number  # what was given, only written plainly
        got = invoke(db, ["config", "get", key])
        assert (got.code, got.stdout) == (0, f"{stored}\n")

    check()


# -- command-line arguments ---------------------------------------------------------------------

COMMANDS = [
    ["enqueue"],
    ["list"],
    ["show"],
    ["logs"],
    ["cancel"],
    ["purge"],
    ["update"],
    ["status"],
    ["dlq", "list"],
    ["dlq", "retry"],
    ["dlq", "purge"],
    ["config", "get"],
    ["config", "set"],
    ["config", "reset"],
    ["worker", "list"],
    ["db"],
    ["ping"],
    ["list", "--status"],
    [],
]
OPTIONS = [
    "--state",
    "--queue",
    "--limit",
    "--json",
    "--id",
    "--priority",
    "--run-at",
    "--delay",
    "--timeout",
    "--max-retries",
    "--older-than",
    "--attempt",
    "--all",
    "--file",
    "-f",
    "--help",
    "--bogus",
    "-",
    "--",
]
arguments = st.lists(
    st.one_of(st.sampled_from(OPTIONS), argv_text, json_scalars.map(json.dumps)), max_size=5
)


@pytest.mark.usefixtures("isolated")
def test_fuzzed_arguments_never_end_in_a_traceback(
    fresh_db: Callable[[], Path],
    chaos_scale: float,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = fresh_db()
    monkeypatch.chdir(tmp_path)  # a relative --file is looked for here

    @fuzz_settings(250, chaos_scale)
    @given(st.sampled_from(COMMANDS), arguments)
    def check(command: list[str], args: list[str]) -> None:
        before = dump(db)
        outcome = invoke(db, [*command, *args], input=b"")
        if outcome.code != 0:
            outcome.check_rejected(before, dump(db))
        else:
            assert "Traceback" not in outcome.stderr

    check()


# -- --file contents -----------------------------------------------------------------------------

spec_lines = st.lists(
    st.one_of(random_specs, valid_specs, json_values).map(json.dumps), min_size=1, max_size=6
)
file_contents = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=100).map(lambda text: text.encode("utf-8")),
    st.text(max_size=60).map(lambda text: text.encode("utf-16")),
    spec_lines.map(lambda lines: "\n".join(lines).encode()),
    spec_lines.map(lambda lines: ("[" + ",".join(lines) + "]").encode()),
    spec_lines.map(lambda lines: "\n".join(lines).encode() + b"\n\xff\xfe\n"),
    valid_specs.map(lambda spec: b"\xef\xbb\xbf" + json.dumps(spec).encode()),
)


@pytest.mark.usefixtures("isolated")
def test_fuzzed_files_are_enqueued_whole_or_not_at_all(
    fresh_db: Callable[[], Path], chaos_scale: float, tmp_path: Path
) -> None:
    db = fresh_db()
    path = tmp_path / "jobs.in"
    numbers = itertools.count()

    @fuzz_settings(150, chaos_scale)
    @given(file_contents, st.booleans())
    def check(data: bytes, from_stdin: bool) -> None:
        # Generated ids may repeat an earlier example's: a fresh database when they do.
        target = db if next(numbers) % 2 else fresh_db()
        before = dump(target)
        jobs_before = count_jobs(target)
        if from_stdin:
            outcome = invoke(target, ["enqueue", "--file", "-"], input=data)
        else:
            path.write_bytes(data)
            outcome = invoke(target, ["enqueue", "--file", str(path)])
        if outcome.code != 0:
            outcome.check_rejected(before, dump(target))
            return
        added = len(outcome.stdout.split())  # the new ids, one per line
        assert count_jobs(target) == jobs_before + added > jobs_before

    check()


def count_jobs(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM jobs").fetchone()[0])
    finally:
        conn.close()


# -- a few real processes: real argv bytes, real stderr encoding --------------------------------


@pytest.mark.usefixtures("isolated")
def test_fuzzed_inputs_in_real_processes(
    fresh_db: Callable[[], Path], chaos_scale: float, tmp_path: Path
) -> None:
    db = fresh_db()
    path = tmp_path / "jobs.in"

    @fuzz_settings(3, chaos_scale)
    @given(spec_texts, file_contents, config_values)
    def check(spec: str, data: bytes, value: str) -> None:
        path.write_bytes(data)
        for args in (
            ["enqueue", spec],
            ["enqueue", "--file", str(path)],
            ["config", "set", "grace-period", value],
        ):
            before = dump(db)
            argv = [os.fsencode(a) if "\x00" not in a else b"x" for a in args]
            if any(len(arg) >= MAX_ARG_BYTES for arg in argv):
                continue  # the kernel refuses such an argv before queuectl runs
            done = subprocess.run(
                [sys.executable, "-m", "queuectl", "--db", str(db), *argv],
                capture_output=True,
                check=False,
                timeout=60,
                env={**os.environ, "QUEUECTL_DB": str(db)},
            )
            if done.returncode != 0:
                stderr = done.stderr.decode("utf-8", "replace")
                Outcome(done.returncode, done.stdout.decode(), stderr).check_rejected(
                    before, dump(db)
                )

    check()
