"""Which kernel brought each DAMON sysfs feature, action, filter type, goal metric and
state command: the version table kernel feature detection falls back on, and the
"needs kernel X.Y+" text of every refusal (kernel writer and editors alike).

Plain data, no I/O (backends/kernel/features.py does the reading).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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


def vstr(version: Version | None) -> str:
    return "unknown" if version is None else f"{version[0]}.{version[1]}"
