"""Which DAMON sysfs features this kernel has, found by READING only.

Presence of files in existing kdamond directories decides a feature; what no
existing directory can show (no kdamond, no scheme, no filter to look into) is
inferred from the kernel version table below and reported as inferred.  Nothing
is ever written to probe (damo writes trial configs; we don't).
"""

from __future__ import annotations

import platform
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .reader import numbered_dirs
from .sysfs import DEFAULT_ROOT, RealSysfs, Sysfs, SysfsError, join, read_opt

Version = tuple[int, int]


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    name: str
    version: Version
    probes: tuple[tuple[str, str], ...]  # (level, path relative to a dir of that level)
    what: str


# level: kdamond = kdamonds/N, context = .../contexts/0, scheme = .../schemes/N,
# target = .../targets/N, goal = .../quotas/goals/N, filter = any filter dir.
FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec(
        "commit",
        (5, 19),
        (("context", "avail_operations"),),
        "online tuning via 'commit' (arrived with avail_operations)",
    ),
    FeatureSpec(
        "tried_regions",
        (6, 2),
        (("scheme", "tried_regions"),),
        "per-scheme tried regions (region snapshots)",
    ),
    FeatureSpec("filters", (6, 3), (("scheme", "filters"),), "DAMOS filters"),
    FeatureSpec(
        "total_bytes",
        (6, 6),
        (("scheme", "tried_regions/total_bytes"),),
        "tried_regions/total_bytes and update_schemes_tried_bytes",
    ),
    FeatureSpec(
        "addr/target filters", (6, 6), (("filter", "addr_start"),), "addr and target filters"
    ),
    FeatureSpec(
        "apply_interval", (6, 7), (("scheme", "apply_interval_us"),), "per-scheme apply interval"
    ),
    FeatureSpec(
        "quota_goals",
        (6, 8),
        (("scheme", "quotas/goals"),),
        "quota goals and commit_schemes_quota_goals",
    ),
    FeatureSpec("goal_metric", (6, 9), (("goal", "target_metric"),), "quota goal metrics"),
    FeatureSpec(
        "effective_quota",
        (6, 9),
        (("scheme", "quotas/effective_bytes"),),
        "effective size quota and update_schemes_effective_quotas",
    ),
    FeatureSpec(
        "target_nid",
        (6, 11),
        (("scheme", "target_nid"),),
        "migrate_hot/migrate_cold and target_nid",
    ),
    FeatureSpec(
        "filter allow",
        (6, 14),
        (("filter", "allow"), ("scheme", "stats/sz_ops_filter_passed")),
        "allow filters and sz_ops_filter_passed",
    ),
    FeatureSpec(
        "core/ops filters",
        (6, 15),
        (("scheme", "core_filters"),),
        "core_filters/ and ops_filters/ directories",
    ),
    FeatureSpec(
        "intervals_goal",
        (6, 15),
        (("context", "monitoring_attrs/intervals/intervals_goal"),),
        "intervals auto-tuning and update_tuned_intervals",
    ),
    FeatureSpec("goal nid", (6, 16), (("goal", "nid"),), "node memory quota goals"),
    FeatureSpec(
        "refresh_ms", (6, 17), (("kdamond", "refresh_ms"),), "kernel-side periodic refresh of stats"
    ),
    FeatureSpec("dests", (6, 17), (("scheme", "dests"),), "migration destinations"),
    FeatureSpec("addr_unit", (6, 18), (("context", "addr_unit"),), "address unit"),
    FeatureSpec(
        "obsolete_target",
        (6, 19),
        (("target", "obsolete_target"),),
        "removing a target from the middle",
    ),
    FeatureSpec("goal path", (6, 19), (("goal", "path"),), "memcg quota goals"),
    FeatureSpec(
        "nr_snapshots", (7, 0), (("scheme", "stats/nr_snapshots"),), "DAMOS snapshot counters"
    ),
    FeatureSpec("goal_tuner", (7, 1), (("scheme", "quotas/goal_tuner"),), "quota goal tuner"),
    # First seen in Debian's 7.2 (the VM tier); the earliest kernel is not verified,
    # so "needs 7.2+" is the safe statement.  Detection by file decides anyway.
    FeatureSpec("pause", (7, 2), (("context", "pause"),), "pausing a context (pause)"),
    FeatureSpec(
        "fail_charge",
        (7, 2),
        (("scheme", "quotas/fail_charge_num"),),
        "quota charge for failed actions (fail_charge_num/denom)",
    ),
    FeatureSpec(
        "probes",
        (7, 2),
        (("context", "monitoring_attrs/probes"),),
        "data-attribute probes (monitoring_attrs/probes, tried region probe hits)",
    ),
)
# Per tried region sz_filter_passed arrived with allow filters (6.14): the files
# appear only in tried regions, so "filter allow" is their witness.
REGION_FILTER_PASSED = "filter allow"
SPECS = {spec.name: spec for spec in FEATURES}

