"""Feedback loops: intervals auto-tuning (DAMON 6.15) and DAMOS quota goals.

Both use DAMON's feedback rule `next_input`: a score in basis points (10000 = goal
met) nudges an input up when under-achieving and down when over-achieving, by a
compensation proportional to how far the score is from the goal.

System metrics are read from files whose paths are parameters (see `SystemPaths`),
so tests can point them at files they write.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ...model import GoalMetric, MonitoringAttrs, QuotaGoal, Quotas

GOAL_BP = 10_000
MIN_INPUT = 10_000  # keeps the compensation from becoming zero
U64_MAX = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class SystemPaths:
    """Where the engine reads system-wide metrics (overridable for tests)."""

    proc_root: str = "/proc"
    meminfo: str = "/proc/meminfo"
    psi: str = "/proc/pressure/memory"
    node_root: str = "/sys/devices/system/node"
    page_idle: str = "/sys/kernel/mm/page_idle/bitmap"
    iomem: str = "/proc/iomem"


def next_input(last: int, score: int, goal: int = GOAL_BP, min_input: int = MIN_INPUT) -> int:
    """DAMON's feedback-loop step: the input to use after `last` scored `score`."""
    if score == goal:
        return last
    if score >= 2 * goal:
        return min_input
    compensation = last * abs(goal - score) // goal
    if score > goal:
        return max(last - compensation, min_input)
    return min(last + compensation, U64_MAX)


# --- intervals auto-tuning -----------------------------------------------------------


