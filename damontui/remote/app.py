"""The app on a remote stream: reconnect key, header follows the remote's info."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.css.query import NoMatches

from ..backends.base import BackendError
from ..model import Snapshot
from ..tui import app as app_module
from ..tui.app import DamonApp
from ..tui.messages import BackendNotice
from .client import LOST, RemoteBackend


class RemoteApp(DamonApp):
    CSS_PATH = str(Path(app_module.__file__).with_name("app.tcss"))
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "R",
            "reconnect",
            "Reconnect",
            id="remote.reconnect",
            tooltip="Open a new ssh session to the remote (after a drop)",
        ),  # fmt: skip
    ]

    def __init__(self, backend: RemoteBackend, **kwargs: object) -> None:
        super().__init__(backend, **kwargs)  # type: ignore[arg-type]
        self.remote = backend

    def ingest(self, snapshot: Snapshot) -> None:
        self.info = self.remote.info  # the remote's backend is known once its meta arrives
        try:
            super().ingest(snapshot)
        except NoMatches:  # a snapshot still in the queue while the app shuts down
            pass

    def on_backend_notice(self, message: BackendNotice) -> None:
        if LOST.match(message.text):
            self.info = self.remote.info
            try:
                self._show_chrome()
            except NoMatches:  # the drop was noticed while the app shuts down
                return
            self.notify(f"{message.text}. They stay on screen; press R to reconnect.",
                        title="Connection lost", severity="error", markup=False,
                        timeout=30)  # fmt: skip
            return
        super().on_backend_notice(message)

    def action_pick_target(self) -> None:
        # The picker lists this machine's processes, not the remote's.
        self.notify(f"The target picker lists local processes; to watch another target on "
                    f"{self.remote.spec.label}, restart with --pid N (its pid there) or "
                    "--paddr.", severity="warning", markup=False, timeout=10)  # fmt: skip

    def action_reconnect(self) -> None:
        if self.remote.connected:
            self.notify(f"Already connected to {self.remote.spec.label}.", markup=False)
            return
        try:
            self.remote.reconnect()
        except BackendError as e:
            self.notify(str(e), severity="error", markup=False)
            return
        self.notify(f"Reconnecting to {self.remote.spec.label}…", markup=False)
