"""The user-space DAMON engine: sampling, aggregation, region merge/split, per target.

One `sample_step()` is one sampling interval: the simulated clock advances, each
target's source reports which sampled pages were accessed, and new samples are
picked and prepared (last, so that merge/split never move a prepared address).
Every aggr_us/sample_us steps comes an aggregation: merge (bounded by
max_nr_regions), snapshot of the regions, DAMOS, intervals tuning, reset, split.
The Snapshot object is assembled after DAMOS so its scheme stats include this
aggregation. Every update_us the monitored ranges are refreshed from the sources.
Sources that only tell per area how much was referenced (smaps, ``per_aggregation``)
are reset when an aggregation starts and read once when it ends, never per sample.

Beyond DAMON, the region count is held in [min_nr_regions, max_nr_regions] after
every merge: smallest touching pairs are joined when DAMON's merge leaves too many
(tight bounds, separate ranges), biggest regions halved when too few remain.

The engine is single-threaded and never sleeps; EngineBackend paces it in real time.
"""

from __future__ import annotations

import mmap
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ... import kernels
from ...model import MonitoringAttrs, Scheme, Snapshot, Target, TargetKind, TargetSnapshot
from . import batch
from .actions import TargetActions, make_actions
from .bounds import grow_to_min, merge_smallest_pairs
from .damos import Damos, TargetView, validate_for_engine
from .regionset import Regions, make_rng
from .sources.base import AccessSource, SourceError, TargetGone
from .tuning import IntervalsTuner, SystemPaths

U32_MAX = (1 << 32) - 1


def source_page_size(source: AccessSource) -> int:
    """The page size the source checks at (synthetic workloads define their own)."""
    size = getattr(source, "page_size", None) or getattr(
        getattr(source, "workload", None), "page_size", None
    )
    return int(size) if size else mmap.PAGESIZE


@dataclass
class EngineTarget:
    """One monitored target: its source, regions and random generator."""

    index: int  # position in the configured target list (DAMOS target filters)
    target: Target
    source: AccessSource
    regions: Regions
    rng: array
    actions: TargetActions
    page_size: int
    sampler: Any = None  # the compiled page sampler (batch.py), if the source has one
    # the sampler's view of the mapped ranges (batch.refresh_mapped): when last read,
    # how long until the next read, and what they were
    mapped_at: float = float("-inf")
    mapped_every: float = 1.0
    mapped: list[tuple[int, int]] | None = None

    def ranges(self) -> list[tuple[int, int]]:
        return list(self.target.ranges) or self.source.target_ranges()


