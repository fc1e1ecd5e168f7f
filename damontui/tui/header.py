"""The info bars: header (where data comes from, what is in force), view tabs and the
status line (sort, filter, preview matches)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.content import Content
from textual.widget import Widget

from ..model import BackendInfo, Snapshot, Target
from ..model.units import format_duration_us, format_size
from .views import ViewRegistry


@dataclass(frozen=True)
class HeaderState:
    """Everything the header shows besides the snapshot itself."""

    info: BackendInfo
    targets: tuple[Target, ...] = ()
    refresh_s: float = 1.0
    paused: bool = False
    readonly: bool = False
    notes: tuple[str, ...] = ()  # the app's own notes (e.g. why the engine is used)


def _line(text: Text) -> Text:
    text.no_wrap = True
    text.overflow = "ellipsis"
    return text


def header_lines(state: HeaderState, snapshot: Snapshot | None) -> list[Text]:
    """Source; live state and cost; what is monitored with which intervals and notes.
    The most useful facts come first in each line: narrow terminals cut the ends."""
    info = state.info
    # one segment: a renderer that drops a segment's edge spaces can't glue the words
    first = Text.assemble((f"damontui {info.backend}", "bold"), f": {info.source}")
    if info.kernel_version:
        first.append(f" · kernel {info.kernel_version}")
    if info.features:
        first.append(f" · {', '.join(info.features)}")
    run = ("⏸ PAUSED", "bold reverse") if state.paused else ("▶ live", "bold")
    second = Text.assemble(run, f" · refresh {state.refresh_s:g} s")
    if state.readonly or info.readonly:
        second.append(" · read-only", style="bold")
    third = Text("target " + (", ".join(_target_label(t, snapshot) for t in state.targets)
                              or "none"))  # fmt: skip
    if snapshot is not None:
        a = snapshot.attrs
        second.append(
            f" · {snapshot.nr_regions} regions ({a.min_nr_regions}..{a.max_nr_regions})"
            f" · monitor cpu {snapshot.cpu_percent:.1f}%"
            f" · t={format_duration_us(snapshot.elapsed_us)} seq {snapshot.seq}"
        )
        tuned = " (auto-tuned)" if a.intervals_goal.enabled else ""
        mark = {f: "*" if f in snapshot.tuned else "" for f in ("sample_us", "aggr_us")}
        if snapshot.tuned:
            tuned = " (* tuned by the kernel)"
        third.append(
            f" · sample {format_duration_us(a.sample_us)}{mark['sample_us']}"
            f" aggr {format_duration_us(a.aggr_us)}{mark['aggr_us']}"
            f" update {format_duration_us(a.update_us)}{tuned}"
            f" · {format_size(sum(t.total_size for t in snapshot.targets))}"
        )
    for note in (*state.notes, *info.notes, *(snapshot.messages if snapshot else ())):
        third.append(" · ")
        third.append(f"note: {note}", style="italic")
    return [_line(first), _line(second), _line(third)]


def _spans(content: Text | Content) -> list[object]:
    return list(content.spans)


def _target_label(target: Target, snapshot: Snapshot | None) -> str:
    """The target's label, saying so when the snapshots no longer carry it."""
    if snapshot is None or any((t.target.kind, t.target.pid) == (target.kind, target.pid)
                               for t in snapshot.targets):  # fmt: skip
        return target.label
    return f"{target.label} (exited: no longer monitored)" if target.pid else (
        f"{target.label} (no longer monitored)")  # fmt: skip


class _Bar(Widget):
    """A fixed-height line of text that repaints only when its text changes; unlike
    Static.update it never asks for a layout pass (which reflows the whole screen)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._content: Text | Content = Text()

    def set_content(self, content: Text | Content) -> None:
        # Content's == compares the text only: a tab that moved would never repaint
        if content != self._content or _spans(content) != _spans(self._content):
            self._content = content
            self.refresh()

    def render(self) -> Text | Content:
        return self._content


class StatusHeader(_Bar):
    """Three fixed lines (no layout jumps when notes come and go)."""

    DEFAULT_CSS = """
    StatusHeader {
        height: 3; background: $panel; color: $foreground; padding: 0 1;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    """

    def show(self, state: HeaderState, snapshot: Snapshot | None) -> None:
        self.set_content(_line(Text("\n").join(header_lines(state, snapshot))))


class ViewTabs(_Bar):
    """One line of clickable view names (the registry's, numbered); the active ones
    highlighted."""

    DEFAULT_CSS = """
    ViewTabs {
        height: 1; background: $panel-darken-1; color: $foreground-muted;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    """

    def show(self, registry: ViewRegistry, main_view: str, panel: str | None) -> None:
        parts = []
        for n, spec in registry.numbered():
            active = spec.key == (panel if spec.panel else main_view)
            label = f" {n} {spec.title} "
            click = f"@click=app.show_view('{spec.key}')"
            parts.append(f"[{click} reverse bold]{label}[/]" if active else f"[{click}]{label}[/]")
        self.set_content(Content.from_markup(" ".join(parts) + "   ? help  ^p commands"))


class StatusLine(_Bar):
    """Sort/filter state and the scheme preview's matched regions and bytes."""

    DEFAULT_CSS = """
    StatusLine {
        height: 1; background: $panel; color: $foreground; padding: 0 1;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    """

    def show(self, regions: str, preview: tuple[int, int] | None) -> None:
        text = Text(regions, no_wrap=True, overflow="ellipsis")
        if preview is not None:
            count, nbytes = preview
            text.append(" · preview: ", style="bold")
            text.append(f"{count} regions, {format_size(nbytes)} match", style="bold")
        self.set_content(text)
