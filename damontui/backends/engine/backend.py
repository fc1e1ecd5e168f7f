"""EngineBackend: the user-space engine behind the Backend protocol.

The engine runs in a daemon thread paced in real time (one step per sampling
interval; when a step is late the thread skips sleeping and records the lag).
Control calls validate in the caller's thread, then queue the change under a lock;
the engine thread applies it before its next step. `step_until`/`run_for` drive the
engine synchronously instead (tests, simulated time).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from ... import kernels
from ...model import BackendInfo, MonitoringAttrs, Scheme, Snapshot, Target, TargetKind
from ..base import BackendError, ErrorCallback, SnapshotCallback
from . import batch
from .budget import DEFAULT_CPU_BUDGET, CpuBudget
from .damos import validate_for_engine
from .engine import Engine
from .sources import SOURCES, AccessSource, SyntheticSource, make_source
from .sources.base import SourceError, TargetGone
from .tuning import SystemPaths

PID_PREFERENCE = ("pageidle", "smaps")  # softdirty only when asked: it sees writes only
TARGET_SOURCES = {
    TargetKind.SYNTHETIC: {"synthetic"},
    TargetKind.PID: {"pageidle", "smaps", "softdirty"},
    TargetKind.PADDR: {"pageidle"},
}
LAG_MESSAGE = (
    "the engine is running behind its sampling interval; consider longer intervals or fewer regions"
)


class _CpuMeter:
    """CPU percent of the calling thread since the previous call."""

    def __init__(self) -> None:
        self.cpu, self.wall = time.thread_time(), time.monotonic()

    def __call__(self) -> float:
        cpu, wall = time.thread_time(), time.monotonic()
        percent = 100.0 * (cpu - self.cpu) / max(wall - self.wall, 1e-9)
        self.cpu, self.wall = cpu, wall
        return percent


class EngineBackend:
    """The user-space DAMON engine (see module docstring)."""

    def __init__(
        self,
        targets: Sequence[Target],
        source: str | None = None,
        attrs: MonitoringAttrs | None = None,
        schemes: Sequence[Scheme] = (),
        seed: int = 0,
        synthetic_pattern: str = "hotcold",
        paths: SystemPaths | None = None,
        realtime: bool = True,
        cpu_budget: float | None = DEFAULT_CPU_BUDGET,
        intervals_fixed: bool | None = None,
    ) -> None:
        if source is not None and source not in SOURCES:
            raise BackendError(f"unknown access source {source!r}; known: {', '.join(SOURCES)}")
        self._source_name = source
        self._seed = seed
        self._pattern = synthetic_pattern
        self._paths = paths or SystemPaths()
        self._realtime = realtime
        self._notes: list[str] = []
        attrs = (attrs or MonitoringAttrs()).validate()
        validate_for_engine(schemes, [t.kind for t in targets])
        pairs = self._make_sources(targets)
        try:
            self._engine = Engine(
                pairs, attrs, schemes, seed, self._paths, self._publish, self._error
            )
        except (TargetGone, SourceError) as e:
            for _, src in pairs:
                src.close()
            raise BackendError(str(e)) from None
        self._targets = tuple(targets)
        self._lock = threading.Lock()
        self._pending_attrs: MonitoringAttrs | None = None
        self._pending_schemes: tuple[Scheme, ...] | None = None
        self._pending_targets: list[tuple[Target, AccessSource | None]] | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = batch.make_stop_flag()  # interrupts a compiled sampling batch
        self._latest: Snapshot | None = None
        self._on_snapshot: SnapshotCallback | None = None
        self._on_error: ErrorCallback | None = None
        self.lag_us = 0  # total lateness of steps that started after their deadline
        self.max_lag_us = 0
        # Intervals count as the user's own unless they are the defaults.
        fixed = attrs != MonitoringAttrs() if intervals_fixed is None else intervals_fixed
        self.budget = CpuBudget(cpu_budget, attrs, fixed)
        self._budget_seq = -1

    # --- sources -------------------------------------------------------------------

    def _source_for(self, target: Target) -> tuple[str, dict[str, Any]]:
        """Pick the access source of a target (explicit choice or best available)."""
        p = self._paths
        if target.kind is TargetKind.SYNTHETIC:
            pattern = (
                target.name if target.name in SyntheticSource.pattern_names() else (self._pattern)
            )
            return "synthetic", {"pattern": pattern, "seed": self._seed}
        kw: dict[str, Any] = {"proc_root": p.proc_root, "page_idle_path": p.page_idle}
        if target.kind is TargetKind.PID:
            kw.update(pid=target.pid, seed=self._seed)
        else:
            kw.update(pid=None, iomem_path=p.iomem)
        if self._source_name is not None:
            if self._source_name not in TARGET_SOURCES[target.kind]:
                raise BackendError(
                    f"{target.label}: the {self._source_name} source cannot monitor it; use "
                    f"{' or '.join(sorted(TARGET_SOURCES[target.kind]))}"
                )
            return self._source_name, kw
        preference = PID_PREFERENCE if target.kind is TargetKind.PID else ("pageidle",)
        reasons: list[str] = []
        for name in preference:
            probe = SOURCES[name].probe(**kw)
            if probe.available:
                if reasons:
                    self._notes.append(f"{target.label}: {'; '.join(reasons)}; using {name}")
                return name, kw
            reasons.append(probe.reason)
        if target.kind is TargetKind.PADDR:
            raise BackendError(
                "physical-memory monitoring needs kernel DAMON (paddr) or page idle "
                f"tracking: {'; '.join(reasons)}"
            )
        raise BackendError(f"{target.label}: no access source works: {'; '.join(reasons)}")

    def _make_sources(self, targets: Sequence[Target]) -> list[tuple[Target, AccessSource]]:
        pairs: list[tuple[Target, AccessSource]] = []
        try:
            for target in targets:
                if target.kind is TargetKind.PID and target.pid is None:
                    raise BackendError(f"{target.label}: a pid target needs a pid")
                name, kw = self._source_for(target)
                try:
                    pairs.append((target, make_source(name, **kw)))
                except (TargetGone, SourceError, OSError, ValueError, TypeError) as e:
                    raise BackendError(f"{target.label}: {name} source: {e}") from None
        except BackendError:
            for _, src in pairs:
                src.close()
            raise
        return pairs

    # --- Backend protocol ----------------------------------------------------------

    @property
    def info(self) -> BackendInfo:
        kernel = f"kernel: {kernels.IMPL_NAME}"
        if kernels.IMPORT_ERROR:
            kernel += f" (compiled kernel failed to import: {kernels.IMPORT_ERROR})"
        with self._lock:  # a target switch shows at once, not after the next step
            pending = self._pending_targets
        running = {et.target: et.source for et in self._engine.targets}
        if pending is not None:
            described = [src or running.get(t) for t, src in pending]
        else:
            described = list(running.values())
        sources = "; ".join(src.describe() for src in described if src is not None)
        return BackendInfo(
            backend="engine",
            source=sources or "no targets",
            features=(kernel, self.budget.status(self._engine.attrs)),
            notes=tuple(self._notes),
        )

    def start(self, on_snapshot: SnapshotCallback, on_error: ErrorCallback) -> None:
        if self._thread is not None and self._thread.is_alive():
            raise BackendError("the engine is already running")
        self._on_snapshot, self._on_error = on_snapshot, on_error
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="damontui-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop and join the thread; sources stay open so start() can resume."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def close(self) -> None:
        """Stop and release the sources' file descriptors."""
        self.stop()
        self._engine.close()

    def latest(self) -> Snapshot | None:
        return self._latest

    def attrs(self) -> MonitoringAttrs:
        with self._lock:
            return self._pending_attrs or self._engine.attrs

    def set_attrs(self, attrs: MonitoringAttrs) -> None:
        attrs.validate()
        with self._lock:
            self._pending_attrs = attrs
            self.budget.set_user(attrs, intervals_fixed=True)
        self._wake.set()

    def set_default_attrs(self, attrs: MonitoringAttrs) -> None:
        """Defaults chosen for the source (not the user's): the budget may adapt them."""
        attrs.validate()
        with self._lock:
            self._pending_attrs = attrs
            self.budget.set_user(attrs, intervals_fixed=False)
        self._wake.set()

    def schemes(self) -> tuple[Scheme, ...]:
        with self._lock:
            if self._pending_schemes is not None:
                return self._pending_schemes
            return self._engine.schemes

    def set_schemes(self, schemes: Sequence[Scheme]) -> None:
        with self._lock:
            validate_for_engine(schemes, [t.kind for t in self._targets])
            self._pending_schemes = tuple(schemes)
        self._wake.set()

    def targets(self) -> tuple[Target, ...]:
        with self._lock:
            return self._targets

    def set_targets(self, targets: Sequence[Target]) -> None:
        with self._lock:
            validate_for_engine(
                self._pending_schemes or self._engine.schemes, [t.kind for t in targets]
            )
            running = {et.target for et in self._engine.targets}
            new = self._make_sources([t for t in targets if t not in running])
            made = dict(new)
            self._discard_pending_targets()
            self._pending_targets = [(t, made.get(t)) for t in targets]
            self._targets = tuple(targets)
        self._wake.set()

    def _discard_pending_targets(self) -> None:
        for _, src in self._pending_targets or ():
            if src is not None:
                src.close()
        self._pending_targets = None

    # --- driving the engine --------------------------------------------------------

    def _apply_pending(self) -> None:
        if (self._pending_attrs, self._pending_schemes, self._pending_targets) == (None,) * 3:
            return  # (read without the lock: a change made now waits one aggregation)
        with self._lock:
            attrs, self._pending_attrs = self._pending_attrs, None
            schemes, self._pending_schemes = self._pending_schemes, None
            targets, self._pending_targets = self._pending_targets, None
        engine = self._engine
        if targets is not None:
            engine.set_targets(targets)
        if attrs is not None:
            engine.set_attrs(attrs)
        if schemes is not None:
            try:
                engine.set_schemes(schemes)
            except (BackendError, ValueError) as e:  # a target changed kind meanwhile
                engine.report(f"schemes not applied: {e}")

    def step_until(self, elapsed_us: int) -> Snapshot | None:
        """Drive the engine synchronously up to `elapsed_us` of monitoring time."""
        if self._thread is not None:
            raise BackendError("the engine thread is running; stop() it first")
        self._apply_pending()
        return self._engine.step_until(elapsed_us)

    def run_for(self, us: int) -> Snapshot | None:
        self._apply_pending()
        return self.step_until(self._engine.elapsed_us + us)

    def _run(self) -> None:
        engine = self._engine
        engine.cpu_meter = _CpuMeter()
        deadline = time.monotonic()
        while not self._stop.is_set():
            try:
                self._apply_pending()
            except Exception as e:  # the thread must survive anything
                engine.report(f"applying changes failed: {type(e).__name__}: {e}")
            self._apply_budget()
            attrs = engine.attrs
            if self._realtime and engine.batch_capable:
                deadline = self._run_batch(deadline)
                continue
            engine.prepare_pending()  # before the wait: the check must come after it
            deadline += attrs.sample_us / 1e6
            # Simulated sources need no wall time between prepare and check, and smaps
            # is read once per aggregation: run an aggregation's steps back to back and
            # sleep once, before the step that publishes (waking up costs ~50-80 us of
            # CPU in a VM).
            paced = engine.paced_per_aggregation
            if self._realtime and (not paced or engine.next_step_aggregates):
                delay = deadline - time.monotonic()
                if delay > 0:
                    if self._sleep(delay):
                        break
                else:
                    self._record_lag(-delay, attrs)
                    if -delay > attrs.aggr_us / 1e6:
                        deadline = time.monotonic()  # don't burst to catch up
            try:
                engine.sample_step()
            except Exception as e:  # the thread must survive anything
                engine.report(f"engine step failed: {type(e).__name__}: {e}")
        engine.cpu_meter = None

    def _apply_budget(self) -> None:
        """After each aggregation: let the CPU budget adapt the attrs in force."""
        engine = self._engine
        if not self._realtime or engine.seq == self._budget_seq or self.budget.percent is None:
            return
        self._budget_seq = engine.seq
        attrs = engine.attrs
        new = self.budget.after_aggregation(attrs, time.thread_time(), time.monotonic())
        if new is not attrs and new != attrs:
            engine.set_attrs(new)

    def _run_batch(self, deadline: float) -> float:
        """One compiled call for the rest of the aggregation; the next deadline.

        Control calls set ``_wake`` so edits apply without waiting for the aggregation.
        """
        engine = self._engine
        attrs = engine.attrs
        self._wake.clear()
        if self._stop.is_set():
            return deadline
        try:
            _, end_ns, lag_ns, max_lag_ns = engine.run_batch(int(deadline * 1e9), self._wake)
        except Exception as e:  # the thread must survive anything
            engine.report(f"engine step failed: {type(e).__name__}: {e}")
            return time.monotonic()
        if lag_ns:
            self.lag_us += lag_ns // 1000
            self.max_lag_us = max(self.max_lag_us, max_lag_ns // 1000)
            if max_lag_ns // 1000 > attrs.aggr_us:
                engine.report(LAG_MESSAGE)
        deadline = end_ns / 1e9
        if time.monotonic() - deadline > attrs.aggr_us / 1e6:
            deadline = time.monotonic()  # don't burst to catch up
        return deadline

    def _sleep(self, delay: float) -> bool:
        """Sleep `delay` seconds; True if stop() was called meanwhile.

        Short sleeps use time.sleep (half the CPU of Event.wait); long ones (tuned
        intervals can reach seconds) wait on the event so stop() stays prompt.
        """
        if delay <= 0.05:
            time.sleep(delay)
            return self._stop.is_set()
        return self._stop.wait(delay)

    def _record_lag(self, late_s: float, attrs: MonitoringAttrs) -> None:
        late_us = int(late_s * 1e6)
        self.lag_us += late_us
        self.max_lag_us = max(self.max_lag_us, late_us)
        if late_us > attrs.aggr_us:
            self._engine.report(LAG_MESSAGE)

    def _publish(self, snapshot: Snapshot) -> None:
        self._latest = snapshot
        if self._on_snapshot is not None:
            try:
                self._on_snapshot(snapshot)
            except Exception as e:  # a broken consumer must not stop us
                self._error(f"snapshot callback failed: {type(e).__name__}: {e}")

    def _error(self, message: str) -> None:
        if self._on_error is not None:
            try:
                self._on_error(message)
            except Exception:  # nowhere left to report it
                pass
