"""Feature detection from damontui's OWN kdamond directory.

With no kdamond to look into, features.py can only infer most features from the
kernel version.  Once damontui has created its kdamond directory (its own write),
every level can be looked into: the context, a target, a scheme, and - after
creating one quota goal and one filter of each kind in its own scheme, and
removing them again before anything is staged - a goal and a filter.  Nothing
outside damontui's own kdamond directory is written.
"""

from __future__ import annotations

from .features import Features, detect_features
from .sysfs import Sysfs, join, read_opt

# count files created (set to 1) in the probed scheme, then set back
PROBE_COUNTS = (
    "quotas/goals/nr_goals",
    "filters/nr_filters",
    "core_filters/nr_filters",
    "ops_filters/nr_filters",
    "dests/nr_dests",
)


def detect_in_own(sysfs: Sysfs, root: str, kd: str, release: str) -> Features:
    """Features read from our kdamond `kd` (contexts/0 with at least one target and
    one scheme must exist).  Counts it raises to look into goals and filters are set
    back to what they were before it returns."""
    sdir = join(kd, "contexts/0/schemes/0")
    restore: list[tuple[str, str]] = []
    try:
        for rel in PROBE_COUNTS:
            path = join(sdir, rel)
            old = read_opt(sysfs, path)
            if old is None:
                continue
            if old.strip() == "0":
                sysfs.write(path, 1)
                restore.append((path, old.strip()))
        return detect_features(sysfs, root, release, kdamond_dirs=[kd])
    finally:
        for path, old in reversed(restore):
            sysfs.write(path, old)
