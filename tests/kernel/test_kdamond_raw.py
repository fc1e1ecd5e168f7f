"""The guest kernel's own DAMON sysfs behaviour, driven by plain writes.

These check the facts the kernel backend is built on (and that the VM tier
works at all): a vaddr kdamond sees the workload's hot area hot, a running
kdamond makes nr_kdamonds writes fail with EBUSY, a bad memcg path fails `on`
with ENOMEM.
"""

from __future__ import annotations

import errno
import time

import pytest

from . import vmkit

pytestmark = [
    pytest.mark.vm,
    pytest.mark.skipif(not vmkit.in_guest(), reason="runs only inside the VM tier"),
]

KD0 = vmkit.KDAMONDS / "0"
SCHEME0 = KD0 / "contexts/0/schemes/0"


def test_raw_vaddr_hot_and_cold(live_work):
    vmkit.write(vmkit.KDAMONDS / "nr_kdamonds", 1)
    vmkit.setup_kdamond(
        KD0,
        ops="vaddr",
        pid=live_work.pid,
        sample_us=5000,
        aggr_us=100_000,
        schemes=[{"action": "stat", "apply_interval_us": 100_000}],
    )
    vmkit.write(KD0 / "state", "on")
    assert vmkit.read(KD0 / "state") == "on"
    kpid = int(vmkit.read(KD0 / "pid"))
    assert kpid > 0
    time.sleep(3)  # let the regions adapt
    max_nr = 100_000 // 5000
    votes = []
    for _ in range(3):
        regions = vmkit.tried_regions(SCHEME0)
        hot = vmkit.mean_accesses(regions, *live_work.hot)
        cold = vmkit.mean_accesses(regions, *live_work.cold)
        votes.append((hot, cold))
        time.sleep(0.3)
    print(f"\n[raw vaddr] hot/cold mean nr_accesses (max {max_nr}): {votes}")
    assert sum(h >= 0.5 * max_nr for h, _ in votes) >= 2, votes
    assert sum(c <= 0.1 * max_nr for _, c in votes) >= 2, votes
    vmkit.write(KD0 / "state", "off")
    assert vmkit.wait_until(lambda: vmkit.read(KD0 / "state") == "off", 10)


def test_raw_nr_kdamonds_busy_while_running():
    ram = vmkit.system_ram()
    vmkit.write(vmkit.KDAMONDS / "nr_kdamonds", 1)
    vmkit.setup_kdamond(KD0, ops="paddr", regions=[ram], sample_us=100_000, aggr_us=1_000_000)
    vmkit.write(KD0 / "state", "on")
    with pytest.raises(OSError) as exc:
        vmkit.write(vmkit.KDAMONDS / "nr_kdamonds", 2)
    assert exc.value.errno == errno.EBUSY


def test_raw_bad_memcg_path_enomem():
    ram = vmkit.system_ram()
    vmkit.write(vmkit.KDAMONDS / "nr_kdamonds", 1)
    vmkit.setup_kdamond(
        KD0,
        ops="paddr",
        regions=[ram],
        schemes=[
            {
                "action": "stat",
                "filters": [{"type": "memcg", "memcg_path": "/no/such/cgroup", "matching": "Y"}],
            }
        ],
    )
    with pytest.raises(OSError) as exc:
        vmkit.write(KD0 / "state", "on")
    assert exc.value.errno == errno.ENOMEM
    assert vmkit.read(KD0 / "state") == "off"
