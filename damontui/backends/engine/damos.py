"""DAMOS in the engine: apply schemes to the regions of one aggregation.

Per scheme and apply interval (rounded up to aggregation boundaries; 0 = every
aggregation): watermarks gate the scheme; regions matching the access pattern pass
the core filters (addr, target) and count as tried; with a quota, candidates go in
priority order until the window's budget is spent; ops filters (anon, unmapped)
then pick the pages the action is handed.

Deviations from the kernel, on purpose:
* An ``addr`` filter matches a region only when it lies wholly inside the filter's
  range; regions are not split at filter boundaries.
* Quota-limited regions are not split either: the action gets the first
  page-aligned budget's worth of the region.
* The quota window counts ``qt_exceeds`` as soon as its budget runs out.
All times are monitoring time (simulated for the synthetic target).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import compress

from ... import kernels
from ...model import (
    Action,
    FilterType,
    GoalMetric,
    Scheme,
    SchemeStats,
    TargetKind,
    ValidationError,
    WatermarkMetric,
)
from ..base import BackendError
from .actions import KERNEL_ONLY, SUPPORTED_ACTIONS, SUPPORTED_OPS_FILTERS, Piece, TargetActions
from .regionset import Regions
from .sources.base import TargetGone
from .tuning import U64_MAX, GoalReader, QuotaTuner, SystemPaths, free_mem_rate

COLD_ACTIONS = frozenset({Action.PAGEOUT, Action.COLD, Action.LRU_DEPRIO, Action.MIGRATE_COLD})
_KIND_NAMES = {
    TargetKind.SYNTHETIC: "the synthetic target",
    TargetKind.PID: "a process",
    TargetKind.PADDR: "physical memory",
}


def validate_for_engine(schemes: Sequence[Scheme], kinds: Sequence[TargetKind] = ()) -> None:
    """Validate schemes and refuse what the engine cannot do for these target kinds.

    Model errors are re-raised as ValidationError with "scheme N: " before the field;
    unsupported features raise BackendError naming the scheme (and filter/goal).
    """
    for si, scheme in enumerate(schemes):
        try:
            scheme.validate()
        except ValidationError as e:
            raise ValidationError(f"scheme {si}: {e.field}", e.value, e.allowed) from None
        for setting in scheme.newer_settings():  # not in the engine: never ignore silently
            raise BackendError(f"scheme {si}: {setting} needs kernel DAMON")
        action = Action(scheme.action)
        for kind in dict.fromkeys(kinds):
            if action in SUPPORTED_ACTIONS[kind]:
                continue
            if action in KERNEL_ONLY:
                raise BackendError(f"scheme {si}: action {action.value} needs kernel DAMON")
            allowed = ", ".join(sorted(a.value for a in SUPPORTED_ACTIONS[kind]))
            raise BackendError(
                f"scheme {si}: action {action.value} on {_KIND_NAMES[kind]} needs kernel "
                f"DAMON; the engine supports only {allowed} there"
            )
        for fi, flt in enumerate(scheme.filters):
            ftype = FilterType(flt.type)
            if ftype.is_core:
                continue
            for kind in dict.fromkeys(kinds):
                if ftype not in SUPPORTED_OPS_FILTERS[kind]:
                    where = "" if kind is not TargetKind.PADDR else " for physical memory"
                    raise BackendError(
                        f"scheme {si} filter {fi}: {ftype.value} filters need kernel DAMON{where}"
                    )
        for gi, goal in enumerate(scheme.quotas.goals):
            metric = GoalMetric(goal.metric)
            if metric in (GoalMetric.NODE_MEMCG_USED_BP, GoalMetric.NODE_MEMCG_FREE_BP):
                raise BackendError(f"scheme {si} goal {gi}: {metric.value} goals need kernel DAMON")


def priorities(
    scheme: Scheme,
    sizes: Sequence[int],
    nrs: Sequence[int],
    ages: Sequence[int],
    max_nr: int,
    aggr_us: int,
) -> list[int]:
    """DAMON-like 0..100 priority per region: weighted access frequency, log age, size.

    Hot actions favour frequent, long-hot regions; cold actions (pageout, cold,
    lru_deprio, migrate_cold) favour idle, long-idle ones. Bigger regions score
    higher on the size weight either way. All-zero weights give every region 0.
    """
    w = scheme.quotas.weights
    wn, wa, ws = w.nr_accesses_permil, w.age_permil, w.sz_permil
    total = wn + wa + ws
    if not total or not sizes:
        return [0] * len(sizes)
    cold = Action(scheme.action) in COLD_ACTIONS
    max_nr, max_size = max(1, max_nr), max(1, max(sizes))
    out = []
    for size, nr, age in zip(sizes, nrs, ages, strict=True):
        freq = nr * 100 // max_nr
        if freq > 100:
            freq = 100
        age_log = (age * aggr_us // 1_000_000).bit_length()  # log2 of seconds
        if age_log > 32:
            age_log = 32
        age_sub = (32 + age_log if freq else 32 - age_log) * 100 // 64
        if cold:
            freq, age_sub = 100 - freq, 100 - age_sub
        out.append((wn * freq + wa * age_sub + ws * (size * 100 // max_size)) // total)
    return out


def priority(
    size: int, nr: int, age: int, max_nr: int, aggr_us: int, scheme: Scheme, max_size: int
) -> int:
    """priorities() of one region among regions up to `max_size` bytes."""
    return priorities(scheme, [size, max_size], [nr, 0], [age, 0], max_nr, aggr_us)[0]


@dataclass
class TargetView:
    """What DAMOS needs of one engine target; `index` is its configured position."""

    index: int
    kind: TargetKind
    regions: Regions
    actions: TargetActions
    _sizes: list[int] | None = None

    @property
    def sizes(self) -> list[int]:
        """Region sizes, computed once per aggregation and shared by the schemes."""
        if self._sizes is None:
            r = self.regions
            self._sizes = [e - s for s, e in zip(r.starts, r.ends, strict=True)]
        return self._sizes


@dataclass(slots=True)
class _Counters:
    """Mutable twin of SchemeStats' counters (replacing a frozen one per region is slow)."""

    nr_tried: int = 0
    sz_tried: int = 0
    nr_applied: int = 0
    sz_applied: int = 0
    qt_exceeds: int = 0
    sz_ops_filter_passed: int = 0

    def add(self, nr: int, size: int, nr_applied: int, applied: int, passed: int) -> None:
        self.nr_tried += nr
        self.sz_tried += size
        self.nr_applied += nr_applied
        self.sz_applied += applied
        self.sz_ops_filter_passed += passed


