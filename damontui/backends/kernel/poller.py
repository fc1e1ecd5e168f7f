"""The kernel backend's polling thread: one snapshot per aggregation interval,
published to the app's callback; errors are reported, never raised out of the
thread. Shared by the owning backend and the read-only observer."""

from __future__ import annotations

import threading
import time

from ...model import MonitoringAttrs, Snapshot
from ..base import BackendError, ErrorCallback, SnapshotCallback

MIN_TICK_S = 0.05


class Poller:
    """The thread, the latest snapshot and the two callbacks. Subclasses provide
    snapshot_once() (and may set _lost: a kdamond gone is polled once a second)."""

    _attrs: MonitoringAttrs
    _lost: bool = False

    def _init_poller(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._latest: Snapshot | None = None
        self._on_snapshot: SnapshotCallback | None = None
        self._on_error: ErrorCallback | None = None

    def snapshot_once(self) -> Snapshot:
        raise NotImplementedError

    def latest(self) -> Snapshot | None:
        return self._latest

    def _start_thread(self, on_snapshot: SnapshotCallback, on_error: ErrorCallback) -> None:
        if self._thread is not None and self._thread.is_alive():
            raise BackendError("the kernel backend is already running")
        self._on_snapshot, self._on_error = on_snapshot, on_error

    def _run_thread(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="damontui-kernel", daemon=True)
        self._thread.start()

    def _stop_thread(self) -> None:
        """Stop polling and join the thread (unless called from it)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _interval_s(self) -> float:
        attrs = self._latest.attrs if self._latest is not None else self._attrs
        if self._lost:
            return 1.0
        return max(MIN_TICK_S, attrs.aggr_us / 1e6)

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                snap = self.snapshot_once()
            except BackendError as e:
                self._error(str(e))
            except Exception as e:  # noqa: BLE001 - the thread must survive anything
                self._error(f"kernel snapshot failed: {type(e).__name__}: {e}")
            else:
                self._publish(snap)
            delay = self._interval_s() - (time.monotonic() - t0)
            if self._stop.wait(max(0.0, delay)):
                break

    def _publish(self, snapshot: Snapshot) -> None:
        self._latest = snapshot
        if self._on_snapshot is not None:
            try:
                self._on_snapshot(snapshot)
            except Exception as e:  # noqa: BLE001 - a broken consumer must not stop us
                self._error(f"snapshot callback failed: {type(e).__name__}: {e}")

    def _error(self, message: str) -> None:
        if self._on_error is not None:
            try:
                self._on_error(message)
            except Exception:  # noqa: BLE001, S110 - nowhere left to report it
                pass
