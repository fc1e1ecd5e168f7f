"""A fake DAMON sysfs tree that reacts to writes like the kernel of a chosen version.

Files live in a temporary directory (so plain readers, like a naive os.walk, work
on it); writes go through `FakeSysfs.write`, which emulates the kernel:
``nr_*`` files re-create their numbered directories with defaults, ``state``
commands start/stop a fake kdamond, refresh stats and tried regions, and the
errno cases the backend must handle can be injected (EBUSY, EINVAL, ENOMEM,
EACCES, ...).  Every accepted value is finally stored through the backend's one
write path, ``damontui.backends.kernel.sysfs.write_file``.

Contention (6.12 returns EBUSY on reads of ``state``/``pid`` and on writes while
another process holds DAMON's sysfs lock): ``busy_reads(pattern, n)`` makes the
next n reads of matching files fail with EBUSY, ``inject(pattern, EBUSY, times=n)``
does the same for writes.  The fake inherits RealSysfs's retry; its backoff
sleeps are recorded in ``busy_sleeps`` instead of slept.

Typical use::

    fake = FakeSysfs.build(tmp_path, version=(6, 18))
    fake.setup_kdamond(ops="paddr", ranges=[(1 << 32, 1 << 33)], schemes=[...],
                       running=True, pid=71)            # a foreign kdamond
    backend = KernelBackend(..., root=fake.admin, sysfs=fake, **fake.backend_paths())
    assert not fake.writes_under("kdamonds/0")
"""

from __future__ import annotations

import errno
import fnmatch
import os
import shutil
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from damontui.backends.kernel import sysfs as ksysfs
from damontui.backends.kernel.features import (
    ACTION_VERSIONS,
    FILTER_TYPE_VERSIONS,
    GOAL_METRIC_VERSIONS,
    STATE_COMMAND_VERSIONS,
    detect_features,
)
from damontui.backends.kernel.reader import read_attrs, read_schemes, read_targets
from damontui.backends.kernel.sysfs import (
    RealSysfs,
    SysfsReadError,
    join,
)
from damontui.backends.kernel.writer import Writer
from damontui.model import MonitoringAttrs, Scheme, Target, TargetKind

Version = tuple[int, int]
ALL = (0, 0)

# (relative path, default, version, writable)
KDAMOND_FILES = [
    ("state", "off", (5, 18), True),
    ("pid", "-1", (5, 18), False),
    ("refresh_ms", "0", (6, 17), True),
    ("contexts/nr_contexts", "0", (5, 18), True),
]
CONTEXT_FILES = [
    ("operations", "vaddr", (5, 18), True),
    ("avail_operations", None, (5, 19), False),
    ("addr_unit", "1", (6, 18), True),
    ("pause", "N", (7, 2), True),
    ("monitoring_attrs/probes/nr_probes", "0", (7, 2), True),
    ("monitoring_attrs/intervals/sample_us", "5000", (5, 18), True),
    ("monitoring_attrs/intervals/aggr_us", "100000", (5, 18), True),
    ("monitoring_attrs/intervals/update_us", "60000000", (5, 18), True),
    ("monitoring_attrs/intervals/intervals_goal/access_bp", "0", (6, 15), True),
    ("monitoring_attrs/intervals/intervals_goal/aggrs", "0", (6, 15), True),
    ("monitoring_attrs/intervals/intervals_goal/min_sample_us", "0", (6, 15), True),
    ("monitoring_attrs/intervals/intervals_goal/max_sample_us", "0", (6, 15), True),
    ("monitoring_attrs/nr_regions/min", "10", (5, 18), True),
    ("monitoring_attrs/nr_regions/max", "1000", (5, 18), True),
    ("targets/nr_targets", "0", (5, 18), True),
    ("schemes/nr_schemes", "0", (5, 18), True),
]
TARGET_FILES = [
    ("pid_target", "0", (5, 18), True),
    ("obsolete_target", "N", (6, 19), True),
    ("regions/nr_regions", "0", (5, 18), True),
]
REGION_FILES = [("start", "0", (5, 18), True), ("end", "0", (5, 18), True)]
SCHEME_FILES = [
    ("action", "stat", (5, 18), True),
    ("target_nid", "-1", (6, 11), True),
    ("apply_interval_us", "0", (6, 7), True),
    *[
        (f"access_pattern/{k}/{m}", "0", (5, 18), True)
        for k in ("sz", "nr_accesses", "age")
        for m in ("min", "max")
    ],
    ("quotas/ms", "0", (5, 18), True),
    ("quotas/bytes", "0", (5, 18), True),
    ("quotas/reset_interval_ms", "0", (5, 18), True),
    ("quotas/effective_bytes", "0", (6, 9), False),
    ("quotas/goal_tuner", "consist", (7, 1), True),
    ("quotas/fail_charge_num", "0", (7, 2), True),
    ("quotas/fail_charge_denom", "0", (7, 2), True),
    ("quotas/weights/sz_permil", "0", (5, 18), True),
    ("quotas/weights/nr_accesses_permil", "0", (5, 18), True),
    ("quotas/weights/age_permil", "0", (5, 18), True),
    ("quotas/goals/nr_goals", "0", (6, 8), True),
    ("watermarks/metric", "none", (5, 18), True),
    ("watermarks/interval_us", "0", (5, 18), True),
    ("watermarks/high", "0", (5, 18), True),
    ("watermarks/mid", "0", (5, 18), True),
    ("watermarks/low", "0", (5, 18), True),
    ("filters/nr_filters", "0", (6, 3), True),
    ("core_filters/nr_filters", "0", (6, 15), True),
    ("ops_filters/nr_filters", "0", (6, 15), True),
    ("dests/nr_dests", "0", (6, 17), True),
    *[
        (f"stats/{n}", "0", (5, 18), False)
        for n in ("nr_tried", "sz_tried", "nr_applied", "sz_applied", "qt_exceeds")
    ],
    ("stats/sz_ops_filter_passed", "0", (6, 14), False),
    ("stats/nr_snapshots", "0", (7, 0), False),
    ("stats/max_nr_snapshots", "0", (7, 0), True),
    ("tried_regions/total_bytes", "0", (6, 6), False),
]
SCHEME_DIRS = [("tried_regions", (6, 2))]
GOAL_FILES = [
    ("target_metric", "user_input", (6, 9), True),
    ("target_value", "0", (6, 8), True),
    ("current_value", "0", (6, 8), True),
    ("nid", "0", (6, 16), True),
    ("path", "", (6, 19), True),
]
FILTER_FILES = [
    ("type", "anon", (6, 3), True),
    ("matching", "N", (6, 3), True),
    ("memcg_path", "", (6, 3), True),
    ("addr_start", "0", (6, 6), True),
    ("addr_end", "0", (6, 6), True),
    ("damon_target_idx", "0", (6, 6), True),
    ("allow", "N", (6, 14), True),
    ("min", "0", (6, 15), True),
    ("max", "0", (6, 15), True),
]
DEST_FILES = [("id", "0", (6, 17), True), ("weight", "0", (6, 17), True)]
# 7.2 data-attribute probes (monitoring_attrs/probes/P/filters/F): their own filter files
PROBE_FILES = [("filters/nr_filters", "0", (7, 2), True)]
PROBE_FILTER_FILES = [
    ("type", "anon", (7, 2), True),
    ("matching", "N", (7, 2), True),
    ("allow", "N", (7, 2), True),
    ("path", "", (7, 2), True),
]
PROBE_FILTER_TYPES = ("anon", "memcg")
MAX_PROBES = 4
TRIED_REGION_FILES = ["start", "end", "nr_accesses", "age"]