class SchemeState:
    """Counters and loop state of one scheme."""

    def __init__(self, index: int, scheme: Scheme, now_us: int) -> None:
        self.index = index
        self.scheme = scheme
        self.core = tuple(f for f in scheme.filters if FilterType(f.type).is_core)
        self.ops = tuple(f for f in scheme.filters if not FilterType(f.type).is_core)
        self.stats = _Counters()
        self.tuner = QuotaTuner()
        self.active = True
        self.next_wmark_us = now_us
        self.next_apply_us = now_us + scheme.apply_interval_us
        self.window_end_us: int | None = None
        self.charged = 0
        self.esz = U64_MAX
        self.exhausted = False

    @property
    def name(self) -> str:
        return f"scheme {self.index} ({self.scheme.label})"

    def core_pass(self, t: TargetView, start: int, end: int) -> bool:
        for flt in self.core:
            if FilterType(flt.type) is FilterType.ADDR:
                matched = flt.covers(start, end)
            else:
                matched = t.index == flt.target_idx
            if matched == flt.matching:
                return flt.allow
        # Undecided: ops filters get their say, else the opposite of the last filter.
        return True if self.ops or not self.core else not self.core[-1].allow

    def ops_pass(self, piece: Piece) -> bool:
        for flt in self.ops:
            matched = piece.anon if FilterType(flt.type) is FilterType.ANON else not piece.mapped
            if matched == flt.matching:
                return flt.allow
        return not self.ops[-1].allow if self.ops else True


def _same_but_user_input(a: Scheme, b: Scheme) -> bool:
    """True if only user_input goals' current values differ (keep the loop running)."""

    def strip(s: Scheme) -> Scheme:
        goals = tuple(replace(g, current_value=0) for g in s.quotas.goals)
        return replace(s, quotas=replace(s.quotas, goals=goals))

    return a == b or strip(a) == strip(b)


