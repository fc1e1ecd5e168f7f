"""Monitoring attributes: sampling/aggregation/update intervals and region bounds."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum

from .errors import ValidationError


class ProbeFilterType(str, Enum):
    """What a data-attributes probe counts (monitoring_attrs/probes/P/filters/F/type)."""

    ANON = "anon"
    MEMCG = "memcg"
    PGIDLE_UNSET = "pgidle_unset"
    PGIDLE_SET = "pgidle_set"
    HUGEPAGE_SIZE = "hugepage_size"


class ProbePrep(str, Enum):
    """What a probe does to a page before it checks the filters (preps/N/prep_action)."""

    SET_PGIDLE = "set_pgidle"


@dataclass(frozen=True, slots=True)
class ProbeFilter:
    type: ProbeFilterType
    matching: bool = True
    allow: bool = False
    path: str = ""  # memcg
    min: int = 0  # hugepage_size range, bytes
    max: int = 0

    def validate(self, prefix: str) -> None:
        names = ", ".join(t.value for t in ProbeFilterType)
        try:
            kind = ProbeFilterType(self.type)
        except ValueError:
            raise ValidationError(f"{prefix}.type", self.type, f"one of {names}") from None
        if kind is ProbeFilterType.MEMCG and not self.path:
            raise ValidationError(f"{prefix}.path", self.path, "a memcg path for memcg")
        if kind is ProbeFilterType.HUGEPAGE_SIZE and self.min > self.max:
            raise ValidationError(f"{prefix}.min", self.min, f"<= max ({self.max})")


@dataclass(frozen=True, slots=True)
class Probe:
    """A data-attributes probe: regions count pages passing `filters` as probe hits."""

    filters: tuple[ProbeFilter, ...] = ()
    weight: int = 0
    preps: tuple[ProbePrep, ...] = ()

    def validate(self, index: int) -> None:
        prefix = f"probes[{index}]"
        if self.weight < 0:
            raise ValidationError(f"{prefix}.weight", self.weight, ">= 0")
        names = ", ".join(p.value for p in ProbePrep)
        for i, prep in enumerate(self.preps):
            try:
                ProbePrep(prep)
            except ValueError:
                raise ValidationError(f"{prefix}.preps[{i}]", prep, f"one of {names}") from None
        for i, flt in enumerate(self.filters):
            flt.validate(f"{prefix}.filters[{i}]")


@dataclass(frozen=True, slots=True)
class IntervalsGoal:
    """DAMON 6.15 intervals auto-tuning: aim for access_bp of sampled accesses.

    access_bp == 0 disables tuning. The sampling interval is scaled within
    [min_sample_us, max_sample_us] every `aggrs` aggregations; the aggregation
    interval keeps its ratio to the sampling interval.
    """

    access_bp: int = 0
    aggrs: int = 3
    min_sample_us: int = 5_000
    max_sample_us: int = 10_000_000

    @property
    def enabled(self) -> bool:
        return self.access_bp > 0

    def validate(self) -> None:
        if not 0 <= self.access_bp <= 10_000:
            raise ValidationError("intervals_goal.access_bp", self.access_bp, "0..10000 bp")
        if self.enabled:
            if self.aggrs < 1:
                raise ValidationError("intervals_goal.aggrs", self.aggrs, ">= 1")
            if self.min_sample_us < 1:
                raise ValidationError("intervals_goal.min_sample_us", self.min_sample_us, ">= 1 us")
            if self.min_sample_us > self.max_sample_us:
                raise ValidationError(
                    "intervals_goal.min_sample_us",
                    self.min_sample_us,
                    f"<= max_sample_us ({self.max_sample_us})",
                )


@dataclass(frozen=True, slots=True)
class MonitoringAttrs:
    """DAMON monitoring attributes (microseconds), kernel defaults."""

    sample_us: int = 5_000
    aggr_us: int = 100_000
    update_us: int = 60_000_000
    min_nr_regions: int = 10
    max_nr_regions: int = 1_000
    intervals_goal: IntervalsGoal = field(default_factory=IntervalsGoal)
    probes: tuple[Probe, ...] = ()  # data-attributes probes (monitoring_attrs/probes)

    @property
    def max_nr_accesses(self) -> int:
        """Most sampling hits a region can collect in one aggregation."""
        return max(1, self.aggr_us // max(1, self.sample_us))

    def validate(self) -> MonitoringAttrs:
        """Raise ValidationError naming the first bad field; return self for chaining."""
        if self.sample_us < 1:
            raise ValidationError("sample_us", self.sample_us, "must be >= 1 us")
        if self.aggr_us < self.sample_us:
            raise ValidationError("aggr_us", self.aggr_us, f">= sample_us ({self.sample_us} us)")
        if self.aggr_us % self.sample_us:
            raise ValidationError(
                "aggr_us", self.aggr_us, f"must be a multiple of sample_us ({self.sample_us} us)"
            )
        if self.update_us < self.aggr_us:
            raise ValidationError("update_us", self.update_us, f">= aggr_us ({self.aggr_us} us)")
        if self.min_nr_regions < 3:
            raise ValidationError("min_nr_regions", self.min_nr_regions, "must be >= 3")
        if self.max_nr_regions < self.min_nr_regions:
            raise ValidationError(
                "max_nr_regions", self.max_nr_regions, f">= min_nr_regions ({self.min_nr_regions})"
            )
        self.intervals_goal.validate()
        for index, probe in enumerate(self.probes):
            probe.validate(index)
        return self

    def with_sample_us(self, sample_us: int) -> MonitoringAttrs:
        """Scale both intervals (auto-tuning keeps the aggregation/sampling ratio)."""
        ratio = max(1, self.aggr_us // max(1, self.sample_us))
        return replace(self, sample_us=sample_us, aggr_us=sample_us * ratio)
