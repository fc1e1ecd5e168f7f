"""`damontui report FILE`: text (and JSON, and an SVG heatmap) from a record.

Styles follow damo's `report access` where they overlap (table, hot, cold,
recency-percentiles, idle-time-percentiles, temperature-percentiles,
cold-memory-tail) plus damo's `report wss` (wss) and `report heatmap`
(heatmap). Access-pattern styles describe the last snapshot in the
--since/--until window; wss and heatmap use every snapshot in it.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from .. import report as text
from ..model import BackendInfo, Snapshot, ValidationError
from ..model.units import format_duration_us, format_size, parse_duration_us
from . import stats
from .frames import RecordError

STYLES = (
    "summary", "table", "hot", "cold", "recency-percentiles", "idle-time-percentiles",
    "temperature-percentiles", "cold-memory-tail", "wss", "heatmap",
)  # fmt: skip
SORTS = text.SORT_KEYS
HOT_COLD_ROWS = 10


# --- loading ---------------------------------------------------------------------------


def load(path: Path) -> tuple[list[Snapshot], BackendInfo, list[str]]:
    """Snapshots, backend info and warnings of a damontui (or damo) record."""
    from .reader import RecordReader, is_record

    if not is_record(path) and path.exists():
        damo = _load_damo(path)
        if damo is not None:
            return damo
    with RecordReader(path) as reader:
        snaps = list(reader)
        info = reader.meta(0).info if len(reader) else BackendInfo("?", "")
        return snaps, info, list(reader.warnings)


def _load_damo(path: Path) -> tuple[list[Snapshot], BackendInfo, list[str]] | None:
    """damo's record files (json_compressed, json) through the damo interop reader
    (damontui.formats.damo_record), when this build has it; None otherwise."""
    try:
        from ..formats.damo_record import read_damo_record
    except ImportError:
        return None
    try:
        snaps = list(read_damo_record(path))
    except ValueError as e:  # DamoRecordError: names the file and the key path
        raise RecordError(
            str(path), 0, f"not a damontui record (no record magic), nor a damo record ({e})"
        ) from None
    return snaps, BackendInfo("damo record", str(path), readonly=True), []


def window(snaps: Sequence[Snapshot], since: str | None, until: str | None) -> list[Snapshot]:
    """Snapshots within [since, until], times relative to the first snapshot."""
    if not snaps:
        return []
    first = snaps[0].elapsed_us
    lo = _offset(since, "--since") if since else None
    hi = _offset(until, "--until") if until else None
    return [
        s
        for s in snaps
        if (lo is None or s.elapsed_us - first >= lo) and (hi is None or s.elapsed_us - first <= hi)
    ]


def _offset(value: str, flag: str) -> int:
    try:
        return int(float(value) * 1e6)  # bare numbers are seconds
    except ValueError:
        pass
    try:
        return parse_duration_us(value, flag)
    except ValidationError as e:
        raise ValidationError(flag, value, "a time from the record's start: 90, 30s, 5m, 1h") from e


# --- JSON ------------------------------------------------------------------------------


def to_json(snaps: Sequence[Snapshot], sort: str = "address") -> dict[str, Any]:
    """The machine form: {"snapshots": [{"regions": [{"start", "end", "nr_accesses",
    "age_us", "temperature", ...}], ...}]}, keys in that order."""
    out = []
    for snap in snaps:
        regions = []
        for ti, r in stats.sort_regions(snap, sort):
            regions.append(
                {
                    "start": r.start,
                    "end": r.end,
                    "nr_accesses": r.nr_accesses,
                    "age_us": stats.age_us(snap, r),
                    "temperature": stats.temperature(snap, r),
                    "size": r.size,
                    "access_rate": stats.access_rate(snap, r),
                    "age": r.age,
                    "target": ti,
                }
            )
        out.append(
            {
                "regions": regions,
                "seq": snap.seq,
                "elapsed_us": snap.elapsed_us,
                "timestamp": snap.timestamp,
                "sample_us": snap.attrs.sample_us,
                "aggr_us": snap.attrs.aggr_us,
                "targets": [t.target.label for t in snap.targets],
            }
        )
    return {"snapshots": out}


# --- text styles -----------------------------------------------------------------------


def _percentile_lines(title: str, pairs: list[tuple[int, float]], fmt: Any) -> str:
    if not pairs:
        return f"{title}: (no regions)"
    rows = [[f"p{p}", fmt(v)] for p, v in pairs]
    return title + "\n" + text._table(["percentile", "value"], rows, {0, 1})


def _signed_duration(us: float) -> str:
    return ("-" if us < 0 else "") + format_duration_us(abs(int(us)))


def format_style(style: str, snaps: Sequence[Snapshot], info: BackendInfo,
                 sort: str = "temperature", limit: int | None = None,
                 width: int = 72, height: int = 16) -> str:  # fmt: skip
    """One report style as text (see STYLES)."""
    if not snaps:
        return "(no snapshots in the selected time window)"
    last = snaps[-1]
    stat = getattr(last, "damon_stat", None)
    if stat is not None and not last.nr_regions:  # a DAMON_STAT record: no regions
        return _damon_stat_text(snaps, stat)
    when = (f"snapshot {last.seq} at {format_duration_us(last.elapsed_us - snaps[0].elapsed_us)}"
            f" (of {len(snaps)})")  # fmt: skip
    if style == "table":
        return f"regions, {when}\n" + text.format_region_table(last, sort=sort, limit=limit)
    if style in ("hot", "cold"):
        rows = stats.sort_regions(last, "temperature")
        if style == "cold":
            rows.reverse()
        title = "hottest" if style == "hot" else "coldest"
        return f"{title} regions, {when}\n" + _rows_table(last, rows[: limit or HOT_COLD_ROWS])
    if style == "recency-percentiles":
        pairs = stats.region_percentiles(last, stats.recency_us)
        return _percentile_lines(f"time since last access (byte-weighted), {when}", pairs,
                                 lambda v: format_duration_us(int(v)))  # fmt: skip
    if style == "idle-time-percentiles":
        pairs = stats.region_percentiles(last, stats.idle_time_us)
        return _percentile_lines(f"idle time (negative: accessed for that long), {when}", pairs,
                                 _signed_duration)  # fmt: skip
    if style == "temperature-percentiles":
        pairs = stats.region_percentiles(last, stats.temperature)
        return _percentile_lines(
            f"temperature (byte-weighted), {when}", pairs, lambda v: f"{v:.0f}"
        )
    if style == "cold-memory-tail":
        return _cold_tail(last, when)
    if style == "wss":
        return _wss(snaps)
    if style == "heatmap":
        return text.format_heatmap(snaps, width=width, height=height)
    if style == "summary":
        return "\n\n".join(
            [
                text.format_header(last, info),
                format_style("wss", snaps, info),
                format_style("idle-time-percentiles", snaps, info),
                format_style("hot", snaps, info, limit=limit or 5),
                format_style("cold", snaps, info, limit=limit or 5),
                format_style("heatmap", snaps, info, width=width, height=height),
            ]
        )
    raise ValidationError("--style", style, f"one of {', '.join(STYLES)}")


def _damon_stat_text(snaps: Sequence[Snapshot], stat: Any, width: int = 100) -> str:
    """DAMON_STAT's own outputs (whatever the style: they are all it has), in the
    same text as batch mode's, with the bandwidth over the whole window."""
    from ..damon_stat_text import format_bandwidth, format_report

    samples = [getattr(s, "damon_stat", None) for s in snaps]
    bandwidths = [b for x in samples if (b := getattr(x, "bandwidth_bps", None))]
    head = f"DAMON_STAT, {len(snaps)} samples"
    if bandwidths:
        head += (f"; estimated memory bandwidth max {format_bandwidth(max(bandwidths))}, "
                 f"last {format_bandwidth(bandwidths[-1])}")  # fmt: skip
    return head + "\n" + format_report(stat, width)


