"""damo record files both ways, and damo's temperature, judged by damo 3.4.3.

damo records need a live kdamond, so the damo side of "damo writes, damontui reads" is
damo's own converter (`damo convert_record_format`) re-writing a record: what damo
writes from its reading of our file is what we read back.
"""

from __future__ import annotations

import dataclasses
import json
import zlib
from array import array
from pathlib import Path

import pytest

from damontui.formats.damo_record import (
    DamoRecordError,
    read_damo_record,
    records_of,
    write_damo_record,
)
from damontui.model import (
    MonitoringAttrs,
    Snapshot,
    Target,
    TargetKind,
    TargetSnapshot,
    TemperatureWeights,
)

from . import peer

ATTRS = MonitoringAttrs(5_000, 100_000, 1_000_000)
QUIET = ("--format_record_head", "", "--format_record_tail", "", "--format_snapshot_tail", "")


def series(n: int = 25, attrs: MonitoringAttrs = ATTRS) -> list[Snapshot]:
    """Two targets with hot, warming, idle-ageing and steady regions."""
    out = []
    for i in range(n):
        a = TargetSnapshot(Target(TargetKind.PID, pid=4242),
                           array("Q", [0x1000, 0x10_0000, 0x80_0000, 0x90_0000]),
                           array("Q", [0x10_0000, 0x80_0000, 0x90_0000, 0x200_0000]),
                           array("I", [i % 21, 0, 20, 7]),
                           array("I", [i, 2 * i, 1, 3]))  # fmt: skip
        b = TargetSnapshot(Target(TargetKind.PID, pid=4343),
                           array("Q", [0x7000_0000, 0x7100_0000]),
                           array("Q", [0x7100_0000, 0x7300_0000]),
                           array("I", [13, 0]), array("I", [i // 2, 5 + i]))  # fmt: skip
        out.append(Snapshot(i, 1000.0 + i / 10, (i + 1) * attrs.aggr_us, attrs, (a, b)))
    return out


def _damo(*args: str, cwd: Path) -> str:
    return peer.damo(*args, cwd=cwd)


@pytest.fixture(autouse=True)
def _need_damo() -> None:
    peer.require_damo()


def _same(a: list[Snapshot], b: list[Snapshot]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.elapsed_us == y.elapsed_us
        assert (x.attrs.sample_us, x.attrs.aggr_us, x.attrs.update_us) == (
            y.attrs.sample_us,
            y.attrs.aggr_us,
            y.attrs.update_us,
        )
        for tx, ty in zip(x.targets, y.targets, strict=True):
            assert tx.target.pid == ty.target.pid
            assert (tx.starts, tx.ends, tx.nr_accesses, tx.ages) == (
                ty.starts,
                ty.ends,
                ty.nr_accesses,
                ty.ages,
            )


def test_compressed_is_zlib_without_gzip_header(tmp_path: Path) -> None:
    path = tmp_path / "damon.data"
    write_damo_record(path, series(3))
    data = path.read_bytes()
    assert data[:1] == b"\x78" and data[:2] != b"\x1f\x8b"  # zlib stream, not gzip
    records = json.loads(zlib.decompress(data))
    assert [r["target_id"] for r in records] == [4242, 4343]
    region = records[0]["snapshots"][1]["regions"][1]
    assert region["start"] == "1,048,576"  # damo's comma numbers
    assert records[0]["snapshots"][1]["end_time"] == "200000000"  # ns


def test_damo_reports_our_record(tmp_path: Path) -> None:
    path = tmp_path / "damon.data"
    snaps = series()
    write_damo_record(path, snaps)
    out = _damo("report", "access", "-i", str(path), "--raw_number",
                "--format_snapshot_head", "snapshot <end time>", *QUIET,
                "--format_region", "<start address> <end address> <access rate> <age>",
                cwd=tmp_path)  # fmt: skip
    blocks = [b for b in out.split("snapshot ")[1:]]
    assert len(blocks) == 2 * len(snaps)  # two targets, every snapshot
    last = blocks[len(snaps) - 1].split("\n")
    assert last[0].strip() == str(len(snaps) * ATTRS.aggr_us * 1000)
    rows = [r.split() for r in last[1:] if r.strip()]
    ts = snaps[-1].targets[0]
    assert [int(r[0]) for r in rows] == list(ts.starts)
    max_nr = ATTRS.max_nr_accesses
    assert [float(r[2]) for r in rows] == [int(n * 100 / max_nr) for n in ts.nr_accesses]
    assert [int(r[3]) for r in rows] == [a * ATTRS.aggr_us for a in ts.ages]

    heat = _damo("report", "heatmap", "-i", str(path), "--output", "raw", cwd=tmp_path)
    values = [float(line.split()[2]) for line in heat.splitlines() if line.strip()]
    assert any(v > 0 for v in values if v == v)

    wss = _damo("report", "wss", "-i", str(path), "--exclude_samples", "0", "--raw_number",
                "--acc_thres", "1", "--sortby", "time", cwd=tmp_path)  # fmt: skip
    # damo 3.4.3 sums the targets' working sets per snapshot (one "target_id 0" table)
    expected = [sum(e - s for t in snap.targets
                    for s, e, n in zip(t.starts, t.ends, t.nr_accesses, strict=True) if n >= 1)
                for snap in snaps]  # fmt: skip
    avr = [line for line in wss.splitlines() if line.startswith("# avr:")][0]
    assert abs(int(avr.split()[-1]) - sum(expected) / len(expected)) < 1


@pytest.mark.parametrize(
    ("ours", "theirs"), [("json", "json_compressed"), ("json_compressed", "json")]
)
def test_damo_rewrites_our_record_and_we_read_its_file(tmp_path: Path, ours: str,
                                                       theirs: str) -> None:  # fmt: skip
    snaps = series(6)
    src, dst = tmp_path / "ours.data", tmp_path / "theirs.data"
    write_damo_record(src, snaps, ours)
    if ours == "json":
        # damo 3.4.3 detects JSON records by `file -b` saying "JSON data"; file 5.44 says
        # "JSON text data", so damo can't read plain-JSON records here.  Compare our file
        # with what damo writes for the same record instead (below), and feed damo the
        # compressed form.
        write_damo_record(tmp_path / "c.data", snaps, "json_compressed")
        _damo("convert_record_format", "--record_file", str(tmp_path / "c.data"),
              "--format", "json", "--output_file", str(dst), cwd=tmp_path)  # fmt: skip
        assert json.loads(dst.read_text()) == json.loads(src.read_text())
    else:
        _damo("convert_record_format", "--record_file", str(src), "--format", theirs,
              "--output_file", str(dst), cwd=tmp_path)  # fmt: skip
    _same(read_damo_record(dst), snaps)


def test_reader_takes_percent_and_usec_forms() -> None:
    records = records_of(series(2))
    for snap in records[0]["snapshots"]:
        for r in snap["regions"]:
            n, a = r["nr_accesses"]["samples"], int(r["age"]["aggr_intervals"])
            r["nr_accesses"] = {"samples": None, "percent": n * 100 / ATTRS.max_nr_accesses}
            r["age"] = {"usec": f"{a * ATTRS.aggr_us} us", "aggr_intervals": None}
    from damontui.formats.damo_record import snapshots_of

    _same(snapshots_of(records), series(2))


@pytest.mark.parametrize(("content", "where"), [
    (b"\x78\x9c garbage", "neither JSON nor zlib"),
    (b'[{"snapshots": [{"regions": [{"start": "9", "end": "1"}]}]}]',
     "[0].snapshots[0].regions[0]"),
    (b'[{"snapshots": {"a": 1}}]', "[0].snapshots"),
    (b"\xff\xfe", "neither JSON nor zlib"),
    (zlib.compress(b"[\xff]"), "not UTF-8"),
])  # fmt: skip
def test_bad_records_name_file_and_key(tmp_path: Path, content: bytes, where: str) -> None:
    path = tmp_path / "bad.data"
    path.write_bytes(content)
    with pytest.raises(DamoRecordError) as e:
        read_damo_record(path)
    assert str(e.value).startswith(f"{path}: ") and where in str(e.value)


# --------------------------------------------------------------------------- temperature


def _damontui_temperature(weights: TemperatureWeights):  # -> (fn, where)
    """The temperature and order the TUI and reports use (the analysis layer once merged)."""
    try:
        from damontui.analysis.temperature import (  # type: ignore[import-not-found]
            temperature_order,
            temperatures,
        )
    except ImportError:

        def current(snap: Snapshot, ts: TargetSnapshot) -> list[tuple[int, float]]:
            temps = [snap.temperature(r, weights) for r in ts.regions()]
            order = sorted(range(len(temps)), key=lambda i: temps[i])
            return [(ts.starts[i], temps[i]) for i in order]

        return current, "model.Region.temperature (analysis layer not merged yet)"

    def analysis(snap: Snapshot, ts: TargetSnapshot) -> list[tuple[int, float]]:
        temps = temperatures(ts.arrays, snap.attrs, weights)
        order = temperature_order(ts.arrays, snap.attrs, weights, descending=False)  # coldest 1st
        return [(ts.starts[i], temps[i]) for i in order]

    return analysis, "damontui.analysis.temperature"


@pytest.mark.parametrize("weights", [(0, 100, 100), (1, 50, 7)], ids=["default", "custom"])
def test_temperatures_and_order_equal_damos(tmp_path: Path, weights: tuple[int, int, int]) -> None:
    path = tmp_path / "damon.data"
    snaps = series()
    write_damo_record(path, snaps)
    out = _damo("report", "access", "-i", str(path), "--raw_number",
                "--temperature_weights", *map(str, weights),
                "--sort_regions_by", "temperature", *QUIET,
                "--format_snapshot_head", "snapshot", "--format_region",
                "<start address> <temperature>", cwd=tmp_path)  # fmt: skip
    blocks = out.split("snapshot")[1:]
    theirs = [[(int(r.split()[0]), float(r.split()[1])) for r in b.splitlines() if r.strip()]
              for b in blocks]  # fmt: skip
    fn, where = _damontui_temperature(TemperatureWeights(*weights))
    # damo reports record by record: all snapshots of one target, then the next
    ours = [fn(snap, snap.targets[t]) for t in range(2) for snap in snaps]
    mismatch = [(i, o, d) for i, (o, d) in enumerate(zip(ours, theirs, strict=True)) if o != d]
    assert len(ours) == 50 and all(len(block) >= 2 for block in ours)
    if mismatch and "not merged" in where:
        pytest.xfail(
            f"{where}: {len(mismatch)} of {len(ours)} snapshots differ from damo, "
            f"e.g. ours {mismatch[0][1]} vs damo {mismatch[0][2]}"
        )
    assert not mismatch, f"{where} differs from damo: {mismatch[:2]}"


def test_fuzz_mutated_records_only_raise_damo_errors() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from damontui.formats.damo_json import DamoJsonError
    from damontui.formats.damo_record import snapshots_of

    from .test_damo_json_bad_input import _paths, json_values

    base = records_of(series(3))

    @settings(max_examples=200, deadline=None)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        doc = json.loads(json.dumps(base))
        for _ in range(data.draw(st.integers(1, 3))):
            path = data.draw(st.sampled_from([p for p in _paths(doc) if p] or [()]))
            if not path:
                break
            parent = doc
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = data.draw(json_values)
        try:
            snapshots_of(doc)
        except DamoJsonError:
            pass

    run()


def test_targets_that_come_and_go_keep_their_snapshots(tmp_path: Path) -> None:
    full = series(6)
    # pid 4343 exits after snapshot 2; pid 5000 appears at snapshot 4
    late = TargetSnapshot(Target(TargetKind.PID, pid=5000), array("Q", [0x1000]),
                          array("Q", [0x2000]), array("I", [3]), array("I", [1]))  # fmt: skip
    snaps = [dataclasses.replace(s, targets=s.targets[:1] if i > 2 else s.targets) for i, s in
             enumerate(full)]  # fmt: skip
    snaps[4:] = [dataclasses.replace(s, targets=(*s.targets, late)) for s in snaps[4:]]
    path = tmp_path / "damon.data"
    write_damo_record(path, snaps)
    records = json.loads(zlib.decompress(path.read_bytes()))
    assert [(r["target_id"], len(r["snapshots"])) for r in records] == [(4242, 6), (4343, 3),
                                                                        (5000, 2)]  # fmt: skip
    back = read_damo_record(path)
    assert [[t.target.pid for t in s.targets] for s in back] == [
        [t.target.pid for t in s.targets] for s in snaps
    ]
    _same(back, snaps)
    # and damo reads it: three records
    out = _damo("report", "access", "-i", str(path), "--raw_number", *QUIET,
                "--format_snapshot_head", "snapshot", "--format_region", "<start address>",
                cwd=tmp_path)  # fmt: skip
    assert out.count("snapshot") == 6 + 3 + 2
