"""The objects damo's kdamonds JSON loads into, and damo's defaults for left-out keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from damontui.model import (
    Context,
    IntervalsGoal,
    MonitoringAttrs,
    Quotas,
    Scheme,
    Target,
    WatermarkMetric,
    Watermarks,
)  # fmt: skip
from damontui.model.units import U64_MAX

# damo's defaults for keys a file leaves out (damo's own constructors' defaults)
DAMO_QUOTAS = Quotas(reset_interval_ms=U64_MAX)
DAMO_WATERMARKS = Watermarks(WatermarkMetric.NONE, 0, 0, 0, 0)
DAMO_GOAL = IntervalsGoal(0, 0, 0, 0)
BP_METRICS = {"node_mem_used_bp", "node_mem_free_bp", "node_memcg_used_bp",
               "node_memcg_free_bp", "active_mem_bp", "inactive_mem_bp"}  # fmt: skip
LEGACY = {"filter_pass", "target_value_bp", "current_value_bp"}  # read, rewritten as new keys


@dataclass(frozen=True)
class DamoContext:
    ops: str
    attrs: MonitoringAttrs
    targets: tuple[Target, ...] = ()
    schemes: tuple[Scheme, ...] = ()
    addr_unit: int | None = None
    pause: bool = False
    notes: tuple[str, ...] = ()
    source: Any = field(default=None, compare=False, repr=False)  # the JSON it came from
    scheme_sources: tuple[tuple[Scheme, Any], ...] = field(default=(), compare=False, repr=False)

    @property
    def context(self) -> Context:
        return Context(self.ops, self.attrs, self.targets, self.schemes, self.addr_unit or 1,
                       self.pause)  # fmt: skip


@dataclass(frozen=True)
class DamoKdamond:
    contexts: tuple[DamoContext, ...]
    refresh_ms: int = 0
    state: str | None = None
    pid: int | None = None
    source: Any = field(default=None, compare=False, repr=False)
