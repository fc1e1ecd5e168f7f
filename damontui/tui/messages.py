"""Messages that carry data and intents between the app and its widgets.

The app receives snapshots from the backend thread (App.post_message is
thread-safe) and forwards them to every screen in its stack; widgets post
intents (preview, apply) upward and never call the backend themselves.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.message import Message
from textual.notifications import SeverityLevel

from ..model import AccessPattern, MonitoringAttrs, Scheme, Snapshot, Target


class SnapshotReady(Message):
    """A new snapshot from the backend (posted from the backend thread)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        super().__init__()


class BackendNotice(Message):
    """Text the user should see: an error or warning from the backend."""

    def __init__(self, text: str, severity: SeverityLevel = "warning") -> None:
        self.text = text
        self.severity = severity
        super().__init__()


class PreviewPattern(Message):
    """The scheme editor's current access pattern (None: stop previewing)."""

    def __init__(self, pattern: AccessPattern | None) -> None:
        self.pattern = pattern
        super().__init__()


class ApplySchemes(Message):
    """Commit these schemes to the running backend."""

    def __init__(self, schemes: Sequence[Scheme]) -> None:
        self.schemes = tuple(schemes)
        super().__init__()


class ApplyAttrs(Message):
    """Commit new monitoring attributes to the running backend."""

    def __init__(self, attrs: MonitoringAttrs) -> None:
        self.attrs = attrs
        super().__init__()


class SwitchTarget(Message):
    """Monitor this target instead (the app keeps running)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        super().__init__()
