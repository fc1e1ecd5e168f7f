"""The one interface every backend (kernel DAMON, user-space engine) implements.

Data flows one way: the backend's own thread produces immutable Snapshot
objects and hands each to `on_snapshot`; the UI never reaches into a backend
for region data. Control calls (set_attrs, set_schemes, set_targets) are
thread-safe and validate before touching anything running.

`Backend` is everything callers outside damontui/backends/ may use: backends
are opened by select.py (the only module that knows both), and a caller that
needs more than this protocol says so here first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from ..model import BackendInfo, MonitoringAttrs, Scheme, Snapshot, Target

SnapshotCallback = Callable[[Snapshot], None]
ErrorCallback = Callable[[str], None]
# Advance a backend that runs in simulated time by this many microseconds of
# monitored time, in the caller's thread; the newest snapshot, if any (select.py
# hands one out for `damontui engine --once` on a synthetic target).
Stepper = Callable[[int], Snapshot | None]


class BackendError(RuntimeError):
    """A backend operation failed; the message names the file/field and the cause."""


@runtime_checkable
class Backend(Protocol):
    @property
    def info(self) -> BackendInfo: ...

    def start(self, on_snapshot: SnapshotCallback, on_error: ErrorCallback) -> None:
        """Begin monitoring in a background thread; returns at once."""

    def stop(self) -> None:
        """Stop monitoring and join the thread; safe to call twice."""

    def close(self) -> None:
        """stop(), then release what the backend holds (fds of access sources, our
        kdamond); the backend is not started again. Safe to call twice."""

    def latest(self) -> Snapshot | None:
        """The most recent snapshot, if any."""

    def attrs(self) -> MonitoringAttrs: ...

    def set_attrs(self, attrs: MonitoringAttrs) -> None:
        """Apply new monitoring attributes live (raises ValidationError/BackendError)."""

    def schemes(self) -> tuple[Scheme, ...]: ...

    def set_schemes(self, schemes: Sequence[Scheme]) -> None:
        """Replace the schemes live; all are validated before any is applied."""

    def targets(self) -> tuple[Target, ...]: ...

    def set_targets(self, targets: Sequence[Target]) -> None:
        """Switch what is monitored without stopping the app."""
