"""EngineBackend: the threaded engine behind the Backend protocol."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from damontui.backends.base import Backend, BackendError
from damontui.backends.engine.backend import EngineBackend
from damontui.backends.engine.tuning import SystemPaths
from damontui.model import (
    Action,
    Filter,
    FilterType,
    MonitoringAttrs,
    Scheme,
    Snapshot,
    Target,
    TargetKind,
    ValidationError,
)

FAST = MonitoringAttrs(sample_us=1_000, aggr_us=10_000, update_us=100_000)
SYN = Target(TargetKind.SYNTHETIC, name="hotcold")


class Collector:
    """Thread-safe snapshot/error sink with a wait helper."""

    def __init__(self) -> None:
        self.snaps: list[Snapshot] = []
        self.errors: list[str] = []
        self.cond = threading.Condition()

    def snapshot(self, snap: Snapshot) -> None:
        with self.cond:
            self.snaps.append(snap)
            self.cond.notify_all()

    def error(self, message: str) -> None:
        with self.cond:
            self.errors.append(message)
            self.cond.notify_all()

    def wait(self, pred: Callable[[], bool], timeout: float = 2.0) -> None:
        with self.cond:
            assert self.cond.wait_for(pred, timeout), "timed out waiting for the engine"

    def wait_snapshot(self, pred: Callable[[Snapshot], bool]) -> Snapshot:
        self.wait(lambda: bool(self.snaps) and pred(self.snaps[-1]))
        return self.snaps[-1]


@pytest.fixture
def running() -> Iterator[tuple[EngineBackend, Collector]]:
    backend = EngineBackend([SYN], attrs=FAST, seed=1)
    sink = Collector()
    backend.start(sink.snapshot, sink.error)
    try:
        yield backend, sink
    finally:
        backend.close()


def test_backend_protocol_and_info() -> None:
    backend = EngineBackend([SYN], attrs=FAST)
    assert isinstance(backend, Backend)
    info = backend.info
    assert info.backend == "engine" and info.source.startswith("synthetic")
    assert info.features[0].startswith("kernel: ")
    assert backend.targets() == (SYN,)
    assert backend.latest() is None
    backend.close()


def test_thread_delivers_snapshots_in_real_time(running: tuple[EngineBackend, Collector]) -> None:
    backend, sink = running
    t0 = time.monotonic()
    sink.wait(lambda: len(sink.snaps) >= 10)
    wall = time.monotonic() - t0
    seqs = [s.seq for s in sink.snaps]
    assert seqs == list(range(1, len(seqs) + 1))
    assert backend.latest() is sink.snaps[-1]
    # Paced, not free-running: 10 aggregations of 10 ms take about 0.1 s.
    assert wall >= 0.08
    assert sink.snaps[-1].elapsed_us == 10_000 * len(sink.snaps)
    assert 0.0 < sink.snaps[-1].cpu_percent < 100.0


def test_set_attrs_and_schemes_live(running: tuple[EngineBackend, Collector]) -> None:
    backend, sink = running
    sink.wait(lambda: len(sink.snaps) >= 2)
    new_attrs = MonitoringAttrs(sample_us=2_000, aggr_us=20_000, update_us=100_000)
    backend.set_attrs(new_attrs)
    assert backend.attrs() == new_attrs
    sink.wait_snapshot(lambda s: s.attrs == new_attrs)
    scheme = Scheme(Action.STAT)
    backend.set_schemes([scheme])
    snap = sink.wait_snapshot(lambda s: s.schemes == (scheme,) and s.scheme_stats[0].nr_tried > 0)
    assert snap.scheme_stats[0].sz_tried >= snap.targets[0].total_size
    with pytest.raises(BackendError, match="scheme 1 filter 0: young filters"):
        backend.set_schemes([scheme, Scheme(filters=(Filter(FilterType.YOUNG),))])
    with pytest.raises(ValidationError):
        backend.set_attrs(MonitoringAttrs(sample_us=3_000, aggr_us=10_000))
    assert backend.schemes() == (scheme,)
    assert backend.attrs() == new_attrs


def test_set_targets_live(running: tuple[EngineBackend, Collector]) -> None:
    backend, sink = running
    sink.wait(lambda: len(sink.snaps) >= 2)
    other = Target(TargetKind.SYNTHETIC, name="stairs")
    backend.set_targets([SYN, other])
    snap = sink.wait_snapshot(lambda s: len(s.targets) == 2)
    assert [t.target for t in snap.targets] == [SYN, other]
    with pytest.raises(BackendError, match="pid 999999999"):
        backend.set_targets([Target(TargetKind.PID, pid=999_999_999)])
    assert backend.targets() == (SYN, other)


def test_stop_joins_and_is_idempotent() -> None:
    backend = EngineBackend([SYN], attrs=FAST)
    sink = Collector()
    backend.start(sink.snapshot, sink.error)
    sink.wait(lambda: len(sink.snaps) >= 1)
    backend.stop()
    assert not any(t.name == "damontui-engine" for t in threading.enumerate())
    count = len(sink.snaps)
    time.sleep(0.05)
    assert len(sink.snaps) == count
    backend.stop()
    # It can resume where it stopped.
    backend.start(sink.snapshot, sink.error)
    sink.wait(lambda: len(sink.snaps) > count)
    assert sink.snaps[count].seq == sink.snaps[count - 1].seq + 1
    backend.close()


def test_broken_callback_does_not_stop_the_engine() -> None:
    backend = EngineBackend([SYN], attrs=FAST)
    sink = Collector()

    def explode(snap: Snapshot) -> None:
        sink.snapshot(snap)
        raise RuntimeError("ui bug")

    backend.start(explode, sink.error)
    try:
        sink.wait(lambda: len(sink.snaps) >= 3)
        assert sink.errors[0] == "snapshot callback failed: RuntimeError: ui bug"
    finally:
        backend.close()


def test_synchronous_driving_and_thread_guard() -> None:
    backend = EngineBackend([SYN], attrs=FAST, schemes=[Scheme(Action.STAT)], realtime=False)
    snap = backend.run_for(100_000)
    assert snap is not None and snap.seq == 10 and snap.elapsed_us == 100_000
    backend.set_attrs(MonitoringAttrs(sample_us=1_000, aggr_us=20_000))
    assert backend.step_until(200_000).attrs.aggr_us == 20_000
    sink = Collector()
    backend.start(sink.snapshot, sink.error)
    try:
        with pytest.raises(BackendError, match="running"):
            backend.step_until(10**9)
        # Not real time: far more monitoring time than wall time passes.
        sink.wait(lambda: bool(sink.snaps) and sink.snaps[-1].elapsed_us > 5_000_000)
    finally:
        backend.close()


def test_source_choice_and_errors(tmp_path: object) -> None:
    paths = SystemPaths(page_idle=str(os.path.join(str(tmp_path), "no-bitmap")))
    with pytest.raises(BackendError, match="physical-memory monitoring needs kernel DAMON"):
        EngineBackend([Target(TargetKind.PADDR)], paths=paths)
    with pytest.raises(BackendError, match="smaps source cannot monitor"):
        EngineBackend([Target(TargetKind.PADDR)], source="smaps", paths=paths)
    with pytest.raises(BackendError, match="unknown access source"):
        EngineBackend([SYN], source="perf")
    with pytest.raises(BackendError, match="action pageout on physical memory"):
        EngineBackend([Target(TargetKind.PADDR)], schemes=[Scheme(Action.PAGEOUT)], paths=paths)
    backend = EngineBackend([Target(TargetKind.PID, pid=os.getpid())], paths=paths)
    try:
        assert backend.info.source.startswith("smaps")
        assert any("using smaps" in note for note in backend.info.notes)
    finally:
        backend.close()


def test_info_describes_a_switched_target_before_the_next_step() -> None:
    backend = EngineBackend([Target(TargetKind.SYNTHETIC, name="hotcold")], realtime=False)
    try:
        assert "hotcold" in backend.info.source
        backend.set_targets([Target(TargetKind.SYNTHETIC, name="stairs")])
        assert "stairs" in backend.info.source and "hotcold" not in backend.info.source
    finally:
        backend.close()
