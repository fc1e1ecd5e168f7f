"""The 7.x sysfs fields against the guest's real kernel.

On 7.2 (Debian sid): damontui's own kdamond started with goal_tuner temporal,
fail_charge 1/4, max_nr_snapshots, a node_eligible_mem_bp goal, dests and the
context's pause/addr_unit; every value is read back from the kernel's files and
through a read-only observer.  On kernels before 7.2 (trixie's 6.12) the same
request is refused before any write, naming the setting and the version it needs.
Per-region sz_filter_passed (6.14+) is checked on both: present on 7.2, absent on
6.12.  7.2's data-attribute probes are written, read back, and their per-region
hits reach the snapshot; 6.12 refuses them before any write."""

from __future__ import annotations

from dataclasses import replace

import pytest

from . import vmkit

pytestmark = [
    pytest.mark.vm,
    pytest.mark.skipif(not vmkit.in_guest(), reason="runs only inside the VM tier"),
]

kernel = pytest.importorskip("damontui.backends.kernel")

from damontui.backends.base import BackendError  # noqa: E402
from damontui.model import (  # noqa: E402
    AccessPattern,
    Action,
    Dest,
    GoalMetric,
    GoalTuner,
    MonitoringAttrs,
    Probe,
    ProbeFilter,
    ProbeFilterType,
    QuotaGoal,
    Quotas,
    Range,
    Scheme,
    Target,
    TargetKind,
)
from damontui.model.units import U32_MAX, U64_MAX  # noqa: E402

ATTRS = MonitoringAttrs(sample_us=10_000, aggr_us=200_000)
PADDR = [Target(TargetKind.PADDR)]
NEVER = AccessPattern(Range(0, U64_MAX), Range(0, U32_MAX), Range(U32_MAX, U32_MAX))


# anon pages, and every other sampled page: each sample hits exactly one of the two
ANON_PROBES = (
    Probe(filters=(ProbeFilter(ProbeFilterType.ANON, matching=True, allow=True),)),
    Probe(filters=(ProbeFilter(ProbeFilterType.ANON, matching=False, allow=True),)),
)
PROBED = replace(ATTRS, probes=ANON_PROBES)


def schemes_7x() -> list[Scheme]:
    goal = QuotaGoal(GoalMetric.NODE_ELIGIBLE_MEM_BP, target_value=4000, nid=0)
    quotas = Quotas(
        ms=10,
        reset_interval_ms=1000,
        goals=(goal,),
        goal_tuner=GoalTuner.TEMPORAL,
        fail_charge_num=1,
        fail_charge_denom=4,
    )
    return [
        Scheme(action=Action.STAT, access_pattern=NEVER, quotas=quotas, max_nr_snapshots=1000),
        # matches nothing (age U32_MAX): dests are written, nothing migrates
        Scheme(action=Action.MIGRATE_COLD, access_pattern=NEVER, dests=(Dest(0, 100),)),
    ]


def test_72_own_kdamond_with_7x_settings_reads_back():
    if vmkit.kernel_version() < (7, 2):
        pytest.skip(
            f"targets 7.2 (this guest: {vmkit.kernel_version()}); the refusal test "
            "below covers older kernels"
        )
    kb = kernel.KernelBackend(PADDR, ATTRS, schemes_7x(), pause=False, addr_unit=1)
    try:
        kb.launch()
        kd = vmkit.KDAMONDS / str(kb.index)
        ctx, s0, s1 = kd / "contexts/0", kd / "contexts/0/schemes/0", kd / "contexts/0/schemes/1"
        assert vmkit.read(kd / "state") == "on"
        files = {
            rel: vmkit.read(base / rel)
            for base, rel in (
                (ctx, "pause"),
                (ctx, "addr_unit"),
                (s0, "quotas/goal_tuner"),
                (s0, "quotas/fail_charge_num"),
                (s0, "quotas/fail_charge_denom"),
                (s0, "stats/max_nr_snapshots"),
                (s0, "quotas/goals/0/target_metric"),
                (s0, "quotas/goals/0/target_value"),
                (s0, "quotas/goals/0/nid"),
                (s1, "dests/nr_dests"),
                (s1, "dests/0/id"),
                (s1, "dests/0/weight"),
            )
        }
        print(f"\n[7x] files read back: {files}")
        assert files == {
            "pause": "N",
            "addr_unit": "1",
            "quotas/goal_tuner": "temporal",
            "quotas/fail_charge_num": "1",
            "quotas/fail_charge_denom": "4",
            "stats/max_nr_snapshots": "1000",
            "quotas/goals/0/target_metric": "node_eligible_mem_bp",
            "quotas/goals/0/target_value": "4000",
            "quotas/goals/0/nid": "0",
            "dests/nr_dests": "1",
            "dests/0/id": "0",
            "dests/0/weight": "100",
        }
        # a read-only observer reads the same settings back into the model
        view = kernel.KernelBackend.observe(kb.index)
        snap = view.snapshot_once()
        first, second = snap.schemes[0], snap.schemes[1]
        assert first.quotas.goal_tuner is GoalTuner.TEMPORAL
        assert (first.quotas.fail_charge_num, first.quotas.fail_charge_denom) == (1, 4)
        assert first.max_nr_snapshots == 1000
        assert first.quotas.goals[0].metric is GoalMetric.NODE_ELIGIBLE_MEM_BP
        assert second.dests == (Dest(0, 100),)
        # pause: the running context pauses and resumes through the same file
        vmkit.write(ctx / "pause", "Y")
        vmkit.write(kd / "state", "commit")
        assert vmkit.read(ctx / "pause") == "Y"
        vmkit.write(ctx / "pause", "N")
        vmkit.write(kd / "state", "commit")
        assert vmkit.read(kd / "state") == "on"
    finally:
        kb.stop()


