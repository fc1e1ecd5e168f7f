"""smaps is read once per aggregation: clear_refs when it starts, one read when it ends,
and nr_accesses from the referenced share of each region (fake /proc trees, then a
real child)."""

from __future__ import annotations

import subprocess
import sys
import time
from array import array
from pathlib import Path

import pytest
from test_sources_smaps import CHILD, fake_proc, vma_text

from damontui.backends.engine.engine import Engine
from damontui.backends.engine.sources import smaps as smaps_mod
from damontui.backends.engine.sources.smaps import SmapsSource, SmapsVma, region_accesses
from damontui.model import MonitoringAttrs, Snapshot, Target, TargetKind

MB = 1 << 20
A, B, C = (0x10000000, 0x10400000), (0x20000000, 0x20400000), (0x30000000, 0x30400000)
ATTRS = MonitoringAttrs(sample_us=50_000, aggr_us=1_000_000, min_nr_regions=6)
STEPS = ATTRS.aggr_us // ATTRS.sample_us  # 20 samples per aggregation


class Counting(SmapsSource):
    """Counts whole smaps reads."""

    reads = 0

    def _read(self) -> bytes:
        self.reads += 1
        return super()._read()


def write_smaps(root: str, pid: int, referenced_kb: tuple[int, int, int]) -> None:
    text = "".join(vma_text(s, e, r) for (s, e), r in zip((A, B, C), referenced_kb, strict=True))
    (Path(root) / str(pid) / "smaps").write_text(text)


def test_region_accesses_weights_overlaps() -> None:
    vmas = [
        SmapsVma(0, 4 * MB, 4 * MB, 4 * MB),  # all referenced
        SmapsVma(4 * MB, 8 * MB, 4 * MB, 1 * MB),  # a quarter
        SmapsVma(12 * MB, 16 * MB, 2 * MB, 0),  # none
    ]
    starts = array("Q", [0, 2 * MB, 4 * MB, 8 * MB, 10 * MB, 14 * MB])
    ends = array("Q", [2 * MB, 6 * MB, 8 * MB, 10 * MB, 14 * MB, 20 * MB])
    got = region_accesses(starts, ends, vmas, 20)
    # half in the hot VMA + half in the quarter one -> (20 + 5) / 2; gaps count 0
    assert list(got) == [20, 12, 5, 0, 0, 0]
    assert list(region_accesses(starts, ends, [], 20)) == [0] * 6


def test_referenced_share_uses_size_not_rss() -> None:
    # 1 MiB resident of 4 MiB, all of it referenced: a quarter of the VMA was touched.
    got = region_accesses(array("Q", [0]), array("Q", [4 * MB]), [SmapsVma(0, 4 * MB, MB, MB)], 20)
    assert list(got) == [5]


def test_engine_reads_smaps_once_per_aggregation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = fake_proc(tmp_path, 77, [(*A, 4096), (*B, 1024), (*C, 0)])
    clears: list[bytes] = []
    real_clear = smaps_mod.write_clear_refs
    monkeypatch.setattr(
        smaps_mod, "write_clear_refs", lambda r, p, v: (clears.append(v), real_clear(r, p, v))
    )
    src = Counting(77, proc_root=root)
    snaps: list[Snapshot] = []
    engine = Engine([(Target(TargetKind.PID, pid=77), src)], ATTRS, on_snapshot=snaps.append)
    assert engine.paced_per_aggregation  # the backend may sleep once per aggregation
    assert (src.reads, clears) == (0, [b"1"])  # reset when the first aggregation starts
    for _ in range(STEPS - 1):
        engine.sample_step()
    assert (src.reads, len(clears), len(snaps)) == (0, 1, 0)  # nothing per sample
    engine.sample_step()
    assert (src.reads, len(clears), len(snaps)) == (1, 2, 1)
    engine.run_for(3 * ATTRS.aggr_us)
    assert (src.reads, len(clears), len(snaps)) == (4, 5, 4)
    engine.close()


def test_engine_nr_accesses_are_the_referenced_share(tmp_path: Path) -> None:
    root = fake_proc(tmp_path, 78, [(*A, 4096), (*B, 1024), (*C, 0)])
    engine = Engine([(Target(TargetKind.PID, pid=78), SmapsSource(78, proc_root=root))], ATTRS)
    snap = engine.run_for(2 * ATTRS.aggr_us)
    assert snap is not None
    t = snap.targets[0]
    want = {A: 20, B: 5, C: 0}  # max_nr_accesses 20: all, a quarter, none
    for (s, e), n in zip(zip(t.starts, t.ends, strict=True), t.nr_accesses, strict=True):
        (vma,) = [v for v in want if v[0] <= s and e <= v[1]]  # regions stay inside a VMA
        assert n == want[vma], (hex(s), hex(e), n)
    engine.close()


