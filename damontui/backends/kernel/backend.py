"""KernelBackend: Linux kernel DAMON (sysfs) behind the Backend protocol.

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
* ``KernelBackend.observe(index)`` views any kdamond read-only (config, last
  exposed stats, whatever tried regions it has) and never writes anything.
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

import errno
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

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
from ...model.units import format_size
from ..base import BackendError, ErrorCallback, SnapshotCallback
from ..engine.layout import system_ram_ranges
from .exclusive import (
    MODULE_ROOT,
    ExclusiveModule,
    ExclusiveModuleBusy,
    ModuleSwitch,
    check_consent_names,
    running_modules,
)
from .features import Features, detect_features
from .inventory import (
    KdamondInfo,
    describe_blockers,
    kdamond_states,
    read_kdamond,
    read_state,
    running_with_operations,
    stopped_with_staged_config,
)
from .own_features import detect_in_own
from .ownership import (
    Ownership,
    OwnershipRecord,
    OwnershipStore,
    confirmation_matches,
    proc_start_ticks,
    proc_stat_fields,
)
from .reader import (
    RegionArrays,
    count_tried_regions,
    fingerprint,
    proc_comm,
    read_config_tree,
    read_stats,
    read_total_bytes,
    read_tried_regions,
    read_tuned_intervals,
    split_by_address_order,
    stats_file_names,
)
from .sysfs import (
    BUSY_ATTEMPTS,
    BUSY_BUDGET_S,
    BUSY_CAUSE,
    BUSY_FIRST_DELAY_S,
    BUSY_MAX_DELAY_S,
    DEFAULT_ROOT,
    RealSysfs,
    Sysfs,
    SysfsError,
    SysfsReadError,
    SysfsWriteError,
    errno_name,
    join,
    read_int,
)
from .unknown_files import kept_note
from .writer import (
    Writer,
    check_support,
    memcg_paths,
    ops_for_targets,
    restore_tree,
    snapshot_schemes,
)

CONFIG_REREAD_S = 5.0  # how often view-only mode re-reads a foreign kdamond's config
MIN_TICK_S = 0.05


def refresh_ms_for(aggr_us: int) -> int:
    """The kdamond's refresh_ms for an aggregation interval: one per aggregation,
    kept within 100 ms .. 5 s."""
    return min(5000, max(100, aggr_us // 1000))


def read_system_ram(iomem_path: str = "/proc/iomem") -> list[tuple[int, int]]:
    """Top-level 'System RAM' ranges of /proc/iomem, end exclusive (parsed by the
    engine's system_ram_ranges; the errors here are the kernel backend's own)."""
    try:
        with open(iomem_path) as f:
            text = f.read()
    except OSError as e:
        raise BackendError(f"cannot read {iomem_path}: {e.strerror}") from None
    try:
        ranges = system_ram_ranges(text)
    except ValueError:  # addresses hidden (read as zero without root)
        ranges = []
    out = [(start, end) for start, end in ranges if end - start > 1]
    if not out:
        raise BackendError(f"no System RAM ranges readable in {iomem_path} (addresses read "
                           "as zero without root); give the paddr target explicit ranges")
    return out


def default_paddr_range(iomem_path: str = "/proc/iomem") -> tuple[int, int]:
    """The biggest System RAM range: paddr needs explicit regions since 6.12."""
    return max(read_system_ram(iomem_path), key=lambda r: r[1] - r[0])


def memcg_mounts(mounts_path: str = "/proc/mounts") -> list[str]:
    """Mount points of the memory controller: cgroup v1 'memory' mounts, else cgroup2."""
    v1, v2 = [], []
    try:
        with open(mounts_path) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        if len(fields) < 4:
            continue
        mountpoint, fstype, options = fields[1], fields[2], fields[3].split(",")
        if fstype == "cgroup" and "memory" in options:
            v1.append(mountpoint)
        elif fstype == "cgroup2":
            v2.append(mountpoint)
    return v1 or v2


class _CpuMeter:
    """CPU percent of a kdamond thread from /proc/<pid>/stat utime+stime deltas."""

    def __init__(self, proc_root: str) -> None:
        self.proc_root = proc_root
        self.pid: int | None = None
        self.ticks = 0
        self.wall = 0.0
        self.hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def _ticks(self, pid: int) -> int | None:
        try:
            fields = proc_stat_fields(pid, self.proc_root)
            return int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            return None

    def __call__(self, pid: int | None) -> float:
        if pid is None:
            self.pid = None
            return 0.0
        ticks, wall = self._ticks(pid), time.monotonic()
        if ticks is None:
            return 0.0
        percent = 0.0
        if pid == self.pid and wall > self.wall:
            percent = 100.0 * (ticks - self.ticks) / self.hz / (wall - self.wall)
        self.pid, self.ticks, self.wall = pid, ticks, wall
        return max(0.0, percent)


class KernelBackend:
    """Kernel DAMON via sysfs (see module docstring)."""

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
    ) -> None:
        self._init_common(root, sysfs, runtime_dir, proc_root, iomem_path, cgroup_root,
                          kernel_release, keep_running, refresh_ms, regions, module_root)
        self._mode = "new"
        if isinstance(turn_off_modules, str):
            turn_off_modules = (turn_off_modules,)
        # explicit consent, by module name, to turn an exclusive in-kernel DAMON user
        # off for this run (and back on at exit); see exclusive.py
        self._module_consent = check_consent_names(turn_off_modules)
        if isinstance(reset_stopped_foreign, str):
            reset_stopped_foreign = (reset_stopped_foreign,)
        # explicit consent, by exact name, to reset (and restore) these stopped
        # kdamonds damontui did not start when nr_kdamonds has to grow
        self._reset_consent = frozenset(str(n).strip() for n in reset_stopped_foreign)
        self._ops = ops or ops_for_targets(targets)
        self._attrs = (attrs or MonitoringAttrs()).validate()
        self._targets = self._resolve_targets(targets)
        self._schemes = tuple(schemes)
        self._notes.extend(check_support(self._features, self._ops, self._attrs,
                                         self._targets, self._schemes))
        self._plan_slot()  # raises now if the kernel can't take a new kdamond

    # --- construction helpers --------------------------------------------------------

    def _init_common(self, root, sysfs, runtime_dir, proc_root, iomem_path, cgroup_root,
                     kernel_release, keep_running, refresh_ms, regions,
                     module_root: str = MODULE_ROOT) -> None:
        self._root = root
        self._module_root = module_root
        self._module_consent: frozenset[str] = frozenset()
        self._sysfs: Sysfs = sysfs or RealSysfs()
        self._modules = ModuleSwitch(self._sysfs, module_root)
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
        self._record: OwnershipRecord | None = None
        self._readonly = False
        self._launched = False
        self._lost = False
        self._snap: list[Scheme] = []
        self._attrs = MonitoringAttrs()
        self._targets: tuple[Target, ...] = ()
        self._schemes: tuple[Scheme, ...] = ()
        self._ops = ""
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._latest: Snapshot | None = None
        self._on_snapshot: SnapshotCallback | None = None
        self._on_error: ErrorCallback | None = None
        self._seq = 0
        self._t0 = time.monotonic()
        self._cpu = _CpuMeter(proc_root)
        self._stats_names: dict[int, tuple[str, ...]] = {}
        self._shut = False
        self._refresh_active = False
        self._observed: KdamondInfo | None = None
        self._observed_at = 0.0
        self._reported: set[str] = set()
        self._comm: dict[int | None, str] = {}
        self._reset_consent: frozenset[str] = frozenset()

    @classmethod
    def _blank(cls, **kw) -> KernelBackend:
        self = cls.__new__(cls)
        params = dict(root=DEFAULT_ROOT, sysfs=None, runtime_dir=None, proc_root="/proc",
                      iomem_path="/proc/iomem", cgroup_root=None,
                      kernel_release=None, keep_running=False, refresh_ms=None, regions=True,
                      module_root=MODULE_ROOT)
        unknown = set(kw) - set(params)
        if unknown:
            raise TypeError(f"unexpected arguments: {', '.join(sorted(unknown))}")
        params.update(kw)
        self._init_common(**params)
        return self

    @classmethod
    def observe(cls, index: int, **kw) -> KernelBackend:
        """View kdamond `index` read-only: nothing is ever written (any kdamond)."""
        self = cls._blank(**kw)
        self._mode = "observe"
        self._readonly = True
        self._index = index
        info = self._read_observed(force=True)
        ctx = info.contexts[0] if info.contexts else None
        if ctx is not None:
            self._ops = ctx.operations
            self._attrs = ctx.attrs
            self._targets = ctx.targets
            self._schemes = tuple(s.scheme for s in ctx.user_schemes)
        self._notes.append(f"view-only: {info.summary()}; damontui writes nothing to it")
        self._note_unknown_files(info.name)
        self._launched = True
        return self

    @classmethod
    def attach(cls, index: int, **kw) -> KernelBackend:
        """Re-attach to a kdamond damontui started (and left running) earlier."""
        self = cls._blank(**kw)
        info = read_kdamond(self._sysfs, self._root, index, self._store, self._proc_root)
        if info.ownership is not Ownership.OURS or info.record is None:
            raise BackendError(f"{info.name} is not damontui's to attach to ({info.owner_note}); "
                               "use observe() to view it read-only")
        self._mode = "attach"
        self._adopt(info, info.record)
        return self

    @classmethod
    def take_over(cls, index: int, confirm_name: str, *, keep_running: bool = True,
                  **kw) -> KernelBackend:
        """Make a foreign running kdamond ours.  `confirm_name` must be exactly its
        name ('kdamond.N') or its pid; then it is recorded as ours.  On stop() it is
        left running (keep_running=True) without damontui's snapshot scheme."""
        self = cls._blank(keep_running=keep_running, **kw)
        info = read_kdamond(self._sysfs, self._root, index, self._store, self._proc_root)
        if info.ownership is Ownership.OURS and info.record is not None:
            self._mode = "attach"
            self._adopt(info, info.record)
            return self
        if not confirmation_matches(index, info.pid, confirm_name):
            raise BackendError(
                f"take over {info.name}: confirmation {confirm_name!r} does not match; type "
                f"exactly '{info.name}'" + (f" or its pid {info.pid}" if info.pid else "")
                + " to take it over")
        if not info.running or not info.contexts:
            raise BackendError(f"take over {info.name}: it is not running with a context; "
                               "start a new kdamond instead")
        ctx = info.contexts[0]
        record = self._store.new_record(self._root, index, info.pid or -1, taken_over=True,
                                        user_schemes=len(ctx.schemes))
        self._store.put(record)
        self._mode = "takeover"
        refreshed = read_kdamond(self._sysfs, self._root, index, self._store, self._proc_root)
        self._adopt(refreshed, record)
        self._notes.append(f"{info.name} taken over (confirmed as {confirm_name!r}); it is now "
                           "damontui's")
        self._note_unknown_files(info.name)
        if self._features.has("tried_regions"):
            with self._lock:
                self._set_snapshot_schemes(
                    snapshot_schemes(self._attrs, len(self._targets), self._features))
                self._update_record()
        return self

    def _note_unknown_files(self, name: str) -> None:
        """Tell the user which files of this kdamond damontui's model doesn't cover."""
        try:
            tree = read_config_tree(self._sysfs, self._kd())
        except SysfsError:
            return
        note = kept_note(name, tree)
        if note:
            self._notes.append(note)

    def _adopt(self, info: KdamondInfo, record: OwnershipRecord) -> None:
        ctx = info.contexts[0]
        self._index = info.index
        self._ops = ctx.operations
        self._attrs = ctx.attrs
        self._targets = ctx.targets
        self._schemes = tuple(s.scheme for s in ctx.schemes if s.index not in
                              record.snapshot_schemes)
        self._snap = [s.scheme for s in ctx.schemes if s.index in record.snapshot_schemes]
        record.owner_pid = os.getpid()
        record.owner_start_ticks = proc_start_ticks(os.getpid(), self._proc_root)
        self._record = record
        self._store.put(record)
        self._launched = True
        self._refresh_active = (info.refresh_ms or 0) > 0
        started = proc_start_ticks(info.pid or -1, self._proc_root)
        self._t0 = self._monotonic_at_ticks(started)

    def _monotonic_at_ticks(self, ticks: int | None) -> float:
        """time.monotonic() value at a /proc start-time (boot ticks), or now."""
        if ticks is None:
            return time.monotonic()
        try:
            with open(f"{self._proc_root}/uptime") as f:
                uptime = float(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return time.monotonic()
        hz = os.sysconf("SC_CLK_TCK")
        return time.monotonic() - max(0.0, uptime - ticks / hz)

    def _resolve_targets(self, targets: Sequence[Target]) -> tuple[Target, ...]:
        out = []
        for i, t in enumerate(targets):
            if t.kind is TargetKind.PADDR and not t.ranges:
                out.append(replace(t, ranges=(default_paddr_range(self._iomem),)))
                continue
            if t.kind is TargetKind.PID:
                if t.pid is None or t.pid <= 0:
                    raise BackendError(f"targets[{i}]: a pid target needs a pid")
                if not os.path.exists(f"{self._proc_root}/{t.pid}"):
                    raise BackendError(f"targets[{i}]: process {t.pid} does not exist")
            out.append(t)
        return tuple(out)

    # --- where our kdamond goes ------------------------------------------------------

    def _exclusive_blockers(self) -> list[ExclusiveModule]:
        """Exclusive in-kernel DAMON users that are on (DAMON_STAT, ...), read before
        any write: the kernel refuses every sysfs start while one runs.  Raises
        unless the user consented to turning each one off; returns those."""
        running = running_modules(self._sysfs, self._module_root)
        if any(m.name not in self._module_consent for m in running):
            raise ExclusiveModuleBusy(running)
        return running

    def _plan_slot(self) -> int | None:
        """A parked (stopped) directory of ours to reuse, or None to add one.

        Adding one means writing nr_kdamonds, which the kernel refuses (EBUSY) while
        ANY kdamond runs: detect that here, before writing anything.  Exclusive
        in-kernel DAMON users (DAMON_STAT, ...) are checked first."""
        read_int(self._sysfs, join(self._root, "kdamonds/nr_kdamonds"))  # root only
        self._exclusive_blockers()
        states = kdamond_states(self._sysfs, self._root)
        parked = reusable_parked(self._sysfs, self._root, self._store, states, prune=True)
        if parked is not None:
            return parked
        self._refuse_running(states)
        self._refuse_unconsented_resets(states)
        return None

    def _refuse_running(self, states, detail: str = "") -> None:
        """Adding a kdamond: the kernel refuses nr_kdamonds (EBUSY) while any runs."""
        running = running_with_operations(self._sysfs, self._root, states)
        if running:
            raise BackendError(
                "cannot start a kernel kdamond: the kernel refuses to add one (writing "
                "nr_kdamonds fails with EBUSY) while any kdamond runs, and "
                f"{describe_blockers(running)} {'is' if len(running) == 1 else 'are'} running"
                f"{detail}. damontui does not stop kdamonds it did not start. Use the "
                "user-space engine (--backend engine), or view the running one read-only "
                f"(observe kdamond.{running[0][0]})")

    def _refuse_unconsented_resets(self, states) -> list[int]:
        """Adding a kdamond re-creates every kdamond directory: a stopped kdamond that
        damontui did not start and that stages a configuration would lose it.  Refuse
        (before any write) unless the user named each one in reset_stopped_foreign.
        Returns the indices to restore after growing (those consented to)."""
        staged = stopped_with_staged_config(self._sysfs, self._root, states)
        missing = [(i, ops) for i, ops in staged if f"kdamond.{i}" not in self._reset_consent]
        if missing:
            what = "; ".join(f"kdamond.{i} (stopped, {ops or 'no operations set'}) has a staged "
                             "configuration that adding a kdamond would reset"
                             for i, ops in missing)
            names = ", ".join(f'"kdamond.{i}"' for i, _ in staged)
            raise BackendError(
                f"cannot start a kernel kdamond without touching kdamonds damontui did not "
                f"start: {what} (writing nr_kdamonds makes the kernel re-create every kdamond "
                "directory with defaults). damontui never rewrites a kdamond it did not start "
                "without consent, and nothing was written. Use the user-space engine "
                "(--backend engine), or consent explicitly with "
                f"reset_stopped_foreign=({names},): damontui then reads their staged "
                "configuration first and writes it back after adding its kdamond")
        return [i for i, _ in staged]

    def _grow(self) -> int:
        """Add one kdamond directory.  The kernel re-creates EVERY kdamond directory on
        an nr_kdamonds write: stopped kdamonds that stage a configuration were refused
        in _plan_slot unless consented to; those are read first and written back."""
        states = kdamond_states(self._sysfs, self._root)
        self._refuse_running(states)  # things may have changed since the constructor
        consented = self._refuse_unconsented_resets(states)
        saved = {i: read_config_tree(self._sysfs, join(self._root, "kdamonds", i))
                 for i in consented}
        n = len(states)
        self._write_nr_kdamonds(n + 1)
        for i, tree in saved.items():
            kd = join(self._root, "kdamonds", i)
            restore_tree(self._sysfs, kd, tree)
            if read_config_tree(self._sysfs, kd) != tree:
                self._notes.append(f"kdamond.{i}: its staged (stopped) configuration could not "
                                   "be re-created exactly after nr_kdamonds grew")
        if saved:
            names = ", ".join(f"kdamond.{i}" for i in saved)
            self._notes.append(f"{names} (stopped, reset with your consent) re-created with "
                               "their staged configuration: the kernel rebuilds every kdamond "
                               "directory when nr_kdamonds changes")
        return n

    def _write_nr_kdamonds(self, n: int) -> None:
        """Write nr_kdamonds.  Its EBUSY means "a kdamond runs" OR contention on
        DAMON's sysfs lock: re-read the states to tell which, retry only the latter
        (bounded), and report the real cause."""
        path = join(self._root, "kdamonds/nr_kdamonds")
        sleep = getattr(self._sysfs, "_sleep", time.sleep)
        t0 = time.monotonic()
        delay, attempt = BUSY_FIRST_DELAY_S, 1
        while True:
            try:
                self._sysfs.write(path, n)
                return
            except SysfsWriteError as e:
                if e.errno != errno.EBUSY:
                    raise
                states = kdamond_states(self._sysfs, self._root)
                self._refuse_running(states, detail=" (it was started after damontui checked)")
                elapsed = time.monotonic() - t0
                if attempt >= BUSY_ATTEMPTS or elapsed + delay > BUSY_BUDGET_S:
                    raise BackendError(
                        f"writing {str(n)!r} to {path} failed: EBUSY (tried {attempt} times "
                        f"over {elapsed:.2f} s) although no kdamond runs — {BUSY_CAUSE}; "
                        "try again when it is done") from None
            sleep(delay)
            attempt += 1
            delay = min(BUSY_MAX_DELAY_S, delay * 2)

    # --- launching ---------------------------------------------------------------------

    def _kd(self) -> str:
        assert self._index is not None
        return join(self._root, "kdamonds", self._index)

    def _ctx(self) -> str:
        return join(self._kd(), "contexts/0")

    def _sdir(self, index: int) -> str:
        return join(self._ctx(), "schemes", index)

    def _refresh_value(self) -> int:
        if self._refresh_ms_param is not None:
            return max(0, self._refresh_ms_param)
        return refresh_ms_for(self._attrs.aggr_us)

    def _memcg_roots(self) -> list[str] | None:
        """Where memcg paths are looked up: the given cgroup_root, else the memory
        controller's mounts in /proc/mounts (v1 'memory', else cgroup2); None if
        there is none to look in."""
        if self._cgroup_root is not None:
            return [self._cgroup_root] if os.path.isdir(self._cgroup_root) else None
        return memcg_mounts(f"{self._proc_root}/mounts") or None

    def _missing_memcgs(self, schemes: Sequence[Scheme]) -> tuple[list[str], list[str] | None]:
        """(['scheme 0 filter 1: /foo', ...] that don't exist, the roots looked in)."""
        roots = self._memcg_roots()
        missing = []
        for item in memcg_paths(schemes):
            path = item.split(": ", 1)[1]
            if path.strip("/") == "":
                continue  # the root memcg always exists
            if roots is None or not any(os.path.isdir(join(r, path)) for r in roots):
                missing.append(item)
        return missing, roots

    def _on_hint(self, schemes: Sequence[Scheme]) -> str | None:
        paths = memcg_paths(schemes)
        if not paths:
            return None
        missing, roots = self._missing_memcgs(schemes)
        if missing and roots is not None:
            return f"a memcg filter path doesn't exist ({'; '.join(missing)})"
        return f"a memcg filter path probably doesn't exist ({'; '.join(paths)})"

    def _refuse_missing_memcgs(self, schemes: Sequence[Scheme]) -> None:
        """Before a commit: some kernels (6.12) accept a commit naming a memcg that
        doesn't exist and then the kdamond dies; refuse it here instead."""
        missing, roots = self._missing_memcgs(schemes)
        if not missing:
            return
        where = (f"looked under {', '.join(roots)}" if roots is not None
                 else "no cgroup filesystem with the memory controller is mounted")
        raise BackendError(
            f"memcg path does not exist: {'; '.join(missing)} ({where}); not committed - "
            "the running kdamond keeps its previous configuration (a kernel can accept such "
            "a commit and then stop the kdamond)")

    def _write_state(self, command: str, schemes: Sequence[Scheme] | None = None) -> None:
        """Write a command to OUR kdamond's state file (memcg hint for on/commit)."""
        hint = None
        if command in ("on", "commit"):
            hint = self._on_hint(schemes if schemes is not None else self._schemes)
        self._sysfs.write(join(self._kd(), "state"), command, hint)

    def launch(self) -> None:
        """Create, configure and turn on our kdamond (start() calls this)."""
        with self._lock:
            if self._launched:
                return
            blockers = self._exclusive_blockers()  # before any write
            if blockers:  # consented: turned off now, back on when we stop
                self._modules.turn_off(blockers)
                self._notes.append(
                    ", ".join(m.title for m in blockers) + " turned off for this run (you "
                    "asked with --turn-off); damontui turns it back on when it stops")
            try:
                self._launch_locked()
            except BackendError:
                self._restore_modules()
                raise

    def _launch_locked(self) -> None:
        """launch() under the lock, after the exclusive modules were dealt with."""
        slot = self._plan_slot()
        index = slot if slot is not None else self._grow()
        self._index = index
        kd = self._kd()
        if self._features.inferred:
            self._detect_in_own(kd)  # our own directory: every level can be read now
        writer = Writer(self._sysfs, self._features)
        self._snap = (snapshot_schemes(self._attrs, len(self._targets), self._features)
                      if self._features.has("tried_regions") else [])
        if not self._snap:
            self._notes.append(f"no region snapshots: tried regions need "
                               f"{self._features.needs('tried_regions')} (this kernel: "
                               f"{self._features.version_text}); only scheme stats are shown")
        try:
            writer.w(join(kd, "contexts/nr_contexts"), 1)
            writer.stage_context(self._ctx(), self._ops, self._attrs, self._targets,
                                 list(self._schemes) + self._snap)
            if self._features.has("refresh_ms") and self._sysfs.exists(
                    join(kd, "refresh_ms")):
                value = self._refresh_value()
                writer.w(join(kd, "refresh_ms"), value)
                self._refresh_active = value > 0
            self._notes.extend(writer.notes)
            self._write_state("on")
        except BackendError as e:
            self._park()  # our stopped dir: reused by the next start
            running = running_modules(self._sysfs, self._module_root)
            if running:  # turned on between our check and `on`
                raise ExclusiveModuleBusy(running) from e
            raise
        try:
            pid = read_int(self._sysfs, join(kd, "pid"))
        except SysfsError:
            pid = -1  # not readable right now: the first snapshot records it
        n = len(self._schemes)
        try:  # lets a later run reuse this dir once the user turned it off
            fp: str | None = fingerprint(read_config_tree(self._sysfs, kd))
        except SysfsError:
            fp = None
        self._record = self._store.new_record(
            self._root, index, pid, user_schemes=n,
            snapshot_schemes=list(range(n, n + len(self._snap))), fingerprint=fp)
        self._store.put(self._record)
        self._launched = True
        self._t0 = time.monotonic()
        if self._snap:
            self._notes.append(
                f"damontui's snapshot scheme{'s' if len(self._snap) > 1 else ''} (stat, "
                f"hidden from the scheme list): kdamond.{index} scheme "
                + ", ".join(str(i) for i in range(n, n + len(self._snap))))

    def _detect_in_own(self, kd: str) -> None:
        """Replace version-table guesses by what damontui's own kdamond directory
        shows (own_features.py); re-check the request against what it found."""
        try:
            self._sysfs.write(join(kd, "contexts/nr_contexts"), 1)
            for rel in ("contexts/0/targets/nr_targets", "contexts/0/schemes/nr_schemes"):
                if read_int(self._sysfs, join(kd, rel)) == 0:
                    self._sysfs.write(join(kd, rel), 1)
            found = detect_in_own(self._sysfs, self._root, kd, self._features.kernel_release)
        except SysfsReadError as e:
            self._notes.append(f"features stay inferred from the kernel version: reading "
                               f"damontui's own kdamond.{self._index} failed ({e})")
            return
        except BackendError:
            self._park()
            raise
        guessed = sorted(self._features.inferred - found.inferred)
        self._features = found
        self._notes = [n for n in self._notes if not n.startswith(("inferred from kernel",
                                                                   "available operations"))]
        self._notes.extend(found.notes)
        if guessed:
            self._notes.append(f"features detected in damontui's own kdamond.{self._index} "
                               f"(were inferred): {', '.join(guessed)}")
        try:
            check_support(self._features, self._ops, self._attrs, self._targets,
                          self._schemes)
        except BackendError:
            self._park()
            raise

    def _park(self) -> None:
        """Leave a parked record for our stopped directory so the next start reuses it
        (no nr_kdamonds write needed, even while other kdamonds run)."""
        if self._index is None:
            return
        try:
            fp = fingerprint(read_config_tree(self._sysfs, self._kd()))
        except SysfsError:
            self._store.remove(self._root, self._index)
            return
        rec = OwnershipRecord(self._root, self._index, -1, os.getpid(), time.time(),
                              parked=True, fingerprint=fp)
        try:
            self._store.put(rec)
        except BackendError:
            pass

    # --- Backend protocol ------------------------------------------------------------

    @property
    def info(self) -> BackendInfo:
        where = f"kdamond.{self._index}" if self._index is not None else "new kdamond"
        source = f"{self._ops or '?'} ({where}{', view-only' if self._readonly else ''})"
        return BackendInfo(
            backend="kernel",
            source=source,
            kernel_version=self._features.kernel_release,
            features=self._features.labels(),
            notes=tuple(dict.fromkeys(self._notes)),
            readonly=self._readonly,
        )

    @property
    def features(self) -> Features:
        return self._features

    @property
    def index(self) -> int | None:
        return self._index

    @property
    def readonly(self) -> bool:
        return self._readonly

    def start(self, on_snapshot: SnapshotCallback, on_error: ErrorCallback) -> None:
        if self._thread is not None and self._thread.is_alive():
            raise BackendError("the kernel backend is already running")
        if self._shut:
            raise BackendError("the kernel backend was shut down")
        self._on_snapshot, self._on_error = on_snapshot, on_error
        self.launch()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="damontui-kernel", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling; turn off OUR kdamond unless keep_running; safe to call twice."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        if self._readonly or not self._launched or self._shut:
            return
        with self._lock:
            self._release()

    def close(self) -> None:
        self.stop()

    def shutdown(self) -> None:
        """Signal-handler safe: no locks, no join.  Turns our kdamond off (unless
        keep_running) and clears its record; idempotent."""
        self._stop.set()
        if self._shut or self._readonly or not self._launched:
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

    def _restore_modules(self) -> None:
        """Turn the exclusive modules we turned off (with consent) back on."""
        for problem in self._modules.restore():
            self._error(problem)

    def _release(self) -> None:
        if self._index is None:
            return
        if self._keep_running and self._modules.turned_off:
            names = ", ".join(m.title for m in self._modules.turned_off)
            self._error(f"{names} stays off while kdamond.{self._index} keeps running (the "
                        "kernel refuses an exclusive start while any kdamond runs); turn it "
                        "back on after stopping it: "
                        + "; ".join(f"echo Y | sudo tee {m.enabled_path}"
                                    for m in self._modules.turned_off))
            self._modules.turned_off.clear()
        if self._keep_running:
            if self._mode == "takeover" and self._snap and not self._lost:
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
            self._error(f"kdamond.{self._index} left as it is: its state could not be read "
                        f"({e})")
            return
        if state == "on" and self._record is not None and pid == self._record.kdamond_pid:
            self._sysfs.write(join(self._kd(), "state"), "off")
        self._store.remove(self._root, self._index)
        self._launched = False
        self._park()
        self._restore_modules()

    def latest(self) -> Snapshot | None:
        return self._latest

    def attrs(self) -> MonitoringAttrs:
        return self._attrs

    def schemes(self) -> tuple[Scheme, ...]:
        return self._schemes

    def targets(self) -> tuple[Target, ...]:
        return self._targets

    # --- live tuning -----------------------------------------------------------------

    def _check_writable(self) -> None:
        if self._readonly:
            raise BackendError(
                f"kdamond.{self._index} is not damontui's: view-only (damontui never changes a "
                "kdamond it did not start; take it over explicitly to change it)")
        if self._lost:
            raise BackendError(f"kdamond.{self._index} was stopped outside damontui")

    def set_attrs(self, attrs: MonitoringAttrs) -> None:
        self._check_writable()
        attrs.validate()
        notes = check_support(self._features, self._ops, attrs, self._targets, self._schemes)
        with self._lock:
            if not self._launched:
                self._attrs = attrs
                self._notes.extend(notes)
                return
            old_attrs, old_snap = self._attrs, self._snap

            def stage(a: MonitoringAttrs, snap: list[Scheme]) -> None:
                w = Writer(self._sysfs, self._features)
                w.stage_attrs(self._ctx(), a)
                base = len(self._schemes)
                for k, s in enumerate(snap):
                    if s.apply_interval_us and self._sysfs.exists(
                            join(self._sdir(base + k), "apply_interval_us")):
                        w.w(join(self._sdir(base + k), "apply_interval_us"), s.apply_interval_us)
                if self._refresh_active and self._refresh_ms_param is None:
                    w.w(join(self._kd(), "refresh_ms"), refresh_ms_for(a.aggr_us))

            new_snap = [replace(s, apply_interval_us=attrs.aggr_us if s.apply_interval_us else 0)
                        for s in self._snap]
            self._apply(lambda: stage(attrs, new_snap), lambda: stage(old_attrs, old_snap))
            self._attrs, self._snap = attrs, new_snap
            self._notes.extend(notes)

    def set_schemes(self, schemes: Sequence[Scheme]) -> None:
        self._check_writable()
        schemes = tuple(schemes)
        notes = check_support(self._features, self._ops, self._attrs, self._targets, schemes)
        with self._lock:
            if not self._launched:
                self._schemes = schemes
                self._notes.extend(notes)
                return
            self._refuse_missing_memcgs(schemes)
            old = self._schemes
            goals_only = (
                len(old) == len(schemes)
                and self._features.supports_command("commit_schemes_quota_goals")
                and all(replace(a, quotas=replace(a.quotas, goals=())) ==
                        replace(b, quotas=replace(b.quotas, goals=()))
                        for a, b in zip(old, schemes, strict=True))
                and old != schemes
            )
            if goals_only:
                def stage_goals(ss: Sequence[Scheme]) -> None:
                    w = Writer(self._sysfs, self._features)
                    for i, s in enumerate(ss):
                        w.stage_goals(join(self._sdir(i), "quotas"), s.quotas.goals)

                self._apply(lambda: stage_goals(schemes), lambda: stage_goals(old),
                            command="commit_schemes_quota_goals", schemes=schemes)
            else:
                def stage(ss: Sequence[Scheme]) -> None:
                    Writer(self._sysfs, self._features).stage_schemes(
                        self._ctx(), list(ss) + self._snap)

                self._apply(lambda: stage(schemes), lambda: stage(old), schemes=schemes)
            self._schemes = schemes
            self._stats_names.clear()
            self._notes.extend(notes)
            self._update_record()

    def set_targets(self, targets: Sequence[Target]) -> None:
        self._check_writable()
        ops = ops_for_targets(targets)
        if self._launched and ops != self._ops:
            raise BackendError(f"changing operations from {self._ops} to {ops} needs a new "
                               "kdamond: stop and start monitoring again")
        new_targets = self._resolve_targets(targets)
        check_support(self._features, ops, self._attrs, new_targets, self._schemes)
        with self._lock:
            if not self._launched:
                self._targets, self._ops = new_targets, ops
                return
            old_targets, old_snap = self._targets, self._snap
            new_snap = (snapshot_schemes(self._attrs, len(new_targets), self._features)
                        if self._snap else [])
            removed = self._removed_indices(old_targets, new_targets)
            if removed and self._features.has("obsolete_target"):
                self._remove_targets_obsolete(removed, new_targets, new_snap)
            else:
                def stage(ts: Sequence[Target], snap: list[Scheme]) -> None:
                    w = Writer(self._sysfs, self._features)
                    w.stage_targets(self._ctx(), self._ops, ts)
                    if snap != self._snap or len(snap) != len(old_snap):
                        w.stage_schemes(self._ctx(), list(self._schemes) + snap)

                self._apply(lambda: stage(new_targets, new_snap),
                            lambda: stage(old_targets, old_snap))
            self._targets, self._snap = new_targets, new_snap
            self._update_record()

    @staticmethod
    def _removed_indices(old: Sequence[Target], new: Sequence[Target]) -> list[int] | None:
        """Indices of `old` dropped to get `new` (order kept), or None if `new` is not
        `old` with some targets removed."""
        removed, j = [], 0
        for i, t in enumerate(old):
            if j < len(new) and new[j] == t:
                j += 1
            else:
                removed.append(i)
        return removed if j == len(new) and removed else None

    def _remove_targets_obsolete(self, removed: list[int], new_targets: tuple[Target, ...],
                                 new_snap: list[Scheme]) -> None:
        """6.19+: mark targets obsolete and commit (the kernel removes them from the
        middle keeping the others' monitoring results), then make the staged files
        describe the kernel's new list again."""
        troot = join(self._ctx(), "targets")
        try:
            for i in removed:
                self._sysfs.write(join(troot, i, "obsolete_target"), "Y")
            self._write_state("commit")
        except BackendError as e:
            for i in removed:
                try:
                    self._sysfs.write(join(troot, i, "obsolete_target"), "N")
                except BackendError:
                    pass
            raise BackendError(f"{e}. Nothing was changed: the running kdamond keeps its "
                               "previous targets") from None
        w = Writer(self._sysfs, self._features)
        w.stage_targets(self._ctx(), self._ops, new_targets)
        if new_snap != self._snap:
            w.stage_schemes(self._ctx(), list(self._schemes) + new_snap)
            self._write_state("commit")

    def _set_snapshot_schemes(self, snap: list[Scheme]) -> None:
        """Replace our snapshot schemes keeping the user's scheme directories exactly
        (read and written back file by file: nr_schemes re-creates every scheme)."""
        sroot = join(self._ctx(), "schemes")
        n = len(self._schemes)
        saved = {i: read_config_tree(self._sysfs, join(sroot, i)) for i in range(n)}
        w = Writer(self._sysfs, self._features)
        w.w(join(sroot, "nr_schemes"), n + len(snap))
        for i, tree in saved.items():
            restore_tree(self._sysfs, join(sroot, i), tree)
        for k, s in enumerate(snap):
            w.stage_scheme(join(sroot, n + k), s, n + k)
        self._write_state("commit")
        self._snap = snap

    def _update_record(self) -> None:
        if self._record is None:
            return
        n = len(self._schemes)
        self._record.user_schemes = n
        self._record.snapshot_schemes = list(range(n, n + len(self._snap)))
        try:
            self._store.put(self._record)
        except BackendError as e:
            self._error(str(e))

    def _apply(self, stage: Callable[[], None], restage_old: Callable[[], None],
               command: str = "commit", schemes: Sequence[Scheme] | None = None) -> None:
        """Stage, then commit; on failure restage the previous config (and commit it
        again, so older kernels that applied part of it go back) and report."""
        if not self._features.supports_command("commit"):
            self._restart_with(stage, restage_old)
            return
        try:
            stage()
            self._write_state(command, schemes)
        except BackendError as e:
            msg = str(e)
            try:
                restage_old()
                if command == "commit" and isinstance(e, SysfsWriteError) and (
                        e.path.endswith("/state")):
                    self._write_state("commit")
            except BackendError as e2:
                msg += f"; restoring the previous staged configuration failed too: {e2}"
            raise BackendError(f"{msg}. Nothing was changed: the running kdamond keeps its "
                               "previous configuration") from None

    def _restart_with(self, stage: Callable[[], None], restage_old: Callable[[], None]) -> None:
        """Kernels without 'commit' (5.18): off, restage, on (monitoring restarts)."""
        self._write_state("off")
        try:
            stage()
            self._write_state("on")
        except BackendError as e:
            restage_old()
            self._write_state("on")
            raise BackendError(f"{e}. The previous configuration was restarted") from None
        finally:
            pid = read_int(self._sysfs, join(self._kd(), "pid"), -1)
            if self._record is not None:
                self._record.kdamond_pid = pid
                self._record.kdamond_start_ticks = proc_start_ticks(pid, self._proc_root)
                self._store.put(self._record)
        self._notes.append("this kernel has no 'commit' (needs 5.19+): changes restart "
                           "monitoring")

    def set_goal_current_value(self, scheme: int, goal: int, value: int) -> None:
        """Feed a user_input quota goal (commit_schemes_quota_goals, 6.8+)."""
        self._check_writable()
        s = self._schemes[scheme]
        goals = list(s.quotas.goals)
        goals[goal] = replace(goals[goal], current_value=value)
        new = list(self._schemes)
        new[scheme] = replace(s, quotas=replace(s.quotas, goals=tuple(goals)))
        self.set_schemes(new)

    # --- snapshots -------------------------------------------------------------------

    def set_regions_enabled(self, enabled: bool) -> None:
        """Whether snapshots carry regions (False: totals only, fewer reads)."""
        self._want_regions = enabled

    def snapshot_once(self) -> Snapshot:
        """Read one snapshot now (the polling thread calls this every interval)."""
        with self._lock:
            if self._mode == "observe" or self._readonly:
                snap = self._snapshot_observed()
            else:
                snap = self._snapshot_owned()
        return snap

    def _command(self, command: str) -> None:
        self._sysfs.write(join(self._kd(), "state"), command)

    def _stats_for(self, index: int, effective: bool) -> SchemeStats:
        sdir = self._sdir(index)
        names = self._stats_names.get(index)
        if names is None:
            names = self._stats_names[index] = stats_file_names(self._sysfs, sdir)
        return read_stats(self._sysfs, sdir, names, effective=effective)

    def _snapshot_owned(self) -> Snapshot:
        messages: list[str] = []
        if self._lost:
            return self._make_snapshot((), (), [f"kdamond.{self._index} is no longer running"],
                                       None)
        try:
            state, pid = read_state(self._sysfs, self._kd())
        except SysfsReadError as e:
            # Unknown is not "stopped": a read that failed (e.g. EBUSY while another
            # process keeps DAMON sysfs busy) never ends monitoring.  Only a state
            # read that succeeds and says so does.
            state, pid = None, self._record.kdamond_pid if self._record else None
            messages.append(f"kdamond.{self._index}: state not readable this time "
                            f"({errno_name(e.errno)}); still monitoring")
        if (state == "on" and pid and self._record is not None
                and self._record.kdamond_pid <= 0):
            self._record_pid(pid)  # launch() could not read it
        if state is not None and (state != "on" or self._record is None
                                  or pid != self._record.kdamond_pid):
            self._lost = True
            self._store.remove(self._root, self._index)
            if state != "on":
                how = f"state {state}"
            elif pid is None:
                how = "running without a pid"
            else:
                how = f"now pid {pid}: restarted by someone else"
            self._error(f"kdamond.{self._index} was stopped outside damontui ({how}); "
                        "monitoring ended")
            return self._make_snapshot((), (), [f"kdamond.{self._index} is no longer running"],
                                       None)
        f = self._features
        regions_by_target: list[RegionArrays] | None = None
        if self._snap:
            base = len(self._schemes)
            if self._want_regions:
                self._command("update_schemes_tried_regions")
                parts = self._read_snapshot_regions(base)
                if len(parts) == len(self._targets):
                    regions_by_target = parts
                else:
                    regions_by_target = split_by_address_order(parts[0], len(self._targets))
                    if len(self._targets) > 1:
                        messages.append("regions split between targets by address order "
                                        "(this kernel has no target filters)")
            elif f.supports_command("update_schemes_tried_bytes"):
                self._command("update_schemes_tried_bytes")
                total = sum(read_total_bytes(self._sysfs, self._sdir(base + k)) or 0
                            for k in range(len(self._snap)))
                messages.append(f"monitored: {format_size(total)} (regions not read)")
        else:
            messages.append(self._no_regions_reason())
        has_goals = any(s.quotas.goals for s in self._schemes)
        tuning = self._attrs.intervals_goal.enabled and f.has("intervals_goal")
        if not self._refresh_active:
            if self._schemes:
                self._command("update_schemes_stats")
            if has_goals and f.supports_command("update_schemes_effective_quotas"):
                self._command("update_schemes_effective_quotas")
            if tuning:
                self._command("update_tuned_intervals")
        effective = has_goals and f.has("effective_quota")
        stats = tuple(self._stats_for(i, effective) for i in range(len(self._schemes)))
        attrs, tuned = self._attrs, ()
        if f.has("intervals_goal"):
            # the intervals in force, read back (refresh_ms or update_tuned_intervals
            # above keep them current): the kernel may tune them
            try:
                sample, aggr = read_tuned_intervals(self._sysfs, self._ctx())
            except SysfsReadError:
                sample = aggr = 0
            if sample > 0 and aggr >= sample:
                attrs = replace(attrs, sample_us=sample, aggr_us=aggr)
                tuned = tuple(n for n, v, want in (("sample_us", sample, self._attrs.sample_us),
                                                   ("aggr_us", aggr, self._attrs.aggr_us))
                              if v != want)
        targets = self._target_snapshots(self._targets, regions_by_target)
        snap = self._make_snapshot(targets, stats, messages, pid, attrs=attrs)
        return replace(snap, tuned=tuned) if tuned else snap

    def _read_snapshot_regions(self, base: int) -> list[RegionArrays]:
        """Our snapshot schemes' tried regions.  The command can return before the
        kernel has filled tried_regions/ (seen on 6.12: now and then a snapshot read
        empty, every region gone for one tick): if every part is empty, look again
        for up to two aggregation intervals (at most 1 s) before reporting none."""
        def read() -> list[RegionArrays]:
            return [read_tried_regions(self._sysfs, self._sdir(base + k))
                    for k in range(len(self._snap))]

        parts = read()
        deadline = time.monotonic() + min(1.0, 2 * self._attrs.aggr_us / 1e6)
        while not any(len(p) for p in parts) and time.monotonic() < deadline:
            if self._stop.wait(0.02):
                break
            if any(count_tried_regions(self._sysfs, self._sdir(base + k))
                   for k in range(len(self._snap))):
                parts = read()
        return parts

    def _record_pid(self, pid: int) -> None:
        assert self._record is not None
        self._record.kdamond_pid = pid
        self._record.kdamond_start_ticks = proc_start_ticks(pid, self._proc_root)
        try:
            self._store.put(self._record)
        except BackendError as e:
            self._error(str(e))

    def _no_regions_reason(self) -> str:
        f = self._features
        if not f.has("tried_regions"):
            return (f"no regions: tried regions need {f.needs('tried_regions')} "
                    f"(this kernel: {f.version_text})")
        return "no regions"

    def _target_snapshots(self, targets: Sequence[Target],
                          parts: list[RegionArrays] | None) -> tuple[TargetSnapshot, ...]:
        out = []
        for i, t in enumerate(targets):
            if t.kind is TargetKind.PID and not t.name:
                if t.pid not in self._comm:
                    self._comm[t.pid] = proc_comm(t.pid, self._proc_root)
                t = replace(t, name=self._comm[t.pid])
            if parts is not None and i < len(parts):
                p = parts[i]
                out.append(TargetSnapshot(t, p.starts, p.ends, p.nr_accesses, p.ages))
            else:
                out.append(TargetSnapshot(t))
        return tuple(out)

    def _make_snapshot(self, targets, stats, messages, pid, attrs=None, schemes=None
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

    def _read_observed(self, force: bool = False) -> KdamondInfo:
        now = time.monotonic()
        if force or self._observed is None or now - self._observed_at > CONFIG_REREAD_S:
            assert self._index is not None
            info = read_kdamond(self._sysfs, self._root, self._index, self._store,
                                self._proc_root)
            if self._observed is None or info.pid != self._observed.pid:
                self._t0 = self._monotonic_at_ticks(proc_start_ticks(info.pid or -1,
                                                                     self._proc_root))
            self._observed, self._observed_at = info, now
        return self._observed

    def _snapshot_observed(self) -> Snapshot:
        """View-only: config (re-read every few seconds), the stats it last exposed and
        the tried regions already there.  Reads only; writes nothing."""
        info = self._read_observed()
        kd = self._kd()
        messages: list[str] = []
        try:
            state, pid = read_state(self._sysfs, kd)
        except SysfsReadError as e:  # unknown this time (e.g. EBUSY): not "stopped"
            state, pid = None, info.pid
            messages.append(f"{info.name}: state not readable this time "
                            f"({errno_name(e.errno)})")
        if not info.contexts:
            return self._make_snapshot((), (), [f"{info.name} has no context"], pid,
                                       schemes=())
        ctx = info.contexts[0]
        self._attrs, self._targets = ctx.attrs, ctx.targets
        shown = ctx.user_schemes
        self._schemes = tuple(s.scheme for s in shown)
        stats = []
        for s in shown:
            effective = self._sysfs.exists(join(self._sdir(s.index), "quotas/effective_bytes"))
            stats.append(self._stats_for(s.index, effective))
        if state is not None and state != "on":
            messages.append(f"{info.name} is not running ({state})")
        source = self._observed_region_scheme(ctx)
        parts = None
        if source is not None:
            regions = read_tried_regions(self._sysfs, self._sdir(source))
            if len(regions):
                parts = split_by_address_order(regions, max(1, len(ctx.targets)))
                messages.append(f"regions: tried regions of {info.name} scheme {source} as "
                                "last exposed by its owner (damontui does not refresh them)")
        if parts is None:
            messages.append(self._no_regions_reason() if not self._features.has("tried_regions")
                            else f"no regions: {info.name} exposes no tried regions and "
                            "damontui does not write to a kdamond it does not own")
        messages.append(f"view-only: {info.name} is {info.ownership.value} "
                        f"({info.owner_note}); stats as last exposed")
        targets = self._target_snapshots(ctx.targets, parts)
        return self._make_snapshot(targets, stats, messages,
                                   pid if state in ("on", None) else None,
                                   attrs=ctx.attrs, schemes=self._schemes)

    def _observed_region_scheme(self, ctx) -> int | None:
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

        def score(s) -> tuple:
            ap = s.scheme.access_pattern
            everything = ap.sz.min == 0 and ap.nr_accesses.min == 0 and ap.age.min == 0
            return (getattr(s.scheme.action, "value", s.scheme.action) == "stat",
                    everything, not s.scheme.filters, -s.index)

        return max(candidates, key=score).index

    def scheme_regions(self, scheme: int) -> RegionArrays:
        """Tried regions of one of the user's schemes (what the scheme view shows).
        For our kdamond the regions are refreshed first; view-only reads what's there."""
        with self._lock:
            if not self._readonly and not self._lost and self._features.has("tried_regions"):
                self._command("update_schemes_tried_regions")
            return read_tried_regions(self._sysfs, self._sdir(scheme))

    def tried_bytes(self, scheme: int) -> int | None:
        """Total size of a scheme's tried regions (total_bytes, 6.6+)."""
        with self._lock:
            if (not self._readonly and not self._lost
                    and self._features.supports_command("update_schemes_tried_bytes")):
                self._command("update_schemes_tried_bytes")
            return read_total_bytes(self._sysfs, self._sdir(scheme))

    # --- the polling thread ------------------------------------------------------------

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


def reusable_parked(sysfs: Sysfs, root: str, store: OwnershipStore,
                    states: list[tuple[int, str, int | None]], prune: bool = False
                    ) -> int | None:
    """Index of a parked (stopped) kdamond directory of ours whose staged config is
    still what we left, or None.  `prune` drops records of parked directories that
    someone else changed (they are not ours any more)."""
    by_index = {i: s for i, s, _ in states}
    for rec in store.records(root):
        if not rec.parked and not (rec.fingerprint and by_index.get(rec.index) == "off"):
            # a kdamond damontui left running (--keep-running) stays ours to reuse
            # once it is off with the configuration damontui staged
            continue
        if by_index.get(rec.index) == "off":
            try:
                kd = join(root, "kdamonds", rec.index)
                if fingerprint(read_config_tree(sysfs, kd)) == rec.fingerprint:
                    return rec.index
            except SysfsError:
                pass
        if prune:
            store.remove(root, rec.index)  # changed by someone else: not ours
    return None


def reason_kernel_unusable(root: str = DEFAULT_ROOT, sysfs: Sysfs | None = None,
                           runtime_dir: str | None = None) -> str | None:
    """Why a new kernel kdamond can't be started now (None: it can be tried).
    Reads only."""
    sysfs = sysfs or RealSysfs()
    if not sysfs.isdir(join(root, "kdamonds")):
        return f"no DAMON sysfs at {root}"
    try:
        states = kdamond_states(sysfs, root)
        if reusable_parked(sysfs, root, OwnershipStore(runtime_dir), states) is not None:
            return None
        running = running_with_operations(sysfs, root, states)
        if running:
            return (f"{describe_blockers(running)} running (the kernel refuses to add a "
                    "kdamond while any runs)")
        staged = stopped_with_staged_config(sysfs, root, states)
    except SysfsError as e:
        return str(e)
    if staged:
        names = ", ".join(f"kdamond.{i} ({ops or 'no operations set'})" for i, ops in staged)
        return (f"{names} stopped with a staged configuration that adding a kdamond would "
                "reset (damontui needs explicit consent: reset_stopped_foreign)")
    return None


__all__ = [
    "KernelBackend",
    "default_paddr_range",
    "memcg_mounts",
    "read_system_ram",
    "reason_kernel_unusable",
]
