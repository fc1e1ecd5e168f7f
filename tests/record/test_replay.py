"""`damontui replay`: Pilot tests of the slider, play/pause, step, speed and seek, the
read-only guarantee, scheme previews on recorded regions, and the live app's save keys."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from damontui.analysis import SnapshotAnalysis
from damontui.backends.base import BackendError
from damontui.model import AccessPattern, BackendInfo, Range
from damontui.record import RecordReader, RecordWriter
from damontui.record.replay import RecordSnapshots, ReplayApp, ReplayBackend, ReplayBar
from damontui.tui.messages import PreviewPattern

from .helpers import COLD, engine_snapshots

SNAPS, ENGINE = engine_snapshots(30, pattern="stairs")
INFO = replace(ENGINE.info, features=())  # the same whether the kernels are compiled or not


def make_app(snaps=SNAPS, **kw) -> ReplayApp:
    return ReplayApp(ReplayBackend(snaps, INFO, "incident.dtrec"), theme="damon-dark", **kw)


async def test_step_speed_and_jump():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.replay.position == 0 and app.displayed is SNAPS[0]
        await pilot.press("full_stop", "full_stop")
        assert app.displayed is SNAPS[2]
        await pilot.press("comma")
        assert app.displayed is SNAPS[1]
        await pilot.press("G")
        assert app.displayed is SNAPS[-1] and len(app.history) == len(SNAPS)
        await pilot.press("g")
        assert app.displayed is SNAPS[0] and len(app.history) == 1
        await pilot.press("right_curly_bracket", "right_curly_bracket")
        assert app.speed == 4.0
        await pilot.press("left_curly_bracket")
        assert app.speed == 2.0
        await pilot.press("j")
        await pilot.pause()
        await pilot.press("number_sign", "2", "0", "enter")
        await pilot.pause()
        assert app.replay.position == 19
        # the history that led to the jump point is there for the heatmap
        assert list(app.history.snapshots) == SNAPS[:20]
        app._jumped("1.05s")  # a time from the start: the last snapshot at or before it
        assert app.replay.relative_us(app.replay.position) <= 1_050_000
        assert app.replay.relative_us(app.replay.position + 1) > 1_050_000
        app._jumped("#999")
        await pilot.pause()
        assert app.replay.position == app.replay.index_at(1_050_000)  # unchanged


async def test_play_pause_runs_to_the_end():
    app = make_app(speed=0.25)  # 400 ms a snapshot: still playing when checked
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("space")
        assert app.playing
        app.speed = 64.0
        for _ in range(200):
            await pilot.pause(0.02)
            if not app.playing:
                break
        assert not app.playing and app.replay.position == len(SNAPS) - 1
        app.speed = 0.25
        await pilot.press("space")  # at the end, play starts over
        assert app.playing and app.replay.position <= 1
        await pilot.press("space")
        stopped_at = app.replay.position
        await pilot.pause(0.2)
        assert not app.playing and app.replay.position == stopped_at


async def test_slider_click_seeks():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        bar = app.query_one(ReplayBar)
        left, width, _ = bar._parts(bar.content_region.width)
        await pilot.click(ReplayBar, offset=(1 + len(left) + width - 1, 0))
        assert app.replay.position == len(SNAPS) - 1
        await pilot.click(ReplayBar, offset=(1 + len(left) + width // 2, 0))
        assert abs(app.replay.position - len(SNAPS) // 2) <= 2


async def test_nothing_can_be_written():
    app = make_app()
    backend = app.replay
    for change in (lambda: backend.set_schemes([COLD]), lambda: backend.set_targets([]),
                   lambda: backend.set_attrs(SNAPS[0].attrs)):  # fmt: skip
        with pytest.raises(BackendError, match="read-only"):
            change()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.info.readonly
        assert app.apply_schemes([COLD]) is False
        assert app.apply_attrs(SNAPS[0].attrs) is False


async def test_preview_counts_on_recorded_regions():
    idle = AccessPattern(nr_accesses=Range(0, 0))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("G")
        app.post_message(PreviewPattern(idle))
        await pilot.pause()
        count, nbytes = SnapshotAnalysis.of(SNAPS[-1]).preview_totals(idle)
        assert count > 0
        status = app.query_one("#status").render()
        assert f"{count} regions" in str(status)
        assert app.replay.schemes() == SNAPS[-1].schemes  # the recorded schemes


async def test_replay_from_a_record_file(tmp_path):
    path = tmp_path / "r.dtrec"
    with RecordWriter(path) as w:
        for s in SNAPS:
            w.write(s, INFO)
    reader = RecordReader(path)
    app = ReplayApp(ReplayBackend(RecordSnapshots(reader), INFO, str(path)), theme="damon-dark")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("G")
        assert app.displayed.seq == SNAPS[-1].seq
        assert str(path) in app.info.source
    reader.close()


def test_replay_screen_80x24(snap_compare):
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause()
        await pilot.press("j")
        await pilot.pause()
        await pilot.press("number_sign", "2", "4", "enter")
        await pilot.pause()

    assert snap_compare(make_app(), run_before=run_before, terminal_size=(80, 24))


async def test_live_app_save_keys(tmp_path, monkeypatch):
    from damontui.tui.app import DamonApp

    class Fixed:
        """A live backend stand-in: the engine's recorded snapshots, one per emit."""

        info = BackendInfo("engine", "synthetic")

        def start(self, on_snapshot, on_error):  # type: ignore[no-untyped-def]
            self.on_snapshot = on_snapshot

        def stop(self) -> None: ...
        def latest(self):
            return None  # noqa: E704

        def attrs(self):
            return SNAPS[0].attrs  # noqa: E704

        def schemes(self):
            return ()  # noqa: E704

        def targets(self):
            return ()  # noqa: E704

    monkeypatch.chdir(tmp_path)
    app = DamonApp(Fixed(), refresh_s=0.0, theme="damon-dark")  # type: ignore[arg-type]
    notes: list[str] = []
    original = app.notify
    app.notify = lambda m, **kw: (notes.append(m), original(m, **kw))[1]  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        for s in SNAPS[:10]:
            app.ingest(s)
        await pilot.pause()
        await pilot.press("W")
        await pilot.press("S")
        await pilot.pause()
    records = list(tmp_path.glob("damontui-*.dtrec"))
    svgs = list(tmp_path.glob("damontui-*.svg"))
    assert len(records) == 1 and len(svgs) == 1
    assert any(str(records[0]) in n for n in notes) and any(str(svgs[0]) in n for n in notes)
    with RecordReader(records[0]) as r:
        assert [s.seq for s in r] == [s.seq for s in SNAPS[:10]]
    assert svgs[0].read_text().startswith("<svg")
    assert Path(svgs[0]).stat().st_size > 1000


