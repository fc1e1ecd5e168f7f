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

from ...model.kernel_versions import (
    ACTION_VERSIONS,
    FEATURES,
    FILTER_TYPE_VERSIONS,
    GOAL_METRIC_VERSIONS,
    MIN_VERSION,
    OPS_VERSIONS,
    SPECS,
    STATE_COMMAND_FEATURE,
    STATE_COMMAND_VERSIONS,
    FeatureSpec,
    Version,
    parse_kernel_version,
    vstr,
)
from .reader import numbered_dirs
from .sysfs import DEFAULT_ROOT, RealSysfs, Sysfs, SysfsError, join, read_opt


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