class Engine:
    """DAMON's monitoring loop over one or more (Target, AccessSource) pairs."""

    def __init__(
        self,
        targets: Sequence[tuple[Target, AccessSource]],
        attrs: MonitoringAttrs | None = None,
        schemes: Sequence[Scheme] = (),
        seed: int = 0,
        paths: SystemPaths | None = None,
        on_snapshot: Callable[[Snapshot], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._attrs = (attrs or MonitoringAttrs()).validate()
        self.paths = paths or SystemPaths()
        self.seed = seed
        self.on_snapshot = on_snapshot
        self.on_error = on_error
        self.cpu_meter: Callable[[], float] | None = None  # set by the realtime thread
        self.elapsed_us = 0
        self.seq = 0
        self.latest: Snapshot | None = None
        self.targets: list[EngineTarget] = []
        self._samples = 0  # sampling steps in the current aggregation
        self._fresh = False  # the samplers' next aggregation is not prepared yet
        self._total_size: int | None = None  # bytes in all regions (None: to be summed)
        self._last_split_nr = -1
        self._next_update_us = self._attrs.update_us
        self._messages: list[str] = []
        self._reported: set[str] = set()
        self.tuner = IntervalsTuner()
        self._no_stop = batch.make_stop_flag()
        validate_for_engine(schemes, [t.kind for t, _ in targets])
        for index, (target, source) in enumerate(targets):
            self.targets.append(self._make_target(index, target, source))
        self.damos = Damos(self.paths, mmap.PAGESIZE)
        self.damos.set_schemes(schemes, 0)

    # --- configuration -------------------------------------------------------------

    @property
    def attrs(self) -> MonitoringAttrs:
        return self._attrs

    @property
    def schemes(self) -> tuple[Scheme, ...]:
        return self.damos.schemes

    def set_attrs(self, attrs: MonitoringAttrs) -> None:
        """New attrs from the next step; counters are rescaled like damon_set_attrs."""
        attrs.validate()
        old, self._attrs = self._attrs, attrs
        if (old.sample_us, old.aggr_us) != (attrs.sample_us, attrs.aggr_us):
            self._rescale(old, attrs)
        if attrs.update_us != old.update_us:
            self._next_update_us = self.elapsed_us + attrs.update_us

    def set_schemes(self, schemes: Sequence[Scheme]) -> None:
        validate_for_engine(schemes, [t.target.kind for t in self.targets])
        self.damos.set_schemes(schemes, self.elapsed_us)
        self._reported.clear()

    def set_targets(self, targets: Sequence[tuple[Target, AccessSource | None]]) -> None:
        """Replace the targets; a None source keeps the running state of an equal target.

        A target whose setup fails is left out and reported (message + on_error).
        """
        by_target = {t.target: t for t in self.targets}
        new: list[EngineTarget] = []
        for index, (target, source) in enumerate(targets):
            if source is None and target in by_target:
                kept = by_target.pop(target)
                kept.index = index
                new.append(kept)
                continue
            if source is None:  # it went away while the change was queued
                self.report(f"{target.label} is no longer monitored")
                continue
            try:
                new.append(self._make_target(index, target, source))
            except (TargetGone, SourceError) as e:
                source.close()
                self.report(f"{target.label}: {e}")
        for gone in self.targets:
            if all(gone is not et for et in new):
                self._close(gone)
        self.targets, self._total_size = new, None
        self._reported.clear()

    def _make_target(self, index: int, target: Target, source: AccessSource) -> EngineTarget:
        page_size = source_page_size(source)
        et = EngineTarget(
            index=index,
            target=target,
            source=source,
            regions=Regions(),
            rng=make_rng(self.seed * 0x9E3779B1 + index),
            actions=make_actions(target.kind, source, target.pid, self.paths.proc_root),
            page_size=page_size,
        )
        et.regions = Regions.from_ranges(et.ranges(), self._attrs.min_nr_regions, page_size)
        batch.attach(et)
        self._prepare(et)
        self._begin_aggregation(et)
        return et

    def _rescale(self, old: MonitoringAttrs, new: MonitoringAttrs) -> None:
        """Keep counts comparable: nr_accesses scale with max_nr_accesses, ages with time."""
        old_max, new_max = old.max_nr_accesses, new.max_nr_accesses
        for et in self.targets:
            r = et.regions
            if old_max != new_max:
                for arr in (r.nr_accesses, r.last_nr_accesses):
                    arr[:] = array("I", (min(U32_MAX, v * new_max // old_max) for v in arr))
            r.age[:] = array("I", (min(U32_MAX, a * old.aggr_us // new.aggr_us) for a in r.age))
        if old_max != new_max:
            self._samples = self._samples * new_max // old_max

    # --- the loop --------------------------------------------------------------------

    def prepare_pending(self) -> None:
        """Prepare the samples that run_batch left to its next call (before a switch to
        sample_step: a target without a sampler was added)."""
        if self._fresh:
            self._fresh = False
            for et in list(self.targets):
                if et.sampler is not None:
                    self._prepare(et)

    def sample_step(self) -> Snapshot | None:
        """One sampling interval; returns the snapshot if this step aggregated."""
        self.prepare_pending()  # normally done before the wait (EngineBackend._run)
        attrs = self._attrs
        self.elapsed_us += attrs.sample_us
        with_sampler = [et for et in self.targets if et.sampler is not None]
        if with_sampler:
            batch.run(self, with_sampler, 1, 0, 0, self._no_stop)
        for et in list(self.targets):
            if et.sampler is not None or et.source.per_aggregation:
                continue
            try:
                et.source.advance(attrs.sample_us)
                accessed = et.source.check(et.regions.sample_addrs)
                kernels.apply_checks(et.regions, accessed)
            except TargetGone as e:
                self._drop(et, str(e))
            except SourceError as e:
                self.report(f"{et.target.label}: {e}")
        self._samples += 1
        return self._after_samples(attrs)

    def _after_samples(self, attrs: MonitoringAttrs, batched: bool = False) -> Snapshot | None:
        """Aggregate if due, refresh ranges if due, prepare the next samples (``batched``:
        the next run_batch prepares the sampler targets, in its compiled call)."""
        snapshot = None
        if self._samples >= attrs.aggr_us // attrs.sample_us:
            self._samples = 0
            self._read_per_aggregation(attrs)
            snapshot = self._aggregate(attrs)
            for et in list(self.targets):
                if et.source.per_aggregation:
                    self._begin_aggregation(et)
        if self.elapsed_us >= self._next_update_us:
            self._next_update_us = self.elapsed_us + self._attrs.update_us
            self._update_ranges()
        for et in list(self.targets):
            if batched and et.sampler is not None:
                self._fresh = True
            else:
                self._prepare(et)
        return snapshot

    @property
    def batch_capable(self) -> bool:
        """True when every target samples through a compiled page sampler."""
        return bool(self.targets) and all(et.sampler is not None for et in self.targets)

    def run_batch(self, deadline_ns: int, stop: Any) -> tuple[Snapshot | None, int, int, int]:
        """The rest of this aggregation's sampling intervals in one compiled call.

        Paced from ``deadline_ns`` (CLOCK_MONOTONIC); ``stop`` cuts it short (then the
        next pages are already prepared). Returns (snapshot or None, last deadline,
        total lateness ns, max lateness ns).
        """
        attrs = self._attrs
        nr = max(1, attrs.aggr_us // attrs.sample_us - self._samples)
        fresh, self._fresh = self._fresh, False
        done, deadline, lag, max_lag = batch.run(
            self, list(self.targets), nr, attrs.sample_us * 1000, deadline_ns, stop, fresh
        )
        self.elapsed_us += done * attrs.sample_us
        self._samples += done
        if done < nr:
            return None, deadline, lag, max_lag
        return self._after_samples(attrs, batched=True), deadline, lag, max_lag

    def run_for(self, us: int) -> Snapshot | None:
        return self.step_until(self.elapsed_us + us)  # back to back; the last snapshot

    def step_until(self, elapsed_us: int) -> Snapshot | None:
        while self.elapsed_us < elapsed_us:
            self.sample_step()
        return self.latest

    def _prepare(self, et: EngineTarget) -> None:
        if et.sampler is not None:
            batch.prepare(self, et)
            return
        if et.source.per_aggregation:
            return  # reset once per aggregation instead (_begin_aggregation)
        try:
            kernels.pick_samples(et.regions, et.rng, et.page_size)
            et.source.prepare(et.regions.sample_addrs)
        except TargetGone as e:
            self._drop(et, str(e))
        except SourceError as e:
            self.report(f"{et.target.label}: {e}")

    def _begin_aggregation(self, et: EngineTarget) -> None:
        if not et.source.per_aggregation:
            return
        try:
            et.source.begin_aggregation()
        except TargetGone as e:
            self._drop(et, str(e))
        except SourceError as e:
            self.report(f"{et.target.label}: {e}")

    def _read_per_aggregation(self, attrs: MonitoringAttrs) -> None:
        """nr_accesses of the sources read once per aggregation (smaps), at its end."""
        for et in list(self.targets):
            if not et.source.per_aggregation:
                continue
            try:
                r = et.regions
                r.nr_accesses[:] = et.source.aggregation_accesses(r, attrs.max_nr_accesses)
            except TargetGone as e:
                self._drop(et, str(e))
            except SourceError as e:
                self.report(f"{et.target.label}: {e}")

    def _aggregate(self, attrs: MonitoringAttrs) -> Snapshot:
        max_nr = attrs.max_nr_accesses
        if self._total_size is None:  # merge and split keep it: summed on changes only
            self._total_size = sum(et.regions.total_size() for et in self.targets)
        total = self._total_size
        min_sz = max((et.page_size for et in self.targets), default=mmap.PAGESIZE)
        sz_limit = max(total // attrs.min_nr_regions, min_sz)
        self._merge(max(1, max_nr // 10), sz_limit, attrs.max_nr_regions, max_nr)
        grow_to_min(self.targets, self._attrs.min_nr_regions)
        views = tuple([self._target_snapshot(et) for et in self.targets])
        self._apply_schemes(attrs)
        snapshot = self._publish(attrs, views)
        new_attrs = (
            self.tuner.after_aggregation(attrs, self._sizes_and_accesses())
            if attrs.intervals_goal.enabled
            else attrs
        )
        for et in self.targets:
            kernels.reset_aggregated(et.regions)
        self._split(attrs.max_nr_regions)
        if new_attrs is not attrs and new_attrs != attrs:  # (a dataclass compare is dear)
            self.set_attrs(new_attrs)
        return snapshot

    def _merge(self, threshold: int, sz_limit: int, max_nr_regions: int, max_nr: int) -> None:
        """kdamond_merge_regions over all targets, then a size-based fallback."""
        if not self.targets:
            return
        if len(self.targets) == 1:
            r = self.targets[0].regions
            kernels.merge_to_limit(r, threshold, sz_limit, max_nr_regions, max_nr)
        else:
            first = True
            while True:
                for et in self.targets:
                    kernels.merge(et.regions, threshold, sz_limit, age_regions=first)
                first = False
                threshold = max(1, threshold * 2)
                if self.nr_regions <= max_nr_regions or threshold // 2 >= max_nr:
                    break
        excess = self.nr_regions - max_nr_regions
        if excess > 0:
            # DAMON can stay above max when sz_limit blocks merges (min near max):
            # join the smallest touching pairs so the bound always holds.
            for et in sorted(self.targets, key=lambda t: -len(t.regions)):
                excess -= merge_smallest_pairs(et.regions, excess)
                if excess <= 0:
                    break

    def _split(self, max_nr_regions: int) -> None:
        nr = self.nr_regions
        if nr > max_nr_regions // 2:
            return
        nr_subs = 3 if nr == self._last_split_nr and nr < max_nr_regions // 3 else 2
        for et in self.targets:
            kernels.split(et.regions, nr_subs, et.page_size, et.rng)
        self._last_split_nr = nr

    def _apply_schemes(self, attrs: MonitoringAttrs) -> None:
        if not self.damos.states:
            return
        views = [
            TargetView(et.index, et.target.kind, et.regions, et.actions) for et in self.targets
        ]
        messages, gone = self.damos.apply(
            self.elapsed_us, attrs.max_nr_accesses, attrs.aggr_us, views
        )
        for message in messages:
            self.report(message)
        for et in [t for t in self.targets if t.index in gone]:
            self._drop(et, None)

    def _sizes_and_accesses(self) -> Iterator[tuple[int, int]]:
        for et in self.targets:
            r = et.regions
            yield from zip(
                (e - s for s, e in zip(r.starts, r.ends, strict=True)), r.nr_accesses, strict=True
            )

    def _update_ranges(self) -> None:
        self._total_size = None
        for et in list(self.targets):
            if et.target.ranges:
                continue  # fixed ranges never change
            try:
                et.regions.set_ranges(et.source.target_ranges(), et.page_size)
            except TargetGone as e:
                self._drop(et, str(e))
            except SourceError as e:
                self.report(f"{et.target.label}: {e}")
        grow_to_min(self.targets, self._attrs.min_nr_regions)

    # --- output ----------------------------------------------------------------------

    @property
    def simulated(self) -> bool:
        """True when every source runs on a simulated clock (no pacing needed)."""
        return all(et.source.name == "synthetic" for et in self.targets)

    @property
    def paced_per_aggregation(self) -> bool:
        """True when no target is checked per sampling interval in wall time
        (simulated sources, sources read once per aggregation): the steps of an
        aggregation may run back to back, with one wait before the one publishing."""
        return all(
            et.source.name == "synthetic" or et.source.per_aggregation for et in self.targets
        )

    @property
    def next_step_aggregates(self) -> bool:
        return self._samples + 1 >= self._attrs.aggr_us // self._attrs.sample_us

    @property
    def nr_regions(self) -> int:
        return sum(len(et.regions) for et in self.targets)

    @staticmethod
    def _target_snapshot(et: EngineTarget) -> TargetSnapshot:
        r = et.regions
        return TargetSnapshot(
            et.target,
            array("Q", r.starts),
            array("Q", r.ends),
            array("I", r.nr_accesses),
            array("I", r.age),
        )

    def _publish(self, attrs: MonitoringAttrs, views: tuple[TargetSnapshot, ...]) -> Snapshot:
        self.seq += 1
        messages, self._messages = tuple(self._messages), []
        damos = self.damos
        snapshot = Snapshot(
            seq=self.seq,
            timestamp=time.time(),
            elapsed_us=self.elapsed_us,
            attrs=attrs,
            targets=views,
            schemes=damos.schemes if damos.states else (),
            scheme_stats=damos.stats() if damos.states else (),
            cpu_percent=self.cpu_meter() if self.cpu_meter else 0.0,
            messages=messages,
        )
        self.latest = snapshot
        if self.on_snapshot is not None:
            self.on_snapshot(snapshot)
        return snapshot

    def report(self, message: str) -> None:
        """Queue a message for the next snapshot and tell on_error, once per text."""
        if message in self._reported:
            return
        if len(self._reported) > 1000:
            self._reported.clear()  # bounded memory; a repeat now and then is fine
        self._reported.add(message)
        self._messages.append(message)
        if self.on_error is not None:
            self.on_error(message)

    def _drop(self, et: EngineTarget, reason: str | None) -> None:
        """Stop monitoring a target that went away (its pid exited)."""
        if et not in self.targets:
            return
        self.targets.remove(et)
        self._total_size = None
        self._close(et)
        if et.target.kind is TargetKind.PID:
            what = f"pid {et.target.pid} exited"
        else:
            what = f"{et.target.label} is gone" + (f" ({reason})" if reason else "")
        self.report(f"{what}; monitoring stopped for it")

    @staticmethod
    def _close(et: EngineTarget) -> None:
        et.source.close()
        et.actions.close()

    def close(self) -> None:
        for et in self.targets:
            self._close(et)
