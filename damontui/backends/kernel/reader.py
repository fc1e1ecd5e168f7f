"""Read DAMON sysfs into model objects: config, stats, tried regions.

Reads only the files a caller asks for: the snapshot path reads one scheme's
tried_regions/ and the stats files of the user's schemes, never the whole tree.
"""

from __future__ import annotations

import hashlib
from array import array
from enum import Enum
from typing import Any

from ...model import (
    AccessPattern,
    Action,
    Dest,
    Filter,
    FilterType,
    GoalMetric,
    GoalTuner,
    IntervalsGoal,
    MonitoringAttrs,
    QuotaGoal,
    Quotas,
    QuotaWeights,
    Range,
    RegionArrays,
    Scheme,
    SchemeStats,
    Target,
    TargetKind,
    WatermarkMetric,
    Watermarks,
)
from ...procfs import proc_comm
from .probes import hits_file_names, read_probes
from .sysfs import Sysfs, SysfsReadError, join, numbered, parse_yn, read_int

FILTER_DIRS = ("core_filters", "ops_filters", "filters")
STATS_FILES = (
    "nr_tried",
    "sz_tried",
    "nr_applied",
    "sz_applied",
    "qt_exceeds",
    "sz_ops_filter_passed",
    "nr_snapshots",
)
REGION_FILES = ("start", "end", "nr_accesses", "age")


def _enum_or_raw(enum_type: type[Enum], value: str) -> Any:
    try:
        return enum_type(value)
    except ValueError:
        return value  # a kernel newer than the model: keep the kernel's word


def _int(text: str | None, default: int = 0) -> int:
    if text is None:
        return default
    try:
        return int(text.strip() or "0", 0)
    except ValueError:
        return default


def read_files(sysfs: Sysfs, path: str, names: tuple[str, ...] | list[str]) -> dict[str, str]:
    """The given files of one directory that exist (one listdir, one dir lookup)."""
    try:
        have = set(sysfs.listdir(path))
    except SysfsReadError:
        return {}
    wanted = [n for n in names if n in have]
    return dict(zip(wanted, sysfs.read_dir_files(path, wanted), strict=True))


def numbered_dirs(sysfs: Sysfs, path: str) -> list[int]:
    try:
        return numbered(sysfs.listdir(path))
    except SysfsReadError:
        return []


# --------------------------------------------------------------------------- config


def read_attrs(sysfs: Sysfs, ctx: str) -> MonitoringAttrs:
    iv = read_files(
        sysfs, join(ctx, "monitoring_attrs/intervals"), ("sample_us", "aggr_us", "update_us")
    )
    nr = read_files(sysfs, join(ctx, "monitoring_attrs/nr_regions"), ("min", "max"))
    goal = read_files(
        sysfs,
        join(ctx, "monitoring_attrs/intervals/intervals_goal"),
        ("access_bp", "aggrs", "min_sample_us", "max_sample_us"),
    )
    igoal = (
        IntervalsGoal(
            access_bp=_int(goal.get("access_bp")),
            aggrs=_int(goal.get("aggrs"), 3),
            min_sample_us=_int(goal.get("min_sample_us"), 5_000),
            max_sample_us=_int(goal.get("max_sample_us"), 10_000_000),
        )
        if goal
        else IntervalsGoal()
    )
    if igoal.access_bp == 0 and igoal.aggrs == 0:
        igoal = IntervalsGoal()  # all zero (as sysfs creates it): no tuning, the model's default
    return MonitoringAttrs(
        sample_us=_int(iv.get("sample_us"), 5_000),
        aggr_us=_int(iv.get("aggr_us"), 100_000),
        update_us=_int(iv.get("update_us"), 60_000_000),
        min_nr_regions=_int(nr.get("min"), 10),
        max_nr_regions=_int(nr.get("max"), 1_000),
        intervals_goal=igoal,
        probes=read_probes(sysfs, ctx),
    )


def read_tuned_intervals(sysfs: Sysfs, ctx: str) -> tuple[int, int]:
    iv = sysfs.read_dir_files(join(ctx, "monitoring_attrs/intervals"), ("sample_us", "aggr_us"))
    return _int(iv[0]), _int(iv[1])


