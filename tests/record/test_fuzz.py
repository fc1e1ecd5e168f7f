"""Hypothesis fuzz of the record reader: whatever the bytes, only RecordError."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from damontui.record import RecordError, RecordReader, RecordWriter
from damontui.record.codec import Meta, encode_meta
from damontui.record.frames import KIND_META, KIND_SNAPSHOT, encode_frame, file_header

from .helpers import engine_snapshots

SNAPS, BACKEND = engine_snapshots(4)
_TMP = Path(tempfile.mkdtemp(prefix="dtrec-fuzz-"))
VALID_PATH = _TMP / "valid.dtrec"
with RecordWriter(VALID_PATH) as _w:
    for _s in SNAPS:
        _w.write(_s, BACKEND.info)
VALID = VALID_PATH.read_bytes()
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip


def read_all(data: bytes) -> None:
    path = _TMP / "case.dtrec"
    path.write_bytes(data)
    try:
        with RecordReader(path) as r:
            for i in range(len(r)):
                r.meta(i)
                r.snapshot(i)
            r.refresh()
    except RecordError as e:
        assert str(path) in str(e)


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(1, 255)), max_size=8),
       st.integers(0, len(VALID)))  # fmt: skip
def test_mutated_records(flips, cut):
    data = bytearray(VALID)
    for pos, mask in flips:
        data[pos] ^= mask
    read_all(bytes(data[:cut]))


@SETTINGS
@given(st.binary(max_size=600))
def test_random_bytes_after_the_header(tail):
    read_all(file_header() + tail)
    read_all(tail)


def _meta_doc() -> dict:
    meta = Meta(BACKEND.info, SNAPS[0].attrs, SNAPS[0].schemes,
                tuple(t.target for t in SNAPS[0].targets))  # fmt: skip
    return json.loads(encode_meta(meta))


META = _meta_doc()
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=12,
)


@SETTINGS
@given(st.sampled_from(sorted(META)), JSONISH, st.binary(max_size=300))
def test_checksummed_frames_with_garbage_payloads(key, value, payload):
    """Valid checksums around bad contents: the decoders themselves must hold."""
    meta = dict(META, **{key: value})
    meta_bytes = json.dumps(meta).encode()
    good_meta = json.dumps(META).encode()
    read_all(file_header() + encode_frame(KIND_META, meta_bytes)
             + encode_frame(KIND_SNAPSHOT, payload))  # fmt: skip
    read_all(file_header() + encode_frame(KIND_META, good_meta)
             + encode_frame(KIND_SNAPSHOT, payload, compress=False))  # fmt: skip


@SETTINGS
@given(st.data())
def test_mutated_snapshot_payloads(data):
    """A real snapshot payload with bytes changed, re-checksummed."""
    from damontui.record.codec import encode_snapshot

    snap = SNAPS[data.draw(st.integers(0, len(SNAPS) - 1))]
    body = bytearray(encode_snapshot(snap, {t.target: 0 for t in snap.targets}))
    for _ in range(data.draw(st.integers(1, 6))):
        body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
    body = body[: data.draw(st.integers(0, len(body)))]
    read_all(file_header() + encode_frame(KIND_META, json.dumps(META).encode())
             + encode_frame(KIND_SNAPSHOT, bytes(body)))  # fmt: skip


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(1, 255)), max_size=6),
       st.integers(1, 400))  # fmt: skip
def test_stream_parser_and_remote_decoder(flips, chunk):
    """The --remote side: a mutated stream fed in chunks raises only RecordError."""
    from damontui.record.frames import FrameParser
    from damontui.remote.client import RemoteBackend, parse_remote

    data = bytearray(VALID)
    for pos, mask in flips:
        data[pos] ^= mask
    parser = FrameParser("<stream>")
    backend = RemoteBackend(parse_remote("example.org"), ["damontui"])
    backend._on_snapshot = lambda snap: None
    try:
        for i in range(0, len(data), chunk):
            for offset, head, payload in parser.feed(bytes(data[i : i + chunk])):
                backend._frame("<stream>", offset, head, payload)
    except RecordError as e:
        assert "<stream>" in str(e)


@st.composite
def _snapshots(draw):  # type: ignore[no-untyped-def]
    from array import array

    from damontui.model import MonitoringAttrs, Snapshot, Target, TargetKind, TargetSnapshot

    targets = []
    for t in range(draw(st.integers(0, 3))):
        n = draw(st.integers(0, 40))
        pos = draw(st.integers(0, 2**63))
        starts, ends = array("Q"), array("Q")
        for _ in range(n):
            gap = draw(st.sampled_from([0, 0, 4096, draw(st.integers(0, 2**40))]))
            size = draw(st.sampled_from([4096, 2 << 20, draw(st.integers(1, 2**40))]))
            if pos + gap + size > 2**64 - 1:
                break
            starts.append(pos + gap)
            ends.append(pos + gap + size)
            pos += gap + size
        k = len(starts)
        targets.append(TargetSnapshot(
            Target(TargetKind.PID, pid=1000 + t, name=draw(st.text(max_size=5))), starts, ends,
            array("I", draw(st.lists(st.integers(0, 2**32 - 1), min_size=k, max_size=k))),
            array("I", draw(st.lists(st.integers(0, 2**32 - 1), min_size=k, max_size=k))),
        ))  # fmt: skip
    return Snapshot(
        seq=draw(st.integers(0, 2**64 - 1)), timestamp=draw(st.floats(0, 2e9)),
        elapsed_us=draw(st.integers(0, 2**63)), attrs=MonitoringAttrs(),
        targets=tuple(targets), messages=tuple(draw(st.lists(st.text(max_size=8), max_size=3))),
    )  # fmt: skip


@SETTINGS
@given(st.lists(_snapshots(), min_size=1, max_size=4))
def test_any_snapshot_round_trips(snaps):
    path = _TMP / "rt.dtrec"
    with RecordWriter(path) as w:
        for s in snaps:
            w.write(s, BACKEND.info)
    with RecordReader(path) as r:
        assert len(r) == len(snaps)
        for a, b in zip(snaps, r, strict=True):
            assert (b.seq, b.elapsed_us, b.timestamp, b.messages) == (
                a.seq, a.elapsed_us, a.timestamp, a.messages)  # fmt: skip
            assert [t.target for t in b.targets] == [t.target for t in a.targets]
            for x, y in zip(a.targets, b.targets, strict=True):
                assert (list(x.starts), list(x.ends)) == (list(y.starts), list(y.ends))
                assert (list(x.nr_accesses), list(x.ages)) == (list(y.nr_accesses), list(y.ages))
