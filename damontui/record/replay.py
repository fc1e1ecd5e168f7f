"""`damontui replay FILE`: the app on a recording, with a time slider.

ReplayBackend implements the Backend protocol over a list of snapshots (a
damontui record, or a damo record through the damo reader): it has no thread
and touches no kernel or process; every change request raises BackendError.
ReplayApp is the live app plus a ReplayBar and keys to play, pause, step,
change speed and jump; the scheme editor's preview and what-matches counts
work as live because they read the displayed (recorded) snapshot.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.widget import Widget

from ..backends.base import BackendError, ErrorCallback, SnapshotCallback
from ..model import BackendInfo, MonitoringAttrs, Scheme, Snapshot, Target, ValidationError
from ..model.units import format_duration_us, parse_duration_us
from ..tui import app as app_module
from ..tui.app import DamonApp
from ..tui.registry import REGISTRY
from ..tui.views import ViewSpec
from .frames import RecordError

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
FOLLOW_POLL_S = 0.5
HISTORY_WINDOW = 512  # snapshots handed to the heatmap/histograms at a seek
READONLY = "replay is read-only: nothing can be written to a kernel or a process"


class ReplayBackend:
    """A recording behind the Backend protocol (see module doc)."""

    def __init__(self, snapshots: Sequence[Snapshot], info: BackendInfo, name: str) -> None:
        if not snapshots:
            raise BackendError(f"{name}: the record holds no complete snapshot")
        self.snapshots = snapshots
        self.name = name
        self.recorded_backend = info.backend
        recorded = f"{info.backend}: {info.source}" if info.source else info.backend
        self._info = replace(info, backend="replay", source=f"{name} (recorded {recorded})",
                             readonly=True)  # fmt: skip
        self.position = 0
        self._on_snapshot: SnapshotCallback | None = None

    # --- the protocol --------------------------------------------------------------------

    @property
    def info(self) -> BackendInfo:
        return self._info

    def start(self, on_snapshot: SnapshotCallback, on_error: ErrorCallback) -> None:
        self._on_snapshot = on_snapshot

    def stop(self) -> None:
        self._on_snapshot = None

    def close(self) -> None:
        self.stop()  # nothing else is held: the record's reader belongs to the caller

    def latest(self) -> Snapshot | None:
        return self.snapshots[self.position]

    def attrs(self) -> MonitoringAttrs:
        return self.snapshots[self.position].attrs

    def set_attrs(self, attrs: MonitoringAttrs) -> None:
        raise BackendError(READONLY)

    def schemes(self) -> tuple[Scheme, ...]:
        return tuple(self.snapshots[self.position].schemes)

    def set_schemes(self, schemes: Sequence[Scheme]) -> None:
        raise BackendError(READONLY)

    def targets(self) -> tuple[Target, ...]:
        return tuple(t.target for t in self.snapshots[self.position].targets)

    def set_targets(self, targets: Sequence[Target]) -> None:
        raise BackendError(READONLY)

    # --- time ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.snapshots)

    def relative_us(self, index: int) -> int:
        return self.snapshots[index].elapsed_us - self.snapshots[0].elapsed_us

    def index_at(self, relative_us: int) -> int:
        """The last snapshot at or before `relative_us` from the start."""
        lo, hi = 0, len(self.snapshots) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.relative_us(mid) <= relative_us:
                lo = mid
            else:
                hi = mid - 1
        return lo


class RecordSnapshots(Sequence[Snapshot]):
    """A RecordReader's snapshots as a lazy sequence (decoded on access, cached)."""

    def __init__(self, reader: object) -> None:
        self.reader = reader

    def __len__(self) -> int:
        return len(self.reader)  # type: ignore[arg-type]

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        if isinstance(index, slice):
            return [self.reader.snapshot(i) for i in range(*index.indices(len(self)))]  # type: ignore[attr-defined]
        return self.reader.snapshot(index)  # type: ignore[attr-defined]

    def refresh(self) -> int:
        """Frames a recorder appended since (a record still being written)."""
        try:
            return int(self.reader.refresh())  # type: ignore[attr-defined]
        except RecordError:
            return 0


