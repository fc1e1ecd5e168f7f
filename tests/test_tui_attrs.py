"""The monitoring attributes screen, driven through Textual's pilot."""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult
from textual.widgets import Button, Checkbox, Input, Label, Static

from damontui.backends.kernel.features import FEATURES, Features
from damontui.model import BackendInfo, IntervalsGoal, MonitoringAttrs
from damontui.tui.attrs_screen import AttrsScreen, build_attrs
from damontui.tui.scheme_editor import Note

UNSET = object()


class AttrsApp(App[None]):
    def __init__(self, attrs: MonitoringAttrs | None = None, **screen_kw: Any) -> None:
        super().__init__()
        self.attrs = attrs
        self.screen_kw = screen_kw
        self.result: object = UNSET

    def compose(self) -> ComposeResult:
        yield Label("main")

    def on_mount(self) -> None:
        self.push_screen(AttrsScreen(self.attrs, **self.screen_kw), self.done)

    def done(self, result: MonitoringAttrs | None) -> None:
        self.result = result


async def set_field(pilot, key: str, text: str) -> Input:  # noqa: ANN001
    field = pilot.app.screen.query_one(f"#f-{key.replace('.', '-')}", Input)
    field.focus()
    field.value = ""
    await pilot.press(*text)
    await pilot.pause()
    return field


def note_of(field: Input) -> str:
    return str(field.parent.query_one(Note).render())


async def test_fields_show_the_current_attrs_in_human_units() -> None:
    app = AttrsApp(MonitoringAttrs(10_000, 200_000, 2_000_000, 20, 500))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, AttrsScreen)
        values = {i.id: i.value for i in screen.query(Input)}
        assert values["f-sample_us"] == "10ms" and values["f-aggr_us"] == "200ms"
        assert values["f-update_us"] == "2s" and values["f-max_nr_regions"] == "500"
        assert "20 samples per aggregation" in note_of(screen.query_one("#f-aggr_us", Input))


async def test_invalid_value_is_named_and_apply_refused() -> None:
    app = AttrsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        field = await set_field(pilot, "sample_us", "fast")
        assert "sample_us" in note_of(field)
        summary = str(app.screen.query_one("#summary", Static).render())
        assert summary.startswith("✗ sample_us")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.result is UNSET and isinstance(app.screen, AttrsScreen)
        # cross-field check from the model, named on its own field
        await set_field(pilot, "sample_us", "30ms")
        aggr = app.screen.query_one("#f-aggr_us", Input)
        assert "aggr_us" in note_of(aggr) and "multiple" in note_of(aggr)
        assert set(app.screen.errors) == {"aggr_us"}
        await set_field(pilot, "intervals_goal.access_bp", "200%")
        assert "intervals_goal.access_bp" in app.screen.errors


async def test_apply_returns_the_new_attrs() -> None:
    app = AttrsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await set_field(pilot, "sample_us", "10ms")
        await set_field(pilot, "aggr_us", "200ms")
        await set_field(pilot, "max_nr_regions", "2,000")
        await set_field(pilot, "intervals_goal.access_bp", "4%")
        await pilot.press("enter")  # Enter in a field applies
        await pilot.pause()
        assert app.result == MonitoringAttrs(
            10_000, 200_000, 60_000_000, 10, 2000, IntervalsGoal(access_bp=400)
        )
        assert not isinstance(app.screen, AttrsScreen)


async def test_apply_button_and_escape() -> None:
    app = AttrsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.screen.query_one("#apply", Button).press()
        await pilot.pause()
        assert app.result == MonitoringAttrs()
    app = AttrsApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await set_field(pilot, "update_us", "5s")
        await pilot.press("escape")
        await pilot.pause()
        assert app.result is None


def test_build_attrs_reports_the_model_error() -> None:
    values: dict[str, int | None] = {
        "sample_us": 5000,
        "aggr_us": 100_000,
        "update_us": 1000,
        "min_nr_regions": 10,
        "max_nr_regions": 100,
        "intervals_goal.access_bp": 0,
        "intervals_goal.aggrs": 3,
        "intervals_goal.min_sample_us": 1,
        "intervals_goal.max_sample_us": 2,
    }
    attrs, errors = build_attrs(values)
    assert attrs is None and set(errors) == {"update_us"}
    values["update_us"] = None
    assert build_attrs(values) == (None, {})


# --- the context's addr_unit (6.18) and pause (7.2) --------------------------------


def kernel_info(version: tuple[int, int], ops: str = "paddr") -> BackendInfo:
    """A kernel backend's info with features inferred at `version` (Features.labels())."""
    present = frozenset(spec.name for spec in FEATURES if spec.version <= version)
    release = f"{version[0]}.{version[1]}.9-test"
    features = Features("/fake", release, version, True, present, avail_operations=(ops,))
    return BackendInfo("kernel", f"{ops} (new kdamond)", release, features.labels())


ENGINE = BackendInfo("engine", "synthetic", features=("kernel: cython",))


async def toggle_pause(pilot) -> Checkbox:  # noqa: ANN001
    box = pilot.app.screen.query_one("#f-pause", Checkbox)
    box.value = not box.value
    await pilot.pause()
    return box


async def test_context_fields_parse_through_the_editor() -> None:
    app = AttrsApp(info=kernel_info((7, 2)))
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, AttrsScreen)
        assert screen.context_values == {"addr_unit": 1, "pause": False}
        await set_field(pilot, "addr_unit", "4,096")
        await toggle_pause(pilot)
        assert screen.context_values == {"addr_unit": 4096, "pause": True}
        field = await set_field(pilot, "addr_unit", "page")
        assert "addr_unit" in note_of(field) and "'page'" in note_of(field)
        await set_field(pilot, "addr_unit", "0")
        assert "addr_unit: 0 is invalid; >= 1 byte" in screen.errors["addr_unit"]


async def test_context_changes_are_refused_with_the_reason() -> None:
    """7.2 has both files, but nothing changes them on a running context: the change
    is refused naming the field; undone, the rest applies."""
    app = AttrsApp(info=kernel_info((7, 2)))
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        box = await toggle_pause(pilot)
        assert "pause: no backend changes it on a running context" in app.screen.errors["pause"]
        assert "pause:" in str(box.parent.query_one(Note).render())
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.result is UNSET
        await toggle_pause(pilot)
        await set_field(pilot, "update_us", "5s")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.result == MonitoringAttrs(update_us=5_000_000)


async def test_a_kernel_without_the_feature_refuses_with_the_version() -> None:
    app = AttrsApp(info=kernel_info((6, 12)))
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        field = app.screen.query_one("#f-addr_unit", Input)
        assert "this kernel: no (kernel 6.18+)" in note_of(field)  # before any edit
        await set_field(pilot, "addr_unit", "4096")
        error = app.screen.errors["addr_unit"]
        assert error == "addr_unit: addr_unit 4096 needs kernel 6.18+ (this kernel: 6.12.9-test)"
        await set_field(pilot, "addr_unit", "1")
        await toggle_pause(pilot)
        assert "pause on needs kernel 7.2+" in app.screen.errors["pause"]
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.result is UNSET


async def test_the_engine_and_vaddr_say_why_not() -> None:
    app = AttrsApp(info=ENGINE)
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        await toggle_pause(pilot)
        error = app.screen.errors["pause"]
        assert "not implemented by the user-space engine" in error and "kernel 7.2+" in error
    app = AttrsApp(info=kernel_info((7, 2), "vaddr"))
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause()
        await set_field(pilot, "addr_unit", "4096")
        assert "1 unless ops is paddr" in app.screen.errors["addr_unit"]