NR_FILES = {
    "nr_kdamonds": "kdamond",
    "nr_contexts": "context",
    "nr_targets": "target",
    "nr_regions": "region",
    "nr_schemes": "scheme",
    "nr_goals": "goal",
    "nr_filters": "filter",
    "nr_dests": "dest",
    "nr_probes": "probe",
}
KIND_FILES = {
    "kdamond": KDAMOND_FILES,
    "context": CONTEXT_FILES,
    "target": TARGET_FILES,
    "region": REGION_FILES,
    "scheme": SCHEME_FILES,
    "goal": GOAL_FILES,
    "filter": FILTER_FILES,
    "dest": DEST_FILES,
    "probe": PROBE_FILES,
    "probe_filter": PROBE_FILTER_FILES,
}
INT_FILES = {
    "pid_target",
    "start",
    "end",
    "min",
    "max",
    "sample_us",
    "aggr_us",
    "update_us",
    "access_bp",
    "aggrs",
    "min_sample_us",
    "max_sample_us",
    "apply_interval_us",
    "ms",
    "bytes",
    "reset_interval_ms",
    "sz_permil",
    "nr_accesses_permil",
    "age_permil",
    "interval_us",
    "high",
    "mid",
    "low",
    "target_value",
    "current_value",
    "nid",
    "addr_start",
    "addr_end",
    "damon_target_idx",
    "refresh_ms",
    "addr_unit",
    "id",
    "weight",
    "max_nr_snapshots",
    "fail_charge_num",
    "fail_charge_denom",
}
BOOL_FILES = {"matching", "allow", "obsolete_target"}
BOOL_WORDS = {
    "y": "Y",
    "yes": "Y",
    "1": "Y",
    "on": "Y",
    "true": "Y",
    "n": "N",
    "no": "N",
    "0": "N",
    "off": "N",
    "false": "N",
}


class _KernelError(OSError):
    def __init__(self, err: int) -> None:
        super().__init__(err, os.strerror(err))


@dataclass
class Injection:
    pattern: str  # fnmatch on the path relative to admin/
    err: int
    value: str | None = None  # only writes of this value (None: any)
    times: int = 1  # how many writes fail (-1: forever)
    then: Callable[[], None] | None = None  # run when it fires (e.g. a racing tool)


@dataclass
class BusyReads:
    pattern: str  # fnmatch on the path relative to admin/
    times: int  # how many reads fail with EBUSY (-1: forever)


@dataclass
class KState:
    running: bool = False
    pid: int = -1
    attrs: MonitoringAttrs | None = None
    targets: tuple[Target, ...] = ()
    schemes: list[Scheme] = field(default_factory=list)
    commits: int = 0
    cpu_ticks: int = 0


