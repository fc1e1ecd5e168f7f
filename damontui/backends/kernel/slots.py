"""Where damontui's own kdamond goes: a parked directory of ours to reuse, or a new
one added by growing nr_kdamonds, and the consent that growing needs.

The kernel refuses an nr_kdamonds write (EBUSY) while ANY kdamond runs, and on
success re-creates EVERY kdamond directory with defaults: a stopped kdamond that
damontui did not start and that stages a configuration would lose it. So growing
is refused before any write unless the user named each such kdamond
(reset_stopped_foreign); those are read first and written back after. A parked
record marks our stopped directory so the next start reuses it without growing.
"""

from __future__ import annotations

import errno
import os
import time

from ..base import BackendError
from .inventory import (
    describe_blockers,
    kdamond_states,
    running_with_operations,
    stopped_with_staged_config,
)
from .ownership import OwnershipRecord, OwnershipStore
from .reader import fingerprint, read_config_tree
from .sysfs import (
    BUSY_ATTEMPTS,
    BUSY_BUDGET_S,
    BUSY_CAUSE,
    BUSY_FIRST_DELAY_S,
    BUSY_MAX_DELAY_S,
    DEFAULT_ROOT,
    RealSysfs,
    Sysfs,
    SysfsError,
    SysfsWriteError,
    join,
    read_int,
)
from .writer import restore_tree

States = list[tuple[int, str, int | None]]


def reusable_parked(
    sysfs: Sysfs, root: str, store: OwnershipStore, states: States, prune: bool = False
) -> int | None:
    """Index of a parked (stopped) kdamond directory of ours whose staged config is
    still what we left, or None.  `prune` drops records of parked directories that
    someone else changed (they are not ours any more)."""
    by_index = {i: s for i, s, _ in states}
    for rec in store.records(root):
        if not rec.parked and not (rec.fingerprint and by_index.get(rec.index) == "off"):
            # a kdamond damontui left running (--keep-running) stays ours to reuse
            # once it is off with the configuration damontui staged
            continue
        if by_index.get(rec.index) == "off":
            try:
                kd = join(root, "kdamonds", rec.index)
                if fingerprint(read_config_tree(sysfs, kd)) == rec.fingerprint:
                    return rec.index
            except SysfsError:
                pass
        if prune:
            store.remove(root, rec.index)  # changed by someone else: not ours
    return None


def reason_kernel_unusable(
    root: str = DEFAULT_ROOT, sysfs: Sysfs | None = None, runtime_dir: str | None = None
) -> str | None:
    """Why a new kernel kdamond can't be started now (None: it can be tried).
    Reads only."""
    sysfs = sysfs or RealSysfs()
    if not sysfs.isdir(join(root, "kdamonds")):
        return f"no DAMON sysfs at {root}"
    try:
        states = kdamond_states(sysfs, root)
        if reusable_parked(sysfs, root, OwnershipStore(runtime_dir), states) is not None:
            return None
        running = running_with_operations(sysfs, root, states)
        if running:
            return (
                f"{describe_blockers(running)} running (the kernel refuses to add a "
                "kdamond while any runs)"
            )
        staged = stopped_with_staged_config(sysfs, root, states)
    except SysfsError as e:
        return str(e)
    if staged:
        names = ", ".join(f"kdamond.{i} ({ops or 'no operations set'})" for i, ops in staged)
        return (
            f"{names} stopped with a staged configuration that adding a kdamond would "
            "reset (damontui needs explicit consent: reset_stopped_foreign)"
        )
    return None