async def test_corrupt_frame_is_reported_not_fatal(tmp_path):
    from damontui.record.frames import FRAME_HEADER_SIZE

    path = tmp_path / "bad.dtrec"
    with RecordWriter(path) as w:
        for s in SNAPS[:5]:
            w.write(s, INFO)
    with RecordReader(path) as r:
        third = r.offset(2)
    data = bytearray(path.read_bytes())
    data[third + FRAME_HEADER_SIZE + 2] ^= 0xFF
    path.write_bytes(bytes(data))
    reader = RecordReader(path)
    app = ReplayApp(ReplayBackend(RecordSnapshots(reader), INFO, str(path)), theme="damon-dark")
    notes: list[str] = []
    original = app.notify
    app.notify = lambda m, **kw: (notes.append(m), original(m, **kw))[1]  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("full_stop", "full_stop")
        assert app.replay.position == 1
        assert any(f"byte {third}: corrupt" in n for n in notes)
        await pilot.press("G")
        assert app.replay.position == 4 and len(app.history) == 4  # the bad one skipped
    reader.close()


async def test_follow_a_record_still_being_written(tmp_path):
    path = tmp_path / "live.dtrec"
    writer = RecordWriter(path)
    for s in SNAPS[:5]:
        writer.write(s, INFO)
    reader = RecordReader(path)
    backend = ReplayBackend(RecordSnapshots(reader), INFO, str(path))
    app = ReplayApp(backend, theme="damon-dark", speed=64.0, follow=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("space")
        for _ in range(100):
            await pilot.pause(0.05)
            if app.replay.position == 4:
                break
        assert app.replay.position == 4 and app.playing  # at the end, still following
        for s in SNAPS[5:8]:
            writer.write(s, INFO)
        for _ in range(100):
            await pilot.pause(0.05)
            if app.replay.position == 7:
                break
        assert app.replay.position == 7 and app.displayed.seq == SNAPS[7].seq
    writer.close()
    reader.close()


async def test_replay_of_a_damon_stat_record_opens_its_view(tmp_path):
    from damontui.model import MonitoringAttrs, Snapshot
    from damontui.model.damon_stat import DamonStatSample

    info = BackendInfo("damon_stat", "DAMON_STAT", readonly=True)
    path = tmp_path / "stat.dtrec"
    with RecordWriter(path) as w:
        for i in range(4):
            sample = DamonStatSample(1.0 + i, True, 99, 100_000, (i + 1) << 20,
                                     tuple(range(-50, 51)))  # fmt: skip
            w.write(replace(Snapshot(i, 1.0 + i, i * 100_000, MonitoringAttrs()),
                            damon_stat=sample), info)  # fmt: skip
    reader = RecordReader(path)
    app = ReplayApp(ReplayBackend(RecordSnapshots(reader), info, str(path)), theme="damon-dark")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.main_view == "damon_stat"
        await pilot.press("G")
        assert app.displayed.damon_stat.bandwidth_bps == 4 << 20
    reader.close()
