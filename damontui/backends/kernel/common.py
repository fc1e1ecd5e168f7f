"""What the owning kernel backend and the read-only observer share: the sysfs
paths of one kdamond, detected features, the Backend getters and the parts of a
snapshot that do not depend on who owns the kdamond (targets, stats, timing, CPU)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import replace

from ... import procfs
from ...model import (
    BackendInfo,
    MonitoringAttrs,
    Scheme,
    SchemeStats,
    Snapshot,
    Target,
    TargetKind,
    TargetSnapshot,
)
from ..base import BackendError
from .features import Features, detect_features
from .ownership import OwnershipStore
from .poller import Poller
from .reader import RegionArrays, read_stats, stats_file_names
from .sysfs import RealSysfs, Sysfs, join

# Keyword arguments of the owning backend that mean nothing to a read-only observer
# (accepted by it, so one set of paths opens either).
OWNED_ONLY_PARAMS = (
    "iomem_path",
    "cgroup_root",
    "keep_running",
    "refresh_ms",
    "regions",
    "module_root",
)


def read_system_ram(iomem_path: str = "/proc/iomem") -> list[tuple[int, int]]:
    """Top-level 'System RAM' ranges of /proc/iomem, end exclusive (parsed by
    procfs.system_ram_ranges; the errors here are the kernel backend's own)."""
    try:
        text = procfs.read_iomem(iomem_path)
    except OSError as e:
        raise BackendError(f"cannot read {iomem_path}: {e.strerror}") from None
    try:
        ranges = procfs.system_ram_ranges(text)
    except ValueError:  # addresses hidden (read as zero without root)
        ranges = []
    out = [(start, end) for start, end in ranges if end - start > 1]
    if not out:
        raise BackendError(
            f"no System RAM ranges readable in {iomem_path} (addresses read "
            "as zero without root); give the paddr target explicit ranges"
        )
    return out


def default_paddr_range(iomem_path: str = "/proc/iomem") -> tuple[int, int]:
    """The biggest System RAM range: paddr needs explicit regions since 6.12."""
    return max(read_system_ram(iomem_path), key=lambda r: r[1] - r[0])


class CpuMeter:
    """CPU percent of a kdamond thread from /proc/<pid>/stat utime+stime deltas."""

    def __init__(self, proc_root: str) -> None:
        self.proc_root = proc_root
        self.pid: int | None = None
        self.ticks = 0
        self.wall = 0.0
        self.hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def __call__(self, pid: int | None) -> float:
        if pid is None:
            self.pid = None
            return 0.0
        ticks, wall = procfs.cpu_ticks(pid, self.proc_root), time.monotonic()
        if ticks is None:
            return 0.0
        percent = 0.0
        if pid == self.pid and wall > self.wall:
            percent = 100.0 * (ticks - self.ticks) / self.hz / (wall - self.wall)
        self.pid, self.ticks, self.wall = pid, ticks, wall
        return max(0.0, percent)


class KernelBase(Poller):
    """One kdamond seen through sysfs: paths, features, getters, snapshot parts."""

    readonly = False

    def _init_common(
        self,
        root: str,
        sysfs: Sysfs | None,
        runtime_dir: str | None,
        proc_root: str,
        iomem_path: str,
        cgroup_root: str | None,
        kernel_release: str | None,
        keep_running: bool,
        refresh_ms: int | None,
        regions: bool,
    ) -> None:
        self._root = root
        self._sysfs: Sysfs = sysfs or RealSysfs()
        self._proc_root = proc_root
        self._iomem = iomem_path
        self._cgroup_root = cgroup_root
        self._store = OwnershipStore(runtime_dir, proc_root=proc_root)
        self._features: Features = detect_features(self._sysfs, root, kernel_release)
        if not self._features.sysfs_present:
            raise BackendError("; ".join(self._features.notes) + "; use --backend engine")
        self._notes: list[str] = list(self._features.notes)
        self._keep_running = keep_running
        self._refresh_ms_param = refresh_ms
        self._want_regions = regions
        self._index: int | None = None
        self._attrs = MonitoringAttrs()
        self._targets: tuple[Target, ...] = ()
        self._schemes: tuple[Scheme, ...] = ()
        self._ops = ""
        self._lock = threading.RLock()
        self._init_poller()
        self._seq = 0
        self._t0 = time.monotonic()
        self._cpu = CpuMeter(proc_root)
        self._stats_names: dict[int, tuple[str, ...]] = {}
        self._comm: dict[int | None, str] = {}

    # --- paths of our one kdamond --------------------------------------------------

    def _kd(self) -> str:
        assert self._index is not None
        return join(self._root, "kdamonds", self._index)

    def _ctx(self) -> str:
        return join(self._kd(), "contexts/0")

    def _sdir(self, index: int) -> str:
        return join(self._ctx(), "schemes", index)

    # --- Backend getters -------------------------------------------------------------

    @property
    def info(self) -> BackendInfo:
        where = f"kdamond.{self._index}" if self._index is not None else "new kdamond"
        source = f"{self._ops or '?'} ({where}{', view-only' if self.readonly else ''})"
        return BackendInfo(
            backend="kernel",
            source=source,
            kernel_version=self._features.kernel_release,
            features=self._features.labels(),
            notes=tuple(dict.fromkeys(self._notes)),
            readonly=self.readonly,
        )

    @property
    def features(self) -> Features:
        return self._features

    @property
    def index(self) -> int | None:
        return self._index

    def attrs(self) -> MonitoringAttrs:
        return self._attrs

    def schemes(self) -> tuple[Scheme, ...]:
        return self._schemes

    def targets(self) -> tuple[Target, ...]:
        return self._targets

    def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop_thread()

    def set_regions_enabled(self, enabled: bool) -> None:
        """Whether snapshots carry regions (False: totals only, fewer reads)."""
        self._want_regions = enabled

    # --- snapshot parts ----------------------------------------------------------------

    def _monotonic_at_ticks(self, ticks: int | None) -> float:
        """time.monotonic() value at a /proc start-time (boot ticks), or now."""
        if ticks is None:
            return time.monotonic()
        uptime = procfs.uptime_s(self._proc_root)
        if uptime is None:
            return time.monotonic()
        hz = os.sysconf("SC_CLK_TCK")
        return time.monotonic() - max(0.0, uptime - ticks / hz)

    def _stats_for(self, index: int, effective: bool) -> SchemeStats:
        sdir = self._sdir(index)
        names = self._stats_names.get(index)
        if names is None:
            names = self._stats_names[index] = stats_file_names(self._sysfs, sdir)
        return read_stats(self._sysfs, sdir, names, effective=effective)

    def _no_regions_reason(self) -> str:
        f = self._features
        if not f.has("tried_regions"):
            return (
                f"no regions: tried regions need {f.needs('tried_regions')} "
                f"(this kernel: {f.version_text})"
            )
        return "no regions"

    def _target_snapshots(
        self, targets: Sequence[Target], parts: list[RegionArrays] | None
    ) -> tuple[TargetSnapshot, ...]:
        out = []
        for i, t in enumerate(targets):
            if t.kind is TargetKind.PID and not t.name:
                if t.pid not in self._comm:
                    self._comm[t.pid] = procfs.proc_comm(t.pid, self._proc_root)
                t = replace(t, name=self._comm[t.pid])
            if parts is not None and i < len(parts):
                p = parts[i]
                out.append(
                    TargetSnapshot(
                        t, p.starts, p.ends, p.nr_accesses, p.ages, p.sz_filter_passed, p.probe_hits
                    )
                )
            else:
                out.append(TargetSnapshot(t))
        return tuple(out)

    def _make_snapshot(
        self,
        targets: Sequence[TargetSnapshot],
        stats: Sequence[SchemeStats],
        messages: Sequence[str],
        pid: int | None,
        attrs: MonitoringAttrs | None = None,
        schemes: tuple[Scheme, ...] | None = None,
    ) -> Snapshot:
        self._seq += 1
        return Snapshot(
            seq=self._seq,
            timestamp=time.time(),
            elapsed_us=int((time.monotonic() - self._t0) * 1e6),
            attrs=attrs or self._attrs,
            targets=tuple(targets),
            schemes=self._schemes if schemes is None else schemes,
            scheme_stats=tuple(stats),
            cpu_percent=self._cpu(pid),
            messages=tuple(messages),
        )
