"""The schemes panel and editor, driven through Textual's pilot."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from textual.app import App, ComposeResult
from textual.widgets import Button, DataTable, Input, Select, Static

from damontui.analysis import HistoryFrame, SnapshotAnalysis
from damontui.backends.base import BackendError
from damontui.backends.engine.damos import validate_for_engine
from damontui.backends.kernel.features import FEATURES, Features
from damontui.backends.kernel.writer import check_support
from damontui.model import (
    AccessPattern,
    Action,
    BackendInfo,
    Dest,
    Filter,
    FilterType,
    GoalMetric,
    GoalTuner,
    MonitoringAttrs,
    QuotaGoal,
    Quotas,
    Range,
    Region,
    Scheme,
    SchemeStats,
    Snapshot,
    Target,
    TargetKind,
    TargetSnapshot,
)
from damontui.model.serialize import schemes_from_toml
from damontui.model.units import U32_MAX, U64_MAX
from damontui.tui.field_gates import Gate
from damontui.tui.scheme_editor import (
    FILTER_READERS,
    GOAL_READERS,
    READERS,
    Note,
    SchemeEditor,
    assemble,
    scheme_values,
    value_text,
)
from damontui.tui.schemes import PathPrompt, SchemeList, SchemesPanel

MIB = 1 << 20
ATTRS = MonitoringAttrs()  # 5 ms / 100 ms: nr_accesses 0..20
COLD = Scheme(
    Action.PAGEOUT,
    AccessPattern(Range(4096, U64_MAX), Range(0, 0), Range(50, U32_MAX)),
    name="cold",
)
# ten 1 MiB regions: region i has nr_accesses 2*i and age 10*i
REGIONS = [Region(i * MIB, (i + 1) * MIB, 2 * i, 10 * i) for i in range(10)]


def snapshot(
    schemes: tuple[Scheme, ...] = (COLD,), stats: tuple[SchemeStats, ...] = ()
) -> Snapshot:
    target = TargetSnapshot.from_regions(Target(TargetKind.SYNTHETIC, name="hotcold"), REGIONS)
    return Snapshot(1, 0.0, 0, ATTRS, (target,), schemes, stats)


def count_matches(snap: Snapshot, pattern: AccessPattern) -> tuple[int, int]:
    return SnapshotAnalysis(snap).preview_totals(pattern)


def show_panel(app: PanelApp, snap: Snapshot) -> None:
    """New data, through the view protocol (as the app hands it over)."""
    app.panel.show(snap, SnapshotAnalysis(snap), HistoryFrame((snap,)))


class PanelApp(App[None]):
    def __init__(
        self,
        schemes: tuple[Scheme, ...] = (COLD,),
        schemes_file: Path | None = None,
        gate: Gate | None = None,
    ):
        super().__init__()
        self.initial = schemes
        self.schemes_file = schemes_file
        self.gate = gate
        self.applied: list[tuple[Scheme, ...]] = []
        self.previews: list[AccessPattern | None] = []

    def compose(self) -> ComposeResult:
        yield Input(id="outside")
        yield SchemesPanel(self.initial, ATTRS, self.schemes_file, gate=self.gate)

    def on_apply_schemes(self, message) -> None:  # noqa: ANN001
        self.applied.append(message.schemes)

    def on_preview_pattern(self, message) -> None:  # noqa: ANN001
        self.previews.append(message.pattern)

    @property
    def panel(self) -> SchemesPanel:
        return self.query_one(SchemesPanel)

    def match_text(self) -> str:
        return str(self.query_one("#match", Static).render())


async def type_into(pilot, key: str, text: str) -> Input:  # noqa: ANN001
    field = pilot.app.query_one(f"#f-{key.replace('.', '-')}", Input)
    field.focus()
    field.value = ""
    await pilot.press(*text)
    await pilot.pause()
    return field


def note_of(field: Input) -> str:
    return str(field.parent.query_one(Note).render())


async def test_invalid_value_is_named_next_to_the_field_and_not_applied() -> None:
    app = PanelApp()
    async with app.run_test(size=(80, 24)) as pilot:
        field = await type_into(pilot, "quotas.bytes", "12 parsecs")
        assert "quotas.bytes" in note_of(field) and "parsecs" in note_of(field)
        summary = str(app.query_one("#summary", Static).render())
        assert summary.startswith("✗ 1 invalid: quotas.bytes")
        assert app.query_one(SchemeEditor).scheme is None
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.applied == []  # invalid values never reach the backend
        assert "invalid" in str(app.query_one(SchemeList).get_row_at(0))
        # a model-level error (a quota without a reset interval) is named too
        field = await type_into(pilot, "quotas.bytes", "1MiB")
        reset = app.query_one("#f-quotas-reset_interval_ms", Input)
        assert "quotas.reset_interval_ms" in note_of(reset)
        await type_into(pilot, "quotas.reset_interval_ms", "1s")
        assert app.query_one(SchemeEditor).errors == {}
        assert app.panel.schemes[0].quotas == Quotas(0, MIB, 1000)


async def test_preview_count_follows_the_pattern() -> None:
    app = PanelApp()
    async with app.run_test(size=(80, 24)) as pilot:
        show_panel(app, snapshot())
        await pilot.pause()
        # COLD: nr_accesses 0 and age >= 50 -> none of the regions (only region 0 is idle)
        assert app.match_text().startswith("would match 0 of 10 regions")
        await type_into(pilot, "access_pattern.age.min", "0")
        assert app.match_text() == "would match 1 of 10 regions, 1.0 MiB now"
        await type_into(pilot, "access_pattern.nr_accesses.max", "50%")  # 10 of 20 samples
        assert app.match_text() == "would match 6 of 10 regions, 6.0 MiB now"
        await type_into(pilot, "access_pattern.nr_accesses.min", "4")
        assert app.match_text() == "would match 4 of 10 regions, 4.0 MiB now"
        await type_into(pilot, "access_pattern.age.min", "3s")  # 30 aggregations
        assert app.match_text() == "would match 3 of 10 regions, 3.0 MiB now"
        await type_into(pilot, "access_pattern.age.min", "soon")
        assert app.match_text() == "would match: pattern invalid"
        await type_into(pilot, "access_pattern.age.min", "30")
        await pilot.pause(0.3)  # the preview is debounced
        assert app.previews[-1] == AccessPattern(
            Range(4096, U64_MAX), Range(4, 10), Range(30, U32_MAX)
        )
        assert None not in app.previews
        # leaving the editor stops the preview
        app.query_one("#outside", Input).focus()
        await pilot.pause()
        assert app.previews[-1] is None


async def test_apply_posts_every_scheme_with_the_edit() -> None:
    second = Scheme(Action.STAT, name="stats")
    app = PanelApp((COLD, second))
    async with app.run_test(size=(80, 24)) as pilot:
        await type_into(pilot, "name", "colder")
        app.query_one("#f-action", Select).value = "lru_deprio"
        await type_into(pilot, "quotas.ms", "20ms")
        await type_into(pilot, "quotas.reset_interval_ms", "1s")
        await pilot.press("ctrl+s")
        await pilot.pause()
        expected = Scheme(
            Action.LRU_DEPRIO, COLD.access_pattern, Quotas(20, 0, 1000), name="colder"
        )
        assert app.applied == [(expected, second)]
        assert app.panel.applied == (expected, second)
        # the Apply button does the same
        app.query_one("#btn-apply", Button).press()
        await pilot.pause()
        assert len(app.applied) == 2


async def test_revert_restores_the_last_applied() -> None:
    app = PanelApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await type_into(pilot, "name", "changed")
        assert app.panel.schemes[0].name == "changed"
        assert "active*" in str(app.query_one(SchemeList).get_row_at(0))
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert app.panel.schemes == (COLD,)
        assert app.query_one("#f-name", Input).value == "cold"
        assert app.applied == []


async def test_list_keys_add_duplicate_delete_select() -> None:
    app = PanelApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(SchemeList)
        table.focus()
        await pilot.press("n")
        await pilot.pause()
        assert len(app.panel.schemes) == 2 and app.panel.selected == 1
        assert app.query_one("#f-name", Input).value == "scheme 1"
        await pilot.press("up")
        await pilot.pause()
        assert app.panel.selected == 0 and app.query_one("#f-name", Input).value == "cold"
        await pilot.press("c")
        await pilot.pause()
        assert [s.name for s in app.panel.schemes] == ["cold", "cold copy", "scheme 1"]
        assert app.panel.schemes[1].access_pattern == COLD.access_pattern
        await pilot.press("x")
        await pilot.pause()
        assert [s.name for s in app.panel.schemes] == ["cold", "scheme 1"]
        assert table.row_count == 2


async def test_save_and_load_round_trip_through_the_ui(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "schemes.toml"
    hot = Scheme(
        Action.HUGEPAGE,
        AccessPattern(Range(2 * MIB, U64_MAX), Range(10, U32_MAX)),
        filters=(Filter(FilterType.ANON),),
        name="hot",
    )
    app = PanelApp((COLD, hot), schemes_file=path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.query_one(SchemeList).focus()  # the panel's keys work with focus inside it
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, PathPrompt)
        assert app.screen.query_one(Input).value == str(path)
        await pilot.press("enter")
        await pilot.pause()
        assert schemes_from_toml(path.read_text(), ATTRS) == [COLD, hot]
        # change the list, then load the file back
        app.query_one(SchemeList).focus()
        await pilot.press("x")
        await pilot.pause()
        assert app.panel.schemes == (hot,)
        await pilot.press("f3")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert app.panel.schemes == (COLD, hot)
        assert "new" in str(app.query_one(SchemeList).get_row_at(0))  # loaded, not applied
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.applied == [(COLD, hot)]


@pytest.mark.parametrize(("body", "key", "allowed"), [
    ('bytes = "lots"\n', "schemes[0].quotas.bytes", ""),
    ('ms = 1\nreset_interval_ms = 9\ngoal_tuner = "fast"\n', "schemes[0].quotas.goal_tuner",
     "one of consist, temporal"),
])  # fmt: skip
async def test_loading_a_bad_file_names_file_line_and_key(
    tmp_path: Path, body: str, key: str, allowed: str
) -> None:
    path = tmp_path / "bad.toml"
    text = '[[schemes]]\naction = "pageout"\n[schemes.quotas]\n' + body
    path.write_text(text)
    line = len(text.splitlines())  # the bad key is the file's last line
    app = PanelApp(schemes_file=path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.query_one(SchemeList).focus()
        await pilot.press("f3")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert app.panel.schemes == (COLD,)
        messages = [n.message for n in app._notifications]
        assert any(f"{path}:{line}: {key}" in m and allowed in m for m in messages), messages


async def test_stats_and_watermark_state_show_in_the_list() -> None:
    app = PanelApp()
    async with app.run_test(size=(80, 24)) as pilot:
        stats = SchemeStats(7, 3 * MIB, 2, MIB, 4, effective_bytes=2 * MIB, active=False)
        show_panel(app, snapshot(stats=(stats,)))
        await pilot.pause()
        row = app.query_one(SchemeList).get_row_at(0)
        assert row == ["0", "cold", "inactive", "7 3.0 MiB", "2 1.0 MiB", "4", "2.0 MiB"]


async def test_panel_follows_the_backend_unless_edited() -> None:
    other = Scheme(Action.STAT, name="from elsewhere")
    app = PanelApp()
    async with app.run_test(size=(80, 24)) as pilot:
        show_panel(app, snapshot(schemes=(other,)))
        await pilot.pause()
        assert app.panel.schemes == (other,) == app.panel.applied
        assert app.query_one("#f-name", Input).value == "from elsewhere"
        await type_into(pilot, "name", "mine")
        show_panel(app, snapshot(schemes=(COLD,)))
        await pilot.pause()
        assert app.panel.schemes[0].name == "mine"  # the user's edit survives
        assert app.panel.applied == (COLD,)


async def test_goals_and_filters_are_validated_by_index() -> None:
    app = PanelApp()
    async with app.run_test(size=(80, 40)) as pilot:
        app.query_one("#add-filter", Button).press()
        await pilot.pause()
        app.query_one("#add-goal", Button).press()
        await pilot.pause()
        editor = app.query_one(SchemeEditor)
        type_select = next(s for s in app.query(Select) if (s.id or "").endswith("-type"))
        type_select.value = "addr"
        await pilot.pause()
        assert "filters[0].addr_start" in editor.errors
        start = next(i for i in app.query(Input) if (i.id or "").endswith("-addr_start"))
        end = next(i for i in app.query(Input) if (i.id or "").endswith("-addr_end"))
        assert start.parent.display and end.parent.display
        start.value, end.value = "0x1000", "0x3000"
        await pilot.pause()
        assert "quotas.reset_interval_ms" in editor.errors  # a goal needs a reset interval
        await type_into(pilot, "quotas.reset_interval_ms", "1s")
        goal_target = next(i for i in app.query(Input) if (i.id or "").endswith("target_value"))
        goal_target.value = "45%"
        await pilot.pause()
        assert editor.errors == {}
        # the goal's metric decides which of its fields show (and are required)
        current = next(i for i in app.query(Input) if (i.id or "").endswith("current_value"))
        path = next(i for i in app.query(Input) if (i.id or "").endswith("-path"))
        assert current.parent.display and not path.parent.display
        metric = next(s for s in app.query(Select) if (s.id or "").endswith("-metric"))
        metric.value = "node_memcg_used_bp"
        await pilot.pause()
        assert path.parent.display and not current.parent.display
        assert "quotas.goals[0].path" in editor.errors
        metric.value = "user_input"
        await pilot.pause()
        assert editor.errors == {}
        scheme = app.panel.schemes[0]
        assert scheme.filters == (Filter(FilterType.ADDR, addr_start=0x1000, addr_end=0x3000),)
        assert scheme.quotas.goals == (QuotaGoal(GoalMetric.USER_INPUT, 4500),)
        remove = next(b for b in app.query(Button) if (b.id or "").startswith("remove-filter"))
        remove.press()
        await pilot.pause()
        assert app.panel.schemes[0].filters == ()


def test_count_matches_agrees_with_the_model() -> None:
    snap = snapshot()
    pattern = AccessPattern(Range(0, U64_MAX), Range(2, 12), Range(10, 40))
    expected = [r for r in REGIONS if pattern.matches(r.size, r.nr_accesses, r.age)]
    assert count_matches(snap, pattern) == (len(expected), sum(r.size for r in expected))


@st.composite
def editable_schemes(draw: st.DrawFn) -> Scheme:
    lo, hi = sorted(draw(st.lists(st.integers(0, U32_MAX), min_size=2, max_size=2)))
    age = draw(st.sampled_from([Range(lo, hi), Range(0, U32_MAX), Range(50, U32_MAX)]))
    num = draw(st.integers(0, 10**6))
    return Scheme(
        draw(st.sampled_from(Action)).value and Action.STAT,
        AccessPattern(Range(draw(st.integers(0, 1 << 40)), U64_MAX), Range(lo, hi), age),
        Quotas(
            draw(st.integers(0, 10**6)),
            draw(st.integers(0, U64_MAX)),
            draw(st.integers(1, 10**7)),
            goals=(QuotaGoal(GoalMetric.SOME_MEM_PSI_US, draw(st.integers(0, 10**9))),),
            goal_tuner=draw(st.sampled_from(GoalTuner)),
            fail_charge_num=num,
            fail_charge_denom=num + draw(st.integers(0, 10**6)),
        ),
        filters=(Filter(FilterType.HUGEPAGE_SIZE, min=draw(st.integers(0, 1 << 30)), max=U64_MAX),),
        apply_interval_us=draw(st.integers(0, 10**12)),
        name=draw(st.text(max_size=5)).strip(),
        dests=tuple(
            Dest(n, w)
            for n, w in draw(
                st.lists(st.tuples(st.integers(0, 64), st.integers(0, 10**4)), max_size=3)
            )
        ),
        max_nr_snapshots=draw(st.integers(0, U32_MAX)),
    )


@settings(max_examples=150, deadline=None)
@given(editable_schemes())
def test_editor_texts_parse_back_exactly(scheme: Scheme) -> None:
    """What the editor shows for a scheme parses back to the same scheme."""

    def parse(readers: dict, values: dict, prefix: str) -> dict:
        return {
            k: readers[k](value_text(f"{prefix}{k}", v, ATTRS), k, ATTRS) for k, v in values.items()
        }

    simple = parse(READERS, scheme_values(scheme), "")
    goals = [
        parse(GOAL_READERS, {k: getattr(g, k) for k in GOAL_READERS}, "quotas.goals[0].")
        for g in scheme.quotas.goals
    ]
    filters = [
        parse(FILTER_READERS, {k: getattr(f, k) for k in FILTER_READERS}, "filters[0].")
        for f in scheme.filters
    ]
    rebuilt, pattern, errors = assemble(simple, goals, filters)
    assert errors == {}
    assert rebuilt == scheme and pattern == scheme.access_pattern


async def test_editor_posts_preview_none_when_closed() -> None:
    app = PanelApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await type_into(pilot, "access_pattern.age.min", "1")
        await pilot.pause(0.3)
        assert app.previews and app.previews[-1] is not None
        await app.query_one(SchemesPanel).remove()
        await pilot.pause()
        assert app.previews[-1] is None
        assert isinstance(app.query_one("#outside"), Input)
        assert not app.query(DataTable)


def test_editor_shows_and_keeps_7x_settings() -> None:
    """A scheme read back from a 7.x kdamond goes through the editor's fields unchanged
    (dests, max_nr_snapshots, goal_tuner and fail_charge each have a field)."""
    base = Scheme(
        action=Action.MIGRATE_COLD,
        target_nid=0,
        dests=(Dest(0, 40), Dest(1, 60)),
        max_nr_snapshots=9,
        quotas=Quotas(
            ms=5,
            reset_interval_ms=100,
            goal_tuner=GoalTuner.TEMPORAL,
            fail_charge_num=1,
            fail_charge_denom=3,
        ),
    )
    values = scheme_values(base)
    assert value_text("dests", values["dests"], ATTRS) == "0:40,1:60"
    simple = {k: READERS[k](value_text(k, v, ATTRS), k, ATTRS) for k, v in values.items()}
    simple["quotas.ms"] = 7
    rebuilt, _, errors = assemble(simple, [], [])
    assert errors == {} and rebuilt == replace(base, quotas=replace(base.quotas, ms=7))


# --- the 6.17+/7.x fields -------------------------------------------------------------


def kernel_gate(version: tuple[int, int], release: str = "") -> Gate:
    """The gate of a kernel backend whose features were inferred at `version` (as the
    kernel backend reports them: Features.labels() in its BackendInfo)."""
    return Gate.from_info(kernel_info(version, release))


def kernel_features(version: tuple[int, int], release: str = "") -> Features:
    present = frozenset(spec.name for spec in FEATURES if spec.version <= version)
    release = release or f"{version[0]}.{version[1]}.9-test"
    return Features("/fake", release, version, True, present, avail_operations=("paddr",))


def kernel_info(version: tuple[int, int], release: str = "") -> BackendInfo:
    features = kernel_features(version, release)
    return BackendInfo("kernel", "paddr", features.kernel_release, features.labels())


ENGINE = Gate.from_info(BackendInfo("engine", "synthetic", features=("kernel: cython",)))


async def select_value(pilot, key: str, value: str) -> Select:  # noqa: ANN001
    select = pilot.app.query_one(f"#f-{key.replace('.', '-')}", Select)
    select.value = value
    await pilot.pause()
    return select


async def test_7x_fields_set_through_the_editor_reach_the_scheme() -> None:
    app = PanelApp(gate=kernel_gate((7, 2)))
    async with app.run_test(size=(100, 50)) as pilot:
        editor = app.query_one(SchemeEditor)
        await select_value(pilot, "action", "migrate_cold")
        assert "target_nid" in editor.errors  # migrate_* needs a node or dests
        await type_into(pilot, "dests", "0:40, 1:60")
        await type_into(pilot, "max_nr_snapshots", "12")
        await type_into(pilot, "quotas.ms", "10ms")
        await type_into(pilot, "quotas.reset_interval_ms", "1s")
        await select_value(pilot, "quotas.goal_tuner", "temporal")
        await type_into(pilot, "quotas.fail_charge_num", "1")
        await type_into(pilot, "quotas.fail_charge_denom", "4")
        assert editor.errors == {}
        await pilot.press("ctrl+s")
        await pilot.pause()
    (scheme,) = app.applied[-1]
    assert scheme.action is Action.MIGRATE_COLD
    assert scheme.dests == (Dest(0, 40), Dest(1, 60)) and scheme.max_nr_snapshots == 12
    q = scheme.quotas
    assert (q.ms, q.reset_interval_ms, q.goal_tuner) == (10, 1000, GoalTuner.TEMPORAL)
    assert (q.fail_charge_num, q.fail_charge_denom) == (1, 4)
    assert scheme.access_pattern == COLD.access_pattern


async def test_bad_7x_values_name_the_field_the_value_and_what_is_allowed() -> None:
    app = PanelApp(gate=kernel_gate((7, 2)))
    async with app.run_test(size=(100, 50)) as pilot:
        editor = app.query_one(SchemeEditor)
        field = await type_into(pilot, "dests", "0:40,one:60")
        error = editor.errors["dests"]
        assert "dests" in error and "'one:60'" in error and "nid:weight" in error
        assert "dests" in note_of(field)
        await type_into(pilot, "dests", "")
        await type_into(pilot, "quotas.fail_charge_num", "2")
        error = editor.errors["quotas.fail_charge_denom"]
        assert "fail_charge_denom" in error and ">= 1 when fail_charge_num" in error
        await type_into(pilot, "max_nr_snapshots", "-1")
        assert "max_nr_snapshots" in editor.errors["max_nr_snapshots"]
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.applied == []


async def test_7x_goal_metrics_show_the_inputs_they_need() -> None:
    app = PanelApp(gate=kernel_gate((7, 2)))
    async with app.run_test(size=(100, 50)) as pilot:
        await type_into(pilot, "quotas.reset_interval_ms", "1s")
        app.query_one("#add-goal", Button).press()
        await pilot.pause()
        editor = app.query_one(SchemeEditor)
        metric = next(s for s in app.query(Select) if (s.id or "").endswith("-metric"))
        nid = next(i for i in app.query(Input) if (i.id or "").endswith("-nid"))
        path = next(i for i in app.query(Input) if (i.id or "").endswith("-path"))
        target = next(i for i in app.query(Input) if (i.id or "").endswith("target_value"))
        target.value = "30%"
        shown = {}
        for name in ("node_eligible_mem_bp", "node_memcg_free_bp", "active_mem_bp"):
            metric.value = name
            await pilot.pause()
            shown[name] = (bool(nid.parent.display), bool(path.parent.display))
        assert shown == {
            "node_eligible_mem_bp": (True, False),
            "node_memcg_free_bp": (True, True),
            "active_mem_bp": (False, False),
        }
        metric.value = "node_memcg_used_bp"
        await pilot.pause()
        assert "quotas.goals[0].path" in editor.errors
        nid.value, path.value = "1", "/workload.slice"
        await pilot.pause()
        assert editor.errors == {}
        goal = app.panel.schemes[0].quotas.goals[0]
        assert goal == QuotaGoal(GoalMetric.NODE_MEMCG_USED_BP, 3000, nid=1, path="/workload.slice")
        metric.value = "inactive_mem_bp"
        await pilot.pause()
        goal = app.panel.schemes[0].quotas.goals[0]
        assert goal.metric is GoalMetric.INACTIVE_MEM_BP and goal.target_value == 3000


async def test_a_kernel_without_the_feature_refuses_with_the_version() -> None:
    app = PanelApp(gate=kernel_gate((6, 12), "6.12.48+deb13-cloud-amd64"))
    async with app.run_test(size=(100, 50)) as pilot:
        editor = app.query_one(SchemeEditor)
        tuner = await select_value(pilot, "quotas.goal_tuner", "temporal")
        assert "this kernel: no (kernel 7.2+)" in note_of(
            app.query_one("#f-quotas-fail_charge_num", Input)
        )  # a hint before anything is typed
        error = editor.errors["quotas.goal_tuner"]
        assert error == (
            "quotas.goal_tuner: goal_tuner 'temporal' needs kernel 7.1+ "
            "(this kernel: 6.12.48+deb13-cloud-amd64)"
        )
        assert error in note_of(tuner) and editor.scheme is None
        assert app.panel.schemes[0] == COLD  # the refused edit never reached the list
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.applied == []
        tuner.value = "consist"  # the default writes nothing new: taken
        await type_into(pilot, "max_nr_snapshots", "3")
        assert "max_nr_snapshots 3 needs kernel 7.0+" in editor.errors["max_nr_snapshots"]
        await type_into(pilot, "max_nr_snapshots", "0")
        await type_into(pilot, "dests", "1:1")
        assert "needs kernel 6.17+" in editor.errors["dests"]
        await type_into(pilot, "dests", "")
        await type_into(pilot, "quotas.reset_interval_ms", "1s")
        app.query_one("#add-goal", Button).press()
        await pilot.pause()
        metric = next(s for s in app.query(Select) if (s.id or "").endswith("-metric"))
        metric.value = "active_mem_bp"
        await pilot.pause()
        assert (
            "goal metric active_mem_bp needs kernel 7.0+"
            in (editor.errors["quotas.goals[0].metric"])
        )
        metric.value = "some_mem_psi_us"
        await pilot.pause()
        assert editor.errors == {}
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert len(app.applied) == 1


async def test_the_engine_says_it_lacks_a_7x_setting() -> None:
    loaded = replace(COLD, max_nr_snapshots=5)  # e.g. from a TOML file
    app = PanelApp((COLD, loaded), gate=ENGINE)
    async with app.run_test(size=(100, 50)) as pilot:
        editor = app.query_one(SchemeEditor)
        await type_into(pilot, "quotas.fail_charge_num", "1")
        await type_into(pilot, "quotas.fail_charge_denom", "2")
        error = editor.errors["quotas.fail_charge_num"]
        assert "not implemented by the user-space engine" in error
        assert "kernel 7.2+" in error and "--backend kernel" in error
        await type_into(pilot, "quotas.fail_charge_num", "0")
        await type_into(pilot, "quotas.fail_charge_denom", "0")
        assert editor.errors == {}
        notes: list[str] = []
        app.notify = lambda message, **kw: notes.append(message)  # type: ignore[method-assign]
        await pilot.press("ctrl+s")  # scheme 1 (not the one edited) can't run here
        await pilot.pause()
        assert app.applied == []
        assert notes and notes[-1].startswith("scheme 1 not applied: max_nr_snapshots")
        assert "user-space engine" in notes[-1] and "kernel 7.0+" in notes[-1]


VERSIONS = [(6, 12), (6, 16), (6, 17), (6, 19), (7, 0), (7, 1), (7, 2)]
NEWER = [
    Scheme(Action.MIGRATE_COLD, dests=(Dest(0, 1), Dest(1, 1))),
    Scheme(max_nr_snapshots=4),
    Scheme(quotas=Quotas(ms=1, reset_interval_ms=10, goal_tuner=GoalTuner.TEMPORAL)),
    Scheme(quotas=Quotas(ms=1, reset_interval_ms=10, fail_charge_num=1, fail_charge_denom=2)),
    *(
        Scheme(quotas=Quotas(reset_interval_ms=10, goals=(QuotaGoal(m, 10, path="/a"),)))
        for m in GoalMetric
    ),
]


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: f"{v[0]}.{v[1]}")
def test_gate_agrees_with_the_kernel_writer(version: tuple[int, int]) -> None:
    """The editor refuses exactly what the kernel backend's own check refuses."""
    features = kernel_features(version)
    gate = kernel_gate(version)
    for scheme in NEWER:
        try:
            check_support(features, "paddr", ATTRS, [Target(TargetKind.PADDR)], [scheme])
            writer_refuses = False
        except BackendError as e:
            writer_refuses = True
            assert "needs kernel" in str(e)
        refusals = list(gate.scheme(scheme))
        assert bool(refusals) == writer_refuses, (version, scheme, refusals)


