"""Model -> staged DAMON sysfs files (writes through the Sysfs object only).

`check_support` validates the model and decides, before anything is written,
what this kernel can't do: a scheme that needs a missing feature raises
BackendError naming the field and the kernel version needed; settings the
kernel can do without (e.g. apply_interval_us before 6.7) become notes.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...model import (
    AccessPattern,
    Action,
    Filter,
    FilterType,
    GoalMetric,
    MonitoringAttrs,
    QuotaGoal,
    Range,
    Scheme,
    Target,
    TargetKind,
    ValidationError,
)
from ...model.units import U32_MAX, U64_MAX
from ..base import BackendError
from .features import Features, vstr
from .reader import config_tree_order
from .sysfs import Sysfs, join, yn

SNAPSHOT_SCHEME_NAME = "damontui-snapshot"
NODE_METRICS = {
    "node_mem_used_bp",
    "node_mem_free_bp",
    "node_memcg_used_bp",
    "node_memcg_free_bp",
    "node_eligible_mem_bp",
}
MEMCG_METRICS = {"node_memcg_used_bp", "node_memcg_free_bp"}


def _val(x: object) -> str:
    return x.value if hasattr(x, "value") else str(x)


def ops_for_targets(targets: Sequence[Target]) -> str:
    """vaddr for pids, fvaddr for pids with fixed ranges, paddr for physical memory."""
    kinds = {t.kind for t in targets}
    if not targets:
        raise BackendError("kernel DAMON needs at least one target")
    if len(kinds) > 1:
        raise BackendError(
            "one kdamond context monitors one kind of target; got "
            + ", ".join(sorted(k.value for k in kinds))
        )
    kind = next(iter(kinds))
    if kind is TargetKind.PADDR:
        return "paddr"
    if kind is TargetKind.PID:
        return "fvaddr" if any(t.ranges for t in targets) else "vaddr"
    raise BackendError(f"kernel DAMON cannot monitor {kind.value} targets; use --backend engine")


def snapshot_scheme(
    attrs: MonitoringAttrs, features: Features, target_idx: int | None = None
) -> Scheme:
    """damontui's region-snapshot scheme: stat, matches everything, applied every
    aggregation (apply_interval_us = aggr_us where the kernel has it)."""
    filters: tuple[Filter, ...] = ()
    if target_idx is not None:
        filters = (Filter(FilterType.TARGET, matching=False, target_idx=target_idx),)
    return Scheme(
        action=Action.STAT,
        access_pattern=AccessPattern(Range(0, U64_MAX), Range(0, U32_MAX), Range(0, U32_MAX)),
        apply_interval_us=attrs.aggr_us if features.has("apply_interval") else 0,
        filters=filters,
        name=SNAPSHOT_SCHEME_NAME,
    )


def snapshot_schemes(attrs: MonitoringAttrs, nr_targets: int, features: Features) -> list[Scheme]:
    """One scheme per target (target filters, 6.6+) when there are several targets,
    else one scheme whose tried regions are split by address order."""
    if nr_targets > 1 and features.supports_filter_type("target"):
        return [snapshot_scheme(attrs, features, i) for i in range(nr_targets)]
    return [snapshot_scheme(attrs, features)]


def memcg_paths(schemes: Sequence[Scheme]) -> list[str]:
    """'scheme 0 filter 1: /foo' for every memcg path the schemes name."""
    out = []
    for si, s in enumerate(schemes):
        for fi, f in enumerate(s.filters):
            if _val(f.type) == "memcg":
                out.append(f"scheme {si} filter {fi}: {f.memcg_path}")
        for gi, g in enumerate(s.quotas.goals):
            if _val(g.metric) in MEMCG_METRICS:
                out.append(f"scheme {si} goal {gi}: {g.path}")
    return out


def _needs(features: Features, what: str, field: str, name: str) -> BackendError:
    return BackendError(
        f"{field}: {what} needs {features.needs(name)} (this kernel: "
        f"{vstr(features.version)}); remove it or use the user-space engine (--backend engine)"
    )


def check_newer(
    features: Features,
    attrs: MonitoringAttrs,
    targets: Sequence[Target],
    schemes: Sequence[Scheme],
    addr_unit: int = 1,
    pause: bool = False,
) -> None:
    """Refuse, before any write, the 6.17+/7.x settings this kernel lacks (each
    message names the setting and the kernel version it needs)."""
    if addr_unit != 1 and not features.has("addr_unit"):
        raise _needs(features, f"addr_unit {addr_unit}", "context addr_unit", "addr_unit")
    if pause and not features.has("pause"):
        raise _needs(features, "pausing a context", "context pause", "pause")
    if attrs.probes:
        if not features.has("probes"):
            raise _needs(features, "data-attribute probes", "monitoring_attrs.probes", "probes")
        raise BackendError(
            "monitoring_attrs.probes: the kernel backend does not write "
            "data-attribute probes yet; remove them (damo can set them)"
        )
    for i, t in enumerate(targets):
        if t.obsolete and not features.has("obsolete_target"):
            raise _needs(
                features, "an obsolete target", f"targets[{i}].obsolete", "obsolete_target"
            )
    for i, s in enumerate(schemes):
        q = s.quotas
        if _val(q.goal_tuner) != "consist" and not features.has("goal_tuner"):
            raise _needs(
                features,
                f"goal_tuner '{_val(q.goal_tuner)}'",
                f"scheme {i} quotas.goal_tuner",
                "goal_tuner",
            )
        if (q.fail_charge_num or q.fail_charge_denom) and not features.has("fail_charge"):
            raise _needs(
                features,
                "fail_charge_num/fail_charge_denom",
                f"scheme {i} quotas.fail_charge_num",
                "fail_charge",
            )
        if s.max_nr_snapshots and not features.has("nr_snapshots"):
            raise _needs(
                features, "max_nr_snapshots", f"scheme {i} max_nr_snapshots", "nr_snapshots"
            )
        if s.dests and not features.has("dests"):
            raise _needs(features, "migration destinations", f"scheme {i} dests", "dests")
        for gi, g in enumerate(q.goals):
            if g.complement:
                raise BackendError(
                    f"scheme {i} quotas.goals[{gi}].complement: no DAMON sysfs file for "
                    "it in the kernels damontui knows; remove it or use damo"
                )


def check_support(
    features: Features,
    ops: str,
    attrs: MonitoringAttrs,
    targets: Sequence[Target],
    schemes: Sequence[Scheme],
    *,
    addr_unit: int = 1,
    pause: bool = False,
) -> list[str]:
    """Validate the model, then what this kernel supports.  Returns notes about
    settings the kernel ignores; raises BackendError for what a scheme needs."""
    try:
        attrs.validate()
    except ValidationError as e:
        raise BackendError(f"monitoring attrs: {e}") from None
    for i, s in enumerate(schemes):
        try:
            s.validate()
        except ValidationError as e:
            raise BackendError(f"scheme {i}: {e}") from None
    notes: list[str] = []
    if not features.sysfs_present:
        raise BackendError(f"no DAMON sysfs at {features.root}; use --backend engine")
    if ops not in features.avail_operations:
        raise BackendError(
            f"operations '{ops}' not available on this kernel (avail_operations: "
            f"{' '.join(features.avail_operations) or 'none'}"
            + ("" if features.ops_detected else ", inferred")
            + "); kernel config lacks it? use the user-space engine (--backend engine)"
        )
    if ops in ("vaddr", "fvaddr"):
        for i, t in enumerate(targets):
            if t.pid is None or t.pid <= 0:
                raise BackendError(f"targets[{i}]: {ops} needs a pid")
    if attrs.intervals_goal.enabled and not features.has("intervals_goal"):
        notes.append(
            f"intervals auto-tuning (intervals_goal) not supported by this kernel "
            f"(needs {features.needs('intervals_goal')}); intervals stay fixed"
        )
    for i, s in enumerate(schemes):
        action = _val(s.action)
        if not features.supports_action(action):
            raise _needs(features, f"action '{action}'", f"scheme {i} action", action)
        if s.apply_interval_us and not features.has("apply_interval"):
            notes.append(
                f"scheme {i}: apply_interval_us not supported by this kernel (needs "
                f"{features.needs('apply_interval')}); it applies every aggregation"
            )
        goals = s.quotas.goals
        if goals and not features.has("quota_goals"):
            raise _needs(features, "quota goals", f"scheme {i} quotas.goals", "quota_goals")
        for gi, g in enumerate(goals):
            metric = _val(g.metric)
            field = f"scheme {i} quotas.goals[{gi}].metric"
            if metric != "user_input" and not features.has("goal_metric"):
                raise _needs(features, f"goal metric '{metric}'", field, "goal_metric")
            if not features.supports_goal_metric(metric):
                raise _needs(features, f"goal metric '{metric}'", field, metric)
            if metric in NODE_METRICS and not features.has("goal nid"):
                raise _needs(features, "a goal node id", field, "goal nid")
            if metric in MEMCG_METRICS and not features.has("goal path"):
                raise _needs(features, "a goal memcg path", field, "goal path")
        if s.filters and not features.has("filters"):
            raise _needs(features, "filters", f"scheme {i} filters", "filters")
        for fi, f in enumerate(s.filters):
            ftype = _val(f.type)
            field = f"scheme {i} filters[{fi}]"
            if not features.supports_filter_type(ftype):
                raise _needs(features, f"filter type '{ftype}'", f"{field}.type", ftype)
            if f.allow and not features.has("filter allow"):
                raise _needs(features, "an allow filter", f"{field}.allow", "filter allow")
            if ftype == "target" and f.target_idx >= max(1, len(targets)):
                raise BackendError(
                    f"{field}.target_idx: {f.target_idx} but there are only {len(targets)} targets"
                )
    check_newer(features, attrs, targets, schemes, addr_unit, pause)
    return notes


class Writer:
    """Stages model objects into a context directory (no state commands here)."""

    def __init__(self, sysfs: Sysfs, features: Features) -> None:
        self.sysfs = sysfs
        self.features = features
        self.nr_writes = 0
        self.notes: list[str] = []

    def w(self, path: str, value: object, hint: str | None = None) -> None:
        self.sysfs.write(path, value, hint)
        self.nr_writes += 1

    def w_opt(self, path: str, value: object, what: str = "") -> bool:
        """Write a file only if this kernel has it; note it when it's missing."""
        if self.sysfs.exists(path):
            self.w(path, value)
            return True
        if what:
            self.notes.append(f"{what} not supported by this kernel; not set")
        return False

    # --- attrs ------------------------------------------------------------------

    def stage_attrs(self, ctx: str, attrs: MonitoringAttrs) -> None:
        iv = join(ctx, "monitoring_attrs/intervals")
        self.w(join(iv, "sample_us"), attrs.sample_us)
        self.w(join(iv, "aggr_us"), attrs.aggr_us)
        self.w(join(iv, "update_us"), attrs.update_us)
        nr = join(ctx, "monitoring_attrs/nr_regions")
        self.w(join(nr, "min"), attrs.min_nr_regions)
        self.w(join(nr, "max"), attrs.max_nr_regions)
        goal_dir = join(iv, "intervals_goal")
        if self.sysfs.isdir(goal_dir):
            # The kernel tunes whenever aggrs != 0, whatever access_bp says (and
            # 6.15+ kernels before the divide-by-zero fix can crash on a zero
            # goal): no goal asked for means all four files 0, as sysfs creates them.
            g = attrs.intervals_goal
            on = g.enabled
            self.w(join(goal_dir, "access_bp"), g.access_bp if on else 0)
            self.w(join(goal_dir, "aggrs"), g.aggrs if on else 0)
            self.w(join(goal_dir, "min_sample_us"), g.min_sample_us if on else 0)
            self.w(join(goal_dir, "max_sample_us"), g.max_sample_us if on else 0)

    # --- targets ----------------------------------------------------------------

    def stage_targets(self, ctx: str, ops: str, targets: Sequence[Target]) -> None:
        troot = join(ctx, "targets")
        self.w(join(troot, "nr_targets"), len(targets))
        for i, t in enumerate(targets):
            tdir = join(troot, i)
            if ops in ("vaddr", "fvaddr"):
                self.w(join(tdir, "pid_target"), t.pid, hint=f"target pid {t.pid} probably exited")
            if t.obsolete or self.sysfs.exists(join(tdir, "obsolete_target")):
                self.w_opt(join(tdir, "obsolete_target"), yn(t.obsolete), f"targets[{i}].obsolete")
            ranges = list(t.ranges)
            rdir = join(tdir, "regions")
            self.w(join(rdir, "nr_regions"), len(ranges))
            for r, (start, end) in enumerate(ranges):
                self.w(join(rdir, r, "start"), start)
                self.w(join(rdir, r, "end"), end)

    # --- schemes ----------------------------------------------------------------

    def stage_schemes(self, ctx: str, schemes: Sequence[Scheme]) -> None:
        sroot = join(ctx, "schemes")
        self.w(join(sroot, "nr_schemes"), len(schemes))  # re-creates every scheme dir
        for i, s in enumerate(schemes):
            self.stage_scheme(join(sroot, i), s, i)

    def stage_scheme(self, sdir: str, s: Scheme, index: int = 0) -> None:
        action = _val(s.action)
        self.w(join(sdir, "action"), action)
        if action in ("migrate_hot", "migrate_cold") and not s.dests:
            self.w(join(sdir, "target_nid"), s.target_nid)
        if s.dests or self.sysfs.isdir(join(sdir, "dests")):
            self.stage_dests(sdir, s)
        if s.max_nr_snapshots or self.sysfs.exists(join(sdir, "stats/max_nr_snapshots")):
            self.w_opt(
                join(sdir, "stats/max_nr_snapshots"),
                s.max_nr_snapshots,
                f"scheme {index} max_nr_snapshots",
            )
        if s.apply_interval_us:
            self.w_opt(
                join(sdir, "apply_interval_us"),
                s.apply_interval_us,
                f"scheme {index} apply_interval_us",
            )
        elif self.sysfs.exists(join(sdir, "apply_interval_us")):
            self.w(join(sdir, "apply_interval_us"), 0)
        ap = join(sdir, "access_pattern")
        # a new scheme's ranges are 0..0 and match nothing: always write all six
        pattern = self._age_in_force(sdir, s.access_pattern)
        for name, rng in (
            ("sz", pattern.sz),
            ("nr_accesses", pattern.nr_accesses),
            ("age", pattern.age),
        ):
            self.w(join(ap, name, "min"), rng.min)
            self.w(join(ap, name, "max"), rng.max)
        q = join(sdir, "quotas")
        self.w(join(q, "ms"), s.quotas.ms)
        self.w(join(q, "bytes"), s.quotas.bytes)
        self.w(join(q, "reset_interval_ms"), s.quotas.reset_interval_ms)
        w = join(q, "weights")
        self.w(join(w, "sz_permil"), s.quotas.weights.sz_permil)
        self.w(join(w, "nr_accesses_permil"), s.quotas.weights.nr_accesses_permil)
        self.w(join(w, "age_permil"), s.quotas.weights.age_permil)
        # 7.x quota files: written where the kernel has them (check_newer refused a
        # non-default value the kernel lacks); the defaults keep a reused dir clean
        tuner = _val(s.quotas.goal_tuner)
        if tuner != "consist" or self.sysfs.exists(join(q, "goal_tuner")):
            self.w_opt(join(q, "goal_tuner"), tuner, f"scheme {index} quotas.goal_tuner")
        for name in ("fail_charge_num", "fail_charge_denom"):
            value = getattr(s.quotas, name)
            if value or self.sysfs.exists(join(q, name)):
                self.w_opt(join(q, name), value, f"scheme {index} quotas.{name}")
        if s.quotas.goals or self.sysfs.isdir(join(q, "goals")):
            self.stage_goals(q, s.quotas.goals)
        wm = join(sdir, "watermarks")
        self.w(join(wm, "metric"), _val(s.watermarks.metric))
        self.w(join(wm, "interval_us"), s.watermarks.interval_us)
        self.w(join(wm, "high"), s.watermarks.high)
        self.w(join(wm, "mid"), s.watermarks.mid)
        self.w(join(wm, "low"), s.watermarks.low)
        if s.filters or self.sysfs.isdir(join(sdir, "filters")):
            self.stage_filters(sdir, s.filters)

    def _age_in_force(self, sdir: str, pattern: AccessPattern) -> AccessPattern:
        """Ages given as times, in aggregations at the interval staged in the scheme's
        context (stage_context writes the attrs first); counts are left as they are."""
        if pattern.age_us == (-1, -1):
            return pattern
        ctx = sdir.rsplit("/", 2)[0]  # CTX/schemes/N
        try:
            aggr_us = int(self.sysfs.read(join(ctx, "monitoring_attrs/intervals/aggr_us")))
        except (OSError, ValueError):
            return pattern
        return pattern.effective(aggr_us)

    def stage_age(self, sdir: str, pattern: AccessPattern, aggr_us: int) -> None:
        """Rewrite a time-given age at a new aggregation interval (live attrs edits)."""
        age = pattern.effective(aggr_us).age
        self.w(join(sdir, "access_pattern/age/min"), age.min)
        self.w(join(sdir, "access_pattern/age/max"), age.max)

    def stage_dests(self, sdir: str, s: Scheme) -> None:
        ddir = join(sdir, "dests")
        self.w(join(ddir, "nr_dests"), len(s.dests))
        for i, dest in enumerate(s.dests):
            self.w(join(ddir, i, "id"), dest.id)
            self.w(join(ddir, i, "weight"), dest.weight)

    def stage_goals(self, qdir: str, goals: Sequence[QuotaGoal]) -> None:
        gdir = join(qdir, "goals")
        self.w(join(gdir, "nr_goals"), len(goals))
        for i, g in enumerate(goals):
            d = join(gdir, i)
            metric = _val(g.metric)
            if self.sysfs.exists(join(d, "target_metric")):
                self.w(join(d, "target_metric"), metric)
            self.w(join(d, "target_value"), g.target_value)
            if metric == GoalMetric.USER_INPUT.value or g.current_value:
                self.w(join(d, "current_value"), g.current_value)
            if metric in NODE_METRICS and self.sysfs.exists(join(d, "nid")):
                self.w(join(d, "nid"), g.nid)
            if metric in MEMCG_METRICS and self.sysfs.exists(join(d, "path")):
                self.w(join(d, "path"), g.path)

    def stage_filters(self, sdir: str, filters: Sequence[Filter]) -> None:
        if self.sysfs.isdir(join(sdir, "core_filters")):
            core = [f for f in filters if FilterType(_val(f.type)).is_core]
            ops = [f for f in filters if not FilterType(_val(f.type)).is_core]
            self._stage_filter_dir(join(sdir, "core_filters"), core)
            self._stage_filter_dir(join(sdir, "ops_filters"), ops)
            if self.sysfs.isdir(join(sdir, "filters")):
                self._stage_filter_dir(join(sdir, "filters"), [])
        else:
            self._stage_filter_dir(join(sdir, "filters"), filters)

    def _stage_filter_dir(self, fdir: str, filters: Sequence[Filter]) -> None:
        self.w(join(fdir, "nr_filters"), len(filters))
        for i, f in enumerate(filters):
            d = join(fdir, i)
            ftype = _val(f.type)
            self.w(join(d, "type"), ftype)
            self.w(join(d, "matching"), yn(f.matching))
            if self.sysfs.exists(join(d, "allow")):
                self.w(join(d, "allow"), yn(f.allow))
            if ftype == "memcg":
                self.w(join(d, "memcg_path"), f.memcg_path)
            elif ftype == "addr":
                self.w(join(d, "addr_start"), f.addr_start)
                self.w(join(d, "addr_end"), f.addr_end)
            elif ftype == "target":
                self.w(join(d, "damon_target_idx"), f.target_idx)
            elif ftype == "hugepage_size":
                self.w(join(d, "min"), f.min)
                self.w(join(d, "max"), f.max)

    # --- whole context ------------------------------------------------------------

    def stage_context(
        self,
        ctx: str,
        ops: str,
        attrs: MonitoringAttrs,
        targets: Sequence[Target],
        schemes: Sequence[Scheme],
        addr_unit: int = 1,
        pause: bool = False,
    ) -> None:
        self.w(
            join(ctx, "operations"),
            ops,
            hint=f"operations '{ops}' not available (see avail_operations)",
        )
        # 6.18 addr_unit / 7.2 pause: written where present (refused before if asked
        # for on a kernel without them); operations first, addr_unit depends on it
        if addr_unit != 1 or self.sysfs.exists(join(ctx, "addr_unit")):
            self.w_opt(join(ctx, "addr_unit"), addr_unit, "context addr_unit")
        if pause or self.sysfs.exists(join(ctx, "pause")):
            self.w_opt(join(ctx, "pause"), yn(pause), "context pause")
        self.stage_attrs(ctx, attrs)
        self.stage_targets(ctx, ops, targets)
        self.stage_schemes(ctx, schemes)


def restore_tree(sysfs: Sysfs, base: str, tree: dict[str, str]) -> int:
    """Re-create a staged configuration read by reader.read_config_tree(), writing
    only the files whose value differs from what is there (the kernel's defaults
    after an nr_* write).  Returns the number of writes."""
    n = 0
    for rel in config_tree_order(tree):
        path = join(base, rel)
        if not sysfs.exists(path):
            continue  # e.g. a numbered dir whose nr_* file was 0
        value = tree[rel]
        if sysfs.read(path) == value:
            continue
        sysfs.write(path, value)
        n += 1
    return n
