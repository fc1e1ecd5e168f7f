"""The scheme editor shows what an age threshold means under the intervals in force,
and follows them when they change (snapshots carry the attrs in force)."""

from __future__ import annotations

from dataclasses import replace

from test_tui_schemes import ATTRS, COLD, PanelApp, note_of, show_panel, snapshot, type_into
from textual.widgets import Input

from damontui.backends.engine.backend import EngineBackend
from damontui.model import MonitoringAttrs, Range, Target, TargetKind
from damontui.model.serialize import schemes_from_toml
from damontui.model.units import U32_MAX
from damontui.tui.age_threshold import age_hint
from damontui.tui.app import DamonApp
from damontui.tui.scheme_editor import SchemeEditor

AGE_MIN, AGE_MAX = "access_pattern.age.min", "access_pattern.age.max"
SLOW = replace(ATTRS, sample_us=50_000, aggr_us=1_000_000)  # the smaps defaults
TIMED = schemes_from_toml(
    '[[schemes]]\nname = "timed"\naction = "pageout"\n'
    '[schemes.access_pattern]\nage = ["3s", "max"]\n'
)[0]


def age_field(app: PanelApp, key: str = AGE_MIN) -> Input:
    return app.query_one(f"#f-{key.replace('.', '-')}", Input)


def test_age_hint_texts() -> None:
    none = {AGE_MIN: -1, AGE_MAX: -1}
    assert age_hint(10, U32_MAX, none, ATTRS) == "= 10..max aggregations"  # counts: as before
    at_least = {AGE_MIN: 3_000_000, AGE_MAX: -1}
    assert age_hint(30, U32_MAX, at_least, ATTRS) == "≥ 3 s = 30 aggregations at 100 ms"
    assert age_hint(3, U32_MAX, at_least, SLOW) == "≥ 3 s = 3 aggregations at 1 s"
    at_most = {AGE_MIN: -1, AGE_MAX: 10_000_000}
    assert age_hint(0, 100, at_most, ATTRS) == "≤ 10 s = 100 aggregations at 100 ms"
    both = {AGE_MIN: 500_000, AGE_MAX: 10_000_000}
    assert age_hint(5, 100, both, ATTRS) == "500 ms..10 s = 5..100 aggregations at 100 ms"
    mixed = {AGE_MIN: -1, AGE_MAX: 10_000_000}
    assert age_hint(2, 10, mixed, SLOW) == "2..10 s = 2..10 aggregations at 1 s"


async def test_typed_time_is_shown_and_converted_again_when_aggregation_changes() -> None:
    app = PanelApp()
    async with app.run_test(size=(120, 40)) as pilot:
        field = await type_into(pilot, AGE_MIN, "3s")
        assert note_of(field) == "≥ 3 s = 30 aggregations at 100 ms"
        editor = app.query_one(SchemeEditor)
        assert editor.pattern is not None and editor.pattern.age_us == (3_000_000, -1)
        assert editor.pattern.age.min == 30
        show_panel(app, replace(snapshot(), attrs=SLOW))  # e.g. the CPU budget stretched it
        await pilot.pause()
        assert note_of(field) == "≥ 3 s = 3 aggregations at 1 s"
        assert field.value == "3s"  # the time the user typed stays
        assert editor.pattern is not None and editor.pattern.age == Range(3, U32_MAX)
        await pilot.press("ctrl+s")
        await pilot.pause()
        (applied,) = app.applied[-1]
        # the time goes to the backend, which converts it at each application
        assert applied.access_pattern.age_us == (3_000_000, -1)
        assert applied.access_pattern.effective(SLOW.aggr_us).age.min == 3


async def test_loaded_time_shows_as_that_time_at_other_intervals() -> None:
    """A config's age = ["3s", "max"] (parsed at 100 ms: 30) in an editor at 1 s shows
    3s = 3 aggregations, not 30 s."""
    app = PanelApp(schemes=(TIMED,))
    async with app.run_test(size=(120, 40)) as pilot:
        show_panel(app, replace(snapshot((TIMED,)), attrs=SLOW))
        await pilot.pause()
        field = age_field(app)
        assert field.value == "3s"
        assert note_of(field) == "≥ 3 s = 3 aggregations at 1 s"
        await type_into(pilot, "name", "renamed")  # an edit elsewhere keeps the time
        (row,) = app.panel.schemes
        assert row.access_pattern.age_us == (3_000_000, -1) and row.access_pattern.age.min == 3


async def test_a_count_keeps_its_count_and_shows_its_new_time() -> None:
    app = PanelApp()  # COLD: age >= 50 aggregations, shown as 5s at 100 ms
    async with app.run_test(size=(120, 40)) as pilot:
        field = age_field(app)
        assert (field.value, note_of(field)) == ("5s", "= 50..max aggregations")
        show_panel(app, replace(snapshot(), attrs=SLOW))
        await pilot.pause()
        assert (field.value, note_of(field)) == ("50s", "= 50..max aggregations")
        editor = app.query_one(SchemeEditor)
        assert editor.pattern == COLD.access_pattern  # still 50, still a count
        typed = await type_into(pilot, AGE_MIN, "20")  # a typed count is left alone
        show_panel(app, replace(snapshot(), seq=2, attrs=ATTRS))
        await pilot.pause()
        assert (typed.value, note_of(typed)) == ("20", "= 20..max aggregations")


async def test_threshold_follows_the_engines_aggregation_interval() -> None:
    """Through the app: the engine's snapshots carry the attrs in force."""
    attrs = MonitoringAttrs(min_nr_regions=10, max_nr_regions=100)
    backend = EngineBackend(
        [Target(TargetKind.SYNTHETIC, name="hotcold")],
        attrs=attrs,
        schemes=(TIMED,),
        seed=1,
        realtime=False,
    )
    app = DamonApp(backend, refresh_s=1.0, autostart=False, theme="damon-dark")
    async with app.run_test(size=(160, 50)) as pilot:
        app.ingest(backend.run_for(attrs.aggr_us))
        app.render_latest()
        await pilot.press("4")
        await pilot.pause()
        field = app.query_one(f"#f-{AGE_MIN.replace('.', '-')}", Input)
        assert note_of(field) == "≥ 3 s = 30 aggregations at 100 ms"
        backend.set_attrs(replace(attrs, sample_us=25_000, aggr_us=500_000))
        snap = backend.run_for(1_000_000)
        assert snap is not None and snap.attrs.aggr_us == 500_000
        app.ingest(snap)
        app.render_latest()
        await pilot.pause()
        assert note_of(field) == "≥ 3 s = 6 aggregations at 500 ms"
    backend.close()
