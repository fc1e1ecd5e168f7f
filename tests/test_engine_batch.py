"""damontui/backends/engine/batch.py: sampler statuses become messages or target drops."""

from __future__ import annotations

import errno
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from damontui.backends.engine import batch
from damontui.model import Target, TargetKind

C = batch.C


class _Engine:
    def __init__(self) -> None:
        self.reports: list[str] = []
        self.dropped: list[tuple[Any, str | None]] = []

    def report(self, message: str) -> None:
        self.reports.append(message)

    def _drop(self, et: Any, reason: str | None) -> None:
        self.dropped.append((et, reason))


def _target(proc_root: Path, pid: int) -> Any:
    source = SimpleNamespace(
        proc_root=str(proc_root), sampler_file=lambda code: f"{proc_root}/{pid}/pagemap"
    )
    return SimpleNamespace(target=Target(TargetKind.PID, pid=pid), source=source)


def _proc(tmp_path: Path, pid: int, state: str | None) -> Path:
    root = tmp_path / "proc"
    root.mkdir()
    if state is not None:
        (root / str(pid)).mkdir()
        (root / str(pid) / "stat").write_text(f"{pid} (python3) {state} 1 1 1 0 -1 0\n")
    return root


@pytest.mark.parametrize("state", [None, "Z"], ids=["exited", "zombie"])
def test_an_error_from_a_process_that_is_gone_drops_it(tmp_path: Path, state: str | None) -> None:
    """An I/O error after the target died is its exit, not a source error (the check
    reads the target's /proc entry under the source's proc root)."""
    et = _target(_proc(tmp_path, 4242, state), 4242)
    engine = _Engine()
    batch.handle(engine, et, C["ST_ERRNO"], errno.EIO, C["FILE_PAGEMAP"])  # type: ignore[arg-type]
    assert engine.reports == []
    assert len(engine.dropped) == 1 and "pid 4242 exited" in str(engine.dropped[0][1])


def test_an_error_from_a_live_process_is_reported_with_its_file(tmp_path: Path) -> None:
    et = _target(_proc(tmp_path, 4242, "S"), 4242)
    engine = _Engine()
    batch.handle(engine, et, C["ST_ERRNO"], errno.EIO, C["FILE_PAGEMAP"])  # type: ignore[arg-type]
    assert engine.dropped == []
    assert len(engine.reports) == 1
    assert "pagemap" in engine.reports[0] and "Input/output error" in engine.reports[0]


def test_hidden_pfns_say_root_is_needed(tmp_path: Path) -> None:
    et = _target(_proc(tmp_path, 4242, "S"), 4242)
    engine = _Engine()
    batch.handle(engine, et, C["ST_NO_PFN"], 0, C["FILE_PAGEMAP"])  # type: ignore[arg-type]
    assert engine.dropped == [] and "CAP_SYS_ADMIN" in engine.reports[0]


class _Sampler:
    def __init__(self) -> None:
        self.told: list[Any] = []

    def set_mapped(self, ranges: Any) -> None:
        self.told.append(ranges)


def _mapped_target(maps: list[Any]) -> Any:
    """A target whose source answers mapped_ranges() from ``maps`` (an exception is
    raised)."""

    def mapped_ranges() -> Any:
        value = maps.pop(0)
        if isinstance(value, Exception):
            raise value
        return value

    from damontui.backends.engine.engine import EngineTarget

    fields = {f: getattr(EngineTarget, f) for f in ("mapped_at", "mapped_every", "mapped")}
    return SimpleNamespace(
        target=Target(TargetKind.PID, pid=7),
        source=SimpleNamespace(mapped_ranges=mapped_ranges),
        sampler=_Sampler(),
        **fields,
    )


def test_mapped_ranges_are_read_each_second_backing_off_while_unchanged() -> None:
    a, b = [(0, 4096)], [(0, 4096), (8192, 12288)]
    et = _mapped_target([a, a, a, b])
    engine = _Engine()
    batch.refresh_mapped(engine, et, 100.0)  # type: ignore[arg-type]
    assert et.sampler.told == [a]
    batch.refresh_mapped(engine, et, 100.5)  # type: ignore[arg-type]  # not due
    batch.refresh_mapped(engine, et, 101.0)  # type: ignore[arg-type]  # same: back off
    assert et.sampler.told == [a] and et.mapped_every == 2.0
    batch.refresh_mapped(engine, et, 102.5)  # type: ignore[arg-type]  # not due (2 s)
    batch.refresh_mapped(engine, et, 103.0)  # type: ignore[arg-type]
    assert et.mapped_every == 4.0
    batch.refresh_mapped(engine, et, 107.0)  # type: ignore[arg-type]  # changed
    assert et.sampler.told == [a, b] and et.mapped_every == batch.MAPPED_REFRESH_S


