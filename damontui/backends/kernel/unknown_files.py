"""Files in a kdamond directory that damontui's model does not cover (pause,
addr_unit, goal_tuner, fail_charge_*, dests, max_nr_snapshots, obsolete_target and
7.2's data-attribute probes are modelled since the 7.x work; a newer kernel's files
are not).

damontui keeps them byte for byte where it only adds or removes its own scheme
(take-over) and never writes them; the user is told which ones were found."""

from __future__ import annotations

import re

from .reader import read_config_tree
from .sysfs import Sysfs, SysfsError

_N = r"\d+"
_FILTER = r"(type|matching|allow|memcg_path|addr_start|addr_end|damon_target_idx|min|max)"
_KNOWN = [
    r"refresh_ms",
    r"contexts/nr_contexts",
    rf"contexts/{_N}/(operations|addr_unit|pause)",
    rf"contexts/{_N}/monitoring_attrs/intervals/(sample_us|aggr_us|update_us)",
    rf"contexts/{_N}/monitoring_attrs/intervals/intervals_goal/"
    r"(access_bp|aggrs|min_sample_us|max_sample_us)",
    rf"contexts/{_N}/monitoring_attrs/nr_regions/(min|max)",
    rf"contexts/{_N}/monitoring_attrs/probes/nr_probes",
    rf"contexts/{_N}/monitoring_attrs/probes/{_N}/filters/nr_filters",
    rf"contexts/{_N}/monitoring_attrs/probes/{_N}/filters/{_N}/(type|matching|allow|path)",
    rf"contexts/{_N}/targets/nr_targets",
    rf"contexts/{_N}/targets/{_N}/(pid_target|obsolete_target)",
    rf"contexts/{_N}/targets/{_N}/regions/nr_regions",
    rf"contexts/{_N}/targets/{_N}/regions/{_N}/(start|end)",
    rf"contexts/{_N}/schemes/nr_schemes",
    rf"contexts/{_N}/schemes/{_N}/(action|apply_interval_us|target_nid)",
    rf"contexts/{_N}/schemes/{_N}/access_pattern/(sz|nr_accesses|age)/(min|max)",
    rf"contexts/{_N}/schemes/{_N}/quotas/(ms|bytes|reset_interval_ms|goal_tuner|"
    r"fail_charge_num|fail_charge_denom)",
    rf"contexts/{_N}/schemes/{_N}/stats/max_nr_snapshots",
    rf"contexts/{_N}/schemes/{_N}/dests/nr_dests",
    rf"contexts/{_N}/schemes/{_N}/dests/{_N}/(id|weight)",
    rf"contexts/{_N}/schemes/{_N}/quotas/weights/(sz_permil|nr_accesses_permil|age_permil)",
    rf"contexts/{_N}/schemes/{_N}/quotas/goals/nr_goals",
    rf"contexts/{_N}/schemes/{_N}/quotas/goals/{_N}/"
    r"(target_value|current_value|target_metric|nid|path)",
    rf"contexts/{_N}/schemes/{_N}/watermarks/(metric|interval_us|high|mid|low)",
    rf"contexts/{_N}/schemes/{_N}/(filters|core_filters|ops_filters)/nr_filters",
    rf"contexts/{_N}/schemes/{_N}/(filters|core_filters|ops_filters)/{_N}/{_FILTER}",
]
KNOWN = re.compile("^(" + "|".join(_KNOWN) + ")$")


def unknown_files(tree: dict[str, str]) -> list[str]:
    """Paths (relative to the kdamond directory) of a read_config_tree() result
    that damontui's model does not cover, in order."""
    return sorted(rel for rel in tree if not KNOWN.match(rel))


def kept_note(name: str, tree: dict[str, str], limit: int = 12) -> str | None:
    """'kdamond.0: files damontui does not model, kept as they are: ...' or None."""
    unknown = unknown_files(tree)
    if not unknown:
        return None
    shown = ", ".join(f"{rel}={tree[rel].strip()[:20]}" for rel in unknown[:limit])
    more = f" and {len(unknown) - limit} more" if len(unknown) > limit else ""
    return f"{name}: files damontui does not model, kept as they are (never written): {shown}{more}"


def note_unknown_files(sysfs: Sysfs, kd: str, name: str, notes: list[str]) -> None:
    """Append kept_note() for kdamond directory `kd` to `notes` (reading only)."""
    try:
        tree = read_config_tree(sysfs, kd)
    except SysfsError:
        return
    note = kept_note(name, tree)
    if note:
        notes.append(note)
