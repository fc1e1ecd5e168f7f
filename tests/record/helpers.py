"""Shared helpers for the record tests: real engine snapshots (synthetic workload)."""

from __future__ import annotations

from damontui.backends.engine.backend import EngineBackend
from damontui.model import (
    AccessPattern,
    Action,
    MonitoringAttrs,
    Range,
    Scheme,
    Snapshot,
    Target,
    TargetKind,
)

ATTRS = MonitoringAttrs(min_nr_regions=10, max_nr_regions=200)
COLD = Scheme(Action.STAT, AccessPattern(nr_accesses=Range(0, 0)), name="cold")


def engine_snapshots(count: int, pattern: str = "hotcold", schemes=(COLD,)) -> tuple[
    list[Snapshot], EngineBackend
]:  # fmt: skip
    """`count` consecutive snapshots of the engine on its synthetic workload."""
    backend = EngineBackend([Target(TargetKind.SYNTHETIC, name=pattern)], attrs=ATTRS,
                            schemes=schemes, seed=3, realtime=False)  # fmt: skip
    out: list[Snapshot] = []
    while len(out) < count:
        snap = backend.run_for(ATTRS.aggr_us)
        if snap is not None and (not out or snap is not out[-1]):
            out.append(snap)
    return out, backend
