"""KernelObserver: any kdamond, read-only. Config (re-read every few seconds), the
stats it last exposed and whatever tried regions it has; it never writes a file,
not even a state command, so it is safe on kdamonds damontui did not start."""

from __future__ import annotations

import time
from collections.abc import Sequence

from ...model import MonitoringAttrs, Scheme, SchemeStats, Snapshot, Target
from ...procfs import start_ticks
from ..base import BackendError, ErrorCallback, SnapshotCallback
from .common import OWNED_ONLY_PARAMS, KernelBase
from .inventory import ContextInfo, KdamondInfo, SchemeInfo, read_kdamond, read_state
from .reader import (
    RegionArrays,
    count_tried_regions,
    read_total_bytes,
    read_tried_regions,
    split_by_address_order,
)
from .sysfs import DEFAULT_ROOT, Sysfs, SysfsReadError, errno_name, join
from .unknown_files import note_unknown_files

CONFIG_REREAD_S = 5.0  # how often a foreign kdamond's config is re-read


class KernelObserver(KernelBase):
    """View kdamond `index` read-only (see module doc). Keyword arguments as for
    KernelBackend (paths and the kernel release; the others are accepted and unused)."""

    readonly = True

    def __init__(
        self,
        index: int,
        *,
        root: str = DEFAULT_ROOT,
        sysfs: Sysfs | None = None,
        runtime_dir: str | None = None,
        proc_root: str = "/proc",
        kernel_release: str | None = None,
        **unused: object,
    ) -> None:
        unknown = set(unused) - set(OWNED_ONLY_PARAMS)
        if unknown:
            raise TypeError(f"unexpected arguments: {', '.join(sorted(unknown))}")
        self._init_common(
            root,
            sysfs,
            runtime_dir,
            proc_root,
            "/proc/iomem",
            None,
            kernel_release,
            keep_running=True,
            refresh_ms=None,
            regions=True,
        )
        self._index = index
        self._shut = False
        self._observed: KdamondInfo | None = None
        self._observed_at = 0.0
        info = self._read_observed(force=True)
        ctx = info.contexts[0] if info.contexts else None
        if ctx is not None:
            self._ops = ctx.operations
            self._attrs = ctx.attrs
            self._targets = ctx.targets
            self._schemes = tuple(s.scheme for s in ctx.user_schemes)
        self._notes.append(f"view-only: {info.summary()}; damontui writes nothing to it")
        note_unknown_files(self._sysfs, self._kd(), info.name, self._notes)

    # --- Backend protocol: reads only --------------------------------------------------

    def start(self, on_snapshot: SnapshotCallback, on_error: ErrorCallback) -> None:
        self._start_thread(on_snapshot, on_error)
        if self._shut:
            raise BackendError("the kernel backend was shut down")
        self._run_thread()

    def shutdown(self) -> None:
        """Signal-handler safe: stops the thread without joining; nothing to turn off."""
        self._stop.set()
        self._shut = True

    def _refuse(self) -> BackendError:
        return BackendError(
            f"kdamond.{self._index} is not damontui's: view-only (damontui never changes a "
            "kdamond it did not start; take it over explicitly to change it)"
        )

    def set_attrs(self, attrs: MonitoringAttrs) -> None:
        raise self._refuse()

    def set_schemes(self, schemes: Sequence[Scheme]) -> None:
        raise self._refuse()

    def set_targets(self, targets: Sequence[Target]) -> None:
        raise self._refuse()

    def set_goal_current_value(self, scheme: int, goal: int, value: int) -> None:
        raise self._refuse()

    def scheme_regions(self, scheme: int) -> RegionArrays:
        """Tried regions of one scheme as its owner last exposed them (not refreshed)."""
        with self._lock:
            return read_tried_regions(self._sysfs, self._sdir(scheme))

    def tried_bytes(self, scheme: int) -> int | None:
        """Total size of a scheme's tried regions as last exposed (6.6+)."""
        with self._lock:
            return read_total_bytes(self._sysfs, self._sdir(scheme))

    # --- snapshots ---------------------------------------------------------------------

    def snapshot_once(self) -> Snapshot:
        with self._lock:
            return self._snapshot_observed()

    def _read_observed(self, force: bool = False) -> KdamondInfo:
        now = time.monotonic()
        if force or self._observed is None or now - self._observed_at > CONFIG_REREAD_S:
            assert self._index is not None
            info = read_kdamond(self._sysfs, self._root, self._index, self._store, self._proc_root)
            if self._observed is None or info.pid != self._observed.pid:
                self._t0 = self._monotonic_at_ticks(start_ticks(info.pid or -1, self._proc_root))
            self._observed, self._observed_at = info, now
        return self._observed

    def _snapshot_observed(self) -> Snapshot:
        """Config, the stats it last exposed and the tried regions already there."""
        info = self._read_observed()
        kd = self._kd()
        messages: list[str] = []
        try:
            state, pid = read_state(self._sysfs, kd)
        except SysfsReadError as e:  # unknown this time (e.g. EBUSY): not "stopped"
            state, pid = None, info.pid
            messages.append(f"{info.name}: state not readable this time ({errno_name(e.errno)})")
        if not info.contexts:
            return self._make_snapshot((), (), [f"{info.name} has no context"], pid, schemes=())
        ctx = info.contexts[0]
        self._attrs, self._targets = ctx.attrs, ctx.targets
        shown = ctx.user_schemes
        self._schemes = tuple(s.scheme for s in shown)
        stats: list[SchemeStats] = []
        for s in shown:
            effective = self._sysfs.exists(join(self._sdir(s.index), "quotas/effective_bytes"))
            stats.append(self._stats_for(s.index, effective))
        if state is not None and state != "on":
            messages.append(f"{info.name} is not running ({state})")
        source = self._region_scheme(ctx)
        parts = None
        if source is not None:
            regions = read_tried_regions(self._sysfs, self._sdir(source))
            if len(regions):
                parts = split_by_address_order(regions, max(1, len(ctx.targets)))
                messages.append(
                    f"regions: tried regions of {info.name} scheme {source} as "
                    "last exposed by its owner (damontui does not refresh them)"
                )
        if parts is None:
            messages.append(
                self._no_regions_reason()
                if not self._features.has("tried_regions")
                else f"no regions: {info.name} exposes no tried regions and "
                "damontui does not write to a kdamond it does not own"
            )
        messages.append(
            f"view-only: {info.name} is {info.ownership.value} "
            f"({info.owner_note}); stats as last exposed"
        )
        targets = self._target_snapshots(ctx.targets, parts)
        return self._make_snapshot(
            targets,
            stats,
            messages,
            pid if state in ("on", None) else None,
            attrs=ctx.attrs,
            schemes=self._schemes,
        )

    def _region_scheme(self, ctx: ContextInfo) -> int | None:
        """The scheme whose tried regions best describe all memory (a stat scheme that
        matches everything), or any scheme that has tried regions."""
        candidates = [s for s in ctx.schemes if s.nr_tried_regions > 0]
        current = []
        for s in ctx.schemes:  # the count may have changed since the config was read
            if count_tried_regions(self._sysfs, self._sdir(s.index)):
                current.append(s)
        candidates = current or candidates
        if not candidates:
            return None

        def score(s: SchemeInfo) -> tuple[bool, bool, bool, int]:
            ap = s.scheme.access_pattern
            everything = ap.sz.min == 0 and ap.nr_accesses.min == 0 and ap.age.min == 0
            return (
                getattr(s.scheme.action, "value", s.scheme.action) == "stat",
                everything,
                not s.scheme.filters,
                -s.index,
            )

        return max(candidates, key=score).index
