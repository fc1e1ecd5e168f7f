"""Launching damontui's own kdamond: the exclusive in-kernel DAMON users that block
a start (exclusive.py, turned off only with consent), the slot (slots.py), feature
detection in our own directory (own_features.py), staging the context with the
hidden snapshot schemes, turning it on and recording it as ours (ownership.py).
KernelBackend (backend.py) puts this together with the rest.
"""

from __future__ import annotations

import time

from ..base import BackendError
from .exclusive import (
    MODULE_ROOT,
    ExclusiveModule,
    ExclusiveModuleBusy,
    ModuleSwitch,
    running_modules,
)
from .own_features import detect_in_own
from .reader import fingerprint, read_config_tree
from .slots import Slots
from .sysfs import SysfsError, SysfsReadError, join, read_int
from .tuning import LiveTuning, refresh_ms_for
from .writer import Writer, check_support, snapshot_schemes


class Launcher(LiveTuning):
    """Start path of a kdamond damontui owns: checks, slot, staging, ``on``."""

    _module_root: str
    _module_consent: frozenset[str]
    _modules: ModuleSwitch
    _slots: Slots
    _addr_unit: int
    _pause: bool

    def _init_modules(self, module_root: str = MODULE_ROOT) -> None:
        self._module_root = module_root
        self._module_consent = frozenset()  # type from __init__ (check_consent_names)
        self._modules = ModuleSwitch(self._sysfs, module_root)

    def _exclusive_blockers(self) -> list[ExclusiveModule]:
        """Exclusive in-kernel DAMON users that are on (DAMON_STAT, ...), read before
        any write: the kernel refuses every sysfs start while one runs.  Raises
        unless the user consented to turning each one off; returns those."""
        running = running_modules(self._sysfs, self._module_root)
        if any(m.name not in self._module_consent for m in running):
            raise ExclusiveModuleBusy(running)
        return running

    def _refresh_value(self) -> int:
        if self._refresh_ms_param is not None:
            return max(0, self._refresh_ms_param)
        return refresh_ms_for(self._attrs.aggr_us)

    def launch(self) -> None:
        """Create, configure and turn on our kdamond (start() calls this)."""
        with self._lock:
            if self._launched:
                return
            blockers = self._exclusive_blockers()  # before any write
            if blockers:  # consented: turned off now, back on when we stop
                self._modules.turn_off(blockers)
                self._notes.append(
                    ", ".join(m.title for m in blockers) + " turned off for this run (you "
                    "asked with --turn-off); damontui turns it back on when it stops"
                )
            try:
                self._launch_locked()
            except BackendError:
                self._restore_modules()
                raise

    def _detect_in_own(self, kd: str) -> None:
        """Replace version-table guesses by what damontui's own kdamond directory
        shows (own_features.py); re-check the request against what it found."""
        try:
            self._sysfs.write(join(kd, "contexts/nr_contexts"), 1)
            for rel in ("contexts/0/targets/nr_targets", "contexts/0/schemes/nr_schemes"):
                if read_int(self._sysfs, join(kd, rel)) == 0:
                    self._sysfs.write(join(kd, rel), 1)
            found = detect_in_own(self._sysfs, self._root, kd, self._features.kernel_release)
        except SysfsReadError as e:
            self._notes.append(
                f"features stay inferred from the kernel version: reading "
                f"damontui's own kdamond.{self._index} failed ({e})"
            )
            return
        except BackendError:
            self._slots.park(self._index)
            raise
        guessed = sorted(self._features.inferred - found.inferred)
        self._features = found
        self._notes[:] = [
            n
            for n in self._notes
            if not n.startswith(("inferred from kernel", "available operations"))
        ]
        self._notes.extend(found.notes)
        if guessed:
            self._notes.append(
                f"features detected in damontui's own kdamond.{self._index} "
                f"(were inferred): {', '.join(guessed)}"
            )
        try:
            check_support(
                self._features,
                self._ops,
                self._attrs,
                self._targets,
                self._schemes,
                addr_unit=self._addr_unit,
                pause=self._pause,
            )
        except BackendError:
            self._slots.park(self._index)
            raise

    def _restore_modules(self) -> None:
        """Turn the exclusive modules we turned off (with consent) back on."""
        for problem in self._modules.restore():
            self._error(problem)

    def _launch_locked(self) -> None:
        """launch() under the lock, once the exclusive modules were dealt with."""
        slot = self._slots.plan()
        index = slot if slot is not None else self._slots.grow()
        self._index = index
        kd = self._kd()
        if self._features.inferred:
            self._detect_in_own(kd)  # our own directory: every level can be read
        writer = Writer(self._sysfs, self._features)
        self._snap = (
            snapshot_schemes(self._attrs, len(self._targets), self._features)
            if self._features.has("tried_regions")
            else []
        )
        if not self._snap:
            self._notes.append(
                f"no region snapshots: tried regions need "
                f"{self._features.needs('tried_regions')} (this kernel: "
                f"{self._features.version_text}); only scheme stats are shown"
            )
        try:
            writer.w(join(kd, "contexts/nr_contexts"), 1)
            writer.stage_context(
                self._ctx(),
                self._ops,
                self._attrs,
                self._targets,
                list(self._schemes) + self._snap,
                addr_unit=self._addr_unit,
                pause=self._pause,
            )
            if self._features.has("refresh_ms") and self._sysfs.exists(join(kd, "refresh_ms")):
                value = self._refresh_value()
                writer.w(join(kd, "refresh_ms"), value)
                self._refresh_active = value > 0
            self._notes.extend(writer.notes)
            self._write_state("on")
        except BackendError as e:
            self._slots.park(self._index)  # our stopped dir: reused by the next start
            running = running_modules(self._sysfs, self._module_root)
            if running:  # turned on between our check and `on`
                raise ExclusiveModuleBusy(running) from e
            raise
        try:
            pid = read_int(self._sysfs, join(kd, "pid"))
        except SysfsError:
            pid = -1  # not readable right now: the first snapshot records it
        n = len(self._schemes)
        try:  # lets a later run reuse this dir once the user turned it off
            fp: str | None = fingerprint(read_config_tree(self._sysfs, kd))
        except SysfsError:
            fp = None
        self._record = self._store.new_record(
            self._root,
            index,
            pid,
            user_schemes=n,
            snapshot_schemes=list(range(n, n + len(self._snap))),
            fingerprint=fp,
        )
        self._store.put(self._record)
        self._launched = True
        self._t0 = time.monotonic()
        if self._snap:
            self._notes.append(
                f"damontui's snapshot scheme{'s' if len(self._snap) > 1 else ''} (stat, "
                f"hidden from the scheme list): kdamond.{index} scheme "
                + ", ".join(str(i) for i in range(n, n + len(self._snap)))
            )