def read_targets(sysfs: Sysfs, ctx: str, ops: str, proc_root: str = "/proc") -> tuple[Target, ...]:
    out = []
    tdir = join(ctx, "targets")
    for t in numbered_dirs(sysfs, tdir):
        base = join(tdir, t)
        files = read_files(sysfs, base, ("pid_target", "obsolete_target"))
        ranges = []
        rdir = join(base, "regions")
        for index, (start, end) in sysfs.read_numbered(rdir, ("start", "end")):
            del index
            ranges.append((_int(start), _int(end)))
        if ops == "paddr":
            out.append(
                Target(
                    TargetKind.PADDR,
                    ranges=tuple(ranges),
                    obsolete=parse_yn(files.get("obsolete_target", "N")),
                )
            )
        else:
            pid = _int(files.get("pid_target"))
            out.append(
                Target(
                    TargetKind.PID,
                    pid=pid,
                    name=proc_comm(pid, proc_root),
                    ranges=tuple(ranges) if ops == "fvaddr" else (),
                    obsolete=parse_yn(files.get("obsolete_target", "N")),
                )
            )
    return tuple(out)


def read_filter(sysfs: Sysfs, fdir: str) -> Filter:
    f = read_files(
        sysfs,
        fdir,
        (
            "type",
            "matching",
            "allow",
            "memcg_path",
            "addr_start",
            "addr_end",
            "damon_target_idx",
            "min",
            "max",
        ),
    )
    return Filter(
        type=_enum_or_raw(FilterType, f.get("type", "anon")),
        matching=parse_yn(f.get("matching", "N")),
        allow=parse_yn(f.get("allow", "N")),
        memcg_path=f.get("memcg_path", ""),
        addr_start=_int(f.get("addr_start")),
        addr_end=_int(f.get("addr_end")),
        target_idx=_int(f.get("damon_target_idx")),
        min=_int(f.get("min")),
        max=_int(f.get("max")),
    )


def read_filters(sysfs: Sysfs, sdir: str) -> tuple[Filter, ...]:
    out = []
    for name in FILTER_DIRS:
        base = join(sdir, name)
        for i in numbered_dirs(sysfs, base):
            out.append(read_filter(sysfs, join(base, i)))
    return tuple(out)


def read_goals(sysfs: Sysfs, qdir: str) -> tuple[QuotaGoal, ...]:
    out = []
    gdir = join(qdir, "goals")
    for i in numbered_dirs(sysfs, gdir):
        g = read_files(
            sysfs, join(gdir, i), ("target_metric", "target_value", "current_value", "nid", "path")
        )
        out.append(
            QuotaGoal(
                metric=_enum_or_raw(GoalMetric, g.get("target_metric", "user_input")),
                target_value=_int(g.get("target_value")),
                current_value=_int(g.get("current_value")),
                nid=_int(g.get("nid")),
                path=g.get("path", ""),
            )
        )
    return tuple(out)


def _range(sysfs: Sysfs, path: str) -> Range:
    lo, hi = sysfs.read_dir_files(path, ("min", "max"))
    return Range(_int(lo), _int(hi))


def read_dests(sysfs: Sysfs, sdir: str) -> tuple[Dest, ...]:
    rows = (
        sysfs.read_numbered(join(sdir, "dests"), ("id", "weight"))
        if sysfs.isdir(join(sdir, "dests"))
        else []
    )
    return tuple(Dest(_int(i), _int(w)) for _, (i, w) in rows)