class Slots:
    """Slot policy for one backend: `consent` names the stopped foreign kdamonds the
    user allowed to be reset; notes on what growing did go to `notes`."""

    def __init__(
        self,
        sysfs: Sysfs,
        root: str,
        store: OwnershipStore,
        consent: frozenset[str],
        notes: list[str],
    ) -> None:
        self.sysfs, self.root, self.store = sysfs, root, store
        self.consent = consent
        self.notes = notes

    def plan(self) -> int | None:
        """A parked (stopped) directory of ours to reuse, or None to add one.

        Adding one means writing nr_kdamonds, which the kernel refuses (EBUSY) while
        ANY kdamond runs: detect that here, before writing anything."""
        read_int(self.sysfs, join(self.root, "kdamonds/nr_kdamonds"))  # root only
        states = kdamond_states(self.sysfs, self.root)
        parked = reusable_parked(self.sysfs, self.root, self.store, states, prune=True)
        if parked is not None:
            return parked
        self.refuse_running(states)
        self.refuse_unconsented_resets(states)
        return None

    def refuse_running(self, states: States, detail: str = "") -> None:
        """Adding a kdamond: the kernel refuses nr_kdamonds (EBUSY) while any runs."""
        running = running_with_operations(self.sysfs, self.root, states)
        if running:
            raise BackendError(
                "cannot start a kernel kdamond: the kernel refuses to add one (writing "
                "nr_kdamonds fails with EBUSY) while any kdamond runs, and "
                f"{describe_blockers(running)} {'is' if len(running) == 1 else 'are'} running"
                f"{detail}. damontui does not stop kdamonds it did not start. Use the "
                "user-space engine (--backend engine), or view the running one read-only "
                f"(observe kdamond.{running[0][0]})"
            )

    def refuse_unconsented_resets(self, states: States) -> list[int]:
        """Refuse (before any write) growing over a stopped foreign kdamond that stages
        a configuration, unless the user named it in reset_stopped_foreign.  Returns
        the indices to restore after growing (those consented to)."""
        staged = stopped_with_staged_config(self.sysfs, self.root, states)
        missing = [(i, ops) for i, ops in staged if f"kdamond.{i}" not in self.consent]
        if missing:
            what = "; ".join(
                f"kdamond.{i} (stopped, {ops or 'no operations set'}) has a staged "
                "configuration that adding a kdamond would reset"
                for i, ops in missing
            )
            names = ", ".join(f'"kdamond.{i}"' for i, _ in staged)
            raise BackendError(
                f"cannot start a kernel kdamond without touching kdamonds damontui did not "
                f"start: {what} (writing nr_kdamonds makes the kernel re-create every kdamond "
                "directory with defaults). damontui never rewrites a kdamond it did not start "
                "without consent, and nothing was written. Use the user-space engine "
                "(--backend engine), or consent explicitly with "
                f"reset_stopped_foreign=({names},): damontui then reads their staged "
                "configuration first and writes it back after adding its kdamond"
            )
        return [i for i, _ in staged]

    def grow(self) -> int:
        """Add one kdamond directory and return its index; the consented stopped
        kdamonds are read first and written back (see module doc)."""
        states = kdamond_states(self.sysfs, self.root)
        self.refuse_running(states)  # things may have changed since plan()
        consented = self.refuse_unconsented_resets(states)
        saved = {i: read_config_tree(self.sysfs, join(self.root, "kdamonds", i)) for i in consented}
        n = len(states)
        self.write_nr_kdamonds(n + 1)
        for i, tree in saved.items():
            kd = join(self.root, "kdamonds", i)
            restore_tree(self.sysfs, kd, tree)
            if read_config_tree(self.sysfs, kd) != tree:
                self.notes.append(
                    f"kdamond.{i}: its staged (stopped) configuration could not "
                    "be re-created exactly after nr_kdamonds grew"
                )
        if saved:
            names = ", ".join(f"kdamond.{i}" for i in saved)
            self.notes.append(
                f"{names} (stopped, reset with your consent) re-created with "
                "their staged configuration: the kernel rebuilds every kdamond "
                "directory when nr_kdamonds changes"
            )
        return n

    def write_nr_kdamonds(self, n: int) -> None:
        """Write nr_kdamonds.  Its EBUSY means "a kdamond runs" OR contention on
        DAMON's sysfs lock: re-read the states to tell which, retry only the latter
        (bounded), and report the real cause."""
        path = join(self.root, "kdamonds/nr_kdamonds")
        sleep = getattr(self.sysfs, "_sleep", time.sleep)
        t0 = time.monotonic()
        delay, attempt = BUSY_FIRST_DELAY_S, 1
        while True:
            try:
                self.sysfs.write(path, n)
                return
            except SysfsWriteError as e:
                if e.errno != errno.EBUSY:
                    raise
                states = kdamond_states(self.sysfs, self.root)
                self.refuse_running(states, detail=" (it was started after damontui checked)")
                elapsed = time.monotonic() - t0
                if attempt >= BUSY_ATTEMPTS or elapsed + delay > BUSY_BUDGET_S:
                    raise BackendError(
                        f"writing {str(n)!r} to {path} failed: EBUSY (tried {attempt} times "
                        f"over {elapsed:.2f} s) although no kdamond runs — {BUSY_CAUSE}; "
                        "try again when it is done"
                    ) from None
            sleep(delay)
            attempt += 1
            delay = min(BUSY_MAX_DELAY_S, delay * 2)

    def park(self, index: int | None) -> None:
        """Leave a parked record for our stopped directory `index` so the next start
        reuses it (no nr_kdamonds write needed, even while other kdamonds run)."""
        if index is None:
            return
        try:
            fp = fingerprint(read_config_tree(self.sysfs, join(self.root, "kdamonds", index)))
        except SysfsError:
            self.store.remove(self.root, index)
            return
        rec = OwnershipRecord(
            self.root, index, -1, os.getpid(), time.time(), parked=True, fingerprint=fp
        )
        try:
            self.store.put(rec)
        except BackendError:
            pass
