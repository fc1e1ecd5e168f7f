"""Payloads of damontui's record frames: snapshots as byte-shuffled columns, and
the metadata (backend, attributes, schemes, targets) as JSON.

A snapshot payload (before zlib):

    head    seq u64 | cpu_percent f32 | nr_targets u16 | nr_stats u16 | msg_len u32 |
            shift u8 (gaps and sizes are stored divided by 2^shift, e.g. 12 for pages)
    targets nr_targets x (target index into the meta's list u16, nr_regions u32)
    columns over all regions, each byte-shuffled (all first bytes, then all
            second bytes, ...): gap u64 (start minus the previous region's end mod 2^64,
            the first region's start), size u64, nr_accesses u32, age u32
    stats   nr_stats x 8 u64 (SchemeStats fields), byte-shuffled
    extras  msg_len bytes of UTF-8 JSON, an object: "messages" (list of strings), and
            the optional Snapshot fields other backends fill ("damon_stat", "tuned")

Regions are sorted and mostly adjacent, so gaps are mostly 0 and sizes are
page multiples: after the shuffle their high and low byte planes are runs of
zeros that zlib squeezes to almost nothing. The shuffle and the array
conversions run in C (bytes slicing, array.tobytes), so a 1,000-region
snapshot encodes in well under a millisecond of Python.
"""

from __future__ import annotations

import json
import struct
from array import array
from dataclasses import asdict, dataclass, field, fields
from functools import reduce
from itertools import accumulate, chain
from operator import or_
from typing import Any

from ..model import (
    BackendInfo,
    IntervalsGoal,
    MonitoringAttrs,
    Scheme,
    SchemeStats,
    Snapshot,
    Target,
    TargetKind,
    TargetSnapshot,
)

SNAP_HEAD = struct.Struct("<QfHHIB")
TARGET_ENTRY = struct.Struct("<HI")
STAT_FIELDS = (
    "nr_tried", "sz_tried", "nr_applied", "sz_applied", "qt_exceeds",
    "sz_ops_filter_passed", "effective_bytes", "active",
)  # fmt: skip
U64_MASK = (1 << 64) - 1


class PayloadError(ValueError):
    """A payload that passed its checksum but does not decode (the frame reader
    turns this into a RecordError with the file and offset)."""


