"""One protocol for every view and panel, and the registry the app is built from.

A view is a widget with one data method::

    def show(self, snapshot, analysis, history) -> None

`snapshot` is the displayed Snapshot (None before the first one), `analysis` its
SnapshotAnalysis (temperatures, orders, preview matches: shared by all views, so
nothing is computed twice) and `history` a HistoryFrame (the snapshots and the
working-set series up to the displayed one). The app calls `show` only while the
view is visible; a hidden view is brought up to date when it is shown, so hidden
views cost nothing. A modal screen that implements `show` too gets every displayed
snapshot while it is open.

The registry says which views exist, in order. The tabs, the number keys (1-9), the
command palette, the help screen and the visibility logic all read it. To add a
view: write its widget in a new module, then add one ViewSpec to tui/registry.py
(or, from a plugin or a test, `registry.register(ViewSpec(...))` on a copy passed
to DamonApp(registry=...)).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from textual.binding import Binding, BindingType
from textual.widget import Widget

from ..analysis import HistoryFrame, SnapshotAnalysis
from ..model import Snapshot

if TYPE_CHECKING:
    from .app import DamonApp


@runtime_checkable
class View(Protocol):
    """What the app calls on every registered view (see the module docstring)."""

    def show(
        self, snapshot: Snapshot | None, analysis: SnapshotAnalysis | None, history: HistoryFrame
    ) -> None: ...


ViewKind = Literal["main", "panel", "bar"]


@dataclass(frozen=True)
class ViewSpec:
    """One registered view.

    key: the widget id and the name in `show_view('key')` and in keymaps (binding id
        `app.<key>`); title: its tab and help name; description: the command
        palette's help line; build: makes the widget (given the app), which must
        implement View; the app gives it id=key.
    kind: "main" for a main view (one at a time, in the view switcher, with a tab
        and a number key); "panel" for a side panel beside the main view on wide
        terminals, over it on narrow ones (the schemes editor; tab and number key
        too); "bar" for a strip always shown under the body (e.g. a replay bar; no
        tab, it gets every displayed snapshot while its widget is displayed).
    help: (section title, bindings) pairs the help screen lists for this view.
    """

    key: str
    title: str
    description: str
    build: Callable[[DamonApp], Widget]
    kind: ViewKind = "main"
    help: Callable[[], Sequence[tuple[str, Sequence[BindingType]]]] = field(default=lambda: ())

    @property
    def panel(self) -> bool:
        return self.kind == "panel"

    @property
    def binding_id(self) -> str:
        return f"app.{self.key}"


class ViewRegistry:
    """The ordered views of an app (the order is the tabs' and the number keys')."""

    MAX_NUMBERED = 9

    def __init__(self, specs: Sequence[ViewSpec] = ()) -> None:
        self._specs: list[ViewSpec] = []
        for spec in specs:
            self.register(spec)

    def register(self, spec: ViewSpec, *, before: str | None = None) -> ViewSpec:
        """Add `spec` at the end (or before the view `before`); keys are unique."""
        if any(s.key == spec.key for s in self._specs):
            raise ValueError(f"a view called {spec.key!r} is already registered")
        if not spec.key.isidentifier():
            raise ValueError(f"view key {spec.key!r} must be an identifier (it is a widget id)")
        index = len(self._specs) if before is None else self.index(before)
        self._specs.insert(index, spec)
        return spec

    def unregister(self, key: str) -> None:
        del self._specs[self.index(key)]

    def copy(self) -> ViewRegistry:
        return ViewRegistry(self._specs)

    def index(self, key: str) -> int:
        for i, spec in enumerate(self._specs):
            if spec.key == key:
                return i
        raise KeyError(f"no view called {key!r} (known: {', '.join(self.keys())})")

    def get(self, key: str) -> ViewSpec:
        return self._specs[self.index(key)]

    def __contains__(self, key: object) -> bool:
        return any(s.key == key for s in self._specs)

    def __iter__(self) -> Iterator[ViewSpec]:
        return iter(tuple(self._specs))

    def __len__(self) -> int:
        return len(self._specs)

    def keys(self) -> list[str]:
        return [s.key for s in self._specs]

    @property
    def main_views(self) -> list[ViewSpec]:
        return [s for s in self._specs if s.kind == "main"]

    @property
    def panels(self) -> list[ViewSpec]:
        return [s for s in self._specs if s.kind == "panel"]

    @property
    def bars(self) -> list[ViewSpec]:
        return [s for s in self._specs if s.kind == "bar"]

    @property
    def switchable(self) -> list[ViewSpec]:
        """Main views and panels: the ones with a tab, a number key and a command."""
        return [s for s in self._specs if s.kind != "bar"]

    def numbered(self) -> list[tuple[int, ViewSpec]]:
        """(number key, view) for the first nine switchable views."""
        return list(enumerate(self.switchable[: self.MAX_NUMBERED], start=1))

    def bindings(self) -> list[Binding]:
        """The number keys: `n` shows the n-th view (ids app.<key>, for keymaps)."""
        return [
            Binding(str(n), f"show_view('{s.key}')", f"{s.title} view", show=False,
                    id=s.binding_id)
            for n, s in self.numbered()
        ]  # fmt: skip

    def commands(self) -> list[tuple[str, str, str]]:
        """(title, help, action) command palette entries, one per view."""
        return [
            (f"Show/hide {s.title.lower()}", s.description, f"toggle_panel('{s.key}')")
            if s.panel else (f"Show {s.title.lower()}", s.description, f"show_view('{s.key}')")
            for s in self.switchable
        ]  # fmt: skip
