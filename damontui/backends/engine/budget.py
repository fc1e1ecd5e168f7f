"""The engine's CPU budget: keep the engine thread's CPU under a share of one core.

Measured over windows of at least WINDOW_S seconds (and one aggregation). Over budget,
the engine first lengthens the sampling interval (the aggregation interval with it, so
a region's max_nr_accesses and thus the meaning of every count stays the same), up to
``max_sample_us``, then lowers max_nr_regions, down to min_nr_regions. Well under
budget, it steps back towards the user's settings (regions first). Intervals the user
fixed (command line, config, editor) are never changed: only the region count
adapts then, and when even min_nr_regions does not fit, ``status()`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ...model import MonitoringAttrs
from ...model.units import BUDGET_ALLOWED, parse_cpu_budget

__all__ = ["BUDGET_ALLOWED", "CpuBudget", "parse_cpu_budget"]

DEFAULT_CPU_BUDGET = 2.0  # percent of one core
WINDOW_S = 2.0
MAX_SAMPLE_US = 1_000_000  # when the user gave no bound: sampling at most once a second
RELAX_BELOW = 0.4  # step back when use < 40 % of the budget


def fmt_us(us: int) -> str:
    return f"{us / 1e6:g} s" if us >= 1_000_000 else f"{us / 1e3:g} ms"


@dataclass
class CpuBudget:
    """Adapts MonitoringAttrs to a CPU budget (percent of one core; None: no budget)."""

    percent: float | None
    user: MonitoringAttrs  # what the user asked for (or the defaults)
    intervals_fixed: bool = False
    use: float | None = None  # last measured percent
    _cpu0: float | None = None
    _wall0: float = 0.0
    _aggrs: int = 0

    @property
    def max_sample_us(self) -> int:
        """At most 1 s, or the intervals goal's max_sample_us if that is lower."""
        bound = getattr(self.user.intervals_goal, "max_sample_us", 0) or MAX_SAMPLE_US
        return max(self.user.sample_us, min(bound, MAX_SAMPLE_US))

    def set_user(self, attrs: MonitoringAttrs, intervals_fixed: bool) -> None:
        """New user settings (an edit): the budget adapts from them again."""
        self.user, self.intervals_fixed = attrs, intervals_fixed
        self._cpu0 = None

    def after_aggregation(
        self, attrs: MonitoringAttrs, cpu_s: float, wall_s: float
    ) -> MonitoringAttrs:
        """Attrs to use next, given the engine thread's CPU and wall clock now."""
        if self.percent is None:
            return attrs
        if self._cpu0 is None:
            self._cpu0, self._wall0, self._aggrs = cpu_s, wall_s, 0
            return attrs
        self._aggrs += 1
        span = wall_s - self._wall0
        if span < WINDOW_S or self._aggrs < 1:
            return attrs
        self.use = 100.0 * (cpu_s - self._cpu0) / span
        self._cpu0, self._wall0, self._aggrs = cpu_s, wall_s, 0
        if self.use > self.percent:
            return self._tighten(attrs, self.use / self.percent)
        if self.use < self.percent * RELAX_BELOW:
            return self._relax(attrs)
        return attrs

    def _scaled(self, attrs: MonitoringAttrs, sample_us: int) -> MonitoringAttrs:
        ratio = attrs.aggr_us // attrs.sample_us
        aggr = sample_us * ratio
        return replace(
            attrs, sample_us=sample_us, aggr_us=aggr, update_us=max(attrs.update_us, aggr)
        )

    def _tighten(self, attrs: MonitoringAttrs, factor: float) -> MonitoringAttrs:
        factor = min(max(factor * 1.2, 1.25), 4.0)
        if not self.intervals_fixed and attrs.sample_us < self.max_sample_us:
            return self._scaled(attrs, min(self.max_sample_us, int(attrs.sample_us * factor)))
        if attrs.max_nr_regions > attrs.min_nr_regions:
            nr = max(attrs.min_nr_regions, int(attrs.max_nr_regions / factor))
            return replace(attrs, max_nr_regions=nr)
        return attrs

    def _relax(self, attrs: MonitoringAttrs) -> MonitoringAttrs:
        if attrs.max_nr_regions < self.user.max_nr_regions:
            return replace(
                attrs, max_nr_regions=min(self.user.max_nr_regions, attrs.max_nr_regions * 2)
            )
        if attrs.sample_us > self.user.sample_us:
            sample = max(self.user.sample_us, attrs.sample_us // 2)
            if sample == self.user.sample_us:
                return replace(
                    attrs,
                    sample_us=sample,
                    aggr_us=self.user.aggr_us,
                    update_us=self.user.update_us,
                )
            return self._scaled(attrs, sample)
        return attrs

    def status(self, attrs: MonitoringAttrs) -> str:
        """One line for the header: budget, use, what was adapted (or why it can't fit)."""
        if self.percent is None:
            return "cpu budget off"
        use = "measuring" if self.use is None else f"using {self.use:.1f} %"
        text = f"cpu budget {self.percent:g} % ({use})"
        adapted = []
        if attrs.sample_us != self.user.sample_us:
            adapted.append(
                f"sampling {fmt_us(attrs.sample_us)}/{fmt_us(attrs.aggr_us)} "
                f"(set {fmt_us(self.user.sample_us)}/{fmt_us(self.user.aggr_us)})"
            )
        if attrs.max_nr_regions != self.user.max_nr_regions:
            adapted.append(f"max regions {attrs.max_nr_regions} (set {self.user.max_nr_regions})")
        if adapted:
            text += ": " + ", ".join(adapted)
        at_bounds = attrs.max_nr_regions <= attrs.min_nr_regions and (
            self.intervals_fixed or attrs.sample_us >= self.max_sample_us
        )
        if self.use is not None and self.use > self.percent and at_bounds:
            fixed = (
                f"sampling fixed at {fmt_us(attrs.sample_us)}"
                if self.intervals_fixed
                else f"sampling at its bound {fmt_us(attrs.sample_us)}"
            )
            text += (
                f"; cannot fit: {fixed} and {attrs.min_nr_regions} regions (min) still use "
                f"{self.use:.1f} % (raise --cpu-budget, lengthen --sample or lower --min-regions)"
            )
        return text