def read_scheme(sysfs: Sysfs, sdir: str) -> Scheme:
    top = read_files(sysfs, sdir, ("action", "apply_interval_us", "target_nid"))
    ap = join(sdir, "access_pattern")
    q = read_files(
        sysfs,
        join(sdir, "quotas"),
        ("ms", "bytes", "reset_interval_ms", "goal_tuner", "fail_charge_num", "fail_charge_denom"),
    )
    st = read_files(sysfs, join(sdir, "stats"), ("max_nr_snapshots",))
    w = read_files(
        sysfs, join(sdir, "quotas/weights"), ("sz_permil", "nr_accesses_permil", "age_permil")
    )
    wm = read_files(
        sysfs, join(sdir, "watermarks"), ("metric", "interval_us", "high", "mid", "low")
    )
    return Scheme(
        action=_enum_or_raw(Action, top.get("action", "stat")),
        access_pattern=AccessPattern(
            sz=_range(sysfs, join(ap, "sz")),
            nr_accesses=_range(sysfs, join(ap, "nr_accesses")),
            age=_range(sysfs, join(ap, "age")),
        ),
        quotas=Quotas(
            ms=_int(q.get("ms")),
            bytes=_int(q.get("bytes")),
            reset_interval_ms=_int(q.get("reset_interval_ms")),
            weights=QuotaWeights(
                _int(w.get("sz_permil")),
                _int(w.get("nr_accesses_permil")),
                _int(w.get("age_permil")),
            ),
            goals=read_goals(sysfs, join(sdir, "quotas")),
            goal_tuner=_enum_or_raw(GoalTuner, q.get("goal_tuner", "consist")),
            fail_charge_num=_int(q.get("fail_charge_num")),
            fail_charge_denom=_int(q.get("fail_charge_denom")),
        ),
        watermarks=Watermarks(
            metric=_enum_or_raw(WatermarkMetric, wm.get("metric", "none")),
            interval_us=_int(wm.get("interval_us")),
            high=_int(wm.get("high")),
            mid=_int(wm.get("mid")),
            low=_int(wm.get("low")),
        ),
        filters=read_filters(sysfs, sdir),
        apply_interval_us=_int(top.get("apply_interval_us")),
        target_nid=_int(top.get("target_nid"), -1),
        dests=read_dests(sysfs, sdir),
        max_nr_snapshots=_int(st.get("max_nr_snapshots")),
    )


def read_schemes(sysfs: Sysfs, ctx: str) -> list[Scheme]:
    sroot = join(ctx, "schemes")
    return [read_scheme(sysfs, join(sroot, i)) for i in numbered_dirs(sysfs, sroot)]


# --------------------------------------------------------------------------- stats


def stats_file_names(sysfs: Sysfs, sdir: str) -> tuple[str, ...]:
    """The stats files this kernel has (looked up once per scheme dir)."""
    try:
        have = set(sysfs.listdir(join(sdir, "stats")))
    except SysfsReadError:
        return ()
    return tuple(n for n in STATS_FILES if n in have)


def read_stats(
    sysfs: Sysfs, sdir: str, names: tuple[str, ...] | None = None, effective: bool = False
) -> SchemeStats:
    if names is None:
        names = stats_file_names(sysfs, sdir)
    values = dict(zip(names, sysfs.read_dir_files(join(sdir, "stats"), names), strict=True))
    eff = 0
    if effective:
        eff = read_int(sysfs, join(sdir, "quotas/effective_bytes"), 0)
    return SchemeStats(
        nr_tried=_int(values.get("nr_tried")),
        sz_tried=_int(values.get("sz_tried")),
        nr_applied=_int(values.get("nr_applied")),
        sz_applied=_int(values.get("sz_applied")),
        qt_exceeds=_int(values.get("qt_exceeds")),
        sz_ops_filter_passed=_int(values.get("sz_ops_filter_passed")),
        effective_bytes=eff,
        nr_snapshots=_int(values.get("nr_snapshots")),
    )


# --------------------------------------------------------------------------- regions


