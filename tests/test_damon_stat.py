"""DAMON_STAT's read-only backend, its text and the default selection, against a
fake /sys/module tree (the VM tier checks Debian's real 7.2: tests/kernel/)."""

from __future__ import annotations

import argparse
import builtins
import io
from pathlib import Path

import pytest

from damontui import damon_stat_text as text
from damontui.backends import damon_stat as ds
from damontui.backends.base import BackendError
from damontui.backends.select import BackendRequest, open_backend
from damontui.model import MonitoringAttrs, Target, TargetKind

PCTS = [-3000] * 10 + [0] * 10 + [i * 1000 for i in range(81)]  # 101 values, sorted


def fake_module(
    tmp_path: Path,
    enabled: bool = True,
    pid: int | None = 4242,
    percentiles=PCTS,
    aggr: str | None = "2000000",
) -> str:
    root = tmp_path / "module"
    p = root / "damon_stat/parameters"
    p.mkdir(parents=True)
    (p / "enabled").write_text("Y\n" if enabled else "N\n")
    (p / "estimated_memory_bandwidth").write_text("1073741824\n")
    (p / "memory_idle_ms_percentiles").write_text(",".join(map(str, percentiles)) + "\n")
    if aggr is not None:
        (p / "aggr_interval_us").write_text(aggr + "\n")
    if pid is not None:
        (p / "kdamond_pid").write_text(f"{pid if enabled else -1}\n")
        proc = tmp_path / "proc" / str(pid)
        proc.mkdir(parents=True)
        (proc / "stat").write_text(
            f"{pid} (kdamond.0) S " + " ".join(["0"] * 8) + " 7 3 " + " ".join(["0"] * 30) + "\n"
        )
    return str(root)


def test_sample_reads_everything_and_writes_nothing(tmp_path, monkeypatch):
    root = fake_module(tmp_path)
    modes: list[str] = []
    real_open = builtins.open

    def spy(path, mode="r", *a, **kw):
        modes.append(mode)
        return real_open(path, mode, *a, **kw)

    monkeypatch.setattr(builtins, "open", spy)
    b = ds.DamonStatBackend(module_root=root, proc_root=str(tmp_path / "proc"))
    snap = b.snapshot_once()
    monkeypatch.setattr(builtins, "open", real_open)
    s = snap.damon_stat
    assert s is not None and s.enabled and s.kdamond_pid == 4242
    assert s.aggr_interval_us == 2_000_000 and s.bandwidth_bps == 1 << 30
    assert s.idle_ms_percentiles == tuple(PCTS)
    assert snap.targets == () and snap.attrs.aggr_us == 2_000_000
    assert modes and all(m == "r" for m in modes)
    assert b.info.backend == "damon_stat" and b.info.readonly


def test_every_change_is_refused(tmp_path):
    b = ds.DamonStatBackend(module_root=fake_module(tmp_path))
    for call in (
        lambda: b.set_attrs(MonitoringAttrs()),
        lambda: b.set_schemes([]),
        lambda: b.set_targets([Target(TargetKind.PADDR)]),
    ):
        with pytest.raises(BackendError, match="read-only"):
            call()


def test_missing_module_is_a_clear_error(tmp_path):
    with pytest.raises(BackendError, match="no CONFIG_DAMON_STAT"):
        ds.DamonStatBackend(module_root=str(tmp_path / "nothing"))


def test_malformed_percentiles_are_not_shown(tmp_path):
    b = ds.DamonStatBackend(module_root=fake_module(tmp_path, percentiles=[1, 2, 3]))
    s = b.read_sample()
    assert s.idle_ms_percentiles == ()
    assert "not readable" in text.format_report(s)


def test_bandwidth_history_grows(tmp_path):
    b = ds.DamonStatBackend(module_root=fake_module(tmp_path))
    for _ in range(3):
        s = b.read_sample()
    assert len(s.bandwidth_history) == 3