def test_older_kernel_refuses_7x_settings_before_any_write(writes):
    if vmkit.kernel_version() >= (7, 2):
        pytest.skip("targets kernels before 7.2 (this one has every 7.x field)")
    before = vmkit.tree(vmkit.ADMIN)
    messages = []
    for kw, setting, version in (
        (
            dict(schemes=[Scheme(quotas=Quotas(fail_charge_num=1, fail_charge_denom=4))]),
            "fail_charge",
            "7.2",
        ),
        (dict(schemes=[Scheme(quotas=Quotas(goal_tuner=GoalTuner.TEMPORAL))]), "goal_tuner", "7.1"),
        (dict(schemes=[Scheme(max_nr_snapshots=10)]), "max_nr_snapshots", "7.0"),
        (dict(pause=True), "pause", "7.2"),
        (dict(attrs=PROBED), "monitoring_attrs.probes", "7.2"),
    ):
        schemes = kw.pop("schemes", [])
        attrs = kw.pop("attrs", ATTRS)
        with pytest.raises(BackendError) as err:
            kernel.KernelBackend(PADDR, attrs, schemes, **kw).launch()
        msg = str(err.value)
        messages.append(msg)
        assert setting in msg and f"kernel {version}+" in msg, msg
    print("\n[7x refused] " + "\n[7x refused] ".join(messages))
    assert writes == [], f"damontui wrote before refusing: {writes[:5]}"
    assert vmkit.tree(vmkit.ADMIN) == before


def test_region_sz_filter_passed_by_kernel_version():
    kb = kernel.KernelBackend(PADDR, ATTRS)
    snaps: list = []
    errors: list[str] = []
    try:
        kb.start(snaps.append, errors.append)
        assert vmkit.wait_until(lambda: any(s.targets and len(s.targets[0]) for s in snaps), 30), (
            errors
        )
    finally:
        kb.stop()
    snap = next(s for s in snaps if s.targets and len(s.targets[0]))
    passed = snap.targets[0].sz_filter_passed
    print(
        f"\n[7x] {len(snap.targets[0])} regions, sz_filter_passed "
        f"{'absent' if passed is None else list(passed)[:4]}"
    )
    if vmkit.kernel_version() >= (6, 14):
        assert passed is not None and len(passed) == len(snap.targets[0])
        sizes = [e - s for s, e in zip(snap.targets[0].starts, snap.targets[0].ends, strict=True)]
        assert all(0 <= p <= sz for p, sz in zip(passed, sizes, strict=True))
    else:
        assert passed is None


def test_72_probes_written_and_hits_read_back():
    if vmkit.kernel_version() < (7, 2):
        pytest.skip(f"targets 7.2 (this guest: {vmkit.kernel_version()}); refused before")
    kb = kernel.KernelBackend(PADDR, PROBED)
    snaps: list = []
    errors: list[str] = []
    try:
        kb.start(snaps.append, errors.append)
        probes = vmkit.KDAMONDS / str(kb.index) / "contexts/0/monitoring_attrs/probes"
        files = {
            rel: vmkit.read(probes / rel)
            for rel in (
                "nr_probes",
                "0/filters/nr_filters",
                "0/filters/0/type",
                "0/filters/0/matching",
                "0/filters/0/allow",
                "1/filters/0/type",
                "1/filters/0/matching",
                "1/filters/0/allow",
            )
        }
        print(f"\n[7x probes] files read back: {files}")
        assert files == {
            "nr_probes": "2",
            "0/filters/nr_filters": "1",
            "0/filters/0/type": "anon",
            "0/filters/0/matching": "Y",
            "0/filters/0/allow": "Y",
            "1/filters/0/type": "anon",
            "1/filters/0/matching": "N",
            "1/filters/0/allow": "Y",
        }
        view = kernel.KernelBackend.observe(kb.index)
        assert view.attrs().probes == ANON_PROBES

        def hits_seen() -> bool:
            good = [s for s in snaps if s.targets and len(s.targets[0].probe_hits) == 2]
            return len(good) >= 3 and any(any(s.targets[0].probe_hits[0]) for s in good)

        assert vmkit.wait_until(hits_seen, 60), (errors, len(snaps))
    finally:
        kb.stop()
    good = [s for s in snaps if s.targets and len(s.targets[0].probe_hits) == 2]
    snap = good[-1]
    t, samples = snap.targets[0], snap.max_nr_accesses
    anon, other = t.probe_hits
    assert len(anon) == len(other) == len(t)
    sums = [a + o for a, o in zip(anon, other, strict=True)]
    print(
        f"[7x probes] {len(t)} regions, {samples} samples/aggregation; anon hits "
        f"{sum(anon)}, other {sum(other)}, per-region sum min {min(sums)} "
        f"max {max(sums)} mean {sum(sums) / len(sums):.1f}"
    )
    # each sample of a region is anon or not: the two probes' hits add up to the
    # region's samples (less where merged regions' counts were averaged down)
    assert max(sums) <= samples, sums[:20]
    assert sum(sums) / len(sums) >= samples / 2, sums[:20]
    assert any(any(s.targets[0].probe_hits[0]) for s in good)
    assert any(other)