def read_tried_regions(sysfs: Sysfs, sdir: str) -> RegionArrays:
    """One scheme's tried_regions/N/{start,end,nr_accesses,age}, in index order, with
    N/sz_filter_passed (6.14+) and N/probes/P/hits (7.2) where the kernel has them."""
    tdir = join(sdir, "tried_regions")
    first = numbered_dirs(sysfs, tdir)[:1]
    with_passed = bool(first) and sysfs.exists(join(tdir, first[0], "sz_filter_passed"))
    hits_names = hits_file_names(sysfs, join(tdir, first[0])) if first else ()
    names = REGION_FILES + (("sz_filter_passed",) if with_passed else ()) + hits_names
    rows = sysfs.read_numbered(tdir, names)
    starts, ends = array("Q"), array("Q")
    nr, ages = array("I"), array("I")
    passed = array("Q") if with_passed else None
    hits = tuple(array("I") for _ in hits_names)
    first_hit = len(names) - len(hits_names)
    for _, values in rows:
        starts.append(int(values[0]))
        ends.append(int(values[1]))
        nr.append(min(int(values[2]), 0xFFFFFFFF))
        ages.append(min(int(values[3]), 0xFFFFFFFF))
        if passed is not None:
            passed.append(_int(values[4]))
        for k, column in enumerate(hits):
            column.append(min(_int(values[first_hit + k]), 0xFFFFFFFF))
    return RegionArrays(starts, ends, nr, ages, passed, hits)


def count_tried_regions(sysfs: Sysfs, sdir: str) -> int:
    return len(numbered_dirs(sysfs, join(sdir, "tried_regions")))


def read_total_bytes(sysfs: Sysfs, sdir: str) -> int | None:
    path = join(sdir, "tried_regions/total_bytes")
    if not sysfs.exists(path):
        return None
    return read_int(sysfs, path, 0)


def split_by_address_order(regions: RegionArrays, nr_targets: int) -> list[RegionArrays]:
    """Split one scheme's tried regions into targets: the kernel lists them target by
    target, each in ascending address order, so a step back starts the next target.

    (A heuristic for kernels without target filters; exact when targets' address
    ranges don't ascend across the boundary.)"""
    parts: list[RegionArrays] = []
    start = 0
    n = len(regions)
    for i in range(1, n + 1):
        if i == n or regions.starts[i] < regions.ends[i - 1]:
            parts.append(regions.slice(start, i))
            start = i
    empty = RegionArrays(
        sz_filter_passed=None if regions.sz_filter_passed is None else array("Q"),
        probe_hits=tuple(array("I") for _ in regions.probe_hits),
    )
    while len(parts) < nr_targets:
        parts.append(empty.slice(0, 0))
    if len(parts) > nr_targets > 0:  # more steps than targets: fold the rest into the last
        head, tail = parts[: nr_targets - 1], parts[nr_targets - 1 :]
        parts = head + [RegionArrays.concat(tail)]
    return parts


# --------------------------------------------------------------------------- generic


# stats/ is walked: its one writable file (7.0 max_nr_snapshots) is configuration
SKIP_SUBTREES = ("tried_regions",)


def read_config_tree(sysfs: Sysfs, base: str) -> dict[str, str]:
    """Every writable file below `base` (relative path -> content), skipping `state`
    and tried regions (stats are read-only but for max_nr_snapshots): what it takes
    to re-create a staged configuration."""
    out: dict[str, str] = {}

    def walk(rel: str) -> None:
        path = join(base, rel) if rel else base
        for name in sorted(sysfs.listdir(path)):
            child_rel = f"{rel}/{name}" if rel else name
            child = join(base, child_rel)
            if sysfs.isdir(child):
                if name not in SKIP_SUBTREES:
                    walk(child_rel)
            elif name != "state" and sysfs.writable(child):
                out[child_rel] = sysfs.read(child)

    walk("")
    return out


def config_tree_order(tree: dict[str, str]) -> list[str]:
    """Write order that re-creates a tree: in each directory the nr_* file first
    (it re-creates the numbered children), then its files, then subdirectories."""

    def key(rel: str) -> tuple:
        parts = rel.split("/")
        out = []
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if last:
                out.append((0 if part.startswith("nr_") else 1, 0, part))
            else:
                out.append((2, int(part) if part.isdigit() else 0, part))
        return tuple(out)

    return sorted(tree, key=key)


def fingerprint(tree: dict[str, str]) -> str:
    h = hashlib.sha1()
    for rel in sorted(tree):
        h.update(rel.encode() + b"\0" + tree[rel].encode() + b"\0")
    return h.hexdigest()
