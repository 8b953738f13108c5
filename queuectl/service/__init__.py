"""The operations users ask for, written once for every front end (CLI, REST API).

Each function takes an open Store, validates, calls it, and returns plain values (models
or small Structs); front ends only parse arguments, call these, and print or serialise
(queuectl/serialize.py). Nothing here knows which backend it runs on, signals a process
or sleeps. Errors are queuectl.errors types: NotFound, Conflict, InvalidSpec (with
`field`), StoreUnavailable.

Submodules load on first use of one of their names (PEP 562), so `queuectl enqueue` pays
only for the modules it calls.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Modules named like one of their functions load now: a submodule imported later would
# otherwise shadow the function of the same name on the package.
from queuectl.service.enqueue import (
    Enqueued,
    enqueue,
    enqueue_answers,
    enqueue_bulk,
    enqueue_bulk_answers,
    enqueue_located,
    parse_bulk,
    parse_located,
    read_spec,
    spec_with_overrides,
)
from queuectl.service.status import QueueStatus, Status, status
from queuectl.service.workers import (
    forget_workers,
    live_workers,
    request_stop,
    worker_registered,
    workers,
)

if TYPE_CHECKING:
    from queuectl.service.admin import (
        DEMO_QUEUE,
        Migration,
        demo_jobs,
        demo_results,
        durability_warning,
        migrate,
        ping,
    )
    from queuectl.service.common import (
        DEFAULT_MAX_RETRIES,
        parse_list_states,
        parse_state,
        settings,
    )
    from queuectl.service.config import (
        ConfigItem,
        config_get,
        config_item,
        config_items,
        config_reset,
        config_set,
        config_values,
    )
    from queuectl.service.dlq import list_dead, purge_dead, retry_dead
    from queuectl.service.jobs import (
        CANCELLABLE,
        PURGEABLE,
        REQUEUEABLE,
        cancel,
        delete,
        get_job,
        ids_in_states,
        job_details,
        last_attempt,
        purge,
        requeue,
        run_now,
        update,
    )
    from queuectl.service.matching import (
        MatchCount,
        act_on_matching,
        count_matching,
        ids_matching,
    )
    from queuectl.service.paging import (
        MAX_PAGE,
        check_query,
        decode_cursor,
        encode_cursor,
        list_jobs,
    )
    from queuectl.service.queues import EVERY_QUEUE, pause, paused, resume
    from queuectl.service.workflows import job_graph, job_links

_WHERE = {
    "ConfigItem": "config",
    "DEFAULT_MAX_RETRIES": "common",
    "DEMO_QUEUE": "admin",
    "MAX_PAGE": "paging",
    "MatchCount": "matching",
    "act_on_matching": "matching",
    "count_matching": "matching",
    "ids_matching": "matching",
    "Migration": "admin",
    "PURGEABLE": "jobs",
    "EVERY_QUEUE": "queues",
    "pause": "queues",
    "paused": "queues",
    "resume": "queues",
    "CANCELLABLE": "jobs",
    "REQUEUEABLE": "jobs",
    "ids_in_states": "jobs",
    "cancel": "jobs",
    "check_query": "paging",
    "config_get": "config",
    "config_item": "config",
    "config_items": "config",
    "config_reset": "config",
    "config_set": "config",
    "config_values": "config",
    "decode_cursor": "paging",
    "delete": "jobs",
    "demo_jobs": "admin",
    "demo_results": "admin",
    "durability_warning": "admin",
    "encode_cursor": "paging",
    "get_job": "jobs",
    "job_details": "jobs",
    "job_graph": "workflows",
    "job_links": "workflows",
    "last_attempt": "jobs",
    "list_dead": "dlq",
    "list_jobs": "paging",
    "migrate": "admin",
    "parse_list_states": "common",
    "parse_state": "common",
    "ping": "admin",
    "purge": "jobs",
    "purge_dead": "dlq",
    "requeue": "jobs",
    "retry_dead": "dlq",
    "run_now": "jobs",
    "settings": "common",
    "update": "jobs",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'queuectl.service' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"queuectl.service.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "CANCELLABLE",
    "DEFAULT_MAX_RETRIES",
    "DEMO_QUEUE",
    "EVERY_QUEUE",
    "MAX_PAGE",
    "PURGEABLE",
    "REQUEUEABLE",
    "ConfigItem",
    "Enqueued",
    "MatchCount",
    "Migration",
    "QueueStatus",
    "Status",
    "act_on_matching",
    "cancel",
    "check_query",
    "config_get",
    "config_item",
    "config_items",
    "config_reset",
    "config_set",
    "config_values",
    "count_matching",
    "decode_cursor",
    "delete",
    "demo_jobs",
    "demo_results",
    "durability_warning",
    "encode_cursor",
    "enqueue",
    "enqueue_answers",
    "enqueue_bulk",
    "enqueue_bulk_answers",
    "enqueue_located",
    "forget_workers",
    "get_job",
    "ids_in_states",
    "ids_matching",
    "job_details",
    "job_graph",
    "job_links",
    "last_attempt",
    "list_dead",
    "list_jobs",
    "live_workers",
    "migrate",
    "parse_bulk",
    "parse_list_states",
    "parse_located",
    "parse_state",
    "pause",
    "paused",
    "ping",
    "purge",
    "purge_dead",
    "read_spec",
    "request_stop",
    "requeue",
    "resume",
    "retry_dead",
    "run_now",
    "settings",
    "spec_with_overrides",
    "status",
    "update",
    "worker_registered",
    "workers",
]
