"""damo's record files (`damo record`'s damon.data) <-> damontui's Snapshots.

A damo record file is a JSON list with one object per monitoring target:
``{"kdamond_idx", "context_idx", "intervals", "scheme_idx", "target_id",
"scheme_filters", "snapshots": [...], "data_source"}``; each snapshot has ``start_time``
and ``end_time`` in nanoseconds, ``total_bytes`` and ``regions`` whose ``start``/``end``
are numbers with ',' separators, ``nr_accesses`` ``{"samples", "percent"}`` and ``age``
``{"usec", "aggr_intervals"}`` (either member may be null).  ``json_compressed`` is the
same text compressed with zlib (no gzip header); ``json`` is it uncompressed.  The facts
come from files damo 3.4.3 writes (tests/damo/test_damo_record.py checks both ways).

API for the record/replay side:
    write_damo_record(path, snapshots, fmt="json_compressed")
    read_damo_record(path) -> list[Snapshot]
"""

from __future__ import annotations

import json
import os
import zlib
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from damontui.formats import damo_values as dv
from damontui.formats.damo_values import DamoJsonError
from damontui.model import (
    IntervalsGoal,
    MonitoringAttrs,
    Snapshot,
    Target,
    TargetKind,
    TargetSnapshot,
)
from damontui.model.units import U32_MAX

FORMATS = ("json_compressed", "json")
PID_MAX = 1 << 22  # target ids below this (and above 0) are taken as pids


class DamoRecordError(DamoJsonError):
    """A damo record file that can't be read; names the file and the key path."""


# --------------------------------------------------------------------------- writing


def _record_target_id(target: Target, index: int) -> int:
    return target.pid if target.kind is TargetKind.PID and target.pid else index


def _record(target_id: int, attrs: MonitoringAttrs) -> dict[str, Any]:
    g = attrs.intervals_goal if attrs.intervals_goal.enabled else IntervalsGoal(0, 0, 0, 0)
    return {
        "kdamond_idx": 0, "context_idx": 0,
        "intervals": {
            "sample_us": str(attrs.sample_us), "aggr_us": str(attrs.aggr_us),
            "ops_update_us": str(attrs.update_us),
            "intervals_goal": {"access_bp": f"{g.access_bp:f}", "aggrs": str(g.aggrs),
                               "min_sample_us": str(g.min_sample_us),
                               "max_sample_us": str(g.max_sample_us)},
        },
        "scheme_idx": None, "target_id": target_id,
        "scheme_filters": [], "snapshots": [], "data_source": "unknown",
    }  # fmt: skip


def records_of(snapshots: Sequence[Snapshot]) -> list[dict[str, Any]]:
    """damo's record list for snapshots: one record per target (in order of appearance)
    holding that target's snapshots; a target that comes or goes has fewer."""
    if not snapshots:
        return []
    first = snapshots[0].attrs
    records: dict[Target, dict[str, Any]] = {}
    for snap in snapshots:
        end_ns = snap.elapsed_us * 1_000
        start_ns = max(0, end_ns - snap.attrs.aggr_us * 1_000)
        tuned = snap.attrs.sample_us != first.sample_us
        for ts in snap.targets:
            if ts.target not in records:
                records[ts.target] = _record(_record_target_id(ts.target, len(records)), first)
            regions = [
                {
                    "start": dv.fmt_nr(s),
                    "end": dv.fmt_nr(e),
                    "nr_accesses": {"samples": n, "percent": None},
                    "age": {"usec": None, "aggr_intervals": dv.fmt_nr(a)},
                    "probe_hits": [],
                    "sz_filter_passed": "0 B",
                }
                for s, e, n, a in zip(ts.starts, ts.ends, ts.nr_accesses, ts.ages, strict=True)
            ]
            records[ts.target]["snapshots"].append({
                "start_time": str(start_ns), "end_time": str(end_ns), "regions": regions,
                "total_bytes": str(ts.total_size), "damos_stats": None,
                "sample_interval_us": str(snap.attrs.sample_us) if tuned else None,
            })  # fmt: skip
    return list(records.values())


def write_damo_record(path: str | os.PathLike[str], snapshots: Sequence[Snapshot],
                      fmt: str = "json_compressed") -> None:  # fmt: skip
    """Write snapshots as a damo record file that `damo report` reads."""
    if fmt not in FORMATS:
        raise ValueError(f"damo record format {fmt!r}: one of {', '.join(FORMATS)}")
    text = json.dumps(records_of(snapshots), indent=4).encode()
    Path(path).write_bytes(zlib.compress(text) if fmt == "json_compressed" else text)


# --------------------------------------------------------------------------- reading


def _obj(v: Any, path: str) -> dict:
    if not isinstance(v, dict):
        raise DamoRecordError(path, f"expected an object, got {type(v).__name__}")
    return v


def _lst(v: Any, path: str) -> list:
    if not isinstance(v, list):
        raise DamoRecordError(path, f"expected a list, got {type(v).__name__}")
    return v


def _attrs(record: dict, path: str) -> MonitoringAttrs:
    iv = record.get("intervals")
    if iv is None:
        return MonitoringAttrs()
    iv = _obj(iv, f"{path}.intervals")
    p = f"{path}.intervals"
    return MonitoringAttrs(
        dv.parse_us(iv.get("sample_us", "5ms"), f"{p}.sample_us"),
        dv.parse_us(iv.get("aggr_us", "100ms"), f"{p}.aggr_us"),
        dv.parse_us(iv.get("ops_update_us", "1s"), f"{p}.ops_update_us"),
    )


