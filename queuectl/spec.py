"""The job spec: one strict definition that the CLI and the API both validate with.

msgspec decodes and checks types in one pass (unknown fields are errors); the few rules
a type cannot say (non-empty command, non-negative numbers, run_at vs delay) follow.
Many specs at once (JSON lines, an array) are read by spec_lines.py.
"""

from __future__ import annotations

import json
import os
import re
from typing import Annotated, Any

import msgspec

from queuectl.errors import InvalidSpec
from queuectl.models import AfterMode, NewJob, OnDuplicate
from queuectl.timefmt import parse_time

MAX_ID_LENGTH = 200
# Matched with fullmatch: `$` would also accept a trailing newline ("abc\n").
_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+-]*")
_ID_SCHEMA_PATTERN = f"^{_ID_PATTERN.pattern}$"  # JSON Schema patterns search: anchored
# A job id as a type: what the API takes wherever it names existing jobs.
JobId = Annotated[str, msgspec.Meta(pattern=_ID_SCHEMA_PATTERN, max_length=MAX_ID_LENGTH)]
QUEUE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")


# Bounds every backend can store: 32-bit priorities, and times within years 1970-9999.
MAX_PRIORITY = 2**31 - 1
MAX_RETRIES = 1_000_000
MAX_SECONDS = 100 * 365 * 86_400  # delay and timeout: a century
LATEST_TIME = 253_402_300_799.0  # 9999-12-31T23:59:59Z
# A command runs as one argument of `/bin/sh -c`; Linux refuses to exec an argument of
# MAX_ARG_STRLEN (32 pages, 128 KiB) bytes or more, its terminating NUL included.
MAX_COMMAND_BYTES = 128 * 1024 - 1

Priority = Annotated[int, msgspec.Meta(ge=-MAX_PRIORITY - 1, le=MAX_PRIORITY)]
Retries = Annotated[int, msgspec.Meta(ge=0, le=MAX_RETRIES)]
Seconds = Annotated[float, msgspec.Meta(ge=0, le=MAX_SECONDS)]


# gc=False: as NewJob's (queuectl.models), never part of a cycle.
class JobSpec(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False):
    """A job as a user writes it (docs/jobs.md, "The job spec")."""

    command: str
    id: str | None = None
    max_retries: Retries | None = None
    priority: Priority = 0
    run_at: str | None = None
    delay: Seconds | None = None
    timeout: Seconds | None = None
    queue: str = "default"
    keep_daemons: bool = False
    cwd: str | None = None
    env: dict[str, str] | None = None
    after: list[str] | None = None
    after_mode: AfterMode = AfterMode.COMPLETED
    concurrency_key: str | None = None
    unique_key: str | None = None
    on_duplicate: OnDuplicate = OnDuplicate.EXISTING


_decoder = msgspec.json.Decoder(JobSpec)


def inline_schema(struct: type) -> dict[str, Any]:
    """The JSON Schema of a flat msgspec Struct, inline (msgspec puts it under $defs)."""
    schema = msgspec.json.schema(struct)
    found: dict[str, Any] = schema.pop("$defs")[schema["$ref"].rsplit("/", 1)[1]]
    return dict(found)


