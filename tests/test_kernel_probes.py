"""7.2's data-attribute probes against the fake sysfs: monitoring_attrs/probes/
written from the model (nr_probes, P/filters/F/{type,matching,allow,path}), read
back by an observer, each tried region's probes/P/hits read into the snapshot;
refused before any write on kernels without the directory (naming 7.2) and for
what 7.2 has no file for (weight, preps, other filter types, more than 4 probes).

The same runs against the real 7.2 kernel in tests/kernel/test_kdamond_7x.py."""

from __future__ import annotations

from array import array

import pytest
from fakesysfs import FakeSysfs

from damontui.backends.base import BackendError
from damontui.backends.kernel import KernelBackend
from damontui.backends.kernel.reader import split_by_address_order
from damontui.model import (
    MonitoringAttrs,
    Probe,
    ProbeFilter,
    ProbeFilterType,
    ProbePrep,
    RegionArrays,
    Target,
    TargetKind,
)

PADDR = Target(TargetKind.PADDR)
C0 = "kdamonds/0/contexts/0"
P = f"{C0}/monitoring_attrs/probes"
ANON = Probe(filters=(ProbeFilter(ProbeFilterType.ANON, matching=True, allow=True),))
MEMCG = Probe(
    filters=(
        ProbeFilter(ProbeFilterType.MEMCG, matching=True, allow=True, path="/workload"),
        ProbeFilter(ProbeFilterType.ANON, matching=False, allow=False),
    )
)
ATTRS = MonitoringAttrs(probes=(ANON, MEMCG))
REGIONS = [(0x10000, 0x20000, 3, 1), (0x20000, 0x40000, 0, 4), (0x40000, 0x41000, 9, 2)]


def backend(fake: FakeSysfs, attrs: MonitoringAttrs = ATTRS, targets=(PADDR,), **kw):
    return KernelBackend(list(targets), attrs, [], **fake.backend_paths(), **kw)


def test_72_writes_the_probes(tmp_path):
    fake = FakeSysfs.build(tmp_path, (7, 2))
    b = backend(fake)
    b.launch()
    try:
        assert fake.value(f"{P}/nr_probes") == "2"
        assert fake.value(f"{P}/0/filters/nr_filters") == "1"
        assert [fake.value(f"{P}/0/filters/0/{n}") for n in ("type", "matching", "allow")] == [
            "anon",
            "Y",
            "Y",
        ]
        assert fake.value(f"{P}/1/filters/nr_filters") == "2"
        assert fake.value(f"{P}/1/filters/0/type") == "memcg"
        assert fake.value(f"{P}/1/filters/0/path") == "/workload"
        assert [fake.value(f"{P}/1/filters/1/{n}") for n in ("type", "matching", "allow")] == [
            "anon",
            "N",
            "N",
        ]
        # nr_probes before the probe dirs it creates, nr_filters before their files
        rels = [rel for rel, _ in fake.writes_under(P)]
        assert rels.index(f"{P}/nr_probes") < rels.index(f"{P}/0/filters/nr_filters")
        assert rels.index(f"{P}/1/filters/nr_filters") < rels.index(f"{P}/1/filters/0/type")
        # a read-only observer reads the same probes back into the model
        view = KernelBackend.observe(
            0, **{k: v for k, v in fake.backend_paths().items() if k != "module_root"}
        )
        assert view.attrs().probes == (ANON, MEMCG)
    finally:
        b.stop()


def test_72_probe_hits_reach_the_snapshot(tmp_path):
    fake = FakeSysfs.build(tmp_path, (7, 2))
    fake.probe_hits = lambda start, end, probe: (end - start) // 0x10000 + 10 * probe
    b = backend(fake)
    b.launch()
    try:
        fake.set_regions(0, [list(REGIONS)])
        snap = b.snapshot_once()
    finally:
        b.stop()
    t = snap.targets[0]
    assert len(t) == 3 and len(t.probe_hits) == 2
    assert list(t.probe_hits[0]) == [1, 2, 0]
    assert list(t.probe_hits[1]) == [11, 12, 10]
    assert t.arrays.probe_hits == t.probe_hits


def test_72_without_probes_reads_none_and_clears_a_reused_dir(tmp_path):
    fake = FakeSysfs.build(tmp_path, (7, 2))
    b = backend(fake, MonitoringAttrs())
    b.launch()
    try:
        assert fake.value(f"{P}/nr_probes") == "0"
        fake.set_regions(0, [list(REGIONS)])
        assert b.snapshot_once().targets[0].probe_hits == ()
    finally:
        b.stop()