def test_report_text(tmp_path):
    b = ds.DamonStatBackend(module_root=fake_module(tmp_path))
    b.read_sample()
    report = text.format_report(b.read_sample(), width=100)
    lines = report.splitlines()
    assert lines[0].startswith("DAMON_STAT (in-kernel, read-only): enabled; kdamond pid 4242")
    assert "aggregation interval 2 s" in lines[0]
    assert "estimated memory bandwidth: 1.0 GiB/s" in report
    assert "memory_idle_ms_percentiles" in report
    p50 = next(line for line in lines if line.strip().startswith("p50"))
    assert p50.rstrip().endswith(text.format_idle_ms(PCTS[50]))
    assert "accessed 3 s" in next(line for line in lines if line.strip().startswith("p0 "))


def test_curve_analysis():
    assert text.share_idle_at_least(PCTS, 1) == pytest.approx(80 * 100 / 101)
    assert text.format_idle_ms(-1500) == "accessed 1.5 s"
    assert text.format_idle_ms(0) == "accessed now"
    assert text.sparkline([0, 5, 10], 3) == "▁▅█"
    rows = text.idle_curve_rows(PCTS, width=20)
    assert [r[0].strip() for r in rows] == [f"p{p}" for p in text.KEY_PERCENTILES]
    assert len(rows[-1][1]) == 20 and rows[0][1].startswith("▒")


def test_auto_without_target_shows_damon_stat(tmp_path):
    root = fake_module(tmp_path)
    b = open_backend(BackendRequest(module_root=root))
    assert b.info.backend == "damon_stat"
    assert any("DAMON_STAT runs" in n for n in b.info.notes)


def test_auto_with_damon_stat_off_does_not_pick_it(tmp_path):
    root = fake_module(tmp_path, enabled=False)

    class Engine:
        from damontui.model import BackendInfo

        info = BackendInfo(backend="engine", source="x")

    def kernel_factory(request, target):
        raise BackendError("no kernel here")

    b = open_backend(
        BackendRequest(module_root=root),
        engine_factory=lambda r, t: Engine(),
        kernel_factory=kernel_factory,
    )
    assert b.info.backend == "engine"


def test_explicit_backend_takes_no_target(tmp_path):
    root = fake_module(tmp_path)
    with pytest.raises(BackendError, match="takes no --pid"):
        open_backend(
            BackendRequest(backend="damon_stat", module_root=root, target=Target(TargetKind.PADDR))
        )


def test_batch_report_names_damon_stat(tmp_path):
    from damontui.cli import print_report

    b = ds.DamonStatBackend(module_root=fake_module(tmp_path), notes=("a note",))
    out = io.StringIO()
    print_report(out, b.snapshot_once(), [], b, argparse.Namespace(sort="temperature", limit=20))
    assert "DAMON_STAT (in-kernel, read-only)" in out.getvalue()
    assert "note: a note" in out.getvalue()
    assert "p100" in out.getvalue()


async def test_tui_opens_on_the_damon_stat_view(tmp_path):
    from damontui.tui.app import DamonApp
    from damontui.tui.damon_stat_view import DamonStatView, damon_stat_registry

    b = ds.DamonStatBackend(
        module_root=fake_module(tmp_path), interval_s=0.05, notes=("DAMON_STAT runs",)
    )
    registry = damon_stat_registry()
    assert registry.main_views[0].key == "damon_stat"
    assert "damon_stat" not in damon_stat_registry.__globals__["REGISTRY"]  # others: not listed
    app = DamonApp(b, registry=registry, readonly=True, refresh_s=0.05)
    async with app.run_test(size=(100, 40)) as pilot:
        view = app.query_one(DamonStatView)
        for _ in range(60):
            await pilot.pause(0.05)
            if view.sample is not None and len(view.sample.bandwidth_history) > 2:
                break
        assert app.main_view == "damon_stat"
        rendered = str(view.render())
        assert "DAMON_STAT (in-kernel, read-only): enabled; kdamond pid 4242" in rendered
        assert "estimated memory bandwidth: 1.0 GiB/s" in rendered
        assert "p50" in rendered and "p100" in rendered
        assert "note: DAMON_STAT runs" in rendered
        await pilot.press("q")
    b.close()
    assert b._thread is None