def _region(r: Any, path: str, attrs: MonitoringAttrs) -> tuple[int, int, int, int]:
    r = _obj(r, path)
    start, end = dv.size(r.get("start"), f"{path}.start"), dv.size(r.get("end"), f"{path}.end")
    if end <= start:
        raise DamoRecordError(path, f"end ({end}) must be above start ({start})")
    nr = _obj(r.get("nr_accesses", {}), f"{path}.nr_accesses")
    if nr.get("samples") is not None:
        samples = dv.parse_int(nr["samples"], f"{path}.nr_accesses.samples", U32_MAX)
    else:
        pct = dv.number(nr.get("percent", 0), f"{path}.nr_accesses.percent")
        samples = dv.to_int(pct * attrs.max_nr_accesses / 100, path, U32_MAX)
    age = _obj(r.get("age", {}), f"{path}.age")
    if age.get("aggr_intervals") is not None:
        aggrs = dv.parse_int(age["aggr_intervals"], f"{path}.age.aggr_intervals", U32_MAX)
    else:
        usec = dv.parse_us(age.get("usec", 0), f"{path}.age.usec")
        aggrs = min(U32_MAX, usec // max(1, attrs.aggr_us))
    return start, end, samples, aggrs


def snapshots_of(records: Any, name: str = "") -> list[Snapshot]:
    """damo's record list -> Snapshots (the targets' snapshots that end together)."""
    recs = _lst(records, "$")
    targets, series, attrs = [], [], None
    starts: list[int] = []
    for i, rec in enumerate(recs):
        path = f"[{i}]"
        rec = _obj(rec, path)
        rec_attrs = _attrs(rec, path)
        attrs = attrs or rec_attrs
        tid = rec.get("target_id")
        tid = dv.parse_int(tid, f"{path}.target_id") if tid is not None else i
        targets.append(Target(TargetKind.PID, pid=tid, name=name) if 0 < tid < PID_MAX
                       else Target(TargetKind.PADDR))  # fmt: skip
        snaps = []
        for j, s in enumerate(_lst(rec.get("snapshots", []), f"{path}.snapshots")):
            sp = f"{path}.snapshots[{j}]"
            s = _obj(s, sp)
            snap_attrs = rec_attrs
            if s.get("sample_interval_us") is not None:
                tuned = dv.parse_us(s["sample_interval_us"], f"{sp}.sample_interval_us")
                snap_attrs = rec_attrs.with_sample_us(max(1, tuned))
            regions = [
                _region(r, f"{sp}.regions[{k}]", snap_attrs)
                for k, r in enumerate(_lst(s.get("regions", []), f"{sp}.regions"))
            ]
            end_ns = dv.to_int(dv.time_ns(s.get("end_time", 0), f"{sp}.end_time"), sp)
            start_ns = dv.to_int(dv.time_ns(s.get("start_time", 0), f"{sp}.start_time"), sp)
            starts.append(start_ns)
            snaps.append((end_ns, snap_attrs, regions))
        series.append(snaps)
    if not series:
        return []
    t0 = min(starts, default=0)  # monitoring time counts from the first snapshot's start
    by_time: dict[int, list[tuple[Target, MonitoringAttrs, list]]] = {}
    for target, snaps in zip(targets, series, strict=True):
        for end_ns, snap_attrs, regs in snaps:
            by_time.setdefault(end_ns, []).append((target, snap_attrs, regs))
    out = []
    for seq, end_ns in enumerate(sorted(by_time)):
        present = by_time[end_ns]
        out.append(Snapshot(
            seq=seq, timestamp=end_ns / 1e9, elapsed_us=(end_ns - t0) // 1_000,
            attrs=present[0][1] or attrs or MonitoringAttrs(),
            targets=tuple(TargetSnapshot(
                t, array("Q", (r[0] for r in regs)), array("Q", (r[1] for r in regs)),
                array("I", (r[2] for r in regs)), array("I", (r[3] for r in regs)))
                for t, _, regs in present),
        ))  # fmt: skip
    return out


def read_damo_record(path: str | os.PathLike[str]) -> list[Snapshot]:
    """Read a damo record file (json_compressed or json) into Snapshots."""
    name = os.fspath(path)
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise DamoRecordError("$", f"cannot read: {e.strerror or e}", name) from None
    if data[:1] not in (b"[", b"{", b" ", b"\n", b"\t", b"\r"):
        try:
            data = zlib.decompress(data)
        except zlib.error as e:
            raise DamoRecordError("$", f"neither JSON nor zlib-compressed JSON ({e})",
                                  name) from None  # fmt: skip
    try:
        records = json.loads(data.decode("utf-8"))
        return snapshots_of(records)
    except UnicodeDecodeError as e:
        raise DamoRecordError("$", f"not UTF-8 text (byte {e.start})", name) from None
    except json.JSONDecodeError as e:
        raise DamoRecordError("$", f"not JSON: {e}", name) from None
    except DamoJsonError as e:
        raise DamoRecordError(e.path, e.message, name) from None
    except RecursionError:
        raise DamoRecordError("$", "nested too deeply", name) from None
