"""The monitoring attributes screen, driven through Textual's pilot."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Button, Input, Label, Static

from damontui.model import IntervalsGoal, MonitoringAttrs
from damontui.tui.attrs_screen import AttrsScreen, build_attrs
from damontui.tui.scheme_editor import Note

UNSET = object()


class AttrsApp(App[None]):
    def __init__(self, attrs: MonitoringAttrs | None = None) -> None:
        super().__init__()
        self.attrs = attrs
        self.result: object = UNSET

    def compose(self) -> ComposeResult:
        yield Label("main")

    def on_mount(self) -> None:
        self.push_screen(AttrsScreen(self.attrs), self.done)

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
