"""Plain data: regions, snapshots, schemes, monitoring attributes. No I/O here."""

from .attrs import IntervalsGoal, MonitoringAttrs, Probe, ProbeFilter, ProbeFilterType, ProbePrep
from .context import Context
from .errors import ValidationError
from .region import DEFAULT_WEIGHTS, Region, RegionArrays, TemperatureWeights
from .scheme import (
    AccessPattern,
    Action,
    Dest,
    Filter,
    FilterType,
    GoalMetric,
    GoalTuner,
    QuotaGoal,
    Quotas,
    QuotaWeights,
    Range,
    Scheme,
    SchemeStats,
    WatermarkMetric,
    Watermarks,
)
from .snapshot import (
    SYNTHETIC_PATTERNS,
    BackendInfo,
    Snapshot,
    Target,
    TargetKind,
    TargetSnapshot,
)

__all__ = [
    "Context",
    "Dest",
    "GoalTuner",
    "Probe",
    "ProbeFilter",
    "ProbeFilterType",
    "ProbePrep",
    "DEFAULT_WEIGHTS",
    "SYNTHETIC_PATTERNS",
    "AccessPattern",
    "Action",
    "BackendInfo",
    "Filter",
    "FilterType",
    "GoalMetric",
    "IntervalsGoal",
    "MonitoringAttrs",
    "QuotaGoal",
    "QuotaWeights",
    "Quotas",
    "Range",
    "Region",
    "RegionArrays",
    "Scheme",
    "SchemeStats",
    "Snapshot",
    "Target",
    "TargetKind",
    "TargetSnapshot",
    "TemperatureWeights",
    "ValidationError",
    "WatermarkMetric",
    "Watermarks",
]