def _rows_table(snap: Snapshot, rows: list) -> str:
    body = [
        [f"{r.start:#x}", f"{r.end:#x}", format_size(r.size), f"{stats.access_rate(snap, r):.0f} %",
         format_duration_us(stats.age_us(snap, r)), f"{stats.temperature(snap, r):.0f}"]
        for _, r in rows
    ]  # fmt: skip
    return text._table(["start", "end", "size", "access", "age", "temp"], body, {2, 3, 4, 5})


def _cold_tail(snap: Snapshot, when: str) -> str:
    total = sum(t.total_size for t in snap.targets)
    tail = stats.cold_tail(snap)
    if not tail or not total:
        return f"cold memory tail, {when}: no idle memory"
    body = [[format_duration_us(t), format_size(b), f"{100 * b / total:.1f} %"] for t, b in tail]
    return f"cold memory tail (bytes idle at least this long), {when}\n" + text._table(
        ["idle >=", "bytes", "of monitored"], body, {0, 1, 2}
    )


def _wss(snaps: Sequence[Snapshot]) -> str:
    pairs = stats.wss_percentiles(snaps)
    sizes = [stats.wss_bytes(s) for s in snaps]
    head = (f"working set size (accessed bytes) over {len(snaps)} snapshots: "
            f"mean {format_size(sum(sizes) / len(sizes))}")  # fmt: skip
    return _percentile_lines(head, pairs, lambda v: format_size(int(v)))


