"""DAMON_STAT as a read-only backend: it reads DAMON_STAT's module parameters
(/sys/module/damon_stat/parameters/) and the kdamond's CPU time from /proc,
and never writes anything anywhere.

DAMON_STAT runs an exclusive kdamond (no sysfs kdamond can start while it is
on), so when it is what the machine runs, its own results are what damontui
can show without changing the machine.  Snapshots carry no regions: the data
is in ``Snapshot.damon_stat`` (model/damon_stat.py).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Sequence

from ..model import BackendInfo, MonitoringAttrs, Scheme, Snapshot, Target
from ..model.damon_stat import DamonStatSample
from .base import BackendError, ErrorCallback, SnapshotCallback

MODULE_ROOT = "/sys/module"
PARAMS = "damon_stat/parameters"
HISTORY = 600  # bandwidth samples kept (10 min at 1 s)
READONLY = (
    "DAMON_STAT's results are read-only: damontui shows them and changes nothing "
    "(to monitor with your own settings, turn DAMON_STAT off or use --backend engine)"
)


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def damon_stat_present(module_root: str = MODULE_ROOT) -> bool:
    return _read(f"{module_root}/{PARAMS}/enabled") is not None


def damon_stat_running(module_root: str = MODULE_ROOT) -> bool:
    return (_read(f"{module_root}/{PARAMS}/enabled") or "").upper() in ("Y", "1")


def parse_percentiles(text: str | None) -> tuple[int, ...]:
    """101 comma-separated (signed) values, else () (unreadable or malformed)."""
    if not text:
        return ()
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        return ()
    return values if len(values) == 101 else ()


def kernel_release() -> str:
    return os.uname().release


class DamonStatBackend:
    """See module docstring."""

    def __init__(
        self,
        *,
        module_root: str = MODULE_ROOT,
        proc_root: str = "/proc",
        interval_s: float = 1.0,
        notes: Sequence[str] = (),
    ) -> None:
        self._params = f"{module_root}/{PARAMS}"
        self._proc = proc_root
        if _read(f"{self._params}/enabled") is None:
            raise BackendError(
                f"DAMON_STAT: {self._params}/enabled does not exist (this "
                "kernel has no CONFIG_DAMON_STAT)"
            )
        self._interval = max(0.05, interval_s)
        self._notes = tuple(notes)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._latest: Snapshot | None = None
        self._seq = 0
        self._t0 = time.monotonic()
        self._history: deque[tuple[float, int]] = deque(maxlen=HISTORY)
        self._cpu_prev: tuple[int, float, int] | None = None  # (pid, monotonic, ticks)

    # --- reading -----------------------------------------------------------------------

    def _cpu_percent(self, pid: int | None) -> float:
        if not pid:
            self._cpu_prev = None
            return 0.0
        text = _read(f"{self._proc}/{pid}/stat")
        try:
            fields = text.rsplit(")", 1)[1].split() if text else []
            ticks = int(fields[11]) + int(fields[12])
        except (IndexError, ValueError):
            return 0.0
        now, prev = time.monotonic(), self._cpu_prev
        self._cpu_prev = (pid, now, ticks)
        if prev is None or prev[0] != pid or now <= prev[1]:
            return 0.0
        return 100.0 * (ticks - prev[2]) / os.sysconf("SC_CLK_TCK") / (now - prev[1])

    def read_sample(self) -> DamonStatSample:
        """One sample of DAMON_STAT's parameters (reads only)."""
        p = self._params
        enabled = (_read(f"{p}/enabled") or "").upper() in ("Y", "1")
        pid = _int(_read(f"{p}/kdamond_pid"))
        pid = pid if pid and pid > 0 else None
        now = time.time()
        bandwidth = _int(_read(f"{p}/estimated_memory_bandwidth"))
        if enabled and bandwidth is not None:
            self._history.append((now, bandwidth))
        return DamonStatSample(
            timestamp=now,
            enabled=enabled,
            kdamond_pid=pid,
            aggr_interval_us=_int(_read(f"{p}/aggr_interval_us")),
            bandwidth_bps=bandwidth,
            idle_ms_percentiles=parse_percentiles(_read(f"{p}/memory_idle_ms_percentiles")),
            cpu_percent=self._cpu_percent(pid),
            bandwidth_history=tuple(self._history),
        )

    def snapshot_once(self) -> Snapshot:
        sample = self.read_sample()
        self._seq += 1
        messages = (
            ()
            if sample.enabled
            else ("DAMON_STAT is off (enabled = N): its values are the last it published",)
        )
        attrs = MonitoringAttrs()
        if sample.aggr_interval_us and sample.aggr_interval_us >= attrs.sample_us:
            attrs = MonitoringAttrs(aggr_us=sample.aggr_interval_us)
        snap = Snapshot(
            seq=self._seq,
            timestamp=sample.timestamp,
            elapsed_us=int((time.monotonic() - self._t0) * 1e6),
            attrs=attrs,
            cpu_percent=sample.cpu_percent,
            messages=messages,
            damon_stat=sample,
        )
        self._latest = snap
        return snap

    # --- Backend protocol ------------------------------------------------------------

    @property
    def info(self) -> BackendInfo:
        return BackendInfo(
            backend="damon_stat",
            source="DAMON_STAT (physical memory)",
            kernel_version=kernel_release(),
            notes=self._notes,
            readonly=True,
        )

    def start(self, on_snapshot: SnapshotCallback, on_error: ErrorCallback) -> None:
        if self._thread is not None and self._thread.is_alive():
            raise BackendError("the DAMON_STAT backend is already running")
        self._stop.clear()

        def run() -> None:
            while not self._stop.is_set():
                try:
                    on_snapshot(self.snapshot_once())
                except Exception as e:  # a reader thread must not die silently
                    on_error(f"DAMON_STAT: {e}")
                self._stop.wait(self._interval)

        self._thread = threading.Thread(target=run, name="damontui-damon-stat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def close(self) -> None:
        self.stop()

    def latest(self) -> Snapshot | None:
        return self._latest

    def attrs(self) -> MonitoringAttrs:
        return self._latest.attrs if self._latest else MonitoringAttrs()

    def set_attrs(self, attrs: MonitoringAttrs) -> None:
        raise BackendError(READONLY)

    def schemes(self) -> tuple[Scheme, ...]:
        return ()

    def set_schemes(self, schemes: Sequence[Scheme]) -> None:
        raise BackendError(READONLY)

    def targets(self) -> tuple[Target, ...]:
        return ()

    def set_targets(self, targets: Sequence[Target]) -> None:
        raise BackendError(READONLY)
