"""`?`/F1: every key, generated from the bindings themselves so it cannot drift."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from .views import ViewRegistry

HelpSection = tuple[str, Sequence[BindingType]]


def key_rows(
    app_key_display: Callable[[Binding], str], bindings: Sequence[BindingType]
) -> list[tuple[str, str]]:
    """(keys, description) per action, keys of the same action joined with '/'."""
    rows: dict[tuple[str, str], list[str]] = {}
    for binding in Binding.make_bindings(bindings):
        if not binding.description:
            continue
        display = app_key_display(binding)
        text = binding.tooltip or binding.description  # the footer's label is terse
        rows.setdefault((binding.action, text), []).append(display)
    return [(" / ".join(keys), description) for (_, description), keys in rows.items()]


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,f1", "close", "Close help", show=False),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 100; height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, sections: Iterable[HelpSection], extra: Sequence[str] = ()) -> None:
        super().__init__()
        self.sections = list(sections)
        self.extra = list(extra)
        self.rows: list[tuple[str, str, str]] = []  # (section, keys, description)

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for title, bindings in self.sections:
            table.add_row(f"[u]{title}[/u]", "")
            for keys, description in key_rows(self.app.get_key_display, bindings):
                table.add_row(Text(keys), Text(description))
                self.rows.append((title, keys, description))
            table.add_row("", "")
        with VerticalScroll():
            yield Static("[b]damontui keys[/b]  (Esc, ? or F1 closes)\n")
            yield Static(table, id="keys")
            for line in self.extra:
                yield Static(line)

    def action_close(self) -> None:
        self.dismiss(None)


HELP_EXTRA = (
    "Mouse: click a column header to sort by it (again to invert); click a view tab.",
    "Ctrl+P opens the command palette: every action above is there too.",
)


def commands(registry: ViewRegistry) -> list[tuple[str, str, str]]:
    """(title, help, action): the command palette's entries beyond Textual's, with one
    entry per registered view."""
    return [*_LEAD, *registry.commands(), *_TAIL]


_LEAD = (
    ("Pause / resume", "Freeze the view (data keeps being collected)", "toggle_pause"),
    ("Faster refresh", "Redraw more often", "change_refresh(-1)"),
    ("Slower refresh", "Redraw less often", "change_refresh(1)"),
)
_TAIL = (
    ("Filter regions", "Address range, size, temperature, hot/cold", "filter"),
    ("Sort by next column", "Regions table", "sort(1)"),
    ("Sort by previous column", "Regions table", "sort(-1)"),
    ("Invert sort order", "Regions table", "invert_sort"),
    ("Heatmap: toggle address/temperature order", "Rows by address or hottest first",
     "heatmap_do('toggle_order')"),
    ("Heatmap: zoom in rows", "More rows per address range", "heatmap_do('zoom_rows(2)')"),
    ("Heatmap: zoom out rows", "Fewer rows per address range", "heatmap_do('zoom_rows(0.5)')"),
    ("Heatmap: zoom in time", "More columns per snapshot", "heatmap_do('zoom_time(1)')"),
    ("Heatmap: zoom out time", "More snapshots per column", "heatmap_do('zoom_time(-1)')"),
    ("Heatmap: back to live", "Scroll to the newest snapshot", "heatmap_do('time_edge(0)')"),
    ("Heatmap: reset zoom", "One row per slice, one column per snapshot",
     "heatmap_do('reset_view')"),
    ("Pick target", "Monitor another process or physical memory", "pick_target"),
    ("Edit monitoring attributes", "Intervals and region bounds", "edit_attrs"),
    ("Next theme", "Cycle through the themes", "next_theme"),
    ("Help", "Every key", "help"),
)  # fmt: skip