OPS_VERSIONS: dict[str, Version] = {"vaddr": (5, 18), "paddr": (5, 18), "fvaddr": (5, 19)}

ACTION_VERSIONS: dict[str, Version] = {
    "willneed": (5, 18),
    "cold": (5, 18),
    "pageout": (5, 18),
    "hugepage": (5, 18),
    "nohugepage": (5, 18),
    "stat": (5, 18),
    "lru_prio": (6, 0),
    "lru_deprio": (6, 0),
    "migrate_hot": (6, 11),
    "migrate_cold": (6, 11),
    "collapse": (7, 2),
}

FILTER_TYPE_VERSIONS: dict[str, Version] = {
    "anon": (6, 3),
    "memcg": (6, 3),
    "addr": (6, 6),
    "target": (6, 6),
    "young": (6, 10),
    "active": (6, 15),
    "hugepage_size": (6, 15),
    "unmapped": (6, 15),
}

GOAL_METRIC_VERSIONS: dict[str, Version] = {
    "user_input": (6, 8),
    "some_mem_psi_us": (6, 9),
    "node_mem_used_bp": (6, 16),
    "node_mem_free_bp": (6, 16),
    "node_memcg_used_bp": (6, 19),
    "node_memcg_free_bp": (6, 19),
    "active_mem_bp": (7, 0),
    "inactive_mem_bp": (7, 0),
    "node_eligible_mem_bp": (7, 2),  # first seen in 7.2 (earliest not verified)
}

STATE_COMMAND_VERSIONS: dict[str, Version] = {
    "on": (5, 18),
    "off": (5, 18),
    "update_schemes_stats": (5, 18),
    "commit": (5, 19),
    "update_schemes_tried_regions": (6, 2),
    "clear_schemes_tried_regions": (6, 2),
    "update_schemes_tried_bytes": (6, 6),
    "commit_schemes_quota_goals": (6, 8),
    "update_schemes_effective_quotas": (6, 9),
    "update_tuned_intervals": (6, 15),
}
# The feature each command comes with (its detection decides the command).
STATE_COMMAND_FEATURE = {
    "commit": "commit",
    "update_schemes_tried_regions": "tried_regions",
    "clear_schemes_tried_regions": "tried_regions",
    "update_schemes_tried_bytes": "total_bytes",
    "commit_schemes_quota_goals": "quota_goals",
    "update_schemes_effective_quotas": "effective_quota",
    "update_tuned_intervals": "intervals_goal",
}

MIN_VERSION: Version = (5, 18)


def parse_kernel_version(release: str) -> Version | None:
    """(major, minor) from '6.18.44-fc-v782', 'Linux version 6.2.0 (...)' or '5.18'."""
    match = re.search(r"(\d+)\.(\d+)", release or "")
    if not match:
        return None
    return int(match.group(1)), int(match.group(2))


def kernel_release(proc_version: str | None = "/proc/version") -> str:
    """The running kernel's release: /proc/version if readable, else platform.release()."""
    if proc_version:
        try:
            with open(proc_version) as f:
                match = re.search(r"Linux version (\S+)", f.read())
            if match:
                return match.group(1)
        except OSError:
            pass
    return platform.release()


