"""List the kdamonds of a DAMON sysfs tree with their config, stats and owner.

Reading only.  For foreign kdamonds the stats are whatever the kernel last
exposed (damontui never writes `update_schemes_stats` to a kdamond it doesn't
own).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field

from ...model import MonitoringAttrs, Scheme, SchemeStats, Target
from .ownership import Ownership, OwnershipRecord, OwnershipStore
from .reader import (
    count_tried_regions,
    numbered_dirs,
    read_attrs,
    read_files,
    read_scheme,
    read_stats,
    read_targets,
    read_total_bytes,
)
from .sysfs import DEFAULT_ROOT, RealSysfs, Sysfs, SysfsReadError, join, read_int, read_opt


@dataclass(frozen=True)
class SchemeInfo:
    index: int
    scheme: Scheme
    stats: SchemeStats
    tried_bytes: int | None = None  # tried_regions/total_bytes (6.6+), as last exposed
    nr_tried_regions: int = 0  # tried_regions/N directories present now
    snapshot: bool = False  # damontui's own snapshot scheme (hidden from the user)


@dataclass(frozen=True)
class ContextInfo:
    index: int
    operations: str
    avail_operations: tuple[str, ...]
    addr_unit: int | None
    attrs: MonitoringAttrs
    targets: tuple[Target, ...]
    schemes: tuple[SchemeInfo, ...]

    @property
    def user_schemes(self) -> tuple[SchemeInfo, ...]:
        return tuple(s for s in self.schemes if not s.snapshot)


@dataclass(frozen=True)
class KdamondInfo:
    index: int
    path: str
    state: str  # "on" | "off"
    pid: int | None  # None while off
    refresh_ms: int | None  # None: kernel without refresh_ms
    contexts: tuple[ContextInfo, ...] = ()
    ownership: Ownership = Ownership.FOREIGN
    owner_note: str = ""
    record: OwnershipRecord | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return f"kdamond.{self.index}"

    @property
    def running(self) -> bool:
        return self.state == "on"

    @property
    def ours(self) -> bool:
        return self.ownership is Ownership.OURS

    @property
    def readonly(self) -> bool:
        return not self.ours

    @property
    def operations(self) -> str:
        return self.contexts[0].operations if self.contexts else ""

    def summary(self) -> str:
        pid = f"pid {self.pid}" if self.pid else "no pid"
        ops = self.operations or "no context"
        nsch = sum(len(c.user_schemes) for c in self.contexts)
        return (
            f"{self.name} ({self.state}, {pid}, {ops}, {nsch} scheme"
            f"{'' if nsch == 1 else 's'}; {self.ownership.value}: {self.owner_note})"
        )


def kdamond_indices(sysfs: Sysfs, root: str) -> list[int]:
    return numbered_dirs(sysfs, join(root, "kdamonds"))


def read_state(sysfs: Sysfs, kd: str) -> tuple[str, int | None]:
    """(state, pid or None) of one kdamond directory.

    A failed read raises (SysfsReadError): callers must not mistake "pid not
    readable" (e.g. EBUSY while another process holds DAMON's sysfs lock) for "no
    pid", i.e. for a stopped kdamond."""
    state = sysfs.read(join(kd, "state")).strip()
    text = sysfs.read(join(kd, "pid")).strip()
    try:
        pid = int(text or "-1", 0)
    except ValueError:
        pid = -1
    return state, (pid if pid > 0 else None)


def kdamond_states(sysfs: Sysfs, root: str) -> list[tuple[int, str, int | None]]:
    """[(index, state, pid)] of every kdamond: the cheap read before nr_kdamonds."""
    out = []
    for i in kdamond_indices(sysfs, root):
        try:
            state, pid = read_state(sysfs, join(root, "kdamonds", i))
        except SysfsReadError as e:
            if e.errno == errno.ENOENT:
                continue  # removed while we looked
            raise
        out.append((i, state, pid))
    return out


def staged_config_empty(sysfs: Sysfs, kd: str) -> bool:
    """Whether a (stopped) kdamond directory stages nothing: no context and the
    default refresh_ms, i.e. what an nr_kdamonds write would re-create anyway."""
    if read_int(sysfs, join(kd, "contexts/nr_contexts")) != 0:
        return False
    refresh = read_opt(sysfs, join(kd, "refresh_ms"))
    return refresh is None or refresh.strip() in ("", "0")


def stopped_with_staged_config(
    sysfs: Sysfs, root: str, states: list[tuple[int, str, int | None]]
) -> list[tuple[int, str]]:
    """[(index, operations)] of the stopped kdamonds whose staged configuration an
    nr_kdamonds write would reset (the kernel re-creates every kdamond directory)."""
    out = []
    for index, state, _pid in states:
        if state == "on":
            continue
        kd = join(root, "kdamonds", index)
        if not staged_config_empty(sysfs, kd):
            out.append((index, read_operations(sysfs, kd)))
    return out