class ReplayBar(Widget):
    """Play state, position, time and speed over a slider; click to seek."""

    DEFAULT_CSS = """
    ReplayBar { height: 1; background: $boost; color: $foreground; padding: 0 1; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.state = (False, 0, 1, 0, 0, 1.0)  # playing, index, count, t_us, total_us, speed

    def set_state(self, playing: bool, index: int, count: int, t_us: int, total_us: int,
                  speed: float) -> None:  # fmt: skip
        self.state = (playing, index, count, t_us, total_us, speed)
        self.refresh()

    def show(self, snapshot: object, analysis: object, history: object) -> None:
        """The View protocol (a registry 'bar'): follow the app's replay position."""
        app = self.app
        if isinstance(app, ReplayApp):
            app.show_bar()

    def _parts(self, width: int) -> tuple[str, int, str]:
        playing, index, count, t_us, total_us, speed = self.state
        left = (f"{'▶' if playing else '⏸'} {format_duration_us(t_us)}"
                f"/{format_duration_us(total_us)} ")  # fmt: skip
        right = f" {index + 1}/{count} x{speed:g}"
        return left, max(4, width - len(left) - len(right)), right

    def render(self) -> Text:
        width = self.content_region.width or 80
        left, bar, right = self._parts(width)
        _, index, count, *_ = self.state
        filled = round(bar * (index + 1) / max(1, count))
        text = Text(left, no_wrap=True, overflow="ellipsis")
        text.append("━" * filled, style="bold")
        text.append("─" * (bar - filled), style="dim")
        text.append(right)
        return text

    def on_click(self, event: events.Click) -> None:
        width = self.content_region.width or 80
        left, bar, _ = self._parts(width)
        x = event.x - self.styles.padding.left - len(left)
        if 0 <= x < bar:
            fraction = (x + 0.5) / bar
            app = self.app
            if isinstance(app, ReplayApp):
                app.seek(round(fraction * (len(app.replay) - 1)))


class ReplayApp(DamonApp):
    """The app on a recording (see module doc)."""

    CSS_PATH = str(Path(app_module.__file__).with_name("app.tcss"))  # the live app's sheet

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_pause", "Play/Pause", id="replay.play"),
        Binding("full_stop", "step(1)", "Step", id="replay.step"),
        Binding("comma", "step(-1)", "Step back", id="replay.back", show=False),
        Binding("right_curly_bracket", "speed(1)", "Faster", id="replay.faster", show=False),
        Binding("left_curly_bracket", "speed(-1)", "Slower", id="replay.slower", show=False),
        Binding("g", "seek_to(0)", "First snapshot", id="replay.first", show=False),
        Binding("G", "seek_to(-1)", "Last snapshot", id="replay.last", show=False),
        Binding(
            "j",
            "jump",
            "Jump",
            id="replay.jump",
            tooltip="Jump to a time (90s, 5m) or a snapshot (#120)",
        ),  # fmt: skip
    ]

    def __init__(self, backend: ReplayBackend, *, speed: float = 1.0, follow: bool = False,
                 **kwargs: object) -> None:  # fmt: skip
        registry = REGISTRY.copy()
        if backend.recorded_backend == "damon_stat":  # its own view first, as live
            from ..tui.damon_stat_view import damon_stat_registry

            registry = damon_stat_registry()
        registry.register(ViewSpec("replay_bar", "Replay", "Time slider and play state",
                                   lambda app: ReplayBar(), kind="bar",
                                   help=lambda: (("Replay", ReplayApp.BINDINGS),)))  # fmt: skip
        super().__init__(backend, readonly=True, registry=registry, **kwargs)  # type: ignore[arg-type]
        self.replay = backend
        self.speed = speed
        self.follow = follow  # at the end, wait for a live recorder's next snapshots
        self.playing = False
        self.paused = True  # the header's play state: replay starts stopped
        self._play_timer: Timer | None = None

    def on_mount(self) -> None:
        super().on_mount()
        self.seek(0)

    # --- position ------------------------------------------------------------------------

    def seek(self, index: int) -> None:
        """Show snapshot `index`, with the history that led to it. A corrupt frame
        is reported and skipped (the previous position stays shown)."""
        count = len(self.replay)
        index = max(0, min(count - 1, index % count if index < 0 else index))
        snaps = self.replay.snapshots
        try:
            snap = snaps[index]
        except RecordError as e:
            self.notify(str(e), title="Corrupt snapshot", severity="error", markup=False)
            self.playing, self.paused = False, True
            return
        if index == self.replay.position and self.latest is not None:
            self.show_bar()
            return  # already there (a step past either end)
        step = index == self.replay.position + 1 and self.latest is not None
        self.replay.position = index
        if not step:
            self.history.clear()
            for i in range(max(0, index - HISTORY_WINDOW + 1), index):
                try:
                    self.history.append(snaps[i])
                except RecordError:
                    continue  # the heatmap shows the gap as unknown
        self.latest = None
        self.ingest_replayed(snap)

    def ingest_replayed(self, snap: Snapshot) -> None:
        self.latest = snap
        self.history.append(snap)
        self.render_latest()
        self.show_bar()

    def show_bar(self) -> None:
        r = self.replay
        self.query_one(ReplayBar).set_state(self.playing, r.position, len(r),
                                       r.relative_us(r.position), r.relative_us(len(r) - 1),
                                       self.speed)  # fmt: skip

    # --- actions -------------------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        self.playing = not self.playing
        self.paused = not self.playing
        if self.playing:
            if self.replay.position >= len(self.replay) - 1:
                self.seek(0)
            self._arm()
        elif self._play_timer is not None:
            self._play_timer.stop()
            self._play_timer = None
        self._show_chrome()
        self.show_bar()

    def _arm(self) -> None:
        r = self.replay
        if r.position >= len(r) - 1:
            refresh = getattr(r.snapshots, "refresh", None)
            if refresh is not None and refresh():  # the record grew: play on
                self.show_bar()
            elif refresh is not None and self.follow:  # a live record: wait for more
                self._play_timer = self.set_timer(FOLLOW_POLL_S, self._follow)
                return
            else:
                self.playing, self.paused = False, True
                self.show_bar()
                return
        gap_us = r.relative_us(r.position + 1) - r.relative_us(r.position)
        self._play_timer = self.set_timer(max(0.02, gap_us / 1e6 / self.speed), self._tick)

    def _follow(self) -> None:
        self._play_timer = None
        if self.playing:
            self._arm()

    def _tick(self) -> None:
        self._play_timer = None
        if self.playing:
            self.seek(self.replay.position + 1)
            self._arm()

    def action_step(self, delta: int) -> None:
        self.seek(self.replay.position + delta)

    def action_seek_to(self, index: int) -> None:
        self.seek(index)

    def action_speed(self, step: int) -> None:
        k = min(range(len(SPEEDS)), key=lambda i: abs(SPEEDS[i] - self.speed))
        self.speed = SPEEDS[max(0, min(len(SPEEDS) - 1, k + step))]
        self.show_bar()

    def action_jump(self) -> None:
        from .jump_screen import JumpScreen

        self.push_screen(JumpScreen(), self._jumped)

    def _jumped(self, value: str | None) -> None:
        if not value:
            return
        try:
            self.seek(self.parse_position(value))
        except ValidationError as e:
            self.notify(str(e), severity="error", markup=False)

    def parse_position(self, value: str) -> int:
        """'#N' is snapshot N (1-based, as the bar shows); anything else a time from the
        start: 90, 1.5s, 5m."""
        value = value.strip()
        if value.startswith("#"):
            try:
                number = int(value[1:])
            except ValueError:
                raise ValidationError("jump", value, "#N: a snapshot number") from None
            if not 1 <= number <= len(self.replay):
                raise ValidationError("jump", value, f"a snapshot from #1 to #{len(self.replay)}")
            return number - 1
        try:
            us = int(float(value) * 1e6)
        except ValueError:
            us = parse_duration_us(value, "jump")
        return self.replay.index_at(us)


