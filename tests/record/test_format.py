"""damontui's record format: round trip, truncation, corruption, versions, append."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from damontui.model import Snapshot
from damontui.record import RecordError, RecordReader, RecordWriter
from damontui.record.frames import FRAME_HEADER_SIZE, HEADER_SIZE, MAGIC


def same(a: Snapshot, b: Snapshot) -> None:
    assert (a.seq, a.elapsed_us, a.timestamp, a.attrs) == (
        b.seq,
        b.elapsed_us,
        b.timestamp,
        b.attrs,
    )
    assert len(a.targets) == len(b.targets)
    for x, y in zip(a.targets, b.targets, strict=True):
        assert x.target == y.target
        assert list(x.starts) == list(y.starts) and list(x.ends) == list(y.ends)
        assert list(x.nr_accesses) == list(y.nr_accesses) and list(x.ages) == list(y.ages)
    assert a.schemes == b.schemes
    assert a.scheme_stats == b.scheme_stats
    assert a.messages == b.messages
    assert a.cpu_percent == pytest.approx(b.cpu_percent, rel=1e-6)


def write(path: Path, snaps, info) -> None:
    with RecordWriter(path) as w:
        for s in snaps:
            w.write(s, info)


def test_round_trip(tmp_path, engine_run):
    snaps, backend = engine_run
    path = tmp_path / "r.dtrec"
    write(path, snaps, backend.info)
    with RecordReader(path) as r:
        assert len(r) == len(snaps)
        assert r.warnings == []
        for a, b in zip(snaps, r, strict=True):
            same(a, b)
        assert r.meta(0).info == backend.info
        assert r.elapsed_us == [s.elapsed_us for s in snaps]
        # random access, backwards
        same(r.snapshot(-1), snaps[-1])
        same(r.snapshot(7), snaps[7])
        assert r.index_at(snaps[10].elapsed_us) == 10


def test_every_cut_keeps_the_complete_snapshots(tmp_path, engine_run):
    """A file cut at any byte reads the snapshots completed before the cut, with a warning."""
    snaps, backend = engine_run
    path = tmp_path / "r.dtrec"
    write(path, snaps[:6], backend.info)
    data = path.read_bytes()
    ends = []  # where each snapshot frame ends
    with RecordReader(path) as r:
        ends = [r.offset(i) + FRAME_HEADER_SIZE + r._heads[i].length for i in range(len(r))]
        bounds = {HEADER_SIZE, *ends, *(p + FRAME_HEADER_SIZE + h.length for p, h in r._metas)}
    cut_path = tmp_path / "cut.dtrec"
    for cut in range(HEADER_SIZE, len(data), 97):
        cut_path.write_bytes(data[:cut])
        with RecordReader(cut_path) as r:
            expect = sum(1 for e in ends if e <= cut)
            assert len(r) == expect
            for i in range(expect):
                same(r.snapshot(i), snaps[i])
            if cut not in bounds:
                assert any("truncated at byte" in w and str(cut_path) in w for w in r.warnings)


def test_header_errors_name_file_and_offset(tmp_path, engine_run):
    snaps, backend = engine_run
    path = tmp_path / "r.dtrec"
    write(path, snaps[:3], backend.info)
    data = bytearray(path.read_bytes())

    other = tmp_path / "notes.txt"
    other.write_text("hello, this is not a record\n")
    with pytest.raises(RecordError, match=rf"{other}: byte 0: not a damontui record"):
        RecordReader(other)

    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(RecordError, match="byte 0: truncated"):
        RecordReader(empty)

    wrong = tmp_path / "v9.dtrec"
    head = bytearray(data[:12])
    head[8:10] = struct.pack("<H", 9)
    import zlib

    wrong.write_bytes(bytes(head) + struct.pack("<I", zlib.crc32(bytes(head))) + data[16:])
    with pytest.raises(
        RecordError, match=r"byte 8: record format version 9; this damontui reads 1"
    ):
        RecordReader(wrong)

    missing = tmp_path / "missing.dtrec"
    with pytest.raises(RecordError, match="missing.dtrec: can't open"):
        RecordReader(missing)


def test_corrupt_frame_names_its_offset(tmp_path, engine_run):
    snaps, backend = engine_run
    path = tmp_path / "r.dtrec"
    write(path, snaps[:4], backend.info)
    with RecordReader(path) as r:
        second = r.offset(1)
    data = bytearray(path.read_bytes())
    data[second + FRAME_HEADER_SIZE + 3] ^= 0x40  # inside the payload
    bad = tmp_path / "bad.dtrec"
    bad.write_bytes(bytes(data))
    with RecordReader(bad) as r:
        same(r.snapshot(0), snaps[0])
        with pytest.raises(RecordError, match=rf"bad.dtrec: byte {second}: corrupt frame"):
            r.snapshot(1)
        same(r.snapshot(2), snaps[2])
    data = bytearray(path.read_bytes())
    data[second + 5] ^= 0x01  # the length field of the header
    bad.write_bytes(bytes(data))
    with pytest.raises(RecordError, match=rf"byte {second}: corrupt frame header"):
        RecordReader(bad)


def test_append_continues_after_a_cut(tmp_path, engine_run):
    snaps, backend = engine_run
    path = tmp_path / "r.dtrec"
    write(path, snaps[:5], backend.info)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size - 10)  # the fifth snapshot is cut
    with RecordWriter(path, append=True) as w:
        for s in snaps[5:9]:
            w.write(s, backend.info)
    with RecordReader(path) as r:
        assert r.warnings == []
        assert len(r) == 8
        for i, k in enumerate([0, 1, 2, 3, 5, 6, 7, 8]):
            same(r.snapshot(i), snaps[k])


def test_read_while_written(tmp_path, engine_run):
    snaps, backend = engine_run
    path = tmp_path / "live.dtrec"
    w = RecordWriter(path)
    w.write(snaps[0], backend.info)
    r = RecordReader(path)
    assert len(r) == 1
    for s in snaps[1:4]:
        w.write(s, backend.info)
    assert r.refresh() == 3
    same(r.snapshot(3), snaps[3])
    w.close()
    r.close()


def test_rotation_parts_stand_alone(tmp_path, engine_run):
    snaps, backend = engine_run
    path = tmp_path / "rot.dtrec"
    with RecordWriter(path, max_size=4096) as w:
        for s in snaps:
            w.write(s, backend.info)
        parts = list(w.parts)
    assert len(parts) > 1 and parts[1] == tmp_path / "rot.dtrec.1"
    seen = []
    for p in parts:
        assert p.stat().st_size <= 4096
        with RecordReader(p) as r:
            seen += list(r)
    assert len(seen) == len(snaps)
    for a, b in zip(snaps, seen, strict=True):
        same(a, b)


def test_stream_output_is_a_record(tmp_path, engine_run):
    import io

    from damontui.record.frames import FrameParser

    snaps, backend = engine_run
    buf = io.BytesIO()
    with RecordWriter(stream=buf) as w:
        for s in snaps[:3]:
            w.write(s, backend.info)
    data = buf.getvalue()
    assert data.startswith(MAGIC)
    parser = FrameParser("<ssh>")
    frames = []
    for i in range(0, len(data), 50):  # arrives in small pieces
        frames += parser.feed(data[i : i + 50])
    assert [h.kind for _, h, _ in frames] == [1, 2, 2, 2]
    (tmp_path / "s.dtrec").write_bytes(data)
    with RecordReader(tmp_path / "s.dtrec") as r:
        same(r.snapshot(2), snaps[2])


def test_meta_frames_follow_changes(tmp_path, engine_run):
    from dataclasses import replace

    snaps, backend = engine_run
    path = tmp_path / "m.dtrec"
    changed = replace(snaps[2], attrs=replace(snaps[2].attrs, aggr_us=200_000), schemes=())
    write(path, [snaps[0], snaps[1], changed, snaps[3]], backend.info)
    with RecordReader(path) as r:
        assert len(r._metas) == 3
        assert r.snapshot(2).attrs.aggr_us == 200_000 and r.snapshot(2).schemes == ()
        assert r.snapshot(3).schemes == snaps[3].schemes


def test_kill_minus_9_keeps_complete_snapshots(tmp_path):
    """A real recorder process killed with SIGKILL mid-run."""
    import signal
    import subprocess
    import sys
    import time

    path = tmp_path / "killed.dtrec"
    script = (  # noqa: UP031
        "import sys\n"
        "sys.path.insert(0, %r)\n"
        "from tests.record.helpers import engine_snapshots\n"
        "from damontui.record import RecordWriter\n"
        "snaps, b = engine_snapshots(20)\n"
        "w = RecordWriter(%r)\n"
        "i = 0\n"
        "while True:\n"
        "    w.write(snaps[i %% 20], b.info); i += 1\n"
        "    if i == 30: print('ready', flush=True)\n"
    ) % (str(Path(__file__).parents[2]), str(path))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"ready"
    time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with RecordReader(path) as r:
        n = len(r)
        assert n >= 30
        for i in range(n):
            r.snapshot(i)  # every directory entry decodes


def test_messages_and_optional_fields_round_trip(tmp_path, engine_run):
    from dataclasses import fields, replace

    from damontui.model import Snapshot as Snap

    snaps, backend = engine_run
    extra = {"messages": ("target 42 exited", "ünïcode")}
    names = {f.name for f in fields(Snap)}
    if "damon_stat" in names:  # builds with the DAMON_STAT backend
        from damontui.model.damon_stat import DamonStatSample

        extra["damon_stat"] = DamonStatSample(1.0, True, 77, 100_000, 5 << 20,
                                              tuple(range(101)), 0.3, ((1.0, 5),))  # fmt: skip
    if "tuned" in names:
        extra["tuned"] = ("sample_us",)
    snap = replace(snaps[0], **extra)
    path = tmp_path / "x.dtrec"
    write(path, [snap], backend.info)
    with RecordReader(path) as r:
        back = r.snapshot(0)
    for key, value in extra.items():
        assert getattr(back, key) == value


def test_unknown_frame_kinds_are_skipped(tmp_path, engine_run):
    from damontui.record.frames import encode_frame

    snaps, backend = engine_run
    path = tmp_path / "future.dtrec"
    write(path, snaps[:2], backend.info)
    with open(path, "ab") as f:
        f.write(encode_frame(42, b'{"from": "the future"}'))
    with RecordWriter(path, append=True) as w:
        w.write(snaps[2], backend.info)
    with RecordReader(path) as r:
        assert len(r) == 3
        same(r.snapshot(2), snaps[2])
        assert any("unknown kind 42" in w for w in r.warnings)


def test_recorded_attrs_are_kept_as_reported(tmp_path, engine_run):
    """Intervals in force that the model would refuse as a setting (DAMON_STAT's tuned
    aggregation interval, found on Debian's 7.2) are recorded and read back as is."""
    from dataclasses import replace

    snaps, backend = engine_run
    odd = replace(snaps[0], attrs=replace(snaps[0].attrs, sample_us=5_000, aggr_us=4_898_700))
    path = tmp_path / "odd.dtrec"
    write(path, [odd], backend.info)
    with RecordReader(path) as r:
        assert r.snapshot(0).attrs.aggr_us == 4_898_700
