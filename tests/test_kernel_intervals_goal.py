"""intervals_goal: all zero unless the user sets a goal (issue 8).

The kernel tunes the intervals whenever intervals_goal/aggrs != 0, whatever
access_bp says; 6.15+ kernels before the divide-by-zero fix can crash on a zero
goal.  These run against the fake sysfs (the VM tier checks the real 7.2)."""

from __future__ import annotations

import pytest
from fakesysfs import FakeSysfs

from damontui.backends.kernel import KernelBackend
from damontui.model import IntervalsGoal, MonitoringAttrs, Target, TargetKind

GOAL = "kdamonds/0/contexts/0/monitoring_attrs/intervals/intervals_goal"


@pytest.mark.parametrize("version", [(6, 15), (7, 2)])
def test_no_goal_writes_all_zero(tmp_path, version):
    fake = FakeSysfs.build(tmp_path, version)
    b = KernelBackend([Target(TargetKind.PADDR)], MonitoringAttrs(), **fake.backend_paths())
    b.launch()
    written = {p.rsplit("/", 1)[1]: v for p, v in fake.writes if p.startswith(GOAL + "/")}
    assert written == {"access_bp": "0", "aggrs": "0", "min_sample_us": "0", "max_sample_us": "0"}
    for name in written:
        assert fake.value(f"{GOAL}/{name}") == "0"
    # and it reads back as "no goal"
    assert not b.attrs().intervals_goal.enabled
    b.stop()


def test_goal_set_is_written(tmp_path):
    fake = FakeSysfs.build(tmp_path, (7, 2))
    attrs = MonitoringAttrs(intervals_goal=IntervalsGoal(400, 3, 5_000, 10_000_000))
    b = KernelBackend([Target(TargetKind.PADDR)], attrs, **fake.backend_paths())
    b.launch()
    assert fake.value(f"{GOAL}/access_bp") == "400"
    assert fake.value(f"{GOAL}/aggrs") == "3"
    assert fake.value(f"{GOAL}/max_sample_us") == "10000000"
    b.stop()


def test_set_attrs_without_goal_keeps_zero(tmp_path):
    fake = FakeSysfs.build(tmp_path, (7, 2))
    b = KernelBackend([Target(TargetKind.PADDR)], MonitoringAttrs(), **fake.backend_paths())
    b.launch()
    b.set_attrs(MonitoringAttrs(sample_us=10_000, aggr_us=200_000))
    assert fake.value(f"{GOAL}/aggrs") == "0"
    assert fake.value("kdamonds/0/contexts/0/monitoring_attrs/intervals/sample_us") == "10000"
    b.stop()


@pytest.mark.parametrize("version", [(6, 15), (7, 2)])  # update_tuned_intervals / refresh_ms
def test_intervals_in_force_are_read_back_and_marked(tmp_path, version):
    from damontui.tui.header import HeaderState, header_lines

    fake = FakeSysfs.build(tmp_path, version)
    attrs = MonitoringAttrs(intervals_goal=IntervalsGoal(400, 3, 5_000, 10_000_000))
    b = KernelBackend([Target(TargetKind.PADDR)], attrs, **fake.backend_paths())
    b.launch()
    fake.set_tuned_intervals(0, 160_000, 3_200_000)
    snap = b.snapshot_once()
    assert (snap.attrs.sample_us, snap.attrs.aggr_us) == (160_000, 3_200_000)
    assert snap.tuned == ("sample_us", "aggr_us")
    third = str(header_lines(HeaderState(b.info, b.targets(), 1.0, False, False, ()), snap)[2])
    assert "sample 160 ms* aggr 3.2 s*" in third and "tuned by the kernel" in third
    b.stop()


def test_untuned_intervals_are_not_marked(tmp_path):
    fake = FakeSysfs.build(tmp_path, (7, 2))
    b = KernelBackend(
        [Target(TargetKind.PADDR)],
        MonitoringAttrs(sample_us=10_000, aggr_us=200_000),
        **fake.backend_paths(),
    )
    b.launch()
    snap = b.snapshot_once()
    assert snap.tuned == () and snap.attrs.sample_us == 10_000
    b.stop()
