"""How a worker's slots are shared out among its processes (worker_options.py), and the
reserve a process of a supervisor claims for (slots.py)."""

from __future__ import annotations

from typing import Any, cast

from queuectl.pacing import Pacing
from queuectl.slots import Slots
from queuectl.worker_options import default_procs, split_slots, usable_cores
from tests.helpers import settled


def test_slots_are_shared_out_evenly() -> None:
    assert split_slots(2, 2) == [1, 1]
    assert split_slots(5, 2) == [3, 2]
    assert split_slots(7, 3) == [3, 2, 2]
    assert sum(split_slots(256, 7)) == 256


def test_by_default_one_process_per_core_and_no_more_than_slots() -> None:
    assert default_procs(1) == 1
    assert default_procs(256) == usable_cores()
    assert default_procs(2) == 1  # a small worker stays one process: a second one costs
    assert default_procs(8) == min(2, usable_cores())


def _short_jobs() -> Pacing:
    """Jobs of 9 ms: short, and long enough for the smallest reserve (pacing.py)."""
    return settled(Pacing(), 0.009)


def test_a_process_of_a_supervisor_reserves_for_the_whole_worker() -> None:
    """With short jobs, one process of 2 slots claims 2 + 8; each of two 1-slot
    processes of that worker claims 1 + 8, not 1 + 4: as many jobs a transaction."""
    store = cast(Any, None)  # only handing jobs back touches the store
    alone = Slots(store, "w", 2, _short_jobs())
    member = Slots(store, "w", 1, _short_jobs(), reserve_for=2)
    assert alone.wanted() == 2 + 8
    assert member.wanted() == 1 + 8
    assert Slots(store, "w", 1, _short_jobs()).wanted() == 1 + 4
