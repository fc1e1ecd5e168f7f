"""Live tuning of damontui's own kdamond: attributes, schemes and targets are
staged and committed while it runs; when a commit fails the previous staged
configuration is written back (and committed again, so older kernels that applied
part of it go back), and the error says that nothing changed. Kernels without
'commit' (5.18) restart monitoring instead. Memcg filter paths are checked before
a commit: some kernels accept a path that does not exist and then the kdamond dies.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace

from ... import procfs
from ...model import MonitoringAttrs, Scheme, Target, TargetKind
from ..base import BackendError
from .common import KernelBase, default_paddr_range
from .ownership import OwnershipRecord, OwnershipStore
from .reader import read_config_tree
from .sysfs import SysfsWriteError, join, read_int
from .writer import (
    Writer,
    check_support,
    memcg_paths,
    ops_for_targets,
    restore_tree,
    snapshot_schemes,
)


def refresh_ms_for(aggr_us: int) -> int:
    """The kdamond's refresh_ms for an aggregation interval: one per aggregation,
    kept within 100 ms .. 5 s."""
    return min(5000, max(100, aggr_us // 1000))


class LiveTuning(KernelBase):
    """set_attrs/set_schemes/set_targets for a kdamond we own (see module doc)."""

    _snap: list[Scheme]  # damontui's hidden snapshot schemes, after the user's
    _record: OwnershipRecord | None
    _store: OwnershipStore
    _launched: bool
    _refresh_active: bool

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

    def _check_writable(self) -> None:
        if self._lost:
            raise BackendError(f"kdamond.{self._index} was stopped outside damontui")

    def _memcg_roots(self) -> list[str] | None:
        """Where memcg paths are looked up: the given cgroup_root, else the memory
        controller's mounts in /proc/mounts (v1 'memory', else cgroup2); None if
        there is none to look in."""
        if self._cgroup_root is not None:
            return [self._cgroup_root] if os.path.isdir(self._cgroup_root) else None
        return procfs.memcg_mounts(f"{self._proc_root}/mounts") or None

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
        where = (
            f"looked under {', '.join(roots)}"
            if roots is not None
            else "no cgroup filesystem with the memory controller is mounted"
        )
        raise BackendError(
            f"memcg path does not exist: {'; '.join(missing)} ({where}); not committed - "
            "the running kdamond keeps its previous configuration (a kernel can accept such "
            "a commit and then stop the kdamond)"
        )

    def _write_state(self, command: str, schemes: Sequence[Scheme] | None = None) -> None:
        """Write a command to OUR kdamond's state file (memcg hint for on/commit)."""
        hint = None
        if command in ("on", "commit"):
            hint = self._on_hint(schemes if schemes is not None else self._schemes)
        self._sysfs.write(join(self._kd(), "state"), command, hint)

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
                for i, s in enumerate(self._schemes):  # ages given as times keep them
                    if s.access_pattern.age_us != (-1, -1):
                        w.stage_age(self._sdir(i), s.access_pattern, a.aggr_us)
                base = len(self._schemes)
                for k, s in enumerate(snap):
                    if s.apply_interval_us and self._sysfs.exists(
                        join(self._sdir(base + k), "apply_interval_us")
                    ):
                        w.w(join(self._sdir(base + k), "apply_interval_us"), s.apply_interval_us)
                if self._refresh_active and self._refresh_ms_param is None:
                    w.w(join(self._kd(), "refresh_ms"), refresh_ms_for(a.aggr_us))

            new_snap = [
                replace(s, apply_interval_us=attrs.aggr_us if s.apply_interval_us else 0)
                for s in self._snap
            ]
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
                and all(
                    replace(a, quotas=replace(a.quotas, goals=()))
                    == replace(b, quotas=replace(b.quotas, goals=()))
                    for a, b in zip(old, schemes, strict=True)
                )
                and old != schemes
            )
            if goals_only:

                def stage_goals(ss: Sequence[Scheme]) -> None:
                    w = Writer(self._sysfs, self._features)
                    for i, s in enumerate(ss):
                        w.stage_goals(join(self._sdir(i), "quotas"), s.quotas.goals)

                self._apply(
                    lambda: stage_goals(schemes),
                    lambda: stage_goals(old),
                    command="commit_schemes_quota_goals",
                    schemes=schemes,
                )
            else:

                def stage(ss: Sequence[Scheme]) -> None:
                    Writer(self._sysfs, self._features).stage_schemes(
                        self._ctx(), list(ss) + self._snap
                    )

                self._apply(lambda: stage(schemes), lambda: stage(old), schemes=schemes)
            self._schemes = schemes
            self._stats_names.clear()
            self._notes.extend(notes)
            self._update_record()

    def set_targets(self, targets: Sequence[Target]) -> None:
        self._check_writable()
        ops = ops_for_targets(targets)
        if self._launched and ops != self._ops:
            raise BackendError(
                f"changing operations from {self._ops} to {ops} needs a new "
                "kdamond: stop and start monitoring again"
            )
        new_targets = self._resolve_targets(targets)
        check_support(self._features, ops, self._attrs, new_targets, self._schemes)
        with self._lock:
            if not self._launched:
                self._targets, self._ops = new_targets, ops
                return
            old_targets, old_snap = self._targets, self._snap
            new_snap = (
                snapshot_schemes(self._attrs, len(new_targets), self._features)
                if self._snap
                else []
            )
            removed = self._removed_indices(old_targets, new_targets)
            if removed and self._features.has("obsolete_target"):
                self._remove_targets_obsolete(removed, new_targets, new_snap)
            else:

                def stage(ts: Sequence[Target], snap: list[Scheme]) -> None:
                    w = Writer(self._sysfs, self._features)
                    w.stage_targets(self._ctx(), self._ops, ts)
                    if snap != self._snap or len(snap) != len(old_snap):
                        w.stage_schemes(self._ctx(), list(self._schemes) + snap)

                self._apply(
                    lambda: stage(new_targets, new_snap), lambda: stage(old_targets, old_snap)
                )
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

    def _remove_targets_obsolete(
        self, removed: list[int], new_targets: tuple[Target, ...], new_snap: list[Scheme]
    ) -> None:
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
            raise BackendError(
                f"{e}. Nothing was changed: the running kdamond keeps its previous targets"
            ) from None
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

    def _apply(
        self,
        stage: Callable[[], None],
        restage_old: Callable[[], None],
        command: str = "commit",
        schemes: Sequence[Scheme] | None = None,
    ) -> None:
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
                if (
                    command == "commit"
                    and isinstance(e, SysfsWriteError)
                    and (e.path.endswith("/state"))
                ):
                    self._write_state("commit")
            except BackendError as e2:
                msg += f"; restoring the previous staged configuration failed too: {e2}"
            raise BackendError(
                f"{msg}. Nothing was changed: the running kdamond keeps its previous configuration"
            ) from None

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
                self._record.kdamond_start_ticks = procfs.start_ticks(pid, self._proc_root)
                self._store.put(self._record)
        self._notes.append("this kernel has no 'commit' (needs 5.19+): changes restart monitoring")

    def set_goal_current_value(self, scheme: int, goal: int, value: int) -> None:
        """Feed a user_input quota goal (commit_schemes_quota_goals, 6.8+)."""
        self._check_writable()
        s = self._schemes[scheme]
        goals = list(s.quotas.goals)
        goals[goal] = replace(goals[goal], current_value=value)
        new = list(self._schemes)
        new[scheme] = replace(s, quotas=replace(s.quotas, goals=tuple(goals)))
        self.set_schemes(new)