def test_the_read_at_the_end_of_an_aggregation_counts(tmp_path: Path) -> None:
    """What smaps says when the aggregation ends is what the snapshot shows."""
    root = fake_proc(tmp_path, 79, [(*A, 0), (*B, 0), (*C, 0)])
    engine = Engine([(Target(TargetKind.PID, pid=79), SmapsSource(79, proc_root=root))], ATTRS)
    for _ in range(STEPS // 2):
        engine.sample_step()
    write_smaps(root, 79, (0, 4096, 0))  # B touched in the middle of the aggregation
    snap = engine.run_for(ATTRS.aggr_us // 2)
    assert snap is not None and snap.seq == 1
    t = snap.targets[0]
    hot = [n for s, n in zip(t.starts, t.nr_accesses, strict=True) if B[0] <= s < B[1]]
    cold = [n for s, n in zip(t.starts, t.nr_accesses, strict=True) if not B[0] <= s < B[1]]
    assert hot and set(hot) == {20} and set(cold) == {0}
    engine.close()


def test_exit_during_an_aggregation_drops_the_target(tmp_path: Path) -> None:
    root = fake_proc(tmp_path, 80, [(*A, 0), (*B, 0), (*C, 0)])
    errors: list[str] = []
    engine = Engine(
        [(Target(TargetKind.PID, pid=80), SmapsSource(80, proc_root=root))],
        ATTRS,
        on_error=errors.append,
    )
    (Path(root) / "80" / "smaps").write_text("")  # a zombie's smaps reads empty
    (Path(root) / "80" / "stat").write_text("80 (fake) Z 1 1 1 0 -1\n")
    engine.run_for(ATTRS.aggr_us)
    assert errors == ["pid 80 exited; monitoring stopped for it"]
    assert engine.targets == []
    engine.close()


def test_real_child_hot_and_cold_areas_per_aggregation() -> None:
    """On this kernel: the busy area reads (nearly) all accessed, the idle one 0."""
    area = 32 << 20
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(area)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        hot, cold = map(int, proc.stdout.readline().split())
        attrs = MonitoringAttrs(sample_us=5_000, aggr_us=200_000, min_nr_regions=10)
        target = Target(
            TargetKind.PID, pid=proc.pid, ranges=((hot, hot + area), (cold, cold + area))
        )
        engine = Engine([(target, SmapsSource(proc.pid))], attrs)
        snap = None
        for _ in range(3):
            time.sleep(attrs.aggr_us / 1e6)  # wall time between the reset and the read
            snap = engine.run_for(attrs.aggr_us)
        assert snap is not None
        t = snap.targets[0]
        max_nr = attrs.max_nr_accesses
        for s, e, n in zip(t.starts, t.ends, t.nr_accesses, strict=True):
            if hot <= s and e <= hot + area:
                assert n >= 0.8 * max_nr, (hex(s), n)
            else:
                assert cold <= s and e <= cold + area and n <= 0.05 * max_nr, (hex(s), n)
        engine.close()
    finally:
        proc.kill()
        proc.wait()


def test_backend_in_real_time_reads_once_per_aggregation(tmp_path: Path) -> None:
    """The engine thread: no smaps read between aggregations (loose bounds: the
    machine may be loaded, so only 'far fewer reads than samples' is checked)."""
    from damontui.backends.engine.backend import EngineBackend
    from damontui.backends.engine.tuning import SystemPaths

    root = fake_proc(tmp_path, 81, [(*A, 4096), (*B, 0), (*C, 0)])
    reads: list[int] = []
    real_read = SmapsSource._read

    def counted(self: SmapsSource) -> bytes:
        reads.append(1)
        return real_read(self)

    attrs = MonitoringAttrs(sample_us=10_000, aggr_us=100_000, min_nr_regions=6)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SmapsSource, "_read", counted)
        backend = EngineBackend(
            [Target(TargetKind.PID, pid=81)],
            source="smaps",
            attrs=attrs,
            paths=SystemPaths(proc_root=root),
            cpu_budget=None,
        )
        snaps: list[Snapshot] = []
        backend.start(snaps.append, lambda m: None)
        deadline = time.monotonic() + 20
        while len(snaps) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        backend.close()
    assert len(snaps) >= 4
    samples = len(snaps) * attrs.aggr_us // attrs.sample_us
    assert len(snaps) <= len(reads) <= len(snaps) + 1 < samples // 4
    assert max(snaps[-1].targets[0].nr_accesses) == attrs.max_nr_accesses  # A: all referenced
