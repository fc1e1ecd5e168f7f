"""Plain-text rendering of snapshots for batch mode (pipes, TERM=dumb).

No colours, no cursor movement: every function returns a string of lines.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from .model import (
    DEFAULT_WEIGHTS,
    Action,
    BackendInfo,
    Region,
    Snapshot,
    TemperatureWeights,
)
from .model.units import format_duration_us, format_size

RAMP = " .:-=+*#%@"
SORT_KEYS = ("address", "temperature", "access", "age", "size")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(header), *(line(r) for r in rows)])


def format_header(snapshot: Snapshot, info: BackendInfo) -> str:
    attrs = snapshot.attrs
    total = sum(t.total_size for t in snapshot.targets)
    mx = snapshot.max_nr_accesses
    hot = sum(
        t.ends[i] - t.starts[i]
        for t in snapshot.targets
        for i in range(len(t))
        if t.nr_accesses[i] * 2 > mx
    )
    lines = [
        f"damontui {info.backend}: {info.source}"
        + (f" [{', '.join(info.features)}]" if info.features else ""),
        f"time {format_duration_us(snapshot.elapsed_us)}  seq {snapshot.seq}  "
        f"sample {format_duration_us(attrs.sample_us)}  aggr {format_duration_us(attrs.aggr_us)}  "
        f"update {format_duration_us(attrs.update_us)}  regions {snapshot.nr_regions} "
        f"({attrs.min_nr_regions}..{attrs.max_nr_regions})  cpu {snapshot.cpu_percent:.1f} %",
        f"monitored {format_size(total)} in {len(snapshot.targets)} target(s): "
        + ", ".join(t.target.label for t in snapshot.targets)
        + f"  hot (>50 % access) {format_size(hot)}",
    ]
    lines += [f"note: {n}" for n in info.notes]
    lines += [f"! {m}" for m in snapshot.messages]
    return "\n".join(lines)


def format_region_table(
    snapshot: Snapshot,
    sort: str = "address",
    limit: int | None = None,
    weights: TemperatureWeights = DEFAULT_WEIGHTS,
) -> str:
    """One row per region; `sort` is one of SORT_KEYS (all but address: highest first)."""
    if sort not in SORT_KEYS:
        raise ValueError(f"sort must be one of {', '.join(SORT_KEYS)}, not {sort!r}")
    mx = snapshot.max_nr_accesses
    rows: list[tuple[int, Region]] = [
        (ti, t.region(i)) for ti, t in enumerate(snapshot.targets) for i in range(len(t))
    ]
    keys = {
        "temperature": lambda r: r.temperature(mx, weights),
        "access": lambda r: r.nr_accesses,
        "age": lambda r: r.age,
        "size": lambda r: r.size,
    }
    if sort != "address":
        rows.sort(key=lambda row: (-keys[sort](row[1]), row[0], row[1].start))
    if limit is not None:
        rows = rows[:limit]
    multi = len(snapshot.targets) > 1
    header = [
        "#",
        *(["target"] if multi else []),
        "start",
        "end",
        "size",
        "access",
        "nr_acc",
        "age",
        "temp",
    ]
    body = []
    for n, (ti, r) in enumerate(rows):
        body.append(
            [
                str(n),
                *([str(ti)] if multi else []),
                f"{r.start:#x}",
                f"{r.end:#x}",
                format_size(r.size),
                f"{r.access_rate(mx):.0f} %",
                str(r.nr_accesses),
                format_duration_us(r.age * snapshot.attrs.aggr_us),
                f"{r.temperature(mx, weights):.0f}",
            ]
        )
    right = set(range(len(header))) - {1 + multi, 2 + multi}
    return _table(header, body, right)


def _layout(history: Sequence[Snapshot]) -> list[tuple[int, int, int]]:
    """Monitored address segments (target, start, end) across the history, merged."""
    spans = sorted(
        (ti, t.starts[i], t.ends[i])
        for snap in history
        for ti, t in enumerate(snap.targets)
        for i in range(len(t))
    )
    merged: list[tuple[int, int, int]] = []
    for ti, s, e in spans:
        if merged and merged[-1][0] == ti and s <= merged[-1][2]:
            merged[-1] = (ti, merged[-1][1], max(e, merged[-1][2]))
        else:
            merged.append((ti, s, e))
    return merged


def _column(
    snaps: Sequence[Snapshot], layout: list[tuple[int, int, int]], bounds: list[int]
) -> list[float]:
    """Byte-weighted mean access rate (0..1) of each row bin over `snaps`."""
    height = len(bounds) - 1
    weighted, covered = [0.0] * height, [0] * height
    segs: dict[int, list[tuple[int, int, int]]] = {}  # target -> (start, end, offset)
    acc = 0
    for ti, ss, se in layout:
        segs.setdefault(ti, []).append((ss, se, acc))
        acc += se - ss
    seg_starts = {ti: [x[0] for x in v] for ti, v in segs.items()}
    for snap in snaps:
        mx = snap.max_nr_accesses
        for ti, t in enumerate(snap.targets):
            for i in range(len(t)):
                s, e, rate = t.starts[i], t.ends[i], min(1.0, t.nr_accesses[i] / mx)
                k = max(0, bisect_right(seg_starts[ti], s) - 1)
                for ss, se, off in segs[ti][k:]:
                    if ss >= e:
                        break
                    lo, hi = off + max(s, ss) - ss, off + min(e, se) - ss
                    row = max(0, bisect_right(bounds, lo) - 1)
                    while row < height and bounds[row] < hi:
                        o = min(hi, bounds[row + 1]) - max(lo, bounds[row])
                        if o > 0:
                            weighted[row] += o * rate
                            covered[row] += o
                        row += 1
    return [w / c if c else -1.0 for w, c in zip(weighted, covered, strict=True)]


def format_heatmap(history: Sequence[Snapshot], width: int = 72, height: int = 16) -> str:
    """Rows: equal slices of the monitored bytes (gaps skipped); columns: time.

    Characters go from ' ' (idle) to '@' (accessed in every sample); '?' marks a
    bin no snapshot of that column covered.
    """
    if not history or not any(s.targets for s in history):
        return "(no data)"
    layout = _layout(history)
    total = sum(e - s for _, s, e in layout)
    if not total:  # e.g. a view-only kdamond that exposes no tried regions
        return "(no regions to draw)"
    height = max(1, min(height, total // 4096))
    bounds = [total * k // height for k in range(height + 1)]
    width = max(1, min(width, len(history)))
    groups = [
        history[len(history) * c // width : len(history) * (c + 1) // width] for c in range(width)
    ]
    columns = [_column(g, layout, bounds) for g in groups]
    labels = []
    for row in range(height):
        off = bounds[row]
        for ti, s, e in layout:
            if off < e - s:
                labels.append(f"{ti}:{s + off:#x}" if len(layout) > 1 and ti else f"{s + off:#x}")
                break
            off -= e - s
    label_w = max(len(x) for x in labels)
    lines = []
    for row in range(height):
        cells = "".join(
            "?" if col[row] < 0 else RAMP[min(len(RAMP) - 1, round(col[row] * (len(RAMP) - 1)))]
            for col in columns
        )
        lines.append(f"{labels[row].rjust(label_w)} |{cells}|")
    first, last = history[0].elapsed_us, history[-1].elapsed_us
    lines.append(
        f"{'':>{label_w}}  {format_duration_us(first)} .. {format_duration_us(last)}"
        f"  ({len(history)} snapshots, ramp '{RAMP}' = 0..100 % access)"
    )
    return "\n".join(lines)


def format_scheme_stats(snapshot: Snapshot) -> str:
    if not snapshot.schemes:
        return "no schemes"
    header = [
        "#",
        "scheme",
        "action",
        "state",
        "tried",
        "tried bytes",
        "applied",
        "applied bytes",
        "ops passed",
        "qt_exceeds",
        "quota",
    ]
    body = []
    for n, (scheme, st) in enumerate(zip(snapshot.schemes, snapshot.scheme_stats, strict=False)):
        body.append(
            [
                str(n),
                scheme.label,
                Action(scheme.action).value,
                "active" if st.active else "inactive",
                str(st.nr_tried),
                format_size(st.sz_tried),
                str(st.nr_applied),
                format_size(st.sz_applied),
                format_size(st.sz_ops_filter_passed),
                str(st.qt_exceeds),
                format_size(st.effective_bytes) if st.effective_bytes else "-",
            ]
        )
    return _table(header, body, {0, *range(4, 11)})
