"""The built-in views, in tab order. Adding a view is one module with its widget
(implementing views.View) plus one entry here; see views.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual.binding import BindingType
from textual.widget import Widget
from textual.widgets import Static

from .heatmap import HeatmapView
from .histograms import HistogramsView
from .regions_view import RegionsTable
from .views import ViewRegistry, ViewSpec

if TYPE_CHECKING:
    from .app import DamonApp


def _schemes_panel(app: DamonApp) -> Widget:
    try:  # keep monitoring even if the editor is broken
        from .field_gates import Gate
        from .schemes import SchemesPanel
    except ImportError as e:
        return Static(f"The schemes editor failed to load: {e}")
    gate = Gate.from_info(app.info)  # the 6.17+/7.x settings this backend takes
    return SchemesPanel(
        app.backend.schemes(), app.backend.attrs(), schemes_file=app.schemes_file, gate=gate
    )


def _schemes_help() -> Sequence[tuple[str, Sequence[BindingType]]]:
    try:  # the editor modules load lazily; help must not depend on them
        from .schemes import SchemeList, SchemesPanel
    except ImportError:
        return ()
    return (("Scheme panel", SchemesPanel.BINDINGS), ("Scheme list", SchemeList.BINDINGS))


BUILTIN_VIEWS = (
    ViewSpec("regions", "Regions", "The regions table", lambda app: RegionsTable(),
             help=lambda: (("Regions table", RegionsTable.BINDINGS),)),
    ViewSpec("heatmap", "Heatmap", "Access heatmap over time", lambda app: HeatmapView(),
             help=lambda: (("Heatmap", HeatmapView.BINDINGS),)),
    ViewSpec("histograms", "Histograms", "Cold memory, temperature, working set",
             lambda app: HistogramsView()),
    ViewSpec("schemes", "Schemes", "DAMOS schemes editor and stats", _schemes_panel,
             kind="panel", help=_schemes_help),
)  # fmt: skip

REGISTRY = ViewRegistry(BUILTIN_VIEWS)