def test_online_attrs_change_commits_probes(tmp_path):
    fake = FakeSysfs.build(tmp_path, (7, 2))
    b = backend(fake, MonitoringAttrs())
    b.launch()
    try:
        b.set_attrs(MonitoringAttrs(probes=(ANON,)))
        assert fake.value(f"{P}/nr_probes") == "1"
        assert (0, "commit") in fake.commands
        assert fake.kd[0].attrs is not None and fake.kd[0].attrs.probes == (ANON,)
    finally:
        b.stop()


@pytest.mark.parametrize("version", [(6, 12), (7, 1)])
def test_older_kernels_refuse_before_any_write(tmp_path, version):
    fake = FakeSysfs.build(tmp_path, version)
    with pytest.raises(BackendError) as err:
        backend(fake).launch()
    msg = str(err.value)
    assert "monitoring_attrs.probes" in msg and "kernel 7.2+" in msg, msg
    assert f"this kernel: {version[0]}.{version[1]}" in msg, msg
    assert fake.attempts == []


@pytest.mark.parametrize(
    ("probes", "field", "words"),
    [
        ((Probe(weight=3),), "probes[0].weight", "no file for a probe weight"),
        ((Probe(preps=(ProbePrep.SET_PGIDLE,)),), "probes[0].preps", "no file for probe"),
        (
            (ANON, Probe(filters=(ProbeFilter(ProbeFilterType.PGIDLE_SET),))),
            "probes[1].filters[0].type",
            "allowed: anon, memcg",
        ),
        ((ANON,) * 5, "monitoring_attrs.probes", "at most 4"),
    ],
)
def test_what_72_has_no_file_for_is_refused(tmp_path, probes, field, words):
    fake = FakeSysfs.build(tmp_path, (7, 2))
    with pytest.raises(BackendError) as err:
        backend(fake, MonitoringAttrs(probes=probes)).launch()
    assert field in str(err.value) and words in str(err.value), str(err.value)
    assert fake.attempts == []


def test_vaddr_writes_them_and_says_hits_stay_zero(tmp_path):
    fake = FakeSysfs.build(tmp_path, (7, 2))
    fake.add_process(300, "work")
    b = backend(fake, targets=(Target(TargetKind.PID, pid=300),))
    b.launch()
    try:
        assert fake.value(f"{P}/nr_probes") == "2"
        assert any("only paddr applies probes" in n for n in b.info.notes), b.info.notes
    finally:
        b.stop()


def test_split_and_concat_carry_probe_hits():
    regions = RegionArrays(
        array("Q", [10, 30, 5]),
        array("Q", [20, 40, 8]),
        array("I", [1, 2, 3]),
        array("I", [0, 0, 0]),
        None,
        (array("I", [4, 5, 6]),),
    )
    one, two = split_by_address_order(regions, 2)
    assert [list(h) for h in one.probe_hits] == [[4, 5]]
    assert [list(h) for h in two.probe_hits] == [[6]]
    three = split_by_address_order(regions, 3)[2]
    assert len(three) == 0 and len(three.probe_hits) == 1
    assert list(RegionArrays.concat([one, two]).probe_hits[0]) == [4, 5, 6]
    plain = RegionArrays(array("Q", [50]), array("Q", [60]), array("I", [0]), array("I", [0]))
    assert RegionArrays.concat([one, plain]).probe_hits == ()


def test_probe_memcg_that_does_not_exist_is_refused_before_commit(tmp_path):
    fake = FakeSysfs.build(tmp_path, (7, 2))
    fake.add_memcg("/workload")
    b = backend(fake, MonitoringAttrs())
    b.launch()
    try:
        missing = Probe(filters=(ProbeFilter(ProbeFilterType.MEMCG, path="/nope"),))
        fake.attempts.clear()
        with pytest.raises(BackendError, match=r"does not exist: probe 0 filter 0: /nope"):
            b.set_attrs(MonitoringAttrs(probes=(missing,)))
        assert fake.writes_under(P) == []
        b.set_attrs(MonitoringAttrs(probes=(MEMCG,)))  # /workload exists
        assert fake.value(f"{P}/0/filters/0/path") == "/workload"
    finally:
        b.stop()