def spec_json_schema() -> dict[str, Any]:
    """The job spec's JSON Schema: msgspec's from the type, plus the rules of
    `to_new_job` that a schema can state (the API documents this one)."""
    spec = inline_schema(JobSpec)
    props = {name: dict(value) for name, value in spec["properties"].items()}
    no_nul = "^[^\\u0000]*$"
    props["command"].update(
        minLength=1, maxLength=MAX_COMMAND_BYTES, pattern="^[^\\u0000]*\\S[^\\u0000]*$"
    )
    props["id"] = _nullable(
        {"type": "string", "pattern": _ID_SCHEMA_PATTERN, "maxLength": MAX_ID_LENGTH}
    )
    props["queue"].update(pattern=f"^{QUEUE_PATTERN.pattern}$")
    props["run_at"] = _nullable(
        {"type": "string", "format": "date-time", "pattern": "^(19[7-9][0-9]|[2-9][0-9]{3})-"}
    )
    props["cwd"] = _nullable(
        {"type": "string", "pattern": "^/[^\\u0000]*$", "maxLength": MAX_PATH_BYTES}
    )
    props["env"] = _nullable(
        {
            "type": "object",
            "propertyNames": {"pattern": "^[^=\\u0000]+$"},
            "additionalProperties": {"type": "string", "pattern": no_nul},
        }
    )
    props["after"] = _nullable(
        {
            "type": "array",
            "items": {"type": "string", "pattern": _ID_SCHEMA_PATTERN, "maxLength": MAX_ID_LENGTH},
            "description": "ids of the jobs this one runs after (existing, or in the same bulk)",
        }
    )
    props["after_mode"] = {
        "enum": [mode.value for mode in AfterMode],
        "default": AfterMode.COMPLETED.value,
        "description": "run once the jobs in `after` all completed, or all finished in any way",
    }
    props["concurrency_key"] = _nullable(
        {
            "type": "string",
            "pattern": "^[A-Za-z0-9._:@/+=-]{1,200}$",
            "description": "jobs sharing a key never run more at once than its limit "
            "(1 unless set)",
        }
    )
    props["unique_key"] = _nullable(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_UNIQUE_KEY_LENGTH,
            "pattern": "^[^\\u0000-\\u001f]+$",
            "description": "at most one job with this key waits or runs at a time",
        }
    )
    props["on_duplicate"] = {
        "enum": [mode.value for mode in OnDuplicate],
        "default": OnDuplicate.EXISTING.value,
        "description": "when a waiting or running job holds unique_key: answer with it "
        "(existing), refuse (error, 409), or put this spec in place of the waiting one "
        "(replace; a running one is answered as with existing)",
    }
    spec["properties"] = props
    spec["examples"] = [
        {"command": "./build.sh --release", "queue": "builds", "timeout": 600},
        {
            "id": "report-2026-12",
            "command": "make report",
            "cwd": "/srv/reports",
            "env": {"MONTH": "2026-12"},
            "max_retries": 5,
            "delay": 30,
        },
    ]
    # `run_at` and `delay` replace each other: both set (not null) is an error.
    spec["not"] = {
        "required": ["run_at", "delay"],
        "properties": {"run_at": {"type": "string"}, "delay": {"type": "number"}},
    }
    return spec


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}], "default": None}


def decode_spec(text: str | bytes) -> JobSpec:
    """Decode one JSON object into a JobSpec, with a readable error on any fault."""
    try:
        return _decoder.decode(text)
    except msgspec.ValidationError as err:
        if "got `float`" in str(err):  # maybe `5.0` for an integer: the slower, kinder path
            data = load_json(text if isinstance(text, str) else text.decode())
            if isinstance(data, dict):
                return spec_from_mapping(data)
        raise InvalidSpec(f"invalid job spec: {_explain(err)}", field=_field(err)) from None
    except msgspec.DecodeError as err:
        detail = str(err).removeprefix("JSON is malformed: ")
        raise InvalidSpec(f"malformed JSON: {detail}") from None


def spec_from_mapping(data: dict[str, Any]) -> JobSpec:
    """Validate an already-parsed mapping (for example merged from CLI options)."""
    try:
        return msgspec.convert(_whole_numbers(data), JobSpec)
    except msgspec.ValidationError as err:
        raise InvalidSpec(f"invalid job spec: {_explain(err)}", field=_field(err)) from None


_INTEGER_FIELDS = ("max_retries", "priority")


def _whole_numbers(data: dict[str, Any]) -> dict[str, Any]:
    """JSON does not tell 5 from 5.0 (JSON Schema reads both as an integer): a whole number
    written with a fraction is taken for an integer field; 5.5 is still refused."""
    fixed = {}
    for name in _INTEGER_FIELDS:
        value = data.get(name)
        if isinstance(value, float) and value.is_integer():
            fixed[name] = int(value)
    return {**data, **fixed} if fixed else data


def check_text(field: str, *values: str | None) -> None:
    """Refuse text that is not valid Unicode (a lone surrogate, which JSON's `\\ud800`
    escape can carry): no backend can store it, and no process can be given it."""
    for value in values:
        if value is None or value.isascii():
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidSpec(
                f"invalid job spec: `{field}` holds text that is not valid Unicode "
                "(a lone surrogate such as \\ud800)",
                field=field,
            ) from None