def running_with_operations(
    sysfs: Sysfs, root: str, states: list[tuple[int, str, int | None]]
) -> list[tuple[int, str, int | None, str]]:
    """[(index, state, pid, operations)] of the running kdamonds among `states`
    (what describe_blockers names)."""
    return [
        (i, s, p, read_operations(sysfs, join(root, "kdamonds", i)))
        for i, s, p in states
        if s == "on"
    ]


def read_operations(sysfs: Sysfs, kd: str) -> str:
    ctxs = numbered_dirs(sysfs, join(kd, "contexts"))
    if not ctxs:
        return ""
    try:
        return sysfs.read(join(kd, "contexts", ctxs[0], "operations")).strip()
    except SysfsReadError:
        return ""


def read_context(
    sysfs: Sysfs,
    ctx: str,
    index: int,
    proc_root: str = "/proc",
    snapshot_schemes: tuple[int, ...] = (),
    with_stats: bool = True,
) -> ContextInfo:
    files = read_files(sysfs, ctx, ("operations", "avail_operations", "addr_unit"))
    ops = files.get("operations", "").strip()
    schemes = []
    sroot = join(ctx, "schemes")
    for s in numbered_dirs(sysfs, sroot):
        sdir = join(sroot, s)
        stats = (
            read_stats(sysfs, sdir, effective=sysfs.exists(join(sdir, "quotas/effective_bytes")))
            if with_stats
            else SchemeStats()
        )
        schemes.append(
            SchemeInfo(
                index=s,
                scheme=read_scheme(sysfs, sdir),
                stats=stats,
                tried_bytes=read_total_bytes(sysfs, sdir),
                nr_tried_regions=count_tried_regions(sysfs, sdir),
                snapshot=s in snapshot_schemes,
            )
        )
    addr_unit = files.get("addr_unit")
    return ContextInfo(
        index=index,
        operations=ops,
        avail_operations=tuple(files.get("avail_operations", "").split()),
        addr_unit=int(addr_unit) if addr_unit and addr_unit.strip().isdigit() else None,
        attrs=read_attrs(sysfs, ctx),
        targets=read_targets(sysfs, ctx, ops, proc_root),
        schemes=tuple(schemes),
    )


def read_kdamond(
    sysfs: Sysfs,
    root: str,
    index: int,
    store: OwnershipStore | None = None,
    proc_root: str = "/proc",
    deep: bool = True,
) -> KdamondInfo:
    kd = join(root, "kdamonds", index)
    state, pid = read_state(sysfs, kd)
    refresh = read_int(sysfs, join(kd, "refresh_ms"), -1)
    ownership, record, note = Ownership.FOREIGN, None, "not started by damontui"
    if store is not None:
        ownership, record, note = store.classify(root, index, state, pid)
    contexts: list[ContextInfo] = []
    if deep:
        snap = tuple(record.snapshot_schemes) if record is not None else ()
        for c in numbered_dirs(sysfs, join(kd, "contexts")):
            contexts.append(
                read_context(sysfs, join(kd, "contexts", c), c, proc_root, snapshot_schemes=snap)
            )
    return KdamondInfo(
        index=index,
        path=kd,
        state=state,
        pid=pid,
        refresh_ms=refresh if refresh >= 0 else None,
        contexts=tuple(contexts),
        ownership=ownership,
        owner_note=note,
        record=record,
    )


def list_kdamonds(
    sysfs: Sysfs | None = None,
    root: str = DEFAULT_ROOT,
    store: OwnershipStore | None = None,
    runtime_dir: str | None = None,
    proc_root: str = "/proc",
    deep: bool = True,
) -> list[KdamondInfo]:
    """Every kdamond under `root` with its ownership; `deep` adds contexts (config,
    targets, schemes, last-exposed stats).  Never writes anything."""
    sysfs = sysfs or RealSysfs()
    if store is None:
        store = OwnershipStore(runtime_dir, proc_root=proc_root)
    out = []
    for i in kdamond_indices(sysfs, root):
        try:
            out.append(read_kdamond(sysfs, root, i, store, proc_root, deep))
        except SysfsReadError as e:
            if e.errno == errno.ENOENT:
                continue  # removed while we looked
            raise  # e.g. EBUSY that outlasted the retries: don't hide a kdamond
    return out


def describe_blockers(blockers: list[tuple[int, str, int | None, str]]) -> str:
    parts = []
    for index, _state, pid, ops in blockers:
        parts.append(f"kdamond.{index} (pid {pid if pid else '?'}, {ops or 'unknown ops'})")
    return ", ".join(parts)
