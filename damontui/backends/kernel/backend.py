"""KernelBackend: Linux kernel DAMON (sysfs) behind the Backend protocol.

Parts: sysfs.py (the one read/write path), features.py (detection by reading),
reader.py / writer.py (files <-> model), inventory.py and ownership.py (whose
kdamond is it), slots.py (where ours goes, consent, parking), common.py (what
owning and observing share), owned.py and observer.py (snapshot assembly for an
owned and an observed kdamond), tuning.py (live tuning with rollback), poller.py
(the polling thread), launch.py (starting our kdamond).  This module puts the
owning backend together.

Modes
-----
* ``KernelBackend(targets, attrs, schemes, ...)`` starts damontui's OWN kdamond
  (vaddr for pids, fvaddr for pids with fixed ranges, paddr for physical memory)
  when ``start()`` is called, with a hidden ``stat`` snapshot scheme for region
  snapshots.  Live tuning stages files and writes ``commit``.  Adding a kdamond
  directory resets every stopped kdamond's staged configuration (the kernel
  re-creates them all), so when a stopped foreign kdamond stages something it is
  refused up front unless ``reset_stopped_foreign=("kdamond.N", ...)`` names each
  one (then their files are read before and written back after).
* ``KernelBackend.observe(index)`` returns a :class:`KernelObserver`
  (observer.py): any kdamond, read-only, and it never writes anything.
* ``KernelBackend.attach(index)`` re-attaches to a kdamond damontui started
  earlier (``keep_running=True``); ``KernelBackend.take_over(index, confirm)``
  makes a foreign kdamond ours, only with the exact confirmation.

Ownership rule: damontui never stops, commits to or rewrites a kdamond it did not
start (see ownership.py).  ``stop()`` turns off only our own kdamond.

Signals: the app owns signal handlers.  ``shutdown()`` takes no locks and may be
called from a signal handler (it stops the thread without joining it and turns
our kdamond off unless keep_running); the normal path is ``close()``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ... import procfs
from ...model import MonitoringAttrs, Scheme, Target
from ...procfs import memcg_mounts
from ..base import BackendError, ErrorCallback, SnapshotCallback
from .common import KernelBase, default_paddr_range, read_system_ram
from .exclusive import MODULE_ROOT, check_consent_names
from .inventory import KdamondInfo, read_kdamond, read_state
from .launch import Launcher
from .observer import KernelObserver
from .owned import OwnedSnapshots
from .ownership import Ownership, OwnershipRecord, confirmation_matches
from .reader import RegionArrays, read_total_bytes, read_tried_regions
from .slots import Slots, reason_kernel_unusable
from .sysfs import DEFAULT_ROOT, Sysfs, join
from .tuning import refresh_ms_for
from .unknown_files import note_unknown_files
from .writer import check_support, ops_for_targets, snapshot_schemes


class KernelBackend(Launcher, OwnedSnapshots, KernelBase):
    """Kernel DAMON via sysfs, a kdamond damontui owns (see module docstring)."""

    def __init__(
        self,
        targets: Sequence[Target] = (),
        attrs: MonitoringAttrs | None = None,
        schemes: Sequence[Scheme] = (),
        *,
        ops: str | None = None,
        root: str = DEFAULT_ROOT,
        sysfs: Sysfs | None = None,
        runtime_dir: str | None = None,
        proc_root: str = "/proc",
        iomem_path: str = "/proc/iomem",
        cgroup_root: str | None = None,
        kernel_release: str | None = None,
        keep_running: bool = False,
        refresh_ms: int | None = None,
        regions: bool = True,
        reset_stopped_foreign: Sequence[str] = (),
        module_root: str = MODULE_ROOT,
        turn_off_modules: Sequence[str] = (),
        addr_unit: int = 1,
        pause: bool = False,
    ) -> None:
        self._init_common(
            root,
            sysfs,
            runtime_dir,
            proc_root,
            iomem_path,
            cgroup_root,
            kernel_release,
            keep_running,
            refresh_ms,
            regions,
        )
        self._init_modules(module_root)
        if isinstance(turn_off_modules, str):
            turn_off_modules = (turn_off_modules,)
        # explicit consent, by module name, to turn an exclusive in-kernel DAMON user
        # off for this run (and back on at exit); see exclusive.py
        self._module_consent = check_consent_names(turn_off_modules)
        if isinstance(reset_stopped_foreign, str):
            reset_stopped_foreign = (reset_stopped_foreign,)
        # explicit consent, by exact name, to reset (and restore) these stopped
        # kdamonds damontui did not start when nr_kdamonds has to grow
        self._init_owned(frozenset(str(n).strip() for n in reset_stopped_foreign))
        self._ops = ops or ops_for_targets(targets)
        self._attrs = (attrs or MonitoringAttrs()).validate()
        self._targets = self._resolve_targets(targets)
        self._schemes = tuple(schemes)
        self._addr_unit, self._pause = addr_unit, pause  # context files (6.18, 7.2)
        self._notes.extend(
            check_support(
                self._features,
                self._ops,
                self._attrs,
                self._targets,
                self._schemes,
                addr_unit=addr_unit,
                pause=pause,
            )
        )
        self._exclusive_blockers()  # read before any write, as the slot plan below
        self._slots.plan()  # raises now if the kernel can't take a new kdamond

    # --- construction helpers --------------------------------------------------------

    def _init_owned(self, consent: frozenset[str] = frozenset()) -> None:
        self._record: OwnershipRecord | None = None
        self._launched = False
        self._lost = False
        self._shut = False
        self._taken_over = False
        self._refresh_active = False
        self._snap: list[Scheme] = []
        self._addr_unit, self._pause = 1, False
        self._slots = Slots(self._sysfs, self._root, self._store, consent, self._notes)

    @classmethod
    def _blank(
        cls,
        root: str = DEFAULT_ROOT,
        sysfs: Sysfs | None = None,
        runtime_dir: str | None = None,
        proc_root: str = "/proc",
        iomem_path: str = "/proc/iomem",
        cgroup_root: str | None = None,
        kernel_release: str | None = None,
        keep_running: bool = False,
        refresh_ms: int | None = None,
        regions: bool = True,
        module_root: str = MODULE_ROOT,
    ) -> KernelBackend:
        self = cls.__new__(cls)
        self._init_common(
            root,
            sysfs,
            runtime_dir,
            proc_root,
            iomem_path,
            cgroup_root,
            kernel_release,
            keep_running,
            refresh_ms,
            regions,
        )
        self._init_modules(module_root)
        self._init_owned()
        return self

    @staticmethod
    def observe(index: int, **kw: Any) -> KernelObserver:
        """View kdamond `index` read-only: nothing is ever written (any kdamond)."""
        return KernelObserver(index, **kw)

    @classmethod
    def attach(cls, index: int, **kw: Any) -> KernelBackend:
        """Re-attach to a kdamond damontui started (and left running) earlier."""
        self = cls._blank(**kw)
        info = read_kdamond(self._sysfs, self._root, index, self._store, self._proc_root)
        if info.ownership is not Ownership.OURS or info.record is None:
            raise BackendError(
                f"{info.name} is not damontui's to attach to ({info.owner_note}); "
                "use observe() to view it read-only"
            )
        self._adopt(info, info.record)
        return self

    @classmethod
    def take_over(
        cls, index: int, confirm_name: str, *, keep_running: bool = True, **kw: Any
    ) -> KernelBackend:
        """Make a foreign running kdamond ours.  `confirm_name` must be exactly its
        name ('kdamond.N') or its pid; then it is recorded as ours.  On stop() it is
        left running (keep_running=True) without damontui's snapshot scheme."""
        self = cls._blank(keep_running=keep_running, **kw)
        info = read_kdamond(self._sysfs, self._root, index, self._store, self._proc_root)
        if info.ownership is Ownership.OURS and info.record is not None:
            self._adopt(info, info.record)
            return self
        if not confirmation_matches(index, info.pid, confirm_name):
            raise BackendError(
                f"take over {info.name}: confirmation {confirm_name!r} does not match; type "
                f"exactly '{info.name}'"
                + (f" or its pid {info.pid}" if info.pid else "")
                + " to take it over"
            )
        if not info.running or not info.contexts:
            raise BackendError(
                f"take over {info.name}: it is not running with a context; "
                "start a new kdamond instead"
            )
        ctx = info.contexts[0]
        record = self._store.new_record(
            self._root, index, info.pid or -1, taken_over=True, user_schemes=len(ctx.schemes)
        )
        self._store.put(record)
        self._taken_over = True
        refreshed = read_kdamond(self._sysfs, self._root, index, self._store, self._proc_root)
        self._adopt(refreshed, record)
        self._notes.append(
            f"{info.name} taken over (confirmed as {confirm_name!r}); it is now damontui's"
        )
        note_unknown_files(self._sysfs, self._kd(), info.name, self._notes)
        if self._features.has("tried_regions"):
            with self._lock:
                self._set_snapshot_schemes(
                    snapshot_schemes(self._attrs, len(self._targets), self._features)
                )
                self._update_record()
        return self

    def _adopt(self, info: KdamondInfo, record: OwnershipRecord) -> None:
        ctx = info.contexts[0]
        self._index = info.index
        self._ops = ctx.operations
        self._attrs = ctx.attrs
        self._targets = ctx.targets
        self._schemes = tuple(
            s.scheme for s in ctx.schemes if s.index not in record.snapshot_schemes
        )
        self._snap = [s.scheme for s in ctx.schemes if s.index in record.snapshot_schemes]
        record.owner_pid = os.getpid()
        record.owner_start_ticks = procfs.start_ticks(os.getpid(), self._proc_root)
        self._record = record
        self._store.put(record)
        self._launched = True
        self._refresh_active = (info.refresh_ms or 0) > 0
        started = procfs.start_ticks(info.pid or -1, self._proc_root)
        self._t0 = self._monotonic_at_ticks(started)

    # --- Backend protocol ------------------------------------------------------------

    def start(self, on_snapshot: SnapshotCallback, on_error: ErrorCallback) -> None:
        if self._thread is not None and self._thread.is_alive():
            raise BackendError("the kernel backend is already running")
        if self._shut:
            raise BackendError("the kernel backend was shut down")
        self._start_thread(on_snapshot, on_error)
        self.launch()
        self._run_thread()

    def stop(self) -> None:
        """Stop polling; turn off OUR kdamond unless keep_running; safe to call twice."""
        self._stop_thread()
        if not self._launched or self._shut:
            return
        with self._lock:
            self._release()

    def shutdown(self) -> None:
        """Signal-handler safe: no locks, no join.  Turns our kdamond off (unless
        keep_running) and clears its record; idempotent."""
        self._stop.set()
        if self._shut or not self._launched:
            self._shut = True
            return
        self._shut = True
        if self._keep_running or self._index is None:
            return
        try:
            state, pid = read_state(self._sysfs, self._kd())
            if state == "on" and self._record is not None and pid == self._record.kdamond_pid:
                self._sysfs.write(join(self._kd(), "state"), "off")
            self._store.remove(self._root, self._index)
            for m in self._modules.turned_off:
                self._sysfs.write(m.enabled_path, "Y")
            self._modules.turned_off.clear()
        except (BackendError, OSError):
            pass

    def _release(self) -> None:
        if self._index is None:
            return
        if self._keep_running and self._modules.turned_off:
            names = ", ".join(m.title for m in self._modules.turned_off)
            self._error(
                f"{names} stays off while kdamond.{self._index} keeps running (the "
                "kernel refuses an exclusive start while any kdamond runs); turn it "
                "back on after stopping it: "
                + "; ".join(f"echo Y | sudo tee {m.enabled_path}" for m in self._modules.turned_off)
            )
            self._modules.turned_off.clear()
        if self._keep_running:
            if self._taken_over and self._snap and not self._lost and self._record is not None:
                try:
                    self._set_snapshot_schemes([])
                    self._record.snapshot_schemes = []
                    self._store.put(self._record)
                except BackendError as e:
                    self._error(f"removing damontui's snapshot scheme failed: {e}")
            return
        try:
            state, pid = read_state(self._sysfs, self._kd())
        except BackendError as e:
            # can't confirm it is still ours: leave it (never stop what may not be ours)
            self._store.remove(self._root, self._index)
            self._error(f"kdamond.{self._index} left as it is: its state could not be read ({e})")
            return
        if state == "on" and self._record is not None and pid == self._record.kdamond_pid:
            self._sysfs.write(join(self._kd(), "state"), "off")
        self._store.remove(self._root, self._index)
        self._launched = False
        self._slots.park(self._index)
        self._restore_modules()

    # --- scheme views ----------------------------------------------------------------

    def scheme_regions(self, scheme: int) -> RegionArrays:
        """Tried regions of one of the user's schemes (what the scheme view shows).
        Our kdamond refreshes them first."""
        with self._lock:
            if not self._lost and self._features.has("tried_regions"):
                self._command("update_schemes_tried_regions")
            return read_tried_regions(self._sysfs, self._sdir(scheme))

    def tried_bytes(self, scheme: int) -> int | None:
        """Total size of a scheme's tried regions (total_bytes, 6.6+)."""
        with self._lock:
            if self._lost or not self._features.supports_command("update_schemes_tried_bytes"):
                return read_total_bytes(self._sysfs, self._sdir(scheme))
            self._command("update_schemes_tried_bytes")
            total = read_total_bytes(self._sysfs, self._sdir(scheme))
            if total == 0:  # 6.12 can answer before it counted: ask once more
                self._stop.wait(min(1.0, 2 * self._attrs.aggr_us / 1e6))
                self._command("update_schemes_tried_bytes")
                total = read_total_bytes(self._sysfs, self._sdir(scheme))
            return total


__all__ = [
    "KernelBackend",
    "KernelObserver",
    "default_paddr_range",
    "memcg_mounts",
    "read_system_ram",
    "reason_kernel_unusable",
    "refresh_ms_for",
]
