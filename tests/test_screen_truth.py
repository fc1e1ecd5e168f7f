"""The screen tells the truth: the highlighted tab is the view shown, the header reads as
words and says when a target exited, startup problems stay readable at 80x24, and a
refused scheme goes straight back to the running one with the reason beside it."""

from __future__ import annotations

from fake_backend import SCHEME_ERROR, FakeBackend
from test_tui_app import running

from damontui.model import BackendInfo, MonitoringAttrs, Scheme, Snapshot, Target, TargetKind
from damontui.tui.header import HeaderState, ViewTabs, header_lines
from damontui.tui.messages import ApplySchemes
from damontui.tui.notes import NotesBar


def highlighted_tab(tabs: ViewTabs) -> list[str]:
    content = tabs._content
    plain = content.plain
    return [plain[s.start : s.end].strip() for s in content.spans if "reverse" in str(s.style)]


async def test_the_highlighted_tab_is_the_view_shown() -> None:
    async with running() as h:
        tabs = h.app.query_one(ViewTabs)
        assert highlighted_tab(tabs) == ["1 Regions"]
        for key, title in (("2", "2 Heatmap"), ("3", "3 Histograms"), ("1", "1 Regions")):
            await h.press(key)
            assert highlighted_tab(tabs) == [title], key
            assert h.app.main_view in title.lower()


def test_header_reads_as_words() -> None:
    for backend in ("engine", "kernel"):
        info = BackendInfo(backend=backend, source="synthetic")
        [first, *_] = header_lines(HeaderState(info), None)
        assert first.plain.startswith(f"damontui {backend}: synthetic")
        # one styled segment: no renderer can drop the space between the words
        assert any(first.plain[s.start : s.end] == f"damontui {backend}" for s in first.spans)


def test_header_says_when_a_target_exited() -> None:
    gone = Target(TargetKind.PID, pid=4242, name="worker")
    info = BackendInfo(backend="engine", source="smaps")
    snapshot = Snapshot(3, 0.0, 0, MonitoringAttrs(), targets=(), messages=())
    third = header_lines(HeaderState(info, (gone,)), snapshot)[2].plain
    assert "exited: no longer monitored" in third and "4242" in third
    before = header_lines(HeaderState(info, (gone,)), None)[2].plain  # no data yet
    assert "exited" not in before


async def test_startup_problems_stay_in_the_notes_bar() -> None:
    problem = "c.toml:3: refresh: 'soon' is invalid; seconds, or a duration; using the default"
    async with running(startup_messages=[problem], theme="nosuch") as h:
        notes = h.app.query_one(NotesBar)
        assert notes.display and notes.messages[0] == problem
        assert any(m.startswith("unknown theme 'nosuch'; using damon-dark") for m in notes.messages)
        assert not any(problem in m for m, _ in h.notes), "not a toast that scrolls away"
        assert notes.region.y < 10 and notes.region.height >= 3  # near the top, visible
        await h.press("escape")
        assert not notes.display and notes.messages == []


async def test_a_refused_scheme_goes_straight_back_with_the_reason() -> None:
    fake = FakeBackend(nr_regions=30, fail_schemes=SCHEME_ERROR)
    async with running(fake=fake, size=(160, 50)) as h:
        await h.press("s")
        panel = h.app.query_one("#schemes")
        h.app.post_message(ApplySchemes([Scheme(name="refused")]))
        await h.pilot.pause()
        panel.refused(fake.schemes(), h.app.last_refusal)  # as on_apply_schemes does
        await h.pilot.pause()
        assert panel.schemes == fake.schemes() == ()
        match = str(panel.query_one("#match").render())
        assert "not applied" in match and "quotas.reset_interval_ms" in match


async def test_apply_refused_through_the_panel_reverts_at_once() -> None:
    fake = FakeBackend(nr_regions=30, fail_schemes=SCHEME_ERROR)
    async with running(fake=fake, size=(160, 50)) as h:
        await h.press("s")
        panel = h.app.query_one("#schemes")
        await panel.action_add()
        await h.pilot.pause()
        assert len(panel.schemes) == 1
        panel.action_apply()
        await h.pilot.pause()
        await h.pilot.pause()
        assert panel.schemes == (), "back to what runs, without waiting for snapshots"
        assert "not applied" in str(panel.query_one("#match").render())
