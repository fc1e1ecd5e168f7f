"""DAMOS schemes: what to do with regions that match an access pattern."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TypeVar

from .attrs import MonitoringAttrs
from .errors import ValidationError
from .units import U32_MAX, U64_MAX

_E = TypeVar("_E", bound=Enum)


class Action(str, Enum):
    WILLNEED = "willneed"
    COLD = "cold"
    PAGEOUT = "pageout"
    HUGEPAGE = "hugepage"
    NOHUGEPAGE = "nohugepage"
    LRU_PRIO = "lru_prio"
    LRU_DEPRIO = "lru_deprio"
    MIGRATE_HOT = "migrate_hot"
    MIGRATE_COLD = "migrate_cold"
    STAT = "stat"
    COLLAPSE = "collapse"

    @classmethod
    def parse(cls, value: str | Action, field_name: str = "action") -> Action:
        return parse_enum(cls, value, field_name)


class FilterType(str, Enum):
    ANON = "anon"
    ACTIVE = "active"
    MEMCG = "memcg"
    YOUNG = "young"
    HUGEPAGE_SIZE = "hugepage_size"
    UNMAPPED = "unmapped"
    ADDR = "addr"
    TARGET = "target"
    PROBE_HITS_WSUM = "probe_hits_wsum"  # data-attributes probes (damo 3.4 kernels)

    @property
    def is_core(self) -> bool:
        """Core filters apply before a region counts as tried; others in the ops layer."""
        return self in (FilterType.ADDR, FilterType.TARGET, FilterType.PROBE_HITS_WSUM)


class WatermarkMetric(str, Enum):
    NONE = "none"
    FREE_MEM_RATE = "free_mem_rate"


class GoalMetric(str, Enum):
    USER_INPUT = "user_input"
    SOME_MEM_PSI_US = "some_mem_psi_us"
    NODE_MEM_USED_BP = "node_mem_used_bp"
    NODE_MEM_FREE_BP = "node_mem_free_bp"
    NODE_MEMCG_USED_BP = "node_memcg_used_bp"
    NODE_MEMCG_FREE_BP = "node_memcg_free_bp"
    ACTIVE_MEM_BP = "active_mem_bp"
    INACTIVE_MEM_BP = "inactive_mem_bp"
    NODE_ELIGIBLE_MEM_BP = "node_eligible_mem_bp"

    @property
    def needs_nid(self) -> bool:
        return self.value.startswith("node_")

    @property
    def needs_path(self) -> bool:
        return self in (GoalMetric.NODE_MEMCG_USED_BP, GoalMetric.NODE_MEMCG_FREE_BP)


class GoalTuner(str, Enum):
    """How DAMOS turns quota goals into an effective quota (7.1 quotas/goal_tuner)."""

    CONSIST = "consist"  # feedback loop, the kernel's default
    TEMPORAL = "temporal"


def parse_enum(enum_type: type[_E], value: object, field_name: str) -> _E:
    """`enum_type(value)`, or a ValidationError listing the allowed values."""
    try:
        return enum_type(value)
    except ValueError:
        names = ", ".join(str(m.value) for m in enum_type)
        raise ValidationError(field_name, value, f"one of {names}") from None


@dataclass(frozen=True, slots=True)
class Range:
    """Inclusive [min, max] as DAMON's access_pattern files hold it."""

    min: int = 0
    max: int = U64_MAX

    def validate(self, field_name: str, upper: int = U64_MAX) -> None:
        if self.min < 0:
            raise ValidationError(f"{field_name}.min", self.min, ">= 0")
        if self.max > upper:
            raise ValidationError(f"{field_name}.max", self.max, f"<= {upper}")
        if self.min > self.max:
            raise ValidationError(
                f"{field_name}.min", self.min, f"<= {field_name}.max ({self.max})"
            )

    def contains(self, value: int) -> bool:
        return self.min <= value <= self.max