def vstr(version: Version | None) -> str:
    return "unknown" if version is None else f"{version[0]}.{version[1]}"


@dataclass(frozen=True)
class Features:
    """The DAMON sysfs features of one kernel (see module docstring)."""

    root: str
    kernel_release: str
    version: Version | None
    sysfs_present: bool
    present: frozenset[str] = frozenset()
    detected: frozenset[str] = frozenset()  # decided by reading files (present or absent)
    avail_operations: tuple[str, ...] = ()
    ops_detected: bool = False
    notes: tuple[str, ...] = ()
    sample_dirs: dict[str, str] = field(default_factory=dict)  # level -> inspected dir

    @property
    def inferred(self) -> frozenset[str]:
        return frozenset(s.name for s in FEATURES) - self.detected

    @property
    def effective_version(self) -> Version | None:
        """The kernel version, raised to what detected files prove (backports)."""
        best = self.version
        for name in self.present & self.detected:
            v = SPECS[name].version
            if best is None or v > best:
                best = v
        return best

    def has(self, name: str) -> bool:
        if name in OPS_VERSIONS:
            return name in self.avail_operations
        return name in self.present

    def needs(self, name: str) -> str:
        """'kernel 6.8+' for a feature name, action, filter type, metric or command."""
        for table in (
            SPECS,
            OPS_VERSIONS,
            ACTION_VERSIONS,
            FILTER_TYPE_VERSIONS,
            GOAL_METRIC_VERSIONS,
            STATE_COMMAND_VERSIONS,
        ):
            if name in table:
                entry = table[name]
                version = entry.version if isinstance(entry, FeatureSpec) else entry
                return f"kernel {vstr(version)}+"
        return "a newer kernel"

    def _version_allows(self, version: Version) -> bool:
        eff = self.effective_version
        return eff is not None and eff >= version

    def supports_action(self, action: str) -> bool:
        version = ACTION_VERSIONS.get(action)
        return version is not None and self._version_allows(version)

    def supports_filter_type(self, ftype: str) -> bool:
        if not self.has("filters"):
            return False
        version = FILTER_TYPE_VERSIONS.get(ftype)
        if ftype in ("addr", "target") and "addr/target filters" in self.detected:
            return self.has("addr/target filters")
        return version is not None and self._version_allows(version)

    def supports_goal_metric(self, metric: str) -> bool:
        if not self.has("quota_goals"):
            return False
        if metric != "user_input" and not self.has("goal_metric"):
            return False
        version = GOAL_METRIC_VERSIONS.get(metric)
        return version is not None and self._version_allows(version)

    def supports_command(self, command: str) -> bool:
        feature = STATE_COMMAND_FEATURE.get(command)
        if feature is not None:
            return self.has(feature)
        version = STATE_COMMAND_VERSIONS.get(command)
        return version is not None and self._version_allows(version)

    @property
    def version_text(self) -> str:
        return vstr(self.version)

    def labels(self) -> tuple[str, ...]:
        """What the UI shows: present features, inferred ones marked with '*'."""
        out = []
        for ops in ("vaddr", "fvaddr", "paddr"):
            if ops in self.avail_operations:
                out.append(ops if self.ops_detected else ops + "*")
        for spec in FEATURES:
            if spec.name in self.present:
                out.append(spec.name if spec.name in self.detected else spec.name + "*")
        return tuple(out)

    def missing(self) -> tuple[str, ...]:
        return tuple(s.name for s in FEATURES if s.name not in self.present)


def _first_numbered(sysfs: Sysfs, path: str) -> list[str]:
    return [join(path, n) for n in numbered_dirs(sysfs, path)]


