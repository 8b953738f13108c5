"""What `queuectl enqueue` makes of its arguments (a SPEC or a plain command, --cwd, --env)
and how it adds one job, the same way for the Click command and the fast path
(queuectl/cli/fast.py), which cannot import Click: one rule, one place."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from queuectl import service
from queuectl.errors import InvalidSpec
from queuectl.models import NewJob

if TYPE_CHECKING:
    from queuectl.cli.context import App

PLAIN_COMMAND_HINT = "a plain command goes after --: queuectl enqueue -- CMD"


def caller_directory() -> str | None:
    """Where the job runs by default (as with tsp and pueue); None if ours was removed."""
    try:
        return os.getcwd()
    except OSError:
        return None


def read_spec_argument(spec: str) -> dict[str, Any]:
    """The JSON object SPEC holds; text that is not JSON at all was likely meant as a
    plain command, so the error says where that goes."""
    try:
        return service.read_spec(spec)
    except InvalidSpec as err:
        if spec.lstrip()[:1] in ("{", "[", '"'):
            raise
        raise InvalidSpec(f"{err} ({PLAIN_COMMAND_HINT})") from None


def job_from_argument(data: dict[str, Any], options: dict[str, Any], here: str | None) -> NewJob:
    """The job a spec (or a plain command's fields) and the command's options describe,
    run in the caller's directory unless the spec or --cwd says otherwise."""
    defaults = {"cwd": here} if here is not None else {}
    return service.spec_with_overrides(data, options, defaults)


def plain_command(words: list[str]) -> str:
    """One word is a shell command line as typed (`-- 'make && make test'`); several are
    quoted one by one, so `-- grep "a b" file` runs exactly those words."""
    if len(words) == 1:
        return words[0]
    import shlex

    return shlex.join(words)


def job_options(
    options: dict[str, Any], env_pairs: tuple[str, ...], env_all: bool, here: str | None
) -> dict[str, Any]:
    """The options as spec fields: --cwd from the caller's directory, --env and --env-all
    as one mapping. A bad --env raises ValueError (Click shows it as the option's)."""
    if options.get("cwd") is not None:
        options = {**options, "cwd": os.path.join(here or "/", os.path.expanduser(options["cwd"]))}
    return {**options, "env": env_option(env_pairs, env_all)}


def env_option(pairs: tuple[str, ...], env_all: bool = False) -> dict[str, str] | None:
    """--env NAME=VALUE, --env NAME (this shell's value) and --env-all, as one mapping."""
    env = {}
    if env_all:
        from queuectl.spawn import HIDDEN_FROM_JOBS  # not for every enqueue: start-up time

        env = {k: v for k, v in os.environ.items() if k not in HIDDEN_FROM_JOBS}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not name:
            raise ValueError(f"expected NAME=VALUE, got {pair!r}")
        if not equals:
            if name not in os.environ:
                raise ValueError(f"{name} is not set in this shell (give NAME=VALUE)")
            value = os.environ[name]
        env[name] = value
    return env or None


def enqueue_one(
    app: App, data: dict[str, Any], options: dict[str, Any], here: str | None, as_json: bool
) -> None:
    """Enqueue the job `data` (a spec, or a plain command's fields) and `options` (spec
    fields, `id` included) describe; print its id and remember it for --last."""
    from queuectl.cli.last_job import remember
    from queuectl.cli.output import print_enqueued

    job = job_from_argument(data, options, here)
    answers = service.enqueue_answers(app.store, [job])
    print_enqueued(answers, as_json)
    remember(app.db, answers[-1].id)
