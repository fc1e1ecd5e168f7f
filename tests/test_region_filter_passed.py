"""Per-region sz_filter_passed (kernel 6.14+ tried regions): read with the tried
regions, carried through the snapshot and the analysis, shown as the regions
table's 'passed' column only when the source reports it."""

from __future__ import annotations

from array import array

from fakesysfs import FakeSysfs

from damontui.analysis import SnapshotAnalysis
from damontui.backends.kernel import KernelBackend
from damontui.backends.kernel.reader import split_by_address_order
from damontui.model import MonitoringAttrs, RegionArrays, Snapshot, Target, TargetKind
from damontui.model.snapshot import TargetSnapshot
from damontui.tui.regions_rows import RegionRows, table_columns

PADDR = Target(TargetKind.PADDR)
REGIONS = [(0x10000, 0x20000, 3, 1), (0x20000, 0x40000, 0, 4), (0x40000, 0x41000, 9, 2)]


def kernel_snapshot(tmp_path, version, per_target=(REGIONS,), targets=(PADDR,)):
    fake = FakeSysfs.build(tmp_path, version)
    fake.filter_passed = lambda start, end: (end - start) // 4  # a quarter passes
    for t in targets:
        if t.pid:
            fake.add_process(t.pid, f"p{t.pid}")
    b = KernelBackend(list(targets), MonitoringAttrs(), [], **fake.backend_paths())
    b.launch()
    try:
        fake.set_regions(0, [list(r) for r in per_target])
        return b.snapshot_once()
    finally:
        b.stop()


def test_read_on_614_and_later(tmp_path):
    snap = kernel_snapshot(tmp_path, (7, 2))
    passed = snap.targets[0].sz_filter_passed
    assert passed is not None
    assert list(passed) == [(e - s) // 4 for s, e, _, _ in REGIONS]
    assert list(SnapshotAnalysis(snap).filter_passed) == list(passed)


def test_absent_before_614(tmp_path):
    snap = kernel_snapshot(tmp_path, (6, 12))
    assert len(snap.targets[0]) == 3
    assert snap.targets[0].sz_filter_passed is None
    assert SnapshotAnalysis(snap).filter_passed is None


def test_per_target_schemes_keep_their_own_values(tmp_path):
    pids = [Target(TargetKind.PID, pid=100), Target(TargetKind.PID, pid=200)]
    lo, hi = REGIONS[:2], [(0x2000, 0x6000, 9, 2)]
    snap = kernel_snapshot(tmp_path, (7, 2), [lo, hi], pids)
    assert list(snap.targets[1].sz_filter_passed) == [0x1000]
    analysis = SnapshotAnalysis(snap)
    assert list(analysis.filter_passed) == [0x4000, 0x8000, 0x1000]


def test_split_by_address_order_carries_the_values():
    regions = RegionArrays(
        array("Q", [10, 30, 5]),
        array("Q", [20, 40, 8]),
        array("I", [1, 2, 3]),
        array("I", [0, 0, 0]),
        array("Q", [7, 8, 9]),
    )
    one, two = split_by_address_order(regions, 2)
    assert list(one.sz_filter_passed) == [7, 8] and list(two.sz_filter_passed) == [9]
    folded = split_by_address_order(regions, 1)
    assert list(folded[0].sz_filter_passed) == [7, 8, 9]
    none = RegionArrays(array("Q", [10]), array("Q", [20]), array("I", [1]), array("I", [0]))
    a, b = split_by_address_order(none, 2)
    assert a.sz_filter_passed is None and b.sz_filter_passed is None


def test_concat_drops_the_column_unless_every_part_has_it():
    with_ = RegionArrays(
        array("Q", [0]), array("Q", [4096]), array("I", [0]), array("I", [0]), array("Q", [4096])
    )
    without = RegionArrays(
        array("Q", [8192]), array("Q", [12288]), array("I", [0]), array("I", [0])
    )
    assert RegionArrays.concat([with_, with_]).sz_filter_passed == array("Q", [4096, 4096])
    assert RegionArrays.concat([with_, without]).sz_filter_passed is None


def _rows(passed):
    t = TargetSnapshot(
        PADDR,
        array("Q", [0, 1 << 20]),
        array("Q", [1 << 20, 3 << 20]),
        array("I", [1, 5]),
        array("I", [2, 3]),
        passed,
    )
    snap = Snapshot(seq=1, timestamp=0.0, elapsed_us=0, attrs=MonitoringAttrs(), targets=(t,))
    return RegionRows(SnapshotAnalysis(snap), sort_key_name="start", descending=False)


def test_table_column_only_when_reported():
    rows = _rows(array("Q", [1 << 19, 0]))
    keys = [c.key for c in table_columns(rows)]
    assert keys[-1] == "passed"
    assert rows.cells(0)["passed"] == "512.0 KiB"
    assert rows.cells(1)["passed"] == "0 B"
    plain = _rows(None)
    assert "passed" not in [c.key for c in table_columns(plain)]
    # all zero, as 7.2 reports for a scheme without ops filters: no column either
    zeros = _rows(array("Q", [0, 0]))
    assert "passed" not in [c.key for c in table_columns(zeros)]
    assert zeros.cells(0)["passed"] == ""
