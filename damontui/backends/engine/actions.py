"""How DAMOS actions are carried out on each kind of engine target.

* synthetic: every action is simulated, i.e. counted as applied. If the source offers
  an ``on_action(action, ranges)`` hook it is told (so it may, e.g., treat paged-out
  pages as idle); the synthetic source has none today, so actions only count.
* pid: pageout/cold/willneed/hugepage/nohugepage/collapse go to the process through
  ``process_madvise(2)`` on a pidfd, limited to its mapped VMAs (an unmapped gap
  would make the kernel stop at the first failing iovec). Failures become messages
  naming the action, pid and errno; nothing raises except TargetGone.
* paddr (page idle tracking): only ``stat``; the engine cannot reclaim or promote
  physical pages from user space.
"""

from __future__ import annotations

import ctypes
import errno
import os
from dataclasses import dataclass

from ...model import Action, FilterType, TargetKind
from .sources.base import TargetGone

SYS_PROCESS_MADVISE = 440  # the generic syscall table: x86_64 and aarch64 alike
IOV_MAX = 1024
MADVICE = {
    Action.COLD: 20,
    Action.PAGEOUT: 21,
    Action.WILLNEED: 3,
    Action.HUGEPAGE: 14,
    Action.NOHUGEPAGE: 15,
    Action.COLLAPSE: 25,
}
# LRU and NUMA placement are out of user space's reach.
KERNEL_ONLY = frozenset(
    {Action.LRU_PRIO, Action.LRU_DEPRIO, Action.MIGRATE_HOT, Action.MIGRATE_COLD}
)
SUPPORTED_ACTIONS: dict[TargetKind, frozenset[Action]] = {
    TargetKind.SYNTHETIC: frozenset(Action),
    TargetKind.PID: frozenset(MADVICE) | {Action.STAT},
    TargetKind.PADDR: frozenset({Action.STAT}),
}
# Ops filters a target can answer honestly (page properties the engine can see).
SUPPORTED_OPS_FILTERS: dict[TargetKind, frozenset[FilterType]] = {
    TargetKind.SYNTHETIC: frozenset({FilterType.ANON, FilterType.UNMAPPED}),
    TargetKind.PID: frozenset({FilterType.ANON, FilterType.UNMAPPED}),
    TargetKind.PADDR: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Piece:
    """A stretch of a region with uniform page properties, for ops filters."""

    start: int
    end: int
    anon: bool
    mapped: bool


class TargetActions:
    """Simulated actions (synthetic target): whole regions are anonymous and mapped."""

    def __init__(self, source: object = None) -> None:
        self._hook = getattr(source, "on_action", None)
        # Nothing but counting happens: DAMOS may skip building range lists.
        self.counts_only = self._hook is None

    def begin_round(self) -> None:
        """Forget per-application caches (called before each scheme application)."""

    def pieces(self, start: int, end: int) -> list[Piece]:
        return [Piece(start, end, True, True)]

    def apply(self, action: Action, ranges: list[tuple[int, int]]) -> tuple[int, str | None]:
        """Carry out `action`; return (bytes applied, error message or None)."""
        if self._hook is not None and action is not Action.STAT and ranges:
            self._hook(action.value, ranges)
        return sum(e - s for s, e in ranges), None

    def close(self) -> None:
        """Release what apply() opened (pidfds)."""


class PaddrActions(TargetActions):
    """Physical memory: only `stat` (validation refuses the rest)."""

    def apply(self, action: Action, ranges: list[tuple[int, int]]) -> tuple[int, str | None]:
        if action is not Action.STAT:
            return 0, f"{action.value} on physical memory needs kernel DAMON"
        return sum(e - s for s, e in ranges), None


class _IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long

# process_madvise errors after which retrying other ranges is pointless.
_FATAL = {errno.EPERM, errno.EACCES, errno.ENOSYS, errno.EBADF, errno.ESRCH}


def process_madvise(pidfd: int, ranges: list[tuple[int, int]], advice: int) -> int:
    """One process_madvise call; bytes advised, or raises OSError with the errno."""
    vec = (_IoVec * len(ranges))(*(_IoVec(s, e - s) for s, e in ranges))
    done = _syscall(SYS_PROCESS_MADVISE, pidfd, vec, len(ranges), advice, 0)
    if done < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(done)


def parse_vmas(text: str) -> list[tuple[int, int, bool]]:
    """(start, end, anonymous) per /proc/PID/maps line; [vsyscall] is not a VMA."""
    vmas: list[tuple[int, int, bool]] = []
    for line in text.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 5 or "-" not in fields[0]:
            continue
        path = fields[5].strip() if len(fields) > 5 else ""
        if path == "[vsyscall]":
            continue
        start_s, _, end_s = fields[0].partition("-")
        anon = not path or path in ("[heap]", "[stack]") or path.startswith("[anon:")
        vmas.append((int(start_s, 16), int(end_s, 16), anon))
    return vmas


class PidActions(TargetActions):
    """madvise-style actions on another process through process_madvise."""

    def __init__(self, pid: int, proc_root: str = "/proc") -> None:
        super().__init__()
        self.counts_only = False
        self.pid = pid
        self.proc_root = proc_root
        self._vmas: list[tuple[int, int, bool]] | None = None
        self._pidfd: int | None = None
        # Ranges the kernel refused with EINVAL (e.g. VM_PFNMAP, locked or special
        # mappings): never retried for that action.
        self._refused: set[tuple[Action, int, int]] = set()

    def begin_round(self) -> None:
        self._vmas = None

    def _read_vmas(self) -> list[tuple[int, int, bool]]:
        if self._vmas is None:
            path = f"{self.proc_root}/{self.pid}/maps"
            try:
                with open(path) as f:
                    self._vmas = parse_vmas(f.read())
            except (FileNotFoundError, ProcessLookupError):
                raise TargetGone(f"pid {self.pid} exited ({path} gone)") from None
        return self._vmas

    def pieces(self, start: int, end: int) -> list[Piece]:
        out: list[Piece] = []
        cursor = start
        for vs, ve, anon in self._read_vmas():
            if ve <= cursor or vs >= end:
                continue
            lo, hi = max(vs, cursor), min(ve, end)
            if lo > cursor:
                out.append(Piece(cursor, lo, False, False))
            out.append(Piece(lo, hi, anon, True))
            cursor = hi
        if cursor < end:
            out.append(Piece(cursor, end, False, False))
        return out

    def _pidfd_open(self) -> int:
        if self._pidfd is None:
            try:
                self._pidfd = os.pidfd_open(self.pid)
            except ProcessLookupError:
                raise TargetGone(f"pid {self.pid} exited") from None
        return self._pidfd

    def apply(self, action: Action, ranges: list[tuple[int, int]]) -> tuple[int, str | None]:
        if action is Action.STAT:
            return sum(e - s for s, e in ranges), None
        if action not in MADVICE:
            return 0, f"{action.value} on pid {self.pid} needs kernel DAMON"
        ranges = [(s, e) for s, e in ranges if (action, s, e) not in self._refused]
        if not ranges:
            return 0, None
        try:
            pidfd = self._pidfd_open()
        except OSError as e:
            return 0, self._error(action, "pidfd_open", e)
        applied, i, error = 0, 0, None
        while i < len(ranges):
            batch = ranges[i : i + IOV_MAX]
            try:
                done = process_madvise(pidfd, batch, MADVICE[action])
            except OSError as e:
                if e.errno == errno.ESRCH:
                    raise TargetGone(f"pid {self.pid} exited") from None
                s, end = batch[0]
                call = f"process_madvise [{s:#x}, {end:#x})"
                if e.errno == errno.EINVAL:
                    self._refused.add((action, s, end))
                    call += " (not retried)"
                error = self._error(action, call, e)
                if e.errno in _FATAL:
                    break
                i += 1  # skip the range the kernel refused, try the rest
                continue
            applied += done
            # The kernel stops at the first failing iovec: resume after it.
            for start, end in batch:
                i += 1
                done -= end - start
                if done < 0:
                    break
        return applied, error

    def _error(self, action: Action, call: str, e: OSError) -> str:
        name = errno.errorcode.get(e.errno or 0, str(e.errno))
        return f"{action.value} on pid {self.pid} failed: {call}: {name} ({e.strerror})"

    def close(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


def make_actions(
    kind: TargetKind, source: object, pid: int | None, proc_root: str
) -> TargetActions:
    if kind is TargetKind.PID and pid is not None:
        return PidActions(pid, proc_root)
    if kind is TargetKind.PADDR:
        return PaddrActions()
    return TargetActions(source)