def test_gate_of_a_remote_backend_is_the_remote_backends() -> None:
    remote = replace(kernel_info((6, 12)), backend="remote kernel")
    refusals = dict(Gate.from_info(remote).scheme(Scheme(max_nr_snapshots=2)))
    assert "needs kernel 7.0+ (this kernel: 6.12" in refusals["max_nr_snapshots"]
    assert list(Gate.from_info(BackendInfo("replay", "x")).scheme(NEWER[0])) == []


def test_gate_agrees_with_the_engine() -> None:
    for scheme in NEWER:
        try:
            validate_for_engine([scheme], [TargetKind.PID])
            engine_refuses = False
        except BackendError:
            engine_refuses = True
        assert bool(list(ENGINE.scheme(scheme))) == engine_refuses, scheme


@pytest.mark.parametrize("version", [(6, 12), (7, 2)], ids=["6.12", "7.2"])
async def test_editor_to_the_kernel_backend_on_the_fake_sysfs(tmp_path, version) -> None:  # noqa: ANN001
    """End to end: the gate from a launched kernel backend's own info (features found
    in its kdamond's files), the fields typed in the editor, then the backend itself
    takes the scheme (7.2, written to the fake tree) or the editor refuses it with
    the version the backend's own check names (6.12)."""
    from fakesysfs import FakeSysfs

    from damontui.backends.kernel import KernelBackend

    fake = FakeSysfs.build(tmp_path, version)
    backend = KernelBackend(
        [Target(TargetKind.PADDR)], MonitoringAttrs(), [], **fake.backend_paths()
    )
    backend.launch()
    try:
        app = PanelApp((Scheme(Action.PAGEOUT, name="cold"),), gate=Gate.from_info(backend.info))
        async with app.run_test(size=(100, 50)) as pilot:
            editor = app.query_one(SchemeEditor)
            await type_into(pilot, "quotas.ms", "10ms")
            await type_into(pilot, "quotas.reset_interval_ms", "1s")
            await type_into(pilot, "quotas.fail_charge_num", "1")
            await type_into(pilot, "quotas.fail_charge_denom", "4")
            await type_into(pilot, "max_nr_snapshots", "5")
            await pilot.press("ctrl+s")
            await pilot.pause()
            typed = app.panel.schemes[0]
        if version == (7, 2):
            assert editor.errors == {} and len(app.applied) == 1
            backend.set_schemes(app.applied[-1])
            scheme_dir = "kdamonds/0/contexts/0/schemes/0"
            assert fake.value(f"{scheme_dir}/quotas/fail_charge_num") == "1"
            assert fake.value(f"{scheme_dir}/quotas/fail_charge_denom") == "4"
            assert fake.value(f"{scheme_dir}/stats/max_nr_snapshots") == "5"
        else:
            assert app.applied == []
            error = editor.errors["quotas.fail_charge_num"]
            assert "needs kernel 7.2+ (this kernel: 6.12" in error
            assert "needs kernel 7.0+" in editor.errors["max_nr_snapshots"]
            refused = replace(
                typed, quotas=replace(typed.quotas, fail_charge_num=1, fail_charge_denom=4)
            )
            with pytest.raises(BackendError, match="needs kernel 7.2"):
                backend.set_schemes([refused])
    finally:
        backend.stop()
