"""The SPEC argument of `queuectl enqueue`, read the same way by the Click command and the
fast path (queuectl/cli/fast.py), which cannot import Click: one rule, one place."""

from __future__ import annotations

import os
from typing import Any

from queuectl import service
from queuectl.errors import InvalidSpec
from queuectl.models import NewJob

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