def _check_texts(spec: JobSpec) -> None:
    if not (
        spec.command.isascii()  # ASCII is always valid: one call instead of three
        and (spec.cwd is None or spec.cwd.isascii())
        and (spec.run_at is None or spec.run_at.isascii())
    ):
        check_text("command", spec.command)
        check_text("cwd", spec.cwd)
        check_text("run_at", spec.run_at)
    if spec.env:
        check_text("env", *spec.env, *spec.env.values())


def _check_command(command: str) -> None:
    if not command.strip():
        raise InvalidSpec(
            "invalid job spec: `command` must be a non-empty shell command", field="command"
        )
    if "\x00" in command:
        raise InvalidSpec("invalid job spec: `command` must not contain NUL bytes", field="command")
    # At most 4 bytes a character: only a long command needs encoding to be measured.
    size = len(command) * 4
    if size > MAX_COMMAND_BYTES:
        size = len(command.encode("utf-8", "surrogatepass"))
    if size > MAX_COMMAND_BYTES:
        raise InvalidSpec(
            f"invalid job spec: `command` is {size} bytes, more than the {MAX_COMMAND_BYTES} "
            "the kernel accepts for one argument (MAX_ARG_STRLEN, 128 KiB); "
            "put long scripts in a file and run that",
            field="command",
        )


def to_new_job(spec: JobSpec, cwd: str | None = None) -> NewJob:
    """Check the rules a type cannot express and resolve id, run_at and delay. `cwd` is
    the directory of a spec that names none."""
    _check_texts(spec)
    _check_command(spec.command)
    if spec.id is None:
        job_id = os.urandom(6).hex()  # uuid costs start-up
    else:
        job_id = spec.id
        check_job_id(job_id)
    if not is_queue_name(spec.queue):
        raise InvalidSpec(
            f"invalid job spec: bad queue name {spec.queue!r} (letters, digits, ._:-)",
            field="queue",
        )
    if spec.run_at is not None and spec.delay is not None:
        raise InvalidSpec("invalid job spec: give `run_at` or `delay`, not both", field="delay")
    try:
        run_at = parse_time(spec.run_at) if spec.run_at is not None else None
    except InvalidSpec as err:
        raise InvalidSpec(str(err), field="run_at") from None
    if run_at is not None and not 0 <= run_at <= LATEST_TIME:
        raise InvalidSpec(
            f"invalid job spec: `run_at` must fall in 1970-9999: {spec.run_at}", field="run_at"
        )
    if spec.cwd is not None or spec.env:
        _check_cwd_env(spec.cwd, spec.env)
    if spec.after:
        _check_after(spec.after)
    if spec.concurrency_key is not None:
        from queuectl.limits import check_key  # only when used: enqueue's start-up

        check_key(spec.concurrency_key)
    if spec.unique_key is not None or spec.on_duplicate is not OnDuplicate.EXISTING:
        _check_unique_key(spec)
    # Positional, in NewJob's field order: msgspec takes keywords at four times the cost,
    # and a bulk enqueue builds a NewJob for each of its jobs.
    return NewJob(
        job_id,
        spec.command,
        spec.queue,
        spec.priority,
        spec.max_retries,
        spec.timeout,
        run_at,
        spec.delay or 0.0,
        spec.keep_daemons,
        spec.cwd if spec.cwd is not None else cwd,
        spec.env or None,
        tuple(spec.after or ()),
        spec.after_mode,
        spec.concurrency_key,
        spec.unique_key,
        spec.on_duplicate,
    )


MAX_UNIQUE_KEY_LENGTH = 200
_CONTROL = re.compile(r"[\x00-\x1f]")


def _check_unique_key(spec: JobSpec) -> None:
    """A unique key is 1 to 200 characters of valid text without control characters
    (it is printed in one-line answers); a replacing job keeps the `after` of the job it
    replaces, so it may not name its own."""
    key = spec.unique_key
    if key is not None:
        check_text("unique_key", key)
        if not key or len(key) > MAX_UNIQUE_KEY_LENGTH or _CONTROL.search(key):
            raise InvalidSpec(
                "invalid job spec: `unique_key` must be 1 to "
                f"{MAX_UNIQUE_KEY_LENGTH} characters without control characters",
                field="unique_key",
            )
    if spec.on_duplicate is OnDuplicate.REPLACE and spec.after:
        raise InvalidSpec(
            "invalid job spec: on_duplicate `replace` cannot go with `after` "
            "(the job replaced keeps the jobs it runs after)",
            field="on_duplicate",
        )


