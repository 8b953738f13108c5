"""Errors a user can cause or must know about.

Every error that reaches the CLI or the API is a `QueueError`: its message is one
readable line, so front ends print it as is and exit non-zero. Anything else is a bug.
"""


class QueueError(Exception):
    """Base of every expected error; `str(err)` is the one-line message for the user."""


class InvalidSpec(QueueError):
    """A job spec, option or argument that does not validate."""


class DuplicateJob(QueueError):
    """A job id that is already in the store."""

    def __init__(self, job_id: str, message: str | None = None) -> None:
        super().__init__(message or f"a job with id {job_id!r} already exists")
        self.job_id = job_id


class JobNotFound(QueueError):
    """No job with that id."""


class InvalidStateChange(QueueError):
    """The job is not in a state that allows the requested change."""


class ConfigError(QueueError):
    """An unknown config key or a value out of range."""


class StoreError(QueueError):
    """The database cannot be opened or used (missing, locked, not a database, gone)."""


class StoreUnavailable(StoreError):
    """The database did not answer (connection refused or lost); worth retrying."""
