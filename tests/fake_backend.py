"""A deterministic in-process Backend for UI tests: no thread, snapshots on demand.

`emit()` builds the next snapshot from the seq number alone and hands it to the
app's on_snapshot callback (the same path the engine thread uses), so a test
decides exactly when data arrives. Control calls are recorded; `fail_schemes`
makes set_schemes raise like a real backend rejecting a field.
"""

from __future__ import annotations

from collections.abc import Sequence

from damontui.backends.base import BackendError, ErrorCallback, SnapshotCallback
from damontui.model import (
    BackendInfo,
    MonitoringAttrs,
    Region,
    Scheme,
    Snapshot,
    Target,
    TargetKind,
    TargetSnapshot,
    ValidationError,
)

MIB = 1 << 20
BASE = 0x7F0000000000
ATTRS = MonitoringAttrs(sample_us=5_000, aggr_us=100_000)  # max_nr_accesses = 20
SYNTHETIC = Target(TargetKind.SYNTHETIC, name="fake")


def make_regions(seq: int, count: int = 8, size: int = 4 * MIB) -> list[Region]:
    """`count` regions whose accesses rotate with `seq` (so every snapshot differs)."""
    regions = []
    for i in range(count):
        nr = (i * 7 + seq * 3) % 21
        if i % 3 == 0:
            nr = 0  # a third stays idle so the cold side of every view has data
        age = 0 if nr else (seq + i) % 50
        regions.append(Region(BASE + i * size, BASE + (i + 1) * size, nr, age))
    return regions


def make_snapshot(
    seq: int, count: int = 8, target: Target = SYNTHETIC, attrs: MonitoringAttrs = ATTRS
) -> Snapshot:
    return Snapshot(
        seq=seq,
        timestamp=1_700_000_000.0 + seq,
        elapsed_us=seq * attrs.aggr_us,
        attrs=attrs,
        targets=(TargetSnapshot.from_regions(target, make_regions(seq, count)),),
        cpu_percent=1.5,
    )


class FakeBackend:
    """Implements the Backend protocol; see the module docstring."""

    def __init__(self, nr_regions: int = 8, fail_schemes: Exception | None = None) -> None:
        self.nr_regions = nr_regions
        self.fail_schemes = fail_schemes
        self.seq = 0
        self.started = False
        self.stopped = 0
        self.on_snapshot: SnapshotCallback | None = None
        self.on_error: ErrorCallback | None = None
        self._attrs = ATTRS
        self._schemes: tuple[Scheme, ...] = ()
        self._targets: tuple[Target, ...] = (SYNTHETIC,)
        self.set_targets_calls: list[tuple[Target, ...]] = []
        self.set_attrs_calls: list[MonitoringAttrs] = []
        self._latest: Snapshot | None = None

    @property
    def info(self) -> BackendInfo:
        return BackendInfo("fake", "deterministic test data", features=("none",))

    def start(self, on_snapshot: SnapshotCallback, on_error: ErrorCallback) -> None:
        self.on_snapshot, self.on_error = on_snapshot, on_error
        self.started = True

    def stop(self) -> None:
        self.stopped += 1

    def close(self) -> None:  # the Backend protocol's; nothing to release here
        self.stop()

    def latest(self) -> Snapshot | None:
        return self._latest

    def attrs(self) -> MonitoringAttrs:
        return self._attrs

    def set_attrs(self, attrs: MonitoringAttrs) -> None:
        attrs.validate()
        self.set_attrs_calls.append(attrs)
        self._attrs = attrs

    def schemes(self) -> tuple[Scheme, ...]:
        return self._schemes

    def set_schemes(self, schemes: Sequence[Scheme]) -> None:
        if self.fail_schemes is not None:
            raise self.fail_schemes
        for scheme in schemes:
            scheme.validate()
        self._schemes = tuple(schemes)

    def targets(self) -> tuple[Target, ...]:
        return self._targets

    def set_targets(self, targets: Sequence[Target]) -> None:
        if not targets:
            raise BackendError("no targets")
        self.set_targets_calls.append(tuple(targets))
        self._targets = tuple(targets)

    # --- test helpers ------------------------------------------------------------

    def next_snapshot(self) -> Snapshot:
        self.seq += 1
        snap = make_snapshot(self.seq, self.nr_regions, self._targets[0], self._attrs)
        self._latest = snap
        return snap

    def emit(self, count: int = 1) -> Snapshot:
        """Deliver `count` new snapshots through the on_snapshot callback."""
        assert self.on_snapshot is not None, "start() was not called"
        snap = self.latest()
        for _ in range(count):
            snap = self.next_snapshot()
            self.on_snapshot(snap)
        assert snap is not None
        return snap

    def error(self, text: str) -> None:
        assert self.on_error is not None
        self.on_error(text)


SCHEME_ERROR = ValidationError("quotas.reset_interval_ms", 0, ">= 1 ms when a quota is set")
