"""The 6.17+/7.x sysfs fields (pause, addr_unit, goal_tuner, fail_charge, the new
goal metrics, dests, max_nr_snapshots, obsolete_target) against the fake sysfs:
written only where the kernel has them, refused before any write where it lacks
them (naming the setting and the version), read back by attach and observe.

The same settings run against the real 7.2 kernel in tests/kernel/test_kdamond_7x.py."""

from __future__ import annotations

import pytest
from fakesysfs import FakeSysfs

from damontui.backends.base import BackendError
from damontui.backends.kernel import KernelBackend
from damontui.backends.kernel.reader import read_scheme, read_targets
from damontui.model import (
    Action,
    Dest,
    GoalMetric,
    GoalTuner,
    MonitoringAttrs,
    QuotaGoal,
    Quotas,
    Scheme,
    Target,
    TargetKind,
)
from damontui.model.attrs import Probe

PADDR = Target(TargetKind.PADDR)
C0 = "kdamonds/0/contexts/0"
S0 = f"{C0}/schemes/0"


def new_scheme(**quota_kw: object) -> Scheme:
    goals = (QuotaGoal(GoalMetric.NODE_ELIGIBLE_MEM_BP, target_value=3000, nid=0),)
    quotas = Quotas(
        ms=10,
        reset_interval_ms=1000,
        goals=goals,
        goal_tuner=GoalTuner.TEMPORAL,
        fail_charge_num=1,
        fail_charge_denom=4,
    )
    return Scheme(action=Action.PAGEOUT, quotas=quotas, max_nr_snapshots=5, **quota_kw)


def make(fake: FakeSysfs, schemes=(), targets=(PADDR,), **kw) -> KernelBackend:
    return KernelBackend(
        list(targets), MonitoringAttrs(), list(schemes), **fake.backend_paths(), **kw
    )


def test_72_writes_every_7x_field(tmp_path):
    fake = FakeSysfs.build(tmp_path, (7, 2))
    b = make(fake, [new_scheme()], addr_unit=4096, pause=True)
    b.launch()
    try:
        assert fake.value(f"{C0}/addr_unit") == "4096"
        assert fake.value(f"{C0}/pause") == "Y"
        assert fake.value(f"{S0}/quotas/goal_tuner") == "temporal"
        assert fake.value(f"{S0}/quotas/fail_charge_num") == "1"
        assert fake.value(f"{S0}/quotas/fail_charge_denom") == "4"
        assert fake.value(f"{S0}/stats/max_nr_snapshots") == "5"
        assert fake.value(f"{S0}/quotas/goals/0/target_metric") == "node_eligible_mem_bp"
        assert fake.value(f"{S0}/quotas/goals/0/target_value") == "3000"
        assert fake.value(f"{S0}/quotas/goals/0/nid") == "0"
    finally:
        b.stop()


def test_72_defaults_written_back_as_the_kernel_creates_them(tmp_path):
    """A reused directory must not keep an earlier run's 7.x values."""
    fake = FakeSysfs.build(tmp_path, (7, 2))
    b = make(fake, [Scheme(action=Action.COLD)])
    b.launch()
    try:
        assert fake.value(f"{C0}/pause") == "N"
        assert fake.value(f"{C0}/addr_unit") == "1"
        assert fake.value(f"{S0}/quotas/goal_tuner") == "consist"
        assert fake.value(f"{S0}/quotas/fail_charge_num") == "0"
        assert fake.value(f"{S0}/stats/max_nr_snapshots") == "0"
    finally:
        b.stop()


def test_dests_written_and_read_back(tmp_path):
    fake = FakeSysfs.build(tmp_path, (7, 2))
    scheme = Scheme(action=Action.MIGRATE_COLD, dests=(Dest(0, 30), Dest(1, 70)))
    b = make(fake, [scheme])
    b.launch()
    try:
        assert fake.value(f"{S0}/dests/nr_dests") == "2"
        assert fake.value(f"{S0}/dests/1/id") == "1"
        assert fake.value(f"{S0}/dests/1/weight") == "70"
        back = read_scheme(fake, fake.path(S0))
        assert back.dests == (Dest(0, 30), Dest(1, 70))
    finally:
        b.stop()


def test_read_back_by_attach_and_observe(tmp_path):
    fake = FakeSysfs.build(tmp_path, (7, 2))
    b = make(fake, [new_scheme()], keep_running=True)
    b.launch()
    b.stop()  # left running: attach and observe read it back from sysfs
    again = KernelBackend.attach(0, **fake.backend_paths())
    try:
        s = again._schemes[0]
        assert s.quotas.goal_tuner is GoalTuner.TEMPORAL
        assert (s.quotas.fail_charge_num, s.quotas.fail_charge_denom) == (1, 4)
        assert s.max_nr_snapshots == 5
        assert s.quotas.goals[0].metric is GoalMetric.NODE_ELIGIBLE_MEM_BP
        assert s.quotas.goals[0].nid == 0
    finally:
        again._keep_running = True
        again.stop()
    view = KernelBackend.observe(0, **fake.backend_paths())
    fake.set_stats(0, 0, nr_snapshots=7)
    snap = view.snapshot_once()
    assert snap.schemes[0].quotas.goal_tuner is GoalTuner.TEMPORAL
    assert snap.schemes[0].max_nr_snapshots == 5
    assert snap.scheme_stats[0].nr_snapshots == 7