MAX_PATH_BYTES = 4096  # PATH_MAX
MAX_ENV_BYTES = 64 * 1024


def _check_cwd_env(cwd: str | None, env: dict[str, str] | None) -> None:
    """`cwd` is an absolute path (a relative one means nothing on a worker's host); `env`
    names are non-empty without `=`, and nothing holds a NUL byte (exec would refuse)."""
    if cwd is not None and (
        not cwd.startswith("/")
        or "\x00" in cwd
        or len(cwd.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES
    ):
        raise InvalidSpec(
            f"invalid job spec: `cwd` must be an absolute path without NUL bytes: {cwd!r}",
            field="cwd",
        )
    size = 0
    for name, value in (env or {}).items():
        if not name or "=" in name or "\x00" in name or "\x00" in value:
            raise InvalidSpec(
                f"invalid job spec: bad `env` variable {name!r} "
                "(a non-empty name without '=', no NUL bytes)",
                field="env",
            )
        size += len(name.encode("utf-8", "surrogatepass")) + len(
            value.encode("utf-8", "surrogatepass")
        )
    if size > MAX_ENV_BYTES:
        raise InvalidSpec(
            f"invalid job spec: `env` is {size} bytes, more than {MAX_ENV_BYTES}", field="env"
        )


def is_queue_name(name: str) -> bool:
    """A name a job can have as its queue (so a worker can serve it)."""
    if name in _GOOD_QUEUES:  # a bulk enqueue names the same few queues many times
        return True
    if QUEUE_PATTERN.fullmatch(name) is None:
        return False
    if len(_GOOD_QUEUES) < 1000:
        _GOOD_QUEUES.add(name)
    return True


_GOOD_QUEUES: set[str] = set()


def _check_after(after: list[str] | None) -> None:
    for parent in after or ():
        try:
            check_job_id(parent)
        except InvalidSpec as err:
            raise InvalidSpec(f"{err} (in `after`)", field="after") from None


def check_job_id(job_id: str) -> None:
    """Ids are printable, start with a letter or digit, and fit in a terminal column."""
    if not job_id or len(job_id) > MAX_ID_LENGTH or not _ID_PATTERN.fullmatch(job_id):
        raise InvalidSpec(
            f"invalid job id {job_id!r}: use letters, digits and ._:@/+- "
            f"(at most {MAX_ID_LENGTH} characters)",
            field="id",
        )


def parse_job(text: str | bytes, cwd: str | None = None) -> NewJob:
    """One JSON job spec in, one validated NewJob out (`cwd`: as in to_new_job)."""
    return to_new_job(decode_spec(text), cwd)


def load_json(text: str) -> Any:
    """Strict JSON: Python's json also takes NaN and Infinity, which are not JSON."""

    def refuse(constant: str) -> Any:
        raise InvalidSpec(f"malformed JSON: {constant} is not a JSON number")

    try:
        return json.loads(text, parse_constant=refuse)
    except json.JSONDecodeError as err:
        raise InvalidSpec(f"malformed JSON: {err}") from None
    except RecursionError:  # `[[[[...` thousands deep: no spec nests like that
        raise InvalidSpec("malformed JSON: nested too deeply") from None


_FIELD = re.compile(r"at `\$\.(\w+)`|field `(\w+)`")


def _field(err: msgspec.ValidationError) -> str | None:
    """The spec field msgspec complains about (`at `$.priority``, `field `x``), if any."""
    found = _FIELD.search(str(err))
    return (found.group(1) or found.group(2)) if found else None


_UNKNOWN = re.compile(r"unknown field `(.+)`$")


def _explain(err: msgspec.ValidationError) -> str:
    """msgspec says `Object contains unknown field `x``; keep it, it is already clear, and
    name the field probably meant (`comand`: did you mean `command`?)."""
    text = str(err).replace("Object ", "spec ")
    unknown = _UNKNOWN.search(text)
    if unknown:
        import difflib  # only on this error path: start-up stays light

        close = difflib.get_close_matches(unknown.group(1), JobSpec.__struct_fields__, n=1)
        if close:
            text += f"; did you mean `{close[0]}`?"
    return text
