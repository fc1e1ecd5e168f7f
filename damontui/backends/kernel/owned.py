"""Snapshot assembly for a kdamond damontui owns: ask the kernel to refresh what
the snapshot needs (tried regions or bytes, stats, effective quotas, tuned
intervals; not what refresh_ms already refreshes), then read it. A kdamond that
was stopped or restarted by someone else ends monitoring with a message; a state
read that fails (EBUSY) does not."""

from __future__ import annotations

import time
from dataclasses import replace

from ... import procfs
from ...formats.units import format_size
from ...model import Scheme, Snapshot
from ..base import BackendError
from .common import KernelBase
from .inventory import read_state
from .ownership import OwnershipRecord, OwnershipStore
from .reader import (
    RegionArrays,
    count_tried_regions,
    read_total_bytes,
    read_tried_regions,
    read_tuned_intervals,
    split_by_address_order,
)
from .sysfs import SysfsReadError, errno_name, join


class OwnedSnapshots(KernelBase):
    """snapshot_once() of the owning backend."""

    _snap: list[Scheme]
    _record: OwnershipRecord | None
    _store: OwnershipStore
    _refresh_active: bool

    def snapshot_once(self) -> Snapshot:
        """Read one snapshot now (the polling thread calls this every interval)."""
        with self._lock:
            return self._snapshot_owned()

    def _command(self, command: str) -> None:
        self._sysfs.write(join(self._kd(), "state"), command)

    def _snapshot_owned(self) -> Snapshot:
        messages: list[str] = []
        if self._lost:
            return self._make_snapshot(
                (), (), [f"kdamond.{self._index} is no longer running"], None
            )
        try:
            state, pid = read_state(self._sysfs, self._kd())
        except SysfsReadError as e:
            # Unknown is not "stopped": a read that failed (e.g. EBUSY while another
            # process keeps DAMON sysfs busy) never ends monitoring.  Only a state
            # read that succeeds and says so does.
            state, pid = None, self._record.kdamond_pid if self._record else None
            messages.append(
                f"kdamond.{self._index}: state not readable this time "
                f"({errno_name(e.errno)}); still monitoring"
            )
        if state == "on" and pid and self._record is not None and self._record.kdamond_pid <= 0:
            self._record_pid(pid)  # launch() could not read it
        if state is not None and (
            state != "on" or self._record is None or pid != self._record.kdamond_pid
        ):
            self._lost = True
            assert self._index is not None
            self._store.remove(self._root, self._index)
            if state != "on":
                how = f"state {state}"
            elif pid is None:
                how = "running without a pid"
            else:
                how = f"now pid {pid}: restarted by someone else"
            self._error(
                f"kdamond.{self._index} was stopped outside damontui ({how}); monitoring ended"
            )
            return self._make_snapshot(
                (), (), [f"kdamond.{self._index} is no longer running"], None
            )
        f = self._features
        regions_by_target: list[RegionArrays] | None = None
        if self._snap:
            base = len(self._schemes)
            if self._want_regions:
                self._command("update_schemes_tried_regions")
                parts = self._read_snapshot_regions(base)
                if len(parts) == len(self._targets):
                    regions_by_target = parts
                else:
                    regions_by_target = split_by_address_order(parts[0], len(self._targets))
                    if len(self._targets) > 1:
                        messages.append(
                            "regions split between targets by address order "
                            "(this kernel has no target filters)"
                        )
            elif f.supports_command("update_schemes_tried_bytes"):
                self._command("update_schemes_tried_bytes")
                total = sum(
                    read_total_bytes(self._sysfs, self._sdir(base + k)) or 0
                    for k in range(len(self._snap))
                )
                messages.append(f"monitored: {format_size(total)} (regions not read)")
        else:
            messages.append(self._no_regions_reason())
        has_goals = any(s.quotas.goals for s in self._schemes)
        tuning = self._attrs.intervals_goal.enabled and f.has("intervals_goal")
        if not self._refresh_active:
            if self._schemes:
                self._command("update_schemes_stats")
            if has_goals and f.supports_command("update_schemes_effective_quotas"):
                self._command("update_schemes_effective_quotas")
            if tuning:
                self._command("update_tuned_intervals")
        effective = has_goals and f.has("effective_quota")
        stats = tuple(self._stats_for(i, effective) for i in range(len(self._schemes)))
        attrs = self._attrs
        tuned: tuple[str, ...] = ()
        if f.has("intervals_goal"):
            # the intervals in force, read back (refresh_ms or update_tuned_intervals
            # above keep them current): the kernel may tune them
            try:
                sample, aggr = read_tuned_intervals(self._sysfs, self._ctx())
            except SysfsReadError:
                sample = aggr = 0
            if sample > 0 and aggr >= sample:
                attrs = replace(attrs, sample_us=sample, aggr_us=aggr)
                tuned = tuple(
                    n
                    for n, v, want in (
                        ("sample_us", sample, self._attrs.sample_us),
                        ("aggr_us", aggr, self._attrs.aggr_us),
                    )
                    if v != want
                )
        targets = self._target_snapshots(self._targets, regions_by_target)
        snap = self._make_snapshot(targets, stats, messages, pid, attrs=attrs)
        return replace(snap, tuned=tuned) if tuned else snap

    def _read_snapshot_regions(self, base: int) -> list[RegionArrays]:
        """Our snapshot schemes' tried regions.  The command can return before the
        kernel has filled tried_regions/ (seen on 6.12: now and then a snapshot read
        empty, or short): if every part is empty, look again for up to two
        aggregation intervals (at most 1 s), then ask the kernel once more; if the
        count changed while reading, read once more."""

        def read() -> list[RegionArrays]:
            return [
                read_tried_regions(self._sysfs, self._sdir(base + k))
                for k in range(len(self._snap))
            ]

        def counts() -> list[int]:
            return [
                count_tried_regions(self._sysfs, self._sdir(base + k))
                for k in range(len(self._snap))
            ]

        parts = read()
        for attempt in range(2):  # then ask once more: the first answer was empty
            if any(len(p) for p in parts):
                break
            if attempt:
                try:  # best effort: the first command's answer stands if this fails
                    self._command("update_schemes_tried_regions")
                except BackendError:
                    return parts
                parts = read()
            deadline = time.monotonic() + min(1.0, 2 * self._attrs.aggr_us / 1e6)
            while not any(len(p) for p in parts) and time.monotonic() < deadline:
                if self._stop.wait(0.02):
                    return parts
                if any(counts()):
                    parts = read()
        if any(parts) and counts() != [len(p) for p in parts]:
            self._stop.wait(0.02)
            parts = read()
        return parts

    def _record_pid(self, pid: int) -> None:
        assert self._record is not None
        self._record.kdamond_pid = pid
        self._record.kdamond_start_ticks = procfs.start_ticks(pid, self._proc_root)
        try:
            self._store.put(self._record)
        except BackendError as e:
            self._error(str(e))