def _sample_dirs(
    sysfs: Sysfs, root: str, limit: int = 16, kdamond_dirs: Sequence[str] | None = None
) -> dict[str, str]:
    """One existing directory per level to look into (reading only)."""
    found: dict[str, str] = {}
    kds = (
        list(kdamond_dirs)
        if kdamond_dirs is not None
        else _first_numbered(sysfs, join(root, "kdamonds"))
    )
    for kd in kds[:limit]:
        found.setdefault("kdamond", kd)
        for ctx in _first_numbered(sysfs, join(kd, "contexts"))[:1]:
            found.setdefault("context", ctx)
            for target in _first_numbered(sysfs, join(ctx, "targets"))[:1]:
                found.setdefault("target", target)
            for scheme in _first_numbered(sysfs, join(ctx, "schemes"))[:limit]:
                found.setdefault("scheme", scheme)
                for goal in _first_numbered(sysfs, join(scheme, "quotas/goals"))[:1]:
                    found.setdefault("goal", goal)
                for fdir in ("core_filters", "ops_filters", "filters"):
                    for flt in _first_numbered(sysfs, join(scheme, fdir))[:1]:
                        found.setdefault("filter", flt)
        if len(found) == 6:
            break
    return found


def detect_features(
    sysfs: Sysfs | None = None,
    root: str = DEFAULT_ROOT,
    kernel_release_text: str | None = None,
    proc_version: str | None = "/proc/version",
    kdamond_dirs: Sequence[str] | None = None,
) -> Features:
    """Detect features by reading `root` (never writing); infer the rest from the
    kernel version (`kernel_release_text`, default: the running kernel's).
    `kdamond_dirs` limits where to look (damontui's own kdamond: own_features.py)."""
    sysfs = sysfs or RealSysfs()
    release = (
        kernel_release_text if kernel_release_text is not None else kernel_release(proc_version)
    )
    version = parse_kernel_version(release)
    notes: list[str] = []
    if not sysfs.isdir(join(root, "kdamonds")):
        notes.append(
            f"DAMON sysfs not found at {root} (kernel without CONFIG_DAMON_SYSFS, "
            "or sysfs not mounted)"
        )
        return Features(root, release, version, False, notes=tuple(notes))
    if version is not None and version < MIN_VERSION:
        notes.append(f"kernel {vstr(version)} predates DAMON sysfs (5.18)")
    dirs = _sample_dirs(sysfs, root, kdamond_dirs=kdamond_dirs)
    present: set[str] = set()
    detected: set[str] = set()
    for spec in FEATURES:
        for level, rel in spec.probes:
            base = dirs.get(level)
            if base is None:
                continue
            detected.add(spec.name)
            if sysfs.exists(join(base, rel)):
                present.add(spec.name)
                break
        else:
            if spec.name not in detected and version is not None and version >= spec.version:
                present.add(spec.name)
    # addr/target filters are decided by the filter files when a filter dir exists;
    # without one, the same-version total_bytes file is the better witness.
    if "addr/target filters" not in detected and "total_bytes" in detected:
        if "total_bytes" in present:
            present.add("addr/target filters")
        else:
            present.discard("addr/target filters")
    inferred = sorted(s.name for s in FEATURES if s.name not in detected)
    if inferred:
        levels = ", ".join(
            sorted({lvl for s in FEATURES if s.name in inferred for lvl, _ in s.probes} - set(dirs))
        )
        notes.append(
            f"inferred from kernel version {vstr(version)} (no existing {levels} directory "
            f"to inspect): {', '.join(inferred)}"
        )
    ops: tuple[str, ...] = ()
    ops_detected = False
    ctx = dirs.get("context")
    if ctx is not None:
        try:
            text = read_opt(sysfs, join(ctx, "avail_operations"))
        except SysfsError as e:
            text = None
            notes.append(f"avail_operations unreadable ({e})")
        if text is not None:
            ops = tuple(text.split())
            ops_detected = True
    if not ops_detected:
        eff = version
        ops = tuple(o for o, v in OPS_VERSIONS.items() if eff is not None and eff >= v)
        if ctx is not None and "commit" not in present:
            ops = tuple(o for o in ops if o != "fvaddr")
        notes.append(
            "available operations inferred from the kernel version "
            "(no avail_operations file to read)"
        )
    return Features(
        root=root,
        kernel_release=release,
        version=version,
        sysfs_present=True,
        present=frozenset(present),
        detected=frozenset(detected),
        avail_operations=ops,
        ops_detected=ops_detected,
        notes=tuple(notes),
        sample_dirs=dirs,
    )
