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
