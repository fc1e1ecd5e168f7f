"""`damontui record` and `report` on the kernel backend, inside the VM guest (real DAMON):
a physical-memory record whose regions and meta come from the guest's kdamond, and a
record of the hot/cold workload process read back as JSON."""

from __future__ import annotations

import json

import pytest

from . import vmkit

pytestmark = [
    pytest.mark.vm,
    pytest.mark.skipif(not vmkit.in_guest(), reason="runs only inside the VM tier"),
]


def test_record_then_report_paddr(tmp_path, capsys):
    from damontui.cli import main
    from damontui.record import RecordReader

    path = tmp_path / "paddr.dtrec"
    assert main(["record", "-o", str(path), "--backend", "kernel", "--paddr", "--count", "5",
                 "--sample", "5ms", "--aggr", "200ms"]) == 0  # fmt: skip
    with RecordReader(path) as r:
        assert len(r) == 5 and r.warnings == []
        meta = r.meta(0)
        assert meta.info.backend == "kernel" and meta.attrs.aggr_us == 200_000
        snaps = list(r)
    ram_start, ram_end = vmkit.system_ram()
    covered = [s for s in snaps if s.targets and len(s.targets[0])]
    assert covered, "no snapshot had regions"
    t = covered[-1].targets[0]
    assert ram_start <= t.starts[0] and t.ends[-1] <= ram_end + 1
    capsys.readouterr()
    assert main(["report", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["snapshots"]) == 5
    assert all(list(x)[:5] == ["start", "end", "nr_accesses", "age_us", "temperature"]
               for s in doc["snapshots"] for x in s["regions"])  # fmt: skip
    # no kdamond left behind by the record
    assert all(vmkit.read(kd / "state") == "off" for kd in vmkit.kdamond_dirs())


def test_sigterm_ends_a_kernel_record_and_its_kdamond(tmp_path):
    """The recorder's kdamond is stopped when SIGTERM ends the record; the file is whole."""
    import signal
    import subprocess
    import sys
    import time

    from damontui.record import RecordReader

    path = tmp_path / "term.dtrec"
    proc = subprocess.Popen([sys.executable, "-m", "damontui", "record", "-o", str(path),
                             "--backend", "kernel", "--paddr", "--aggr", "100ms"],
                            stderr=subprocess.PIPE, text=True)  # fmt: skip

    def snapshots() -> int:
        try:
            with RecordReader(path) as r:
                return len(r)
        except Exception:  # noqa: BLE001 - not created yet
            return 0

    assert vmkit.wait_until(lambda: snapshots() >= 3, 60), "no snapshots recorded"
    assert any(vmkit.read(kd / "state") == "on" for kd in vmkit.kdamond_dirs())
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "(SIGTERM)" in err
    time.sleep(0.5)
    assert all(vmkit.read(kd / "state") == "off" for kd in vmkit.kdamond_dirs())
    with RecordReader(path) as r:
        assert r.warnings == [] and len(r) >= 3
        list(r)


@pytest.mark.damon_stat
def test_record_damon_stat_then_report(tmp_path, capsys):
    """On a kernel that runs DAMON_STAT (Debian 7.2): its samples are recorded and
    reported, and nothing is written to DAMON or the module."""
    from damontui.cli import main
    from damontui.record import RecordReader

    before = (vmkit.read(vmkit.KDAMONDS / "nr_kdamonds"), vmkit.module_enabled("damon_stat"),
              vmkit.tree(vmkit.ADMIN))  # fmt: skip
    path = tmp_path / "stat.dtrec"
    assert main(["record", "-o", str(path), "--backend", "damon_stat", "--count", "3"]) == 0
    with RecordReader(path) as r:
        assert len(r) == 3 and r.meta(0).info.backend == "damon_stat"
        samples = [s.damon_stat for s in r]
    assert all(s is not None and s.enabled for s in samples)
    capsys.readouterr()
    assert main(["report", str(path)]) == 0
    out = capsys.readouterr().out
    assert "DAMON_STAT, 3 samples" in out
    assert "memory idle time percentiles" in out or "not readable" in out
    after = (vmkit.read(vmkit.KDAMONDS / "nr_kdamonds"), vmkit.module_enabled("damon_stat"),
             vmkit.tree(vmkit.ADMIN))  # fmt: skip
    assert after == before