# --- SVG heatmap -----------------------------------------------------------------------

HEAT = ["#1a1a2e", "#16213e", "#0f3460", "#3a3f8f", "#6a3d9a", "#a23b72", "#d1495b",
        "#ed7d3a", "#f4b942", "#fff275"]  # fmt: skip


def write_heatmap_svg(path: Path, snaps: Sequence[Snapshot], width: int, height: int,
                      title: str) -> None:  # fmt: skip
    """The text heatmap with a colour per access level, through Rich's own SVG export."""
    from rich.console import Console
    from rich.text import Text

    lines = text.format_heatmap(snaps, width=width, height=height).splitlines()
    console = Console(record=True, width=max(len(x) for x in lines) + 2, file=io.StringIO(),
                      color_system="truecolor", force_terminal=True)  # fmt: skip
    for line in lines:
        out = Text()
        start, end = line.find("|"), line.rfind("|")
        if start < 0 or end <= start:
            out.append(line)
        else:
            out.append(line[: start + 1])
            for ch in line[start + 1 : end]:
                level = text.RAMP.find(ch)
                out.append(" ", style=f"on {HEAT[level]}" if level >= 0 else "on #444444")
            out.append(line[end:])
        console.print(out, no_wrap=True, crop=False)
    try:
        console.save_svg(str(path), title=title)
    except OSError as e:
        raise RecordError(str(path), None, f"can't write the heatmap: {e.strerror or e}") from None


# --- command ---------------------------------------------------------------------------


class _Window(Sequence[Snapshot]):
    """Snapshots [lo, hi) of an open record, decoded only when touched: the table and
    percentile styles of an hour-long record decode two snapshots, not thousands."""

    def __init__(self, reader: Any, lo: int, hi: int) -> None:
        self.reader, self.lo, self.hi = reader, lo, hi

    def __len__(self) -> int:
        return self.hi - self.lo

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.reader.snapshot(self.lo + index)


def _record_window(reader: Any, since: str | None, until: str | None) -> _Window:
    times = reader.elapsed_us
    if not times:
        return _Window(reader, 0, 0)
    lo_us = _offset(since, "--since") if since else None
    hi_us = _offset(until, "--until") if until else None
    start = times[0]
    keep = [
        i
        for i, t in enumerate(times)
        if (lo_us is None or t - start >= lo_us) and (hi_us is None or t - start <= hi_us)
    ]
    return _Window(reader, keep[0], keep[-1] + 1) if keep else _Window(reader, 0, 0)


def run_report(args: argparse.Namespace, out: TextIO) -> int:
    from .reader import RecordSet, is_record, record_parts

    args.file = args.files[0]
    try:
        if all(is_record(p) for p in args.files):
            with RecordSet(record_parts(args.files)) as records:
                selected = _record_window(records, args.since, args.until)
                info = records.meta(0).info if len(records) else BackendInfo("?", "")
                return _report(args, out, selected, info, records.warnings)
        if len(args.files) > 1:
            raise ValidationError("FILE", args.files[1], "one damo record at a time")
        snaps, info, warnings = load(args.file)
        return _report(args, out, window(snaps, args.since, args.until), info, warnings)
    except ValidationError as e:
        print(f"damontui report: error: {e}", file=sys.stderr)
        return 2


def _report(args: argparse.Namespace, out: TextIO, selected: Sequence[Snapshot],
            info: BackendInfo, warnings: list[str]) -> int:  # fmt: skip
    for w in warnings:
        print(f"damontui report: warning: {w}", file=sys.stderr)
    if args.json:
        json.dump(to_json(selected, args.sort if args.sort else "address"), out)
        out.write("\n")
    else:
        body = format_style(args.style, selected, info, sort=args.sort or "temperature",
                            limit=args.limit, width=args.width, height=args.height)  # fmt: skip
        out.write(body + "\n")
    if args.heatmap is not None:
        if not selected:
            print("damontui report: no snapshots for --heatmap", file=sys.stderr)
            return 1
        write_heatmap_svg(args.heatmap, selected, args.width, args.height,
                          f"damontui heatmap: {args.file.name}")  # fmt: skip
        print(f"damontui report: heatmap written to {args.heatmap}", file=sys.stderr)
    return 0
