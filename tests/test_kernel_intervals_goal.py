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
    assert written == {"access_bp": "0", "aggrs": "0", "min_sample_us": "0",
                       "max_sample_us": "0"}
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