def test_obsolete_target_written_and_read(tmp_path):
    fake = FakeSysfs.build(tmp_path, (7, 2))
    fake.add_process(4242, "victim")
    b = make(fake, [], targets=[Target(TargetKind.PID, pid=4242, obsolete=True)])
    b.launch()
    try:
        assert fake.value(f"{C0}/targets/0/obsolete_target") == "Y"
        (t,) = read_targets(fake, fake.path(C0), "vaddr", fake.proc_root)
        assert t.obsolete
    finally:
        b.stop()


REFUSALS = [
    (
        dict(schemes=[Scheme(quotas=Quotas(goal_tuner=GoalTuner.TEMPORAL))]),
        "quotas.goal_tuner",
        "7.1",
    ),
    (
        dict(schemes=[Scheme(quotas=Quotas(fail_charge_num=1, fail_charge_denom=2))]),
        "fail_charge",
        "7.2",
    ),
    (dict(schemes=[Scheme(max_nr_snapshots=3)]), "max_nr_snapshots", "7.0"),
    (dict(schemes=[Scheme(action=Action.MIGRATE_HOT, dests=(Dest(0, 1),))]), "dests", "6.17"),
    (
        dict(
            schemes=[
                Scheme(
                    quotas=Quotas(
                        reset_interval_ms=100,
                        goals=(QuotaGoal(GoalMetric.NODE_ELIGIBLE_MEM_BP, 1000, nid=0),),
                    )
                )
            ]
        ),
        "node_eligible_mem_bp",
        "7.2",
    ),
    (
        dict(
            schemes=[
                Scheme(
                    quotas=Quotas(
                        reset_interval_ms=100, goals=(QuotaGoal(GoalMetric.ACTIVE_MEM_BP, 1000),)
                    )
                )
            ]
        ),
        "active_mem_bp",
        "7.0",
    ),
    (dict(addr_unit=4096), "addr_unit", "6.18"),
    (dict(pause=True), "pause", "7.2"),
]


@pytest.mark.parametrize(("kw", "setting", "version"), REFUSALS, ids=[r[1] for r in REFUSALS])
def test_612_refuses_before_any_write(tmp_path, kw, setting, version):
    fake = FakeSysfs.build(tmp_path, (6, 12))
    with pytest.raises(BackendError) as err:
        make(fake, **kw).launch()
    msg = str(err.value)
    assert setting in msg and f"kernel {version}+" in msg and "this kernel: 6.12" in msg, msg
    assert fake.writes_under("") == [], "refused request wrote to sysfs"
    assert fake.value("kdamonds/nr_kdamonds") == "0"


def test_71_has_goal_tuner_but_not_fail_charge(tmp_path):
    fake = FakeSysfs.build(tmp_path, (7, 1))
    tuner = Scheme(quotas=Quotas(ms=5, reset_interval_ms=100, goal_tuner=GoalTuner.TEMPORAL))
    b = make(fake, [tuner])
    b.launch()
    try:
        assert fake.value(f"{S0}/quotas/goal_tuner") == "temporal"
        assert not (tmp_path / "fakesys-7.1/admin" / S0 / "quotas/fail_charge_num").exists()
    finally:
        b.stop()
    charge = Scheme(quotas=Quotas(fail_charge_num=1, fail_charge_denom=2))
    with pytest.raises(BackendError, match=r"fail_charge.*kernel 7\.2\+"):
        make(FakeSysfs.build(tmp_path / "b", (7, 1)), [charge])


def test_probe_weight_and_complement_are_refused_plainly(tmp_path):
    """Probes themselves are written on 7.2 (test_kernel_probes.py); a probe weight
    and a goal's complement have no sysfs file there."""
    fake = FakeSysfs.build(tmp_path, (7, 2))
    attrs = MonitoringAttrs(probes=(Probe(weight=1),))
    with pytest.raises(BackendError, match=r"monitoring_attrs\.probes\[0\]\.weight"):
        KernelBackend([PADDR], attrs, [], **fake.backend_paths())
    old = FakeSysfs.build(tmp_path / "old", (6, 12))
    with pytest.raises(BackendError, match=r"probes.*kernel 7\.2\+"):
        KernelBackend([PADDR], attrs, [], **old.backend_paths())
    comp = Scheme(
        quotas=Quotas(
            reset_interval_ms=100, goals=(QuotaGoal(GoalMetric.USER_INPUT, 10, complement=True),)
        )
    )
    with pytest.raises(BackendError, match=r"goals\[0\]\.complement"):
        make(fake, [comp])
    assert fake.writes_under("") == []


def test_config_tree_keeps_max_nr_snapshots(tmp_path):
    """A foreign stopped kdamond reset with consent is restored with its 7.x files,
    max_nr_snapshots (under stats/) included."""
    from damontui.backends.kernel.reader import read_config_tree
    from damontui.backends.kernel.writer import restore_tree

    fake = FakeSysfs.build(tmp_path, (7, 2))
    b = make(fake, [new_scheme()], keep_running=True)
    b.launch()
    tree = read_config_tree(fake, fake.path("kdamonds/0"))
    rel = "contexts/0/schemes/0/stats/max_nr_snapshots"
    assert tree[rel] == "5"
    assert not any(k.endswith("stats/nr_tried") for k in tree)  # read-only stats stay out
    fake.stop_kdamond_externally(0)
    fake.write(fake.path("kdamonds/0/contexts/0/schemes/nr_schemes"), 0)
    fake.write(fake.path("kdamonds/0/contexts/0/schemes/nr_schemes"), 2)
    assert fake.value(f"kdamonds/0/{rel}") == "0"
    restore_tree(fake, fake.path("kdamonds/0"), tree)
    assert fake.value(f"kdamonds/0/{rel}") == "5"
    assert fake.value("kdamonds/0/contexts/0/schemes/0/quotas/goal_tuner") == "temporal"