class FakeSysfs(RealSysfs):
    """See module docstring."""

    def __init__(
        self,
        base: Path,
        version: Version = (6, 18),
        avail_operations: Sequence[str] = ("vaddr", "fvaddr", "paddr"),
        memcgs: Iterable[str] = ("/",),
        live_pids: Iterable[int] | None = None,
        pid_base: int = 4000,
        memcg_commit_quirk: bool = False,
    ) -> None:
        base = Path(base)
        if ksysfs.is_under_real_damon(str(base)) or str(base.resolve()).startswith("/sys"):
            raise RuntimeError("FakeSysfs must live in a temporary directory, not under /sys")
        self.base = base
        self.version = version
        self.release = f"{version[0]}.{version[1]}.0-fake"
        self.admin = str(base / "admin")
        self.proc_root = str(base / "proc")
        self.iomem = str(base / "iomem")
        self.runtime_dir = str(base / "run")
        self.cgroup_root = str(base / "cgroup")
        self.module_root = str(base / "module")  # /sys/module: exclusive DAMON modules
        self.avail_operations = tuple(avail_operations)
        self.memcgs = set(memcgs)
        self.live_pids = set(live_pids) if live_pids is not None else None
        self.next_pid = pid_base
        # 6.12 as seen in the VM tier: `commit` naming a missing memcg succeeds, and
        # then the kdamond terminates
        self.memcg_commit_quirk = memcg_commit_quirk
        self.writes: list[tuple[str, str]] = []  # accepted client writes (rel path, value)
        self.attempts: list[tuple[str, str]] = []  # every client write, failed ones too
        self.commands: list[tuple[int, str]] = []  # accepted state commands
        self.injections: list[Injection] = []
        self.busy: list[BusyReads] = []  # EBUSY bursts on reads
        # bytes of a tried region that passed the scheme's filters (tests may replace)
        self.filter_passed: Callable[[int, int], int] = lambda start, end: end - start
        # probe-positive samples of a tried region per probe (7.2 probes/P/hits)
        self.probe_hits: Callable[[int, int, int], int] = lambda start, end, probe: 0
        self.busy_hits: list[str] = []  # reads that failed with EBUSY (rel paths)
        self.busy_sleeps: list[float] = []  # RealSysfs's backoff, recorded, not slept
        self.denied: int | None = None  # e.g. errno.EACCES: not root
        self.kd: dict[int, KState] = {}
        self.regions: dict[int, list[list[tuple[int, int, int, int]]]] = {}
        self.stats: dict[tuple[int, int], dict[str, int]] = {}
        self.effective: dict[tuple[int, int], int] = {}
        self.tuned: dict[int, tuple[int, int]] = {}
        self.nr_reads = 0
        self._internal = 0
        for d in (self.admin, self.proc_root, self.runtime_dir, self.cgroup_root):
            os.makedirs(d, exist_ok=True)
        self._put("kdamonds/nr_kdamonds", "0", True)
        Path(self.iomem).write_text(
            "00000000-00000fff : Reserved\n"
            "00001000-0009fbff : System RAM\n"
            "00100000-bffdffff : System RAM\n"
            "  01000000-01ffffff : Kernel code\n"
            "100000000-27fffffff : System RAM\n"
        )

    @classmethod
    def build(cls, tmp_path: Path, version: Version = (6, 18), **kw) -> FakeSysfs:
        return cls(Path(tmp_path) / f"fakesys-{version[0]}.{version[1]}", version, **kw)

    # --- helpers for tests -------------------------------------------------------

    def backend_paths(self) -> dict:
        """Keyword arguments pointing a KernelBackend at this fake machine."""
        return dict(
            root=self.admin,
            sysfs=self,
            runtime_dir=self.runtime_dir,
            proc_root=self.proc_root,
            iomem_path=self.iomem,
            kernel_release=self.release,
            cgroup_root=self.cgroup_root,
            module_root=self.module_root,
        )

    def add_module(
        self, name: str, enabled: bool = True, pid: int | None = 50, with_pid_file: bool = True
    ) -> None:
        """An exclusive in-kernel DAMON module (damon_stat, ...) under module_root.
        While enabled, every sysfs `state on` fails with EBUSY (as the kernel does)."""
        params = Path(self.module_root) / name / "parameters"
        params.mkdir(parents=True, exist_ok=True)
        (params / "enabled").write_text("Y\n" if enabled else "N\n")
        if with_pid_file:
            (params / "kdamond_pid").write_text(f"{pid if enabled and pid else -1}\n")
        if name == "damon_stat":
            (params / "aggr_interval_us").write_text("1500000\n")
            (params / "estimated_memory_bandwidth").write_text("123456789\n")
            (params / "memory_idle_ms_percentiles").write_text(
                ",".join(str(i * 100) for i in range(101)) + "\n"
            )
        if enabled and pid:
            self._write_proc_stat(pid, "kdamond.0", 0)

    def module_enabled(self, name: str) -> bool:
        return (Path(self.module_root) / name / "parameters/enabled").read_text().strip() == "Y"

    def _exclusive_running(self) -> bool:
        root = Path(self.module_root)
        return root.is_dir() and any(
            (d / "parameters/enabled").read_text().strip() == "Y"
            for d in root.iterdir()
            if (d / "parameters/enabled").exists()
        )

    def features(self):
        return detect_features(self, self.admin, self.release)

    def rel(self, path: str) -> str:
        return os.path.relpath(path, self.admin)

    def path(self, rel: str) -> str:
        return join(self.admin, rel)

    def value(self, rel: str) -> str:
        return Path(self.path(rel)).read_text().rstrip("\n")

    def writes_under(self, rel_prefix: str) -> list[tuple[str, str]]:
        prefix = rel_prefix.rstrip("/") + "/"
        return [(p, v) for p, v in self.attempts if p == rel_prefix or p.startswith(prefix)]

    def inject(
        self,
        pattern: str,
        err: int,
        value: str | None = None,
        times: int = 1,
        then: Callable[[], None] | None = None,
    ) -> None:
        """The next `times` writes to matching files fail with `err` (then() runs
        each time it fires)."""
        self.injections.append(Injection(pattern, err, value, times, then))

    def busy_reads(self, pattern: str, times: int = 1) -> None:
        """The next `times` reads of matching files fail with EBUSY, as when another
        process holds DAMON's sysfs lock (-1: every read)."""
        self.busy.append(BusyReads(pattern, times))

    def mark_running(self, index: int, pid: int) -> None:
        """As if another tool turned kdamond `index` on behind our back (its staged
        config is not checked)."""
        st = self.kd.setdefault(index, KState())
        st.running, st.pid = True, pid
        self._put(f"kdamonds/{index}/state", "on", True)
        self._put(f"kdamonds/{index}/pid", str(pid), False)
        self._write_proc_stat(pid, f"kdamond.{index}", st.cpu_ticks)

    def add_process(self, pid: int, comm: str = "proc") -> None:
        d = Path(self.proc_root) / str(pid)
        d.mkdir(parents=True, exist_ok=True)
        (d / "comm").write_text(comm + "\n")
        self._write_proc_stat(pid, comm, 0)
        if self.live_pids is not None:
            self.live_pids.add(pid)

    def add_memcg(self, path: str) -> None:
        self.memcgs.add(path)
        os.makedirs(join(self.cgroup_root, path), exist_ok=True)

    def set_regions(
        self, kd: int, per_target: Sequence[Sequence[tuple[int, int, int, int]]]
    ) -> None:
        """What the fake kernel monitors: per target, (start, end, nr_accesses, age)."""
        self.regions[kd] = [list(t) for t in per_target]

    def set_stats(self, kd: int, scheme: int, **values: int) -> None:
        self.stats[(kd, scheme)] = dict(values)
        if self._refreshing(kd):
            self._publish_stats(kd)

    def set_effective_bytes(self, kd: int, scheme: int, value: int) -> None:
        self.effective[(kd, scheme)] = value
        if self._refreshing(kd):
            self._publish_effective(kd)

    def set_tuned_intervals(self, kd: int, sample_us: int, aggr_us: int) -> None:
        self.tuned[kd] = (sample_us, aggr_us)
        if self._refreshing(kd):
            self._publish_tuned(kd)

    def add_cpu_ticks(self, kd: int, ticks: int) -> None:
        st = self.kd[kd]
        st.cpu_ticks += ticks
        self._write_proc_stat(st.pid, f"kdamond.{kd}", st.cpu_ticks)

    def setup_kdamond(
        self,
        ops: str = "paddr",
        targets: Sequence[Target] | None = None,
        ranges: Sequence[tuple[int, int]] = ((1 << 32, 1 << 33),),
        attrs: MonitoringAttrs | None = None,
        schemes: Sequence[Scheme] = (),
        running: bool = True,
        pid: int | None = None,
        refresh_ms: int = 0,
    ) -> int:
        """Add one kdamond as ANOTHER tool would (not logged as damontui writes).
        Returns its index.  Must be called while no kdamond runs."""
        if any(s.running for s in self.kd.values()):
            raise RuntimeError(
                "setup_kdamond: turn the running kdamonds off first, or add "
                "all kdamonds before starting any"
            )
        saved = {i: self._capture(i) for i in self.kd}
        self._internal += 1
        try:
            index = len(self.kd)
            self.write(self.path("kdamonds/nr_kdamonds"), index + 1)
            for i, tree in saved.items():
                self._restore(i, tree)
            kd = f"kdamonds/{index}"
            self.write(self.path(f"{kd}/contexts/nr_contexts"), 1)
            if targets is None:
                if ops == "paddr":
                    targets = [Target(TargetKind.PADDR, ranges=tuple(ranges))]
                else:
                    targets = [
                        Target(
                            TargetKind.PID, pid=1, ranges=tuple(ranges) if ops == "fvaddr" else ()
                        )
                    ]
            writer = Writer(self, self.features())
            writer.stage_context(
                self.path(f"{kd}/contexts/0"), ops, attrs or MonitoringAttrs(), targets, schemes
            )
            if refresh_ms and os.path.exists(self.path(f"{kd}/refresh_ms")):
                self.write(self.path(f"{kd}/refresh_ms"), refresh_ms)
            if running:
                if pid is not None:
                    self.next_pid, keep = pid, self.next_pid
                self.write(self.path(f"{kd}/state"), "on")
                if pid is not None:
                    self.next_pid = keep
        finally:
            self._internal -= 1
        return index

    def start_kdamonds(self, indices: Iterable[int], pids: Iterable[int] | None = None) -> None:
        self._internal += 1
        try:
            for i, pid in zip(indices, pids or [None] * 1000, strict=False):
                if pid is not None:
                    self.next_pid, keep = pid, self.next_pid
                self.write(self.path(f"kdamonds/{i}/state"), "on")
                if pid is not None:
                    self.next_pid = keep
        finally:
            self._internal -= 1

    def stop_kdamond_externally(self, index: int) -> None:
        self._internal += 1
        try:
            self.write(self.path(f"kdamonds/{index}/state"), "off")
        finally:
            self._internal -= 1

    def publish_stats(self, kd: int) -> None:
        """As if the kdamond's owner wrote update_schemes_stats."""
        self._publish_stats(kd)

    def _capture(self, index: int) -> dict[str, str]:
        from damontui.backends.kernel.reader import read_config_tree

        return read_config_tree(self, self.path(f"kdamonds/{index}"))

    def _restore(self, index: int, tree: dict[str, str]) -> None:
        from damontui.backends.kernel.writer import restore_tree

        restore_tree(self, self.path(f"kdamonds/{index}"), tree)

    # --- reads (counted) ----------------------------------------------------------

    def _check_read(self, path: str) -> None:
        if self.denied is not None:
            raise SysfsReadError(
                ksysfs.describe_read_error(path, self.denied), path, None, self.denied
            )

    def _sleep(self, seconds: float) -> None:
        self.busy_sleeps.append(seconds)

    def _busy_check(self, path: str) -> None:
        rel = self.rel(path)
        for b in self.busy:
            if b.times and fnmatch.fnmatch(rel, b.pattern):
                if b.times > 0:
                    b.times -= 1
                self.busy_hits.append(rel)
                raise _KernelError(errno.EBUSY)

    def _read_once(self, path: str) -> str:
        self._busy_check(path)
        return super()._read_once(path)

    def _read_at_once(self, dir_fd: int, name: str, dir_path: str) -> str:
        self._busy_check(join(dir_path, name))
        return super()._read_at_once(dir_fd, name, dir_path)

    def read(self, path: str) -> str:
        self._check_read(path)
        self.nr_reads += 1
        return super().read(path)

    def read_dir_files(self, path: str, names) -> list[str]:
        self._check_read(path)
        self.nr_reads += len(names)
        return super().read_dir_files(path, names)

    def read_numbered(self, path: str, names):
        self._check_read(path)
        rows = super().read_numbered(path, names)
        self.nr_reads += len(rows) * len(names)
        return rows

    # --- the kernel's reaction to writes ------------------------------------------

    def write(self, path: str, value: object, hint: str | None = None) -> None:
        """One client write (RealSysfs.write: EBUSY retry, errno -> SysfsWriteError)."""
        text = value if isinstance(value, str) else str(value)
        rel = self.rel(path)
        if not self._internal:
            self.attempts.append((rel, text))
        super().write(path, text, hint)
        if not self._internal:
            self.writes.append((rel, text))

    def _write_once(self, path: str, text: str) -> None:
        stored = self._emulate(path, self.rel(path), text)
        # THE single write path stores what the file reads back afterwards
        ksysfs.write_file(path, stored + "\n")

    def _emulate(self, path: str, rel: str, text: str) -> str:
        if self.denied is not None:
            raise _KernelError(self.denied)
        for inj in self.injections:
            if (
                inj.times
                and fnmatch.fnmatch(rel, inj.pattern)
                and (inj.value is None or inj.value == text.strip())
            ):
                if inj.times > 0:
                    inj.times -= 1
                if inj.then is not None:
                    inj.then()
                raise _KernelError(inj.err)
        if os.path.isdir(path):
            raise _KernelError(errno.EISDIR)
        if not os.path.exists(path):
            raise _KernelError(errno.ENOENT)
        if not os.stat(path).st_mode & stat.S_IWUSR:
            raise _KernelError(errno.EACCES)
        name = os.path.basename(path)
        value = text.strip()
        if path.startswith(self.module_root + "/"):
            return self._module_param(path, name, value)
        if name == "state":
            return self._state_command(rel, value)
        if name in NR_FILES and not (name == "nr_regions" and "monitoring_attrs" in rel):
            return self._resize(path, rel, name, value)
        return self._check_value(rel, name, value)

    def _check_value(self, rel: str, name: str, value: str) -> str:
        if name in BOOL_FILES:
            if value.lower() not in BOOL_WORDS:
                raise _KernelError(errno.EINVAL)
            return BOOL_WORDS[value.lower()]
        if name == "target_nid":
            try:
                int(value, 0)
            except ValueError:
                raise _KernelError(errno.EINVAL) from None
            return value
        if name in INT_FILES:
            try:
                number = int(value, 0)
            except ValueError:
                raise _KernelError(errno.EINVAL) from None
            if number < 0:
                raise _KernelError(errno.EINVAL)
            return str(number)
        if name == "operations":
            if value not in self.avail_operations or (value == "fvaddr" and self.version < (5, 19)):
                raise _KernelError(errno.EINVAL)
            return value
        if name == "action":
            v = ACTION_VERSIONS.get(value)
            if v is None or self.version < v:
                raise _KernelError(errno.EINVAL)
            return value
        if name == "type" and "/monitoring_attrs/probes/" in rel:
            if value not in PROBE_FILTER_TYPES:
                raise _KernelError(errno.EINVAL)
            return value
        if name == "type":
            v = FILTER_TYPE_VERSIONS.get(value)
            if v is None or self.version < v:
                raise _KernelError(errno.EINVAL)
            return value
        if name == "target_metric":
            v = GOAL_METRIC_VERSIONS.get(value)
            if v is None or self.version < v:
                raise _KernelError(errno.EINVAL)
            return value
        if name == "goal_tuner":
            if value not in ("consist", "temporal"):
                raise _KernelError(errno.EINVAL)
            return value
        if name == "metric":
            if value not in ("none", "free_mem_rate"):
                raise _KernelError(errno.EINVAL)
            return value
        return value  # memcg_path, path, goal_tuner: strings

    # --- nr_* files --------------------------------------------------------------

    def _resize(self, path: str, rel: str, name: str, value: str) -> str:
        try:
            n = int(value, 0)
        except ValueError:
            raise _KernelError(errno.EINVAL) from None
        if n < 0:
            raise _KernelError(errno.EINVAL)
        kind = NR_FILES[name]
        if kind == "probe" and n > MAX_PROBES:
            raise _KernelError(errno.EINVAL)
        if kind == "filter" and "/monitoring_attrs/probes/" in rel:
            kind = "probe_filter"
        parent = os.path.dirname(path)
        if kind == "kdamond":
            if any(s.running for s in self.kd.values()):
                raise _KernelError(errno.EBUSY)
            self.kd = {i: KState() for i in range(n)}
        if kind == "context" and n > 1:
            raise _KernelError(errno.EINVAL)
        # the kernel removes every existing child, then creates n fresh ones
        for entry in os.listdir(parent):
            if entry.isdigit():
                shutil.rmtree(os.path.join(parent, entry))
        prel = os.path.relpath(parent, self.admin)
        for i in range(n):
            self._make(join(prel, i), kind)
        return str(n)

    def _make(self, rel_dir: str, kind: str) -> None:
        os.makedirs(self.path(rel_dir), exist_ok=True)
        for frel, default, version, writable in KIND_FILES[kind]:
            if self.version < version:
                continue
            if default is None:  # avail_operations
                default = " ".join(
                    o for o in self.avail_operations if o != "fvaddr" or self.version >= (5, 19)
                )
            self._put(join(rel_dir, frel), default, writable)
        if kind == "scheme":
            for drel, version in SCHEME_DIRS:
                if self.version >= version:
                    os.makedirs(self.path(join(rel_dir, drel)), exist_ok=True)
        if kind in ("context",):
            os.makedirs(self.path(join(rel_dir, "monitoring_attrs/intervals")), exist_ok=True)

    def _put(self, rel: str, value: str, writable: bool) -> None:
        """The fake kernel creating a file (not a client write)."""
        p = Path(self.path(rel))
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.exists():
            os.chmod(p, 0o600)
        p.write_text(value + "\n")
        os.chmod(p, 0o600 if writable else 0o400)

    # --- state commands ------------------------------------------------------------

    def _kd_index(self, rel: str) -> int:
        return int(rel.split("/")[1])

    def _module_param(self, path: str, name: str, value: str) -> str:
        if name != "enabled":
            return value
        if value.upper() not in ("Y", "N", "1", "0"):
            raise _KernelError(errno.EINVAL)
        on = value.upper() in ("Y", "1")
        if on and any(st.running for st in self.kd.values()):
            raise _KernelError(errno.EBUSY)  # exclusive start refused while others run
        pid_file = Path(path).parent / "kdamond_pid"
        if pid_file.exists():
            pid_file.write_text(f"{self.next_pid if on else -1}\n")
            self.next_pid += 1
        return "Y" if on else "N"

    def _state_command(self, rel: str, cmd: str) -> str:
        index = self._kd_index(rel)
        st = self.kd.setdefault(index, KState())
        version = STATE_COMMAND_VERSIONS.get(cmd)
        if version is None or self.version < version:
            raise _KernelError(errno.EINVAL)
        kd = self.path(f"kdamonds/{index}")
        if cmd == "on":
            if st.running or self._exclusive_running():
                raise _KernelError(errno.EBUSY)
            self._validate_and_commit(index, st)
            st.running = True
            st.pid = self.next_pid
            self.next_pid += 1
            self._put(f"kdamonds/{index}/pid", str(st.pid), False)
            self._write_proc_stat(st.pid, f"kdamond.{index}", st.cpu_ticks)
            if self._refreshing(index):
                self._publish_all(index)
        elif cmd == "off":
            if not st.running:
                raise _KernelError(errno.EINVAL)
            st.running = False
            shutil.rmtree(os.path.join(self.proc_root, str(st.pid)), ignore_errors=True)
            st.pid = -1
            self._put(f"kdamonds/{index}/pid", "-1", False)
        else:
            if not st.running:
                raise _KernelError(errno.EINVAL)
            if cmd == "commit":
                try:
                    self._validate_and_commit(index, st)
                except _KernelError as e:
                    if not (self.memcg_commit_quirk and e.errno == errno.ENOMEM):
                        raise
                    st.running = False  # accepted, then the kdamond dies
                    st.pid = -1
                    self._put(f"kdamonds/{index}/pid", "-1", False)
                st.commits += 1
            elif cmd == "update_schemes_stats":
                self._publish_stats(index)
            elif cmd == "update_schemes_tried_regions":
                self._publish_tried(index, regions=True)
            elif cmd == "update_schemes_tried_bytes":
                self._publish_tried(index, regions=False)
            elif cmd == "clear_schemes_tried_regions":
                for sdir in self._scheme_dirs(index):
                    self._clear_tried(sdir)
            elif cmd == "commit_schemes_quota_goals":
                staged = read_schemes(self, join(kd, "contexts/0"))
                st.schemes = [
                    replace(s, quotas=replace(s.quotas, goals=n.quotas.goals))
                    for s, n in zip(st.schemes, staged, strict=False)
                ]
            elif cmd == "update_schemes_effective_quotas":
                self._publish_effective(index)
            elif cmd == "update_tuned_intervals":
                self._publish_tuned(index)
        if not self._internal:
            self.commands.append((index, cmd))
        return "on" if st.running else "off"

    def _validate_and_commit(self, index: int, st: KState) -> None:
        kd = self.path(f"kdamonds/{index}")
        if self.value(f"kdamonds/{index}/contexts/nr_contexts") != "1":
            raise _KernelError(errno.EINVAL)
        ctx = join(kd, "contexts/0")
        ops = self.value(f"kdamonds/{index}/contexts/0/operations")
        attrs = read_attrs(self, ctx)
        if not (attrs.sample_us <= attrs.aggr_us <= attrs.update_us):
            raise _KernelError(errno.EINVAL)
        if attrs.min_nr_regions < 3 or attrs.max_nr_regions < attrs.min_nr_regions:
            raise _KernelError(errno.EINVAL)
        targets = read_targets(self, ctx, ops, self.proc_root)
        if ops == "paddr" and self.version >= (6, 12):
            if any(not t.ranges for t in targets):
                raise _KernelError(errno.EINVAL)
        if ops in ("vaddr", "fvaddr") and self.live_pids is not None:
            if any(t.pid not in self.live_pids for t in targets):
                raise _KernelError(errno.EINVAL)
        schemes = read_schemes(self, ctx)
        for s in schemes:
            for f in s.filters:
                if getattr(f.type, "value", f.type) == "memcg" and f.memcg_path not in self.memcgs:
                    raise _KernelError(errno.ENOMEM)
        st.attrs, st.targets, st.schemes = attrs, targets, schemes

    def _refreshing(self, index: int) -> bool:
        st = self.kd.get(index)
        if st is None or not st.running:
            return False
        p = self.path(f"kdamonds/{index}/refresh_ms")
        return os.path.exists(p) and int(Path(p).read_text() or "0") > 0

    def _publish_all(self, index: int) -> None:
        self._publish_stats(index)
        self._publish_effective(index)
        self._publish_tuned(index)

    def _scheme_dirs(self, index: int) -> list[str]:
        sroot = self.path(f"kdamonds/{index}/contexts/0/schemes")
        if not os.path.isdir(sroot):
            return []
        return [
            join(sroot, n) for n in sorted((n for n in os.listdir(sroot) if n.isdigit()), key=int)
        ]

    def _publish_stats(self, index: int) -> None:
        for si, sdir in enumerate(self._scheme_dirs(index)):
            for name, value in self.stats.get((index, si), {}).items():
                p = join(sdir, "stats", name)
                if os.path.exists(p):
                    self._put(os.path.relpath(p, self.admin), str(value), False)

    def _publish_effective(self, index: int) -> None:
        for si, sdir in enumerate(self._scheme_dirs(index)):
            p = join(sdir, "quotas/effective_bytes")
            if (index, si) in self.effective and os.path.exists(p):
                self._put(os.path.relpath(p, self.admin), str(self.effective[(index, si)]), False)

    def _publish_tuned(self, index: int) -> None:
        if index not in self.tuned:
            return
        sample, aggr = self.tuned[index]
        base = f"kdamonds/{index}/contexts/0/monitoring_attrs/intervals"
        self._put(f"{base}/sample_us", str(sample), True)
        self._put(f"{base}/aggr_us", str(aggr), True)

    def _clear_tried(self, sdir: str) -> None:
        tdir = join(sdir, "tried_regions")
        if not os.path.isdir(tdir):
            return
        for entry in os.listdir(tdir):
            if entry.isdigit():
                shutil.rmtree(os.path.join(tdir, entry))

    def _tried(self, index: int, scheme: Scheme) -> list[tuple[int, int, int, int]]:
        out = []
        ap = scheme.access_pattern
        for ti, regions in enumerate(self.regions.get(index, [])):
            for start, end, nr, age in regions:
                if not ap.matches(end - start, nr, age):
                    continue
                excluded = False
                for f in scheme.filters:
                    ftype = getattr(f.type, "value", f.type)
                    if ftype == "target":
                        match = ti == f.target_idx
                    elif ftype == "addr":
                        match = f.addr_start <= start and end <= f.addr_end
                    else:
                        continue  # ops filters don't change what is tried
                    if match == f.matching and not f.allow:
                        excluded = True
                        break
                if not excluded:
                    out.append((start, end, nr, age))
        return out

    def _publish_tried(self, index: int, regions: bool) -> None:
        st = self.kd[index]
        for si, sdir in enumerate(self._scheme_dirs(index)):
            if si >= len(st.schemes):
                break
            tried = self._tried(index, st.schemes[si])
            srel = os.path.relpath(sdir, self.admin)
            if regions:
                self._clear_tried(sdir)
                self.write_tried_regions(srel, tried)
            if os.path.exists(join(sdir, "tried_regions/total_bytes")):
                self._put(
                    f"{srel}/tried_regions/total_bytes",
                    str(sum(e - s for s, e, _, _ in tried)),
                    False,
                )

    def write_tried_regions(
        self, scheme_rel: str, regions: Sequence[tuple[int, int, int, int]]
    ) -> None:
        """Materialize tried_regions/N dirs (also used to give a foreign kdamond some)."""
        base = Path(self.path(scheme_rel)) / "tried_regions"
        base.mkdir(parents=True, exist_ok=True)
        with_filter_passed = self.version >= (6, 14)
        nr_probes = self._committed_probes(scheme_rel)
        for i, (start, end, nr, age) in enumerate(regions):
            d = base / str(i)
            d.mkdir()
            for name, value in zip(TRIED_REGION_FILES, (start, end, nr, age), strict=True):
                (d / name).write_text(f"{value}\n")
            if with_filter_passed:
                (d / "sz_filter_passed").write_text(f"{self.filter_passed(start, end)}\n")
            if self.version >= (7, 2):  # the probes/ dir exists, empty without probes
                (d / "probes").mkdir()
            for p in range(nr_probes):
                (d / "probes" / str(p)).mkdir()
                hits = self.probe_hits(start, end, p)
                (d / "probes" / str(p) / "hits").write_text(f"{hits}\n")
        total = base / "total_bytes"
        if total.exists():
            os.chmod(total, 0o600)
            total.write_text(f"{sum(e - s for s, e, _, _ in regions)}\n")
            os.chmod(total, 0o400)

    def _committed_probes(self, scheme_rel: str) -> int:
        """Probes of the kdamond a scheme dir belongs to (committed, else staged)."""
        if self.version < (7, 2):
            return 0
        st = self.kd.get(self._kd_index(scheme_rel))
        if st is not None and st.attrs is not None:
            return len(st.attrs.probes)
        ctx = scheme_rel.split("/schemes/")[0]
        p = Path(self.path(f"{ctx}/monitoring_attrs/probes/nr_probes"))
        return int(p.read_text() or "0") if p.exists() else 0

    def _write_proc_stat(self, pid: int, comm: str, ticks: int) -> None:
        d = Path(self.proc_root) / str(pid)
        d.mkdir(parents=True, exist_ok=True)
        # fields after ')': state ppid pgrp session tty tpgid flags minflt cminflt majflt
        # cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime
        fields = [
            "S",
            "2",
            "0",
            "0",
            "0",
            "-1",
            "0",
            "0",
            "0",
            "0",
            "0",
            str(ticks),
            "0",
            "0",
            "0",
            "20",
            "0",
            "1",
            "0",
            str(1000 + pid),
        ]
        (d / "stat").write_text(f"{pid} ({comm}) " + " ".join(fields) + "\n")
        if not (d / "comm").exists():
            (d / "comm").write_text(comm + "\n")