def run_replay(args: argparse.Namespace) -> int:
    """Open the app on FILE: damontui records are decoded lazily (seeking an hour-long
    record costs one header scan), damo records through the damo reader."""
    from .reader import RecordSet, is_record, record_parts
    from .report import load

    if args.no_color:
        os.environ["NO_COLOR"] = "1"
    reader = None
    name = str(args.files[0])
    if all(is_record(p) for p in args.files):
        reader = RecordSet(record_parts(args.files), cache=2 * HISTORY_WINDOW)
        snaps: Sequence[Snapshot] = RecordSnapshots(reader)
        info = reader.meta(0).info if len(reader) else BackendInfo("?", "")
        warnings = list(reader.warnings)
        if len(reader.readers) > 1:
            name = f"{name} (+{len(reader.readers) - 1} parts)"
    else:
        if len(args.files) > 1:
            raise RecordError(str(args.files[1]), None, "replay takes one damo record at a time")
        snaps, info, warnings = load(args.files[0])
    try:
        backend = ReplayBackend(snaps, info, name)
        if args.speed not in SPEEDS:
            args.speed = min(SPEEDS, key=lambda s: abs(s - args.speed))
        app = ReplayApp(backend, speed=args.speed, theme=args.theme, startup_messages=warnings,
                        follow=args.follow)  # fmt: skip
        app.run(mouse=not args.no_mouse)
        return app.return_code or 0
    except BackendError as e:
        print(f"damontui replay: error: {e}", file=sys.stderr)
        return 1
    finally:
        if reader is not None:
            reader.close()