@dataclass(frozen=True, slots=True)
class AccessPattern:
    """Size in bytes, nr_accesses in samples per aggregation, age in aggregations."""

    sz: Range = field(default_factory=Range)
    nr_accesses: Range = field(default_factory=lambda: Range(0, U32_MAX))
    age: Range = field(default_factory=lambda: Range(0, U32_MAX))
    # The age bounds as the user gave them in time (us), -1 where a count was given:
    # ``effective()`` converts them again against the aggregation interval in force.
    age_us: tuple[int, int] = (-1, -1)

    def effective(self, aggr_us: int) -> AccessPattern:
        """This pattern with time-given age bounds converted at ``aggr_us``."""
        if self.age_us == (-1, -1) or aggr_us <= 0:
            return self
        lo, hi = (
            b if us < 0 else min(U32_MAX, us // aggr_us)
            for b, us in zip((self.age.min, self.age.max), self.age_us, strict=True)
        )
        return replace(self, age=Range(lo, hi))

    def validate(self) -> None:
        self.sz.validate("access_pattern.sz")
        self.nr_accesses.validate("access_pattern.nr_accesses", U32_MAX)
        self.age.validate("access_pattern.age", U32_MAX)

    def matches(self, size: int, nr_accesses: int, age: int) -> bool:
        return (
            self.sz.contains(size)
            and self.nr_accesses.contains(nr_accesses)
            and (self.age.contains(age))
        )

    @classmethod
    def from_human(
        cls,
        attrs: MonitoringAttrs,
        sz: tuple[int, int] = (0, U64_MAX),
        access_rate_pct: tuple[float, float] = (0.0, 100.0),
        age_us: tuple[int, int] = (0, U64_MAX),
    ) -> AccessPattern:
        """Build from percent and microseconds the way damo's options read."""
        max_nr = attrs.max_nr_accesses

        def count(pct: float) -> int:
            return int(round(pct * max_nr / 100))

        def aggrs(us: int) -> int:
            return U32_MAX if us >= U64_MAX else min(U32_MAX, us // attrs.aggr_us)

        def kept(us: int) -> int:  # a time to convert again when intervals change
            return -1 if us <= 0 or us >= U64_MAX else us

        return cls(
            sz=Range(*sz),
            nr_accesses=Range(count(access_rate_pct[0]), count(access_rate_pct[1])),
            age=Range(aggrs(age_us[0]), aggrs(age_us[1])),
            age_us=(kept(age_us[0]), kept(age_us[1])),
        )


@dataclass(frozen=True, slots=True)
class QuotaGoal:
    metric: GoalMetric = GoalMetric.USER_INPUT
    target_value: int = 0
    current_value: int = 0
    nid: int = 0  # node_* metrics
    path: str = ""  # memcg path of node_memcg_* metrics (sysfs goals/G/path)
    complement: bool = False  # 7.x: aim at the complement (10000 - value) of the metric

    def validate(self, index: int) -> None:
        prefix = f"quotas.goals[{index}]"
        parse_enum(GoalMetric, self.metric, f"{prefix}.metric")
        if self.target_value < 0:
            raise ValidationError(f"{prefix}.target_value", self.target_value, ">= 0")
        metric = GoalMetric(self.metric)
        if metric.value.endswith("_bp") and self.target_value > 10_000:
            raise ValidationError(f"{prefix}.target_value", self.target_value, "0..10000 bp")
        if metric.needs_nid and self.nid < 0:
            raise ValidationError(
                f"{prefix}.nid", self.nid, f"a NUMA node id (>= 0) for {metric.value}"
            )
        if metric.needs_path and not self.path:
            raise ValidationError(
                f"{prefix}.path", self.path, f"a memcg path is required for {metric.value}"
            )


@dataclass(frozen=True, slots=True)
class QuotaWeights:
    sz_permil: int = 0
    nr_accesses_permil: int = 0
    age_permil: int = 0


@dataclass(frozen=True, slots=True)
class Quotas:
    """Time (ms) and size (bytes) budgets per reset interval; 0 means unlimited."""

    ms: int = 0
    bytes: int = 0
    reset_interval_ms: int = 0
    weights: QuotaWeights = field(default_factory=QuotaWeights)
    goals: tuple[QuotaGoal, ...] = ()
    goal_tuner: GoalTuner = GoalTuner.CONSIST  # 7.1
    # 7.x: regions the action failed on are charged num/denom of their size (0/0: off)
    fail_charge_num: int = 0
    fail_charge_denom: int = 0

    @property
    def enabled(self) -> bool:
        return bool(self.ms or self.bytes or self.goals)

    def validate(self) -> None:
        if self.enabled and self.reset_interval_ms < 1:
            raise ValidationError(
                "quotas.reset_interval_ms", self.reset_interval_ms, ">= 1 ms when a quota is set"
            )
        parse_enum(GoalTuner, self.goal_tuner, "quotas.goal_tuner")
        if self.fail_charge_num < 0:
            raise ValidationError("quotas.fail_charge_num", self.fail_charge_num, ">= 0")
        if self.fail_charge_denom < 0:
            raise ValidationError("quotas.fail_charge_denom", self.fail_charge_denom, ">= 0")
        if self.fail_charge_num and not self.fail_charge_denom:
            raise ValidationError(
                "quotas.fail_charge_denom",
                self.fail_charge_denom,
                ">= 1 when fail_charge_num is set",
            )
        for name in ("sz_permil", "nr_accesses_permil", "age_permil"):
            value = getattr(self.weights, name)
            if not 0 <= value <= 10_000:
                raise ValidationError(f"quotas.weights.{name}", value, "0..10000")
        for index, goal in enumerate(self.goals):
            goal.validate(index)


@dataclass(frozen=True, slots=True)
class Watermarks:
    """Activate the scheme only while the metric sits between low and high (permil)."""

    metric: WatermarkMetric = WatermarkMetric.NONE
    interval_us: int = 5_000_000
    high: int = 1000
    mid: int = 1000
    low: int = 0

    def validate(self) -> None:
        parse_enum(WatermarkMetric, self.metric, "watermarks.metric")
        if WatermarkMetric(self.metric) is WatermarkMetric.NONE:
            return
        for name in ("high", "mid", "low"):
            if not 0 <= getattr(self, name) <= 1000:
                raise ValidationError(f"watermarks.{name}", getattr(self, name), "0..1000 permil")
        if not self.high >= self.mid >= self.low:
            raise ValidationError(
                "watermarks.mid", self.mid, f"need high ({self.high}) >= mid >= low ({self.low})"
            )
        if self.interval_us < 1:
            raise ValidationError("watermarks.interval_us", self.interval_us, ">= 1 us")


@dataclass(frozen=True, slots=True)
class Filter:
    type: FilterType
    matching: bool = True
    allow: bool = False
    memcg_path: str = ""
    addr_start: int = 0
    addr_end: int = 0
    target_idx: int = 0
    min: int = 0
    max: int = 0

    def validate(self, index: int) -> None:
        prefix = f"filters[{index}]"
        kind = parse_enum(FilterType, self.type, f"{prefix}.type")
        if kind is FilterType.MEMCG and not self.memcg_path:
            raise ValidationError(f"{prefix}.memcg_path", self.memcg_path, "required for memcg")
        if kind is FilterType.ADDR and self.addr_start >= self.addr_end:
            raise ValidationError(
                f"{prefix}.addr_start", self.addr_start, f"< addr_end ({self.addr_end})"
            )
        if kind in (FilterType.HUGEPAGE_SIZE, FilterType.PROBE_HITS_WSUM) and self.min > self.max:
            raise ValidationError(f"{prefix}.min", self.min, f"<= max ({self.max})")
        if self.target_idx < 0:
            raise ValidationError(f"{prefix}.target_idx", self.target_idx, ">= 0")

    def covers(self, start: int, end: int) -> bool:
        """For an addr filter: does [start, end) lie in the filter's range."""
        return self.addr_start <= start and end <= self.addr_end


@dataclass(frozen=True, slots=True)
class Dest:
    """A migrate_* destination node and its share of the migrated memory (6.17 dests/)."""

    id: int
    weight: int = 0

    def validate(self, index: int) -> None:
        if self.id < 0:
            raise ValidationError(f"dests[{index}].id", self.id, "a NUMA node id (>= 0)")
        if self.weight < 0:
            raise ValidationError(f"dests[{index}].weight", self.weight, ">= 0")


@dataclass(frozen=True, slots=True)
class Scheme:
    action: Action = Action.STAT
    access_pattern: AccessPattern = field(default_factory=AccessPattern)
    quotas: Quotas = field(default_factory=Quotas)
    watermarks: Watermarks = field(default_factory=Watermarks)
    filters: tuple[Filter, ...] = ()
    apply_interval_us: int = 0  # 0: every aggregation interval
    target_nid: int = -1  # migrate_* destination node
    name: str = ""  # damontui's label; not a kernel field
    dests: tuple[Dest, ...] = ()  # migrate_* to several nodes by weight (instead of target_nid)
    max_nr_snapshots: int = 0  # 7.0: deactivate after this many snapshots, 0 = never

    def validate(self) -> Scheme:
        """Raise ValidationError naming the first bad field; return self for chaining."""
        Action.parse(self.action)
        self.access_pattern.validate()
        self.quotas.validate()
        self.watermarks.validate()
        for index, flt in enumerate(self.filters):
            flt.validate(index)
        if self.apply_interval_us < 0:
            raise ValidationError("apply_interval_us", self.apply_interval_us, ">= 0")
        for index, dest in enumerate(self.dests):
            dest.validate(index)
        migrate = Action(self.action) in (Action.MIGRATE_HOT, Action.MIGRATE_COLD)
        if migrate and self.target_nid < 0 and not self.dests:
            raise ValidationError(
                "target_nid", self.target_nid, "a NUMA node id (>= 0) or dests for migrate_*"
            )
        if self.max_nr_snapshots < 0:
            raise ValidationError("max_nr_snapshots", self.max_nr_snapshots, ">= 0 (0: no limit)")
        return self

    @property
    def label(self) -> str:
        return self.name or Action(self.action).value

    def newer_settings(self) -> list[str]:
        """The 6.17+/7.x settings this scheme uses (non-default), described for messages:
        dests, max_nr_snapshots, goal_tuner, fail_charge, goal complement and the
        node_eligible_mem_bp metric."""
        out = []
        if self.dests:
            out.append("dests (migration to several nodes)")
        if self.max_nr_snapshots:
            out.append(f"max_nr_snapshots {self.max_nr_snapshots}")
        q = self.quotas
        if GoalTuner(q.goal_tuner) is not GoalTuner.CONSIST:
            out.append(f"quotas.goal_tuner {GoalTuner(q.goal_tuner).value}")
        if q.fail_charge_num or q.fail_charge_denom:
            out.append(f"quotas.fail_charge {q.fail_charge_num}/{q.fail_charge_denom}")
        for i, goal in enumerate(q.goals):
            if goal.complement:
                out.append(f"quotas.goals[{i}].complement")
            if GoalMetric(goal.metric) is GoalMetric.NODE_ELIGIBLE_MEM_BP:
                out.append(f"quotas.goals[{i}] metric node_eligible_mem_bp")
        return out


@dataclass(frozen=True, slots=True)
class SchemeStats:
    nr_tried: int = 0
    sz_tried: int = 0
    nr_applied: int = 0
    sz_applied: int = 0
    qt_exceeds: int = 0
    sz_ops_filter_passed: int = 0
    effective_bytes: int = 0  # effective size quota after goal tuning, 0 = none
    active: bool = True  # watermarks allow the scheme now
    nr_snapshots: int = 0  # 7.0: snapshots the scheme was tried on
