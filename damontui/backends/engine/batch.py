"""The engine's page samplers: one compiled call per aggregation for page sources.

For targets whose source offers a page sampler (pageidle, softdirty), picking pages,
translating them, resetting and checking them, and adding the results to
``nr_accesses`` all happen in ``sampler.impl.run()`` with the GIL released, for every
sampling interval of an aggregation. Python runs once per aggregation (merge, split,
age, snapshot, DAMOS). Errors come back as status codes and are turned here into the
same messages (and target drops) as the per-step path.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...model import TargetKind
from . import sampler
from .sources.base import SourceError, TargetGone, pid_alive

if TYPE_CHECKING:
    from .engine import Engine, EngineTarget

C = sampler.impl.CONSTANTS
ST_OK = C["ST_OK"]


def make_stop_flag() -> Any:
    return sampler.impl.StopFlag()


def attach(et: EngineTarget) -> None:
    """Give the target its source's sampler (None if the source has none)."""
    et.sampler = et.source.make_sampler(sampler.impl)


# How often a sampler learns its target's mapped ranges (/proc/PID/maps): samples in
# the holes of DAMON's three regions then cost no I/O (see sampler_py). Every second,
# doubling up to MAPPED_REFRESH_MAX_S while the maps stay the same (a read costs ~5 ms
# of CPU under emulation for 200 mappings), back to a second when they change. A
# mapping made inside a hole is seen that late at most; DAMON's own regions follow
# new mappings only at the update interval (60 s by default).
MAPPED_REFRESH_S = 1.0
MAPPED_REFRESH_MAX_S = 8.0
# How long the sampler keeps the pagemap blocks it read for its sample windows (see
# PM_BLOCK in ext/_sampler.pyx), in aggregations of the intervals in force.
PAGEMAP_KEEP_US = 1_000_000


def refresh_mapped(engine: Engine, et: EngineTarget, now: float) -> None:
    """Tell the sampler its target's mapped ranges when they are due (see
    MAPPED_REFRESH_S). Unreadable maps make every address count as mapped: slower,
    never wrong."""
    if now - et.mapped_at < et.mapped_every:
        return
    et.mapped_at = now
    try:
        ranges = et.source.mapped_ranges()
    except TargetGone as e:
        engine._drop(et, str(e))
        return
    except SourceError:
        ranges = None
    if ranges is not None and ranges == et.mapped:
        et.mapped_every = min(et.mapped_every * 2, MAPPED_REFRESH_MAX_S)
        return
    et.mapped, et.mapped_every = ranges, MAPPED_REFRESH_S
    et.sampler.set_mapped(ranges)


def _before_aggregation(engine: Engine, et: EngineTarget) -> bool:
    """Maps and pagemap ttl for a new aggregation; False if the target was dropped."""
    refresh_mapped(engine, et, time.monotonic())
    if et not in engine.targets:
        return False  # its process exited
    et.sampler.set_pagemap_ttl(max(1, PAGEMAP_KEEP_US // engine.attrs.aggr_us))
    return True


def prepare(engine: Engine, et: EngineTarget) -> None:
    if _before_aggregation(engine, et):
        handle(engine, et, *sampler.impl.prepare(et.sampler, et.regions, et.rng))


def run(
    engine: Engine,
    ets: Sequence[EngineTarget],
    nr: int,
    sample_ns: int,
    deadline_ns: int,
    stop: Any,
    fresh: bool = False,
) -> tuple[int, int, int, int]:
    """``nr`` sampling intervals for ``ets``; (done, deadline, lag ns, max lag ns).

    ``fresh``: start a new aggregation first (what ``prepare`` does, in the same
    compiled call)."""
    if fresh:
        ets = [et for et in ets if _before_aggregation(engine, et)]
    done, statuses, deadline, lag, max_lag = sampler.impl.run(
        [et.sampler for et in ets],
        [et.regions for et in ets],
        [et.rng for et in ets],
        nr,
        sample_ns,
        deadline_ns,
        stop,
        fresh,
    )
    for et, st in zip(list(ets), statuses, strict=True):
        if st[0] != ST_OK:
            handle(engine, et, *st)
    return done, deadline, lag, max_lag


def handle(engine: Engine, et: EngineTarget, status: int, err: int, file: int) -> None:
    """Turn a sampler status into a message or a target drop."""
    if status == C["ST_OK"]:
        return
    path = et.source.sampler_file(file) if file else et.source.sampler_file(1)
    pid = et.target.pid if et.target.kind is TargetKind.PID else None
    proc_root = getattr(et.source, "proc_root", "/proc")
    if status == C["ST_GONE"] or (pid is not None and not pid_alive(pid, proc_root)):
        engine._drop(et, str(TargetGone(f"pid {pid} exited ({path} reads empty)")))
        return
    if status == C["ST_NO_PFN"]:
        error = SourceError(
            f"{path} shows PFN 0 for present pages: reading PFNs needs CAP_SYS_ADMIN (run as root)"
        )
    else:
        error = SourceError(f"cannot use {path}: {os.strerror(err) if err else 'error'}")
    engine.report(f"{et.target.label}: {error}")