def test_mapped_ranges_of_a_gone_process_drop_it_and_unreadable_ones_mean_all_mapped() -> None:
    from damontui.backends.engine.sources.base import SourceError, TargetGone

    et = _mapped_target([SourceError("cannot read /proc/7/maps"), TargetGone("pid 7 exited")])
    engine = _Engine()
    batch.refresh_mapped(engine, et, 10.0)  # type: ignore[arg-type]
    assert et.sampler.told == [None] and not engine.dropped
    batch.refresh_mapped(engine, et, 11.0)  # type: ignore[arg-type]
    assert len(engine.dropped) == 1 and "pid 7 exited" in str(engine.dropped[0][1])


def _batch_engine(tmp_path: Path, maps: str | None = None) -> tuple[Any, Path]:
    """An engine on a fake pid 77 (256 present pages; one mapping unless ``maps``) and a
    fake idle bitmap file."""
    import struct

    from damontui.backends.engine.engine import Engine
    from damontui.backends.engine.sources.pageidle import PageIdleSource
    from damontui.model import MonitoringAttrs

    d = tmp_path / "proc" / "77"
    d.mkdir(parents=True)
    (d / "pagemap").write_bytes(struct.pack("<256Q", *((1 << 63) | 1000 + p for p in range(256))))
    (d / "comm").write_text("fake\n")
    (d / "stat").write_text("77 (fake) S 1 1 1\n")
    (d / "maps").write_text(maps or f"0-{256 * 4096:x} rw-p 0 0:0 0\n")
    bitmap = tmp_path / "bitmap"
    bitmap.write_bytes(bytes(8192 // 8))
    source = PageIdleSource(77, proc_root=str(tmp_path / "proc"), page_idle_path=str(bitmap))
    target = Target(TargetKind.PID, pid=77, ranges=((0, 256 * 4096),))
    attrs = MonitoringAttrs(sample_us=1000, aggr_us=4000, min_nr_regions=4, max_nr_regions=20)
    return Engine([(target, source)], attrs, seed=1), bitmap


def _aggregation(engine: Any, stop: Any) -> Any:
    """Batched runs until one ends an aggregation; its snapshot."""
    snap = None
    while snap is None:
        snap = engine.run_batch(0, stop)[0]
    return snap


def test_each_batched_aggregation_resets_its_samples_before_its_first_check(
    tmp_path: Path,
) -> None:
    """The pages of an aggregation are set idle when its compiled run starts: an access
    during the Python part of the previous aggregation (here: the whole bitmap cleared)
    is not counted, in batch mode and after a switch to per-step sampling."""
    engine, bitmap = _batch_engine(tmp_path)
    stop = batch.make_stop_flag()
    try:
        for _ in range(3):
            snap = _aggregation(engine, stop)
            assert engine.batch_capable and not snap.messages
            assert set(snap.targets[0].nr_accesses) == {0}
            bitmap.write_bytes(bytes(8192 // 8))  # every page accessed meanwhile
        stop.set()  # a run cut short at once still starts its aggregation
        assert engine.run_batch(0, stop)[0] is None
        stop.clear()
        assert any(bitmap.read_bytes())  # the next samples are set idle
        bitmap.write_bytes(bytes(8192 // 8))
        engine._fresh = True  # as after an aggregation in batch mode
        engine.prepare_pending()  # what EngineBackend does before a per-step wait
        assert any(bitmap.read_bytes())
        snap = None
        while snap is None:
            snap = engine.sample_step()
        assert set(snap.targets[0].nr_accesses) == {0}
    finally:
        engine.close()


def test_samples_in_the_vdso_and_vvar_are_not_checked(tmp_path: Path) -> None:
    """Pages of [vdso] (on no LRU) and [vvar] (PFN-mapped) are never accessed for DAMON
    (damon_get_folio finds no folio), but the idle bitmap reads them as "not idle": the
    sampler treats those mappings as holes, so their samples are neither set idle nor
    read (and count as not accessed)."""
    engine, bitmap = _batch_engine(
        tmp_path,
        f"0-{64 * 4096:x} rw-p 0 0:0 0\n"
        f"{64 * 4096:x}-{128 * 4096:x} r--p 0 0:0 0 [vvar]\n"
        f"{128 * 4096:x}-{192 * 4096:x} r-xp 0 0:0 0 [vdso]\n"
        f"{192 * 4096:x}-{256 * 4096:x} rw-p 0 0:0 0 [stack]\n",
    )
    stop = batch.make_stop_flag()
    try:
        for _ in range(3):
            assert not _aggregation(engine, stop).messages
        et = engine.targets[0]
        batch.prepare(engine, et)  # samples of the regions as they are now
        pairs = zip(et.regions.sample_addrs, et.sampler.prepared_pfns(), strict=True)
        flags = {start: flag for start, (_pfn, flag) in pairs}
        special = [a for a in flags if 64 * 4096 <= a < 192 * 4096]
        plain = [a for a in flags if not 64 * 4096 <= a < 192 * 4096]
        assert special and plain
        assert {flags[a] for a in special} == {2}  # F_SKIP: in no trackable mapping
        assert {flags[a] for a in plain} == {0}  # F_BITMAP: set idle, read back
        idle = bitmap.read_bytes()
        for a in special:  # never written: PFN 1000 + page
            pfn = 1000 + a // 4096
            assert not (idle[pfn // 8] >> (pfn % 8)) & 1
    finally:
        engine.close()