def host_like_scheme(version: Version = (6, 18)) -> Scheme:
    """The scheme this machine's own kdamond runs (see shared/notes/machine.md)."""
    from damontui.model import (
        AccessPattern,
        Action,
        Filter,
        FilterType,
        Quotas,
        QuotaWeights,
        Range,
        WatermarkMetric,
        Watermarks,
    )

    filters: tuple = ()
    if version >= (6, 15):
        filters = (
            Filter(FilterType.ANON, matching=True),
            Filter(FilterType.UNMAPPED, matching=True, allow=True),
        )
    elif version >= (6, 3):
        filters = (Filter(FilterType.ANON, matching=True),)
    return Scheme(
        action=Action.PAGEOUT,
        access_pattern=AccessPattern(
            Range(0, (1 << 64) - 1), Range(0, 1), Range(12, (1 << 32) - 1)
        ),
        quotas=Quotas(
            ms=50, bytes=128 << 20, reset_interval_ms=1000, weights=QuotaWeights(0, 0, 1000)
        ),
        watermarks=Watermarks(WatermarkMetric.NONE, 0, 0, 0, 0),
        filters=filters,
    )


HOST_ATTRS = MonitoringAttrs(
    sample_us=500_000,
    aggr_us=5_000_000,
    update_us=60_000_000,
    min_nr_regions=1024,
    max_nr_regions=8192,
)


def host_like_kdamond(fake: FakeSysfs, running: bool = True, pid: int = 71) -> int:
    """A foreign paddr kdamond like this machine's kdamond.0 (not damontui's)."""
    return fake.setup_kdamond(
        ops="paddr",
        ranges=[(4294967296, 6845104128)],
        attrs=HOST_ATTRS,
        schemes=[host_like_scheme(fake.version)],
        running=running,
        pid=pid,
    )