def access_score_bp(
    sizes_and_accesses: Iterable[tuple[int, int]], max_nr_accesses: int, access_bp: int
) -> int:
    """Observed access events relative to the goal's share of the possible events.

    Events are bytes x samples: Σ size*nr_accesses against Σ size*max_nr_accesses.
    """
    observed = possible = 0
    for size, nr in sizes_and_accesses:
        observed += size * nr
        possible += size * max_nr_accesses
    target = max(1, possible * access_bp // 10_000)
    return observed * 10_000 // target


def adaptation_bp(score_bp: int) -> int:
    """Scale factor (bp) for the sampling interval; shrinking is damped to >= 0.5x."""
    bp = next_input(100_000_000, score_bp) // 10_000
    if bp <= 10_000:
        bp = 5_000 + bp // 2
    return bp


def tuned_attrs(attrs: MonitoringAttrs, score_bp: int) -> MonitoringAttrs:
    """Attrs with the sampling interval scaled for `score_bp` (aggregation follows)."""
    goal = attrs.intervals_goal
    sample = attrs.sample_us * adaptation_bp(score_bp) // 10_000
    sample = min(max(sample, goal.min_sample_us), goal.max_sample_us)
    return attrs if sample == attrs.sample_us else attrs.with_sample_us(sample)


class IntervalsTuner:
    """Counts aggregations and retunes every `intervals_goal.aggrs` of them."""

    def __init__(self) -> None:
        self.aggregations = 0
        self.last_score_bp: int | None = None

    def after_aggregation(
        self, attrs: MonitoringAttrs, sizes_and_accesses: Iterable[tuple[int, int]]
    ) -> MonitoringAttrs:
        goal = attrs.intervals_goal
        if not goal.enabled:
            return attrs
        self.aggregations += 1
        if self.aggregations < goal.aggrs:
            return attrs
        self.aggregations = 0
        score = access_score_bp(sizes_and_accesses, attrs.max_nr_accesses, goal.access_bp)
        self.last_score_bp = score
        return tuned_attrs(attrs, score)


# --- system metrics ------------------------------------------------------------------


def read_meminfo(path: str) -> dict[str, int]:
    """Fields of a meminfo file in bytes; node files ("Node 0 MemFree:") parse alike."""
    values: dict[str, int] = {}
    with open(path) as f:
        for line in f:
            key, sep, rest = line.partition(":")
            if not sep:
                continue
            parts = rest.split()
            if not parts:
                continue
            name = key.split()[-1]  # drop a "Node N" prefix
            try:
                number = int(parts[0])
            except ValueError:
                continue
            values[name] = number * 1024 if parts[1:2] == ["kB"] else number
    return values


def free_mem_rate(meminfo_path: str) -> int:
    """Watermark metric: free memory in permil of total."""
    info = read_meminfo(meminfo_path)
    return info.get("MemFree", 0) * 1000 // max(1, info.get("MemTotal", 1))


def read_psi_some_total_us(path: str) -> int:
    """The cumulative "some" memory stall time in microseconds."""
    with open(path) as f:
        for line in f:
            if line.startswith("some "):
                for field in line.split()[1:]:
                    if field.startswith("total="):
                        return int(field[6:])
    raise ValueError(f"{path}: no 'some ... total=' line")


class GoalReader:
    """Current values of quota goal metrics; remembers PSI totals to take deltas."""

    def __init__(self, paths: SystemPaths) -> None:
        self.paths = paths
        self._last_psi: dict[int, int] = {}  # goal index -> last PSI total

    def _node_meminfo(self, nid: int) -> dict[str, int]:
        node_path = f"{self.paths.node_root}/node{nid}/meminfo"
        try:
            return read_meminfo(node_path)
        except FileNotFoundError:
            if nid != 0:
                raise
            return read_meminfo(self.paths.meminfo)  # no NUMA sysfs: the whole machine

    def current(self, index: int, goal: QuotaGoal) -> int:
        """Raises OSError/ValueError when the metric's file cannot be read."""
        metric = GoalMetric(goal.metric)
        if metric is GoalMetric.USER_INPUT:
            return goal.current_value
        if metric is GoalMetric.SOME_MEM_PSI_US:
            total = read_psi_some_total_us(self.paths.psi)
            last = self._last_psi.get(index, total)
            self._last_psi[index] = total
            return max(0, total - last)
        if metric in (GoalMetric.NODE_MEM_USED_BP, GoalMetric.NODE_MEM_FREE_BP):
            info = self._node_meminfo(goal.nid)
            total = max(1, info.get("MemTotal", 1))
            free = info.get("MemFree", 0)
            if metric is GoalMetric.NODE_MEM_FREE_BP:
                return free * 10_000 // total
            return (total - free) * 10_000 // total
        if metric in (GoalMetric.ACTIVE_MEM_BP, GoalMetric.INACTIVE_MEM_BP):
            # Like the kernel: the share of the LRU lists (Active + Inactive).
            info = read_meminfo(self.paths.meminfo)
            active, inactive = info.get("Active", 0), info.get("Inactive", 0)
            part = active if metric is GoalMetric.ACTIVE_MEM_BP else inactive
            return part * 10_000 // max(1, active + inactive)
        raise ValueError(f"goal metric {metric.value} needs kernel DAMON")

    def score(self, goals: Iterable[QuotaGoal]) -> int:
        """The best-achieved goal's score in bp (current / target * 10000)."""
        best = 0
        for index, goal in enumerate(goals):
            current = self.current(index, goal)
            best = max(best, current * 10_000 // max(1, goal.target_value))
        return best


class QuotaTuner:
    """Effective size quota (esz) of one scheme, retuned once per reset interval."""

    def __init__(self) -> None:
        self.esz_bp = 0
        self.charged_bytes = 0  # over all windows, for the ms quota's throughput
        self.charged_ns = 0

    def effective_bytes(self, quota: Quotas, score_bp: int | None, page_size: int) -> int:
        """Bytes the scheme may apply in the next window; U64_MAX means unlimited.

        score_bp is the goals' score (None when there are none or they could not be read).
        """
        esz = U64_MAX
        if quota.goals:
            if score_bp is not None:  # else (metric unreadable) keep the last input
                self.esz_bp = next_input(max(self.esz_bp, MIN_INPUT), score_bp)
            esz = max(self.esz_bp, MIN_INPUT) // 10_000
        if quota.ms:
            if self.charged_ns:
                per_ms = self.charged_bytes * 1_000_000 // self.charged_ns
            else:
                per_ms = page_size * 1024  # DAMON's guess before anything was measured
            esz = min(esz, max(1, per_ms) * quota.ms)
        if quota.bytes:
            esz = min(esz, quota.bytes)
        return esz

    def charge(self, nbytes: int, ns: int) -> None:
        self.charged_bytes += nbytes
        self.charged_ns += ns
