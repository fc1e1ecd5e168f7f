"""The target picker, driven through Textual's pilot (with a fake and a real process list)."""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Input, Label

from damontui.model import Target, TargetKind
from damontui.tui.target_screen import (
    ProcessInfo,
    TargetScreen,
    list_processes,
    process_alive,
)

UNSET = object()
PROCESSES = [
    ProcessInfo(300, "postgres", 900 << 20, "postgres", 1.0),
    ProcessInfo(100, "firefox", 2 << 30, "alice", 1.0),
    ProcessInfo(200, "bash", 4 << 20, "alice", 1.0),
]


class PickerApp(App[None]):
    def __init__(self, **kwargs: object) -> None:
        super().__init__()
        self.kwargs = kwargs
        self.result: object = UNSET
        self.lister_threads: list[str] = []

    def compose(self) -> ComposeResult:
        yield Label("main")

    def fake_lister(self) -> list[ProcessInfo]:
        self.lister_threads.append(threading.current_thread().name)
        return sorted(PROCESSES, key=lambda p: -p.rss)

    def on_mount(self) -> None:
        kwargs = {
            "synthetic_patterns": ["hotcold", "stairs"],
            "lister": self.fake_lister,
            "is_alive": lambda process: True,
            **self.kwargs,
        }
        self.push_screen(TargetScreen(**kwargs), self.done)  # type: ignore[arg-type]

    def done(self, result: Target | None) -> None:
        self.result = result

    def names(self) -> list[str]:
        table = self.screen.query_one(DataTable)
        return [str(table.get_row_at(i)[1]) for i in range(table.row_count)]


async def settle(pilot) -> None:  # noqa: ANN001
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@asynccontextmanager
async def picker(**kwargs: object) -> AsyncIterator[tuple[PickerApp, Any]]:
    """A running PickerApp (80x24) whose process list has loaded: (app, pilot)."""
    app = PickerApp(**kwargs)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        yield app, pilot


async def test_lists_fixed_entries_then_processes_by_rss() -> None:
    async with picker() as (app, pilot):
        assert app.names() == [
            "physical memory",
            "synthetic: hotcold",
            "synthetic: stairs",
            "firefox",
            "postgres",
            "bash",
        ]
        assert app.lister_threads and app.lister_threads[0] != threading.main_thread().name
        table = app.screen.query_one(DataTable)
        assert table.get_row_at(3) == ["100", "firefox", "2.0 GiB", "alice"]


async def test_typing_filters_by_name_pid_or_user_and_enter_picks() -> None:
    async with picker() as (app, pilot):
        await pilot.press(*"alice")
        assert app.names() == ["firefox", "bash"]
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.result == Target(TargetKind.PID, pid=200, name="bash")


async def test_filter_by_pid() -> None:
    async with picker() as (app, pilot):
        await pilot.press("3", "0", "0")
        assert app.names() == ["postgres"]
        await pilot.press("enter")
        await pilot.pause()
        assert app.result == Target(TargetKind.PID, pid=300, name="postgres")


async def test_physical_memory_and_synthetic_entries() -> None:
    async with picker() as (app, pilot):
        await pilot.press(*"physical", "enter")
        await pilot.pause()
        assert app.result == Target(TargetKind.PADDR)
    async with picker() as (app, pilot):
        await pilot.press(*"stairs", "enter")
        await pilot.pause()
        assert app.result == Target(TargetKind.SYNTHETIC, name="stairs")


async def test_vanished_pid_is_named_and_the_picker_stays_open() -> None:
    async with picker(is_alive=lambda process: process.pid != 100) as (app, pilot):
        await pilot.press(*"firefox", "enter")
        await settle(pilot)
        assert app.result is UNSET and isinstance(app.screen, TargetScreen)
        assert any("pid 100" in n.message for n in app._notifications)


async def test_escape_cancels_and_cursor_starts_on_the_current_target() -> None:
    async with picker(current=Target(TargetKind.PID, pid=300, name="postgres")) as (app, pilot):
        assert app.screen.query_one(DataTable).cursor_row == 4
        await pilot.press("escape")
        await pilot.pause()
        assert app.result is None


async def test_nothing_matching_keeps_the_picker_open() -> None:
    async with picker() as (app, pilot):
        await pilot.press(*"zzz", "enter")
        await pilot.pause()
        assert app.names() == [] and app.result is UNSET


async def test_real_process_list_contains_this_process() -> None:
    async with picker(lister=list_processes, is_alive=process_alive) as (app, pilot):
        app.screen.query_one(Input).value = str(os.getpid())
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.result, Target) and app.result.pid == os.getpid()


def test_list_processes_and_process_alive() -> None:
    processes = list_processes()
    rss = [p.rss for p in processes]
    assert rss == sorted(rss, reverse=True)
    me = next(p for p in processes if p.pid == os.getpid())
    assert process_alive(me)
    assert not process_alive(ProcessInfo(me.pid, me.name, me.rss, me.user, me.create_time - 100))
    assert not process_alive(ProcessInfo(2**22 + 12345, "gone", 1, "x"))
