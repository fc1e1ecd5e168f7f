"""A FOREIGN kdamond - started by this test with plain sysfs writes, not by
damontui - is left untouched by everything damontui does, and starting our
own kdamond while it runs fails up front with the EBUSY precheck naming it.
A STOPPED foreign kdamond with a staged configuration (which adding a kdamond
would reset) is refused up front too, unless the user consents by name.
"""

from __future__ import annotations

import pytest

from . import vmkit

pytestmark = [
    pytest.mark.vm,
    pytest.mark.skipif(not vmkit.in_guest(), reason="runs only inside the VM tier"),
]

kernel = pytest.importorskip("damontui.backends.kernel")

from damontui.backends.base import BackendError  # noqa: E402
from damontui.model import MonitoringAttrs, Scheme, Target, TargetKind  # noqa: E402

KD0 = vmkit.KDAMONDS / "0"


@pytest.fixture
def foreign(live_work):
    """kdamond.0: vaddr on the workload with a stat scheme, started by plain writes.
    A second, stopped kdamond.1 (also not damontui's) exists too."""
    vmkit.write(vmkit.KDAMONDS / "nr_kdamonds", 2)
    vmkit.setup_kdamond(
        KD0,
        ops="vaddr",
        pid=live_work.pid,
        sample_us=5000,
        aggr_us=100_000,
        schemes=[{"action": "stat", "apply_interval_us": 100_000}],
    )
    vmkit.write(KD0 / "state", "on")
    # let it expose stats and tried regions once, as its owner would
    vmkit.tried_regions(KD0 / "contexts/0/schemes/0")
    vmkit.write(KD0 / "state", "update_schemes_stats")
    return int(vmkit.read(KD0 / "pid"))


def test_foreign_kdamond_untouched(foreign, live_work, writes):
    kpid = foreign
    before = vmkit.tree(vmkit.KDAMONDS)
    t = [Target(TargetKind.PID, pid=live_work.pid)]

    # 1. inventory and features: read only, it is FOREIGN
    infos = kernel.list_kdamonds()
    assert [(k.index, k.ownership) for k in infos] == [
        (0, kernel.Ownership.FOREIGN),
        (1, kernel.Ownership.FOREIGN),
    ]
    assert infos[0].running and infos[0].pid == kpid
    kernel.detect_features()

    # 2. starting ours while it runs: the precheck names it, before any write
    with pytest.raises(BackendError) as exc:
        kernel.KernelBackend(t, MonitoringAttrs()).start(lambda s: None, lambda e: None)
    msg = str(exc.value)
    print(f"\n[foreign] start while kdamond.0 runs: {msg}")
    assert "kdamond.0" in msg and str(kpid) in msg and "EBUSY" in msg, msg
    reason = kernel.reason_kernel_unusable()
    assert reason and "kdamond.0" in reason, reason

    # 3. observing it read-only, several snapshots; changes are refused
    obs = kernel.KernelBackend.observe(0)
    snaps = [obs.snapshot_once() for _ in range(3)]
    assert obs.readonly and obs.info.readonly
    assert snaps[-1].targets and len(snaps[-1].targets[0]) > 0, snaps[-1].messages
    for change in (
        lambda: obs.set_schemes([Scheme()]),
        lambda: obs.set_attrs(MonitoringAttrs()),
        lambda: obs.set_targets(t),
    ):
        with pytest.raises(BackendError):
            change()
    obs.start(lambda s: None, lambda e: None)
    obs.stop()

    # 4. take-over without the exact confirmation is refused
    with pytest.raises(BackendError):
        kernel.KernelBackend.take_over(0, "kdamond.1")
    with pytest.raises(BackendError):
        kernel.KernelBackend.take_over(0, "yes")

    # nothing was written anywhere, and the foreign kdamond is exactly as it was
    assert writes == [], f"damontui wrote: {writes[:5]}"
    after = vmkit.tree(vmkit.KDAMONDS)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    print(f"[foreign] files that changed (kernel-updated counters only): {changed[:10]}")
    assert vmkit.stable_part(after) == vmkit.stable_part(before)
    assert vmkit.read(KD0 / "state") == "on" and int(vmkit.read(KD0 / "pid")) == kpid
    assert vmkit.read(vmkit.KDAMONDS / "nr_kdamonds") == "2"


RESET = "has a staged configuration that adding a kdamond would reset"


def test_stopped_foreign_config_needs_consent(writes):
    """Writing nr_kdamonds makes 6.12 re-create every kdamond directory with
    defaults.  A stopped kdamond that stages a configuration and that damontui did
    not start is therefore refused up front - nothing written - unless the user
    names it in reset_stopped_foreign; then its files are written back exactly."""
    ram = vmkit.system_ram()
    vmkit.write(vmkit.KDAMONDS / "nr_kdamonds", 1)
    vmkit.setup_kdamond(
        KD0,
        ops="paddr",
        regions=[ram],
        sample_us=7000,
        aggr_us=140_000,
        schemes=[{"action": "stat", "apply_interval_us": 280_000, "age": (3, 99)}],
    )
    before = vmkit.stable_part(vmkit.tree(KD0))
    t = [Target(TargetKind.PADDR)]
    attrs = MonitoringAttrs(sample_us=10_000, aggr_us=200_000)

    with pytest.raises(BackendError) as exc:
        kernel.KernelBackend(t, attrs)
    msg = str(exc.value)
    print(f"\n[stopped-foreign] {msg}")
    assert f"kdamond.0 (stopped, paddr) {RESET}" in msg, msg
    assert "--backend engine" in msg and 'reset_stopped_foreign=("kdamond.0",)' in msg
    assert writes == [], f"damontui wrote: {writes[:5]}"
    assert vmkit.stable_part(vmkit.tree(KD0)) == before
    assert vmkit.read(vmkit.KDAMONDS / "nr_kdamonds") == "1"

    kb = kernel.KernelBackend(t, attrs, reset_stopped_foreign=("kdamond.0",))
    try:
        kb.start(lambda s: None, lambda e: None)
        assert kb.index == 1 and vmkit.read(vmkit.KDAMONDS / "1/state") == "on"
        assert vmkit.read(KD0 / "state") == "off"
        after = vmkit.stable_part(vmkit.tree(KD0))
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        assert after == before, changed
        assert not any(p.startswith(str(KD0) + "/") and p.endswith("/state") for p, _ in writes)
    finally:
        kb.stop()


def test_stopped_foreign_without_config_is_grown_over(writes):
    """Stopped kdamonds that stage nothing lose nothing: no consent needed, and
    their directories are not reused (they are not damontui's)."""
    vmkit.write(vmkit.KDAMONDS / "nr_kdamonds", 2)
    kb = kernel.KernelBackend(
        [Target(TargetKind.PADDR)], MonitoringAttrs(sample_us=10_000, aggr_us=200_000)
    )
    try:
        kb.start(lambda s: None, lambda e: None)
        assert kb.index == 2 and vmkit.read(vmkit.KDAMONDS / "nr_kdamonds") == "3"
        for i in (0, 1):
            kd = vmkit.KDAMONDS / str(i)
            assert vmkit.read(kd / "state") == "off"
            assert vmkit.read(kd / "contexts/nr_contexts") == "0"
            assert not [p for p, _ in writes if p.startswith(str(kd) + "/")]
    finally:
        kb.stop()