@dataclass(frozen=True)
class Meta:
    """What stays the same across many snapshots; a new meta frame is written
    whenever any of it changes."""

    info: BackendInfo
    attrs: MonitoringAttrs = field(default_factory=MonitoringAttrs)
    schemes: tuple[Scheme, ...] = ()
    targets: tuple[Target, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # host, command line, ...


# --- byte shuffle ----------------------------------------------------------------------


def shuffle(col: array) -> bytes:
    raw = col.tobytes()
    width = col.itemsize
    return b"".join(raw[k::width] for k in range(width))


def unshuffle(data: bytes | memoryview, typecode: str, count: int) -> array:
    width = array(typecode).itemsize
    if len(data) != width * count:
        raise PayloadError(
            f"column of {count} {typecode!r} values has {len(data)} bytes (truncated payload)"
        )
    raw = bytearray(width * count)
    for k in range(width):
        raw[k::width] = data[k * count : (k + 1) * count]
    out = array(typecode)
    out.frombytes(bytes(raw))
    return out


# --- snapshots -------------------------------------------------------------------------


def _common_shift(gaps: list[int], sizes: list[int]) -> int:
    """How many low bits are zero in every gap and size (12 for page-aligned regions)."""
    bits = reduce(or_, gaps, 0) | reduce(or_, sizes, 0)
    return min(63, (bits & -bits).bit_length() - 1) if bits else 0


def encode_snapshot(snap: Snapshot, target_index: dict[Target, int]) -> bytes:
    gaps: list[int] = []
    sizes: list[int] = []
    nr_acc = array("I")
    ages = array("I")
    entries = []
    for ts in snap.targets:
        starts, ends = ts.starts, ts.ends
        entries.append(TARGET_ENTRY.pack(target_index[ts.target], len(starts)))
        if len(starts):
            gaps.append(starts[0])  # u64 two's complement: unsorted regions still round-trip
            gaps.extend((s - e) & U64_MASK for s, e in zip(starts[1:], ends, strict=False))
            sizes.extend(e - s for s, e in zip(starts, ends, strict=True))
        nr_acc.extend(ts.nr_accesses)
        ages.extend(ts.ages)
    shift = _common_shift(gaps, sizes)
    if shift:
        gaps = [g >> shift for g in gaps]
        sizes = [z >> shift for z in sizes]
    msgs = _encode_extras(snap)
    stats = array("Q")
    for st in snap.scheme_stats:
        stats.extend(int(getattr(st, name)) & U64_MASK for name in STAT_FIELDS)
    return b"".join(
        [
            SNAP_HEAD.pack(
                snap.seq & U64_MASK,
                snap.cpu_percent,
                len(snap.targets),
                len(snap.scheme_stats),
                len(msgs),
                shift,
            ),  # fmt: skip
            *entries,
            shuffle(array("Q", gaps)),
            shuffle(array("Q", sizes)),
            shuffle(nr_acc),
            shuffle(ages),
            shuffle(stats),
            msgs,
        ]
    )


def decode_snapshot(data: bytes, meta: Meta, elapsed_us: int, timestamp: float) -> Snapshot:
    """Raises PayloadError for anything that does not add up."""
    try:
        seq, cpu, nr_targets, nr_stats, msg_len, shift = SNAP_HEAD.unpack_from(data, 0)
        pos = SNAP_HEAD.size
        entries = []
        for _ in range(nr_targets):
            entries.append(TARGET_ENTRY.unpack_from(data, pos))
            pos += TARGET_ENTRY.size
    except struct.error as e:
        raise PayloadError(f"snapshot head: {e}") from None
    total = sum(n for _, n in entries)
    view = memoryview(data)
    cols = []
    for code in ("Q", "Q", "I", "I"):
        width = array(code).itemsize
        cols.append(unshuffle(view[pos : pos + width * total], code, total))
        pos += width * total
    stats_raw = unshuffle(view[pos : pos + 8 * len(STAT_FIELDS) * nr_stats], "Q",
                          len(STAT_FIELDS) * nr_stats)  # fmt: skip
    pos += 8 * len(STAT_FIELDS) * nr_stats
    if pos + msg_len != len(data):
        raise PayloadError(f"snapshot payload is {len(data)} bytes, its fields say {pos + msg_len}")
    gaps, sizes, nr_acc, ages = cols
    if shift > 63:
        raise PayloadError(f"snapshot shift {shift} is above 63")
    if shift:
        gaps = array("Q", [(g << shift) & U64_MASK for g in gaps])
        sizes = array("Q", [(z << shift) & U64_MASK for z in sizes])
    targets = []
    first = 0
    for index, count in entries:
        if index >= len(meta.targets):
            raise PayloadError(f"target index {index} but the meta lists {len(meta.targets)}")
        g, s = gaps[first : first + count], sizes[first : first + count]
        pos_list = list(accumulate(chain.from_iterable(zip(g, s, strict=True))))
        if pos_list and max(pos_list) > U64_MASK:
            pos_list = [x & U64_MASK for x in pos_list]
        starts, ends = pos_list[0::2], pos_list[1::2]
        if count and (min(s) <= 0 or any(e <= b for b, e in zip(starts, ends, strict=True))):
            raise PayloadError("a region is empty or wraps around 2^64")
        targets.append(
            TargetSnapshot(
                meta.targets[index], array("Q", starts), array("Q", ends),
                nr_acc[first : first + count], ages[first : first + count],
            )
        )  # fmt: skip
        first += count
    stats = []
    for k in range(nr_stats):
        values = stats_raw[k * len(STAT_FIELDS) : (k + 1) * len(STAT_FIELDS)]
        kw: dict[str, Any] = dict(zip(STAT_FIELDS, values, strict=True))
        kw["active"] = bool(kw["active"])
        stats.append(SchemeStats(**kw))
    extras = _decode_extras(bytes(view[pos : pos + msg_len])) if msg_len else {}
    return Snapshot(
        seq=seq, timestamp=timestamp, elapsed_us=elapsed_us, attrs=meta.attrs,
        targets=tuple(targets), schemes=meta.schemes, scheme_stats=tuple(stats),
        cpu_percent=cpu if cpu == cpu else 0.0, **extras,
    )  # fmt: skip


# Optional Snapshot fields (present in builds with the DAMON_STAT backend), recorded
# as JSON and restored only where this build's Snapshot has them.
_SNAPSHOT_FIELDS = {f.name for f in fields(Snapshot)}


def _encode_extras(snap: Snapshot) -> bytes:
    doc: dict[str, Any] = {}
    if snap.messages:
        doc["messages"] = list(snap.messages)
    stat = getattr(snap, "damon_stat", None)
    if stat is not None:
        doc["damon_stat"] = asdict(stat)
    tuned = getattr(snap, "tuned", ())
    if tuned:
        doc["tuned"] = list(tuned)
    return json.dumps(doc, ensure_ascii=False).encode() if doc else b""


def _strings(value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(m, str) for m in value):
        raise PayloadError(f"snapshot {what}: not a list of strings")
    return tuple(value)


def _decode_extras(data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data.decode())
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise PayloadError(f"snapshot extras: {e}") from None
    if isinstance(doc, list):  # the first files: the messages alone
        doc = {"messages": doc}
    if not isinstance(doc, dict):
        raise PayloadError("snapshot extras: not a JSON object")
    out: dict[str, Any] = {}
    if "messages" in doc:
        out["messages"] = _strings(doc["messages"], "messages")
    if "tuned" in doc and "tuned" in _SNAPSHOT_FIELDS:
        out["tuned"] = _strings(doc["tuned"], "tuned")
    if "damon_stat" in doc and "damon_stat" in _SNAPSHOT_FIELDS:
        out["damon_stat"] = _damon_stat(doc["damon_stat"])
    return out


def _damon_stat(d: object) -> object:
    from ..model import damon_stat

    if not isinstance(d, dict):
        raise PayloadError("snapshot damon_stat: not a JSON object")
    tuples = {"idle_ms_percentiles", "bandwidth_history"}
    try:
        kw = {k: (tuple(tuple(x) if isinstance(x, list) else x for x in v) if k in tuples else v)
              for k, v in d.items()}  # fmt: skip
        return damon_stat.DamonStatSample(**kw)  # type: ignore[arg-type]
    except TypeError as e:
        raise PayloadError(f"snapshot damon_stat: {e}") from None


# --- meta ------------------------------------------------------------------------------


def target_to_dict(t: Target) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": t.kind.value}
    if t.pid is not None:
        out["pid"] = t.pid
    if t.name:
        out["name"] = t.name
    if t.ranges:
        out["ranges"] = [list(r) for r in t.ranges]
    return out


def target_from_dict(d: object) -> Target:
    if not isinstance(d, dict):
        raise PayloadError("meta.targets: an entry is not a table")
    try:
        kind = TargetKind(d.get("kind"))
    except ValueError:
        raise PayloadError(f"meta.targets: kind {d.get('kind')!r} is unknown") from None
    pid, name, ranges = d.get("pid"), d.get("name", ""), d.get("ranges", [])
    if pid is not None and (not isinstance(pid, int) or isinstance(pid, bool)):
        raise PayloadError("meta.targets: pid is not an integer")
    if not isinstance(name, str) or not isinstance(ranges, list):
        raise PayloadError("meta.targets: name or ranges of the wrong type")
    pairs = []
    for r in ranges:
        if not (isinstance(r, list) and len(r) == 2 and all(type(x) is int for x in r)):
            raise PayloadError("meta.targets: a range is not [start, end]")
        pairs.append((r[0], r[1]))
    return Target(kind, pid=pid, name=name, ranges=tuple(pairs))


def encode_meta(meta: Meta) -> bytes:
    from ..formats.toml_out import scheme_to_dict

    doc = {
        "format": "damontui-record",
        "info": asdict(meta.info),
        "attrs": _attrs_to(meta.attrs),
        "schemes": [scheme_to_dict(s) for s in meta.schemes],
        "targets": [target_to_dict(t) for t in meta.targets],
        "extra": meta.extra,
    }
    return json.dumps(doc, separators=(",", ":"), default=str).encode()


ATTR_FIELDS = ("sample_us", "aggr_us", "update_us", "min_nr_regions", "max_nr_regions")


def _attrs_to(attrs: MonitoringAttrs) -> dict[str, Any]:
    """The intervals and region bounds in force (what a snapshot's numbers mean).
    Probes and other settings are configuration, not results: not recorded."""
    out: dict[str, Any] = {name: getattr(attrs, name) for name in ATTR_FIELDS}
    out["intervals_goal"] = asdict(attrs.intervals_goal)
    return out


def _attrs_from(d: object) -> MonitoringAttrs:
    if not isinstance(d, dict):
        raise PayloadError("meta.attrs is not a table")
    values = {name: d.get(name, getattr(MonitoringAttrs(), name)) for name in ATTR_FIELDS}
    if not all(type(v) is int and v >= 0 for v in values.values()):
        raise PayloadError("meta.attrs: a value is not a non-negative integer")
    goal_raw = d.get("intervals_goal", {})
    if not isinstance(goal_raw, dict):
        raise PayloadError("meta.attrs.intervals_goal is not a table")
    try:
        goal = IntervalsGoal(**goal_raw)
    except TypeError as e:
        raise PayloadError(f"meta.attrs.intervals_goal: {e}") from None
    # Not validate(): a record keeps the intervals in force as the backend reported
    # them, e.g. DAMON_STAT's tuned aggregation interval that is no multiple of the
    # sampling interval, which the model would refuse as a setting.
    return MonitoringAttrs(**values, intervals_goal=goal)


def _info_from(d: object) -> BackendInfo:
    if not isinstance(d, dict):
        raise PayloadError("meta.info is not a table")
    backend, source = d.get("backend", "?"), d.get("source", "")
    kv, features, notes = d.get("kernel_version", ""), d.get("features", []), d.get("notes", [])
    if not all(isinstance(x, str) for x in (backend, source, kv)):
        raise PayloadError("meta.info: backend, source or kernel_version is not a string")
    for name, seq in (("features", features), ("notes", notes)):
        if not isinstance(seq, list) or not all(isinstance(x, str) for x in seq):
            raise PayloadError(f"meta.info.{name} is not a list of strings")
    return BackendInfo(backend, source, kv, tuple(features), tuple(notes),
                       readonly=bool(d.get("readonly", False)))  # fmt: skip


def decode_meta(data: bytes) -> tuple[Meta, list[str]]:
    """The meta and warnings (schemes this damontui can't load are dropped, said so)."""
    from ..model import ValidationError
    from ..model.serialize import scheme_from_dict

    try:
        doc = json.loads(data.decode())
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise PayloadError(f"meta is not JSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != "damontui-record":
        raise PayloadError("meta frame is not damontui's")
    attrs = _attrs_from(doc.get("attrs", {}))
    targets_raw = doc.get("targets", [])
    schemes_raw = doc.get("schemes", [])
    if not isinstance(targets_raw, list) or not isinstance(schemes_raw, list):
        raise PayloadError("meta: targets or schemes is not a list")
    warnings = []
    schemes = []
    for i, item in enumerate(schemes_raw):
        try:
            if not isinstance(item, dict):
                raise ValidationError(f"schemes[{i}]", item, "a table")
            schemes.append(scheme_from_dict(item, attrs, f"schemes[{i}]"))
        except (ValidationError, TypeError, ValueError, RecursionError) as e:
            warnings.append(f"recorded scheme {i} not loaded: {e}")
    extra = doc.get("extra", {})
    meta = Meta(
        info=_info_from(doc.get("info", {})), attrs=attrs, schemes=tuple(schemes),
        targets=tuple(target_from_dict(t) for t in targets_raw),
        extra=extra if isinstance(extra, dict) else {},
    )  # fmt: skip
    return meta, warnings
