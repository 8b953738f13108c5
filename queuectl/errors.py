"""Errors a user can cause or must know about.

Every error that reaches the CLI or the API is a `QueueError`: its message is one
readable line, so front ends print it as is and exit non-zero. Anything else is a bug.

The classes form families a front end can map without listing every class: `NotFound`
(HTTP 404), `Conflict` (409: duplicate, or a state that does not allow the change),
`InvalidSpec` (422, with the offending `field` when known) and `StoreUnavailable` (503).
"""


class QueueError(Exception):
    """Base of every expected error; `str(err)` is the one-line message for the user."""


class InvalidSpec(QueueError):
    """A job spec, option or argument that does not validate; `field` names it if known."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(QueueError):
    """The thing asked for does not exist (job, attempt, worker, config key)."""


class Conflict(QueueError):
    """The request is valid but clashes with what is stored (duplicate id, wrong state)."""


class DuplicateJob(Conflict):
    """A job id that is already in the store."""

    def __init__(self, job_id: str, message: str | None = None) -> None:
        super().__init__(message or f"a job with id {job_id!r} already exists")
        self.job_id = job_id


class UniqueKeyTaken(Conflict):
    """A job's unique key is held by another job that is waiting or running (`holder`):
    raised by an enqueue (for `job_id`, the first such job of the batch) or a requeue."""

    def __init__(self, job_id: str, key: str, holder: str, message: str | None = None) -> None:
        super().__init__(
            message
            or f"unique key {key!r} is held by job {holder!r} (waiting or running); "
            f"job {job_id!r} not added"
        )
        self.job_id = job_id
        self.key = key
        self.holder = holder


class JobNotFound(NotFound):
    """No job with that id."""


class WorkerNotFound(NotFound):
    """No registered worker with that id."""


class InvalidStateChange(Conflict):
    """The job is not in a state that allows the requested change."""


class ConfigError(InvalidSpec):
    """A config value out of range (or of the wrong type)."""


class UnknownConfigKey(ConfigError, NotFound):
    """A config key queuectl does not have."""


class StoreError(QueueError):
    """The database cannot be opened or used (missing, locked, not a database, gone)."""


class StoreUnavailable(StoreError):
    """The database did not answer (connection refused or lost); worth retrying."""


class StoreGone(StoreError):
    """The database is gone for good (its file deleted or replaced): stop, never retry."""


class StoreRefused(StoreError):
    """The database answered and refused this write for what it holds (a value too large,
    a constraint): the same write would be refused again, so it is not worth retrying."""