class Damos:
    """All schemes of an engine and their state."""

    def __init__(self, paths: SystemPaths | None = None, page_size: int = 4096) -> None:
        paths = paths or SystemPaths()
        self.paths = paths
        self.page_size = page_size
        self.goals = GoalReader(paths)
        self.states: list[SchemeState] = []

    @property
    def schemes(self) -> tuple[Scheme, ...]:
        return tuple(s.scheme for s in self.states)

    def set_schemes(self, schemes: Sequence[Scheme], now_us: int) -> None:
        """Replace schemes; one unchanged at the same index keeps its stats and loops."""
        states = []
        for i, scheme in enumerate(schemes):
            old = self.states[i] if i < len(self.states) else None
            if old is not None and _same_but_user_input(old.scheme, scheme):
                old.scheme = scheme
                states.append(old)
            else:
                states.append(SchemeState(i, scheme, now_us))
        self.states = states

    def stats(self) -> tuple[SchemeStats, ...]:
        return tuple(
            SchemeStats(
                nr_tried=s.stats.nr_tried,
                sz_tried=s.stats.sz_tried,
                nr_applied=s.stats.nr_applied,
                sz_applied=s.stats.sz_applied,
                qt_exceeds=s.stats.qt_exceeds,
                sz_ops_filter_passed=s.stats.sz_ops_filter_passed,
                effective_bytes=0 if s.esz >= U64_MAX else s.esz,
                active=s.active,
            )
            for s in self.states
        )

    def apply(
        self, now_us: int, max_nr: int, aggr_us: int, targets: Sequence[TargetView]
    ) -> tuple[list[str], set[int]]:
        """Apply due schemes; return (messages, indices of targets found gone)."""
        messages: list[str] = []
        gone: set[int] = set()
        for st in self.states:
            if not self._watermarks_allow(st, now_us, messages):
                continue
            if now_us < st.next_apply_us:
                continue
            st.next_apply_us = now_us + st.scheme.apply_interval_us
            self._new_window(st, now_us, messages)
            live = [t for t in targets if t.index not in gone]
            for t in live:
                t.actions.begin_round()
            self._apply_scheme(st, max_nr, aggr_us, live, messages, gone)
        return messages, gone

    def _watermarks_allow(self, st: SchemeState, now_us: int, messages: list[str]) -> bool:
        wm = st.scheme.watermarks
        if WatermarkMetric(wm.metric) is WatermarkMetric.NONE:
            st.active = True
            return True
        if now_us >= st.next_wmark_us:
            st.next_wmark_us = now_us + wm.interval_us
            try:
                metric = free_mem_rate(self.paths.meminfo)
            except (OSError, ValueError) as e:
                messages.append(f"{st.name}: watermarks: cannot read {self.paths.meminfo}: {e}")
                return st.active
            if metric > wm.high or metric < wm.low:
                st.active = False
            elif metric < wm.mid:
                st.active = True
        return st.active

    def _new_window(self, st: SchemeState, now_us: int, messages: list[str]) -> None:
        quota = st.scheme.quotas
        if not quota.enabled:
            st.esz = U64_MAX
            return
        if st.window_end_us is not None and now_us < st.window_end_us:
            return
        st.window_end_us = now_us + quota.reset_interval_ms * 1000
        st.charged = 0
        st.exhausted = False
        score = None
        if quota.goals:
            try:
                score = self.goals.score(quota.goals)
            except (OSError, ValueError) as e:
                messages.append(f"{st.name}: quota goal: {e}")
        st.esz = st.tuner.effective_bytes(quota, score, self.page_size)

    def _apply_scheme(
        self,
        st: SchemeState,
        max_nr: int,
        aggr_us: int,
        targets: Sequence[TargetView],
        messages: list[str],
        gone: set[int],
    ) -> None:
        scheme = st.scheme
        pat = scheme.access_pattern.effective(aggr_us)  # times against the aggr in force
        per_target: list[tuple[TargetView, list[int]]] = []
        for t in targets:
            r = t.regions
            mask = kernels.match_pattern(
                r,
                pat.sz.min,
                pat.sz.max,
                pat.nr_accesses.min,
                pat.nr_accesses.max,
                pat.age.min,
                pat.age.max,
            )
            hits = list(compress(range(len(mask)), mask))
            if st.core:
                hits = [i for i in hits if st.core_pass(t, r.starts[i], r.ends[i])]
            if hits:
                per_target.append((t, hits))
        action = Action(scheme.action)
        if not scheme.quotas.enabled:
            for t, hits in per_target:
                if not st.ops and (action is Action.STAT or t.kind is TargetKind.SYNTHETIC):
                    self._apply_bulk(st, t, action, hits)  # every region applies in full
                else:  # one batch per target: adjacent regions coalesce
                    spans = [(t.regions.starts[i], t.regions.ends[i]) for i in hits]
                    self._apply_guarded(st, t, action, spans, messages, gone)
            return
        candidates: list[tuple[int, TargetView, int]] = []  # (priority, target, region)
        for t, hits in per_target:
            r, sizes = t.regions, t.sizes
            prio = priorities(
                scheme,
                [sizes[i] for i in hits],
                [r.nr_accesses[i] for i in hits],
                [r.age[i] for i in hits],
                max_nr,
                aggr_us,
            )
            candidates.extend(zip(prio, [t] * len(hits), hits, strict=True))
        candidates.sort(key=lambda c: -c[0])  # stable: address order among equals
        for _, t, i in candidates:
            if t.index in gone:
                continue
            start, end = t.regions.starts[i], t.regions.ends[i]
            budget = st.esz - st.charged
            budget -= budget % self.page_size
            if budget <= 0:
                self._exhaust(st)
                break
            end = min(end, start + budget)
            self._apply_guarded(st, t, action, [(start, end)], messages, gone)
            st.charged += end - start
            if st.charged >= st.esz:
                self._exhaust(st)

    def _apply_guarded(
        self,
        st: SchemeState,
        t: TargetView,
        action: Action,
        spans: list[tuple[int, int]],
        messages: list[str],
        gone: set[int],
    ) -> None:
        if not spans:
            return
        try:
            self._apply_spans(st, t, action, spans, messages)
        except TargetGone:
            gone.add(t.index)  # the engine drops it and says so

    @staticmethod
    def _apply_bulk(st: SchemeState, t: TargetView, action: Action, hits: list[int]) -> None:
        sizes = t.sizes
        total = sum(map(sizes.__getitem__, hits))
        if action is Action.STAT or t.actions.counts_only:
            applied = total
        else:
            r = t.regions
            applied, _ = t.actions.apply(action, [(r.starts[i], r.ends[i]) for i in hits])
        n = len(hits)
        st.stats.add(n, total, n if applied else 0, applied, total)

    @staticmethod
    def _exhaust(st: SchemeState) -> None:
        if not st.exhausted:
            st.exhausted = True
            st.stats.qt_exceeds += 1

    def _apply_spans(
        self,
        st: SchemeState,
        t: TargetView,
        action: Action,
        spans: list[tuple[int, int]],
        messages: list[str],
    ) -> None:
        """Apply to address-ordered region spans of one target and count per region.

        Ranges that touch across regions go out as one call: the kernel skips large
        folios that a range boundary cuts, so per-region calls would leave them.
        """
        members: list[tuple[int, int]] = []  # per span: (size, bytes passing ops filters)
        groups: list[tuple[int, int, list[tuple[int, int]]]] = []  # start, end, (span, bytes)
        stat = action is Action.STAT
        for k, (start, end) in enumerate(spans):
            if st.ops or (t.kind is TargetKind.PID and not stat):
                pieces = t.actions.pieces(start, end)
            else:
                pieces = [Piece(start, end, True, True)]
            passed = [p for p in pieces if st.ops_pass(p)] if st.ops else pieces
            members.append((end - start, sum(p.end - p.start for p in passed)))
            for p in passed:
                if not p.mapped and not stat:
                    continue  # nothing to advise where nothing is mapped
                if groups and groups[-1][1] == p.start:
                    g_start, _, parts = groups[-1]
                    groups[-1] = (g_start, p.end, parts)
                    parts.append((k, p.end - p.start))
                else:
                    groups.append((p.start, p.end, [(k, p.end - p.start)]))
        applied = [0] * len(spans)
        t0 = time.perf_counter_ns()
        for g_start, g_end, parts in groups:
            done, error = t.actions.apply(action, [(g_start, g_end)])
            if error:
                messages.append(f"{st.name}: {error}")
            for k, nbytes in parts:  # the kernel advises in address order
                take = min(nbytes, done)
                applied[k] += take
                done -= take
        st.tuner.charge(sum(size for size, _ in members), time.perf_counter_ns() - t0)
        for (size, passed_bytes), nbytes in zip(members, applied, strict=True):
            st.stats.add(1, size, 1 if nbytes else 0, nbytes, passed_bytes)
