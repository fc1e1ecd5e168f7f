"""Plain-text rendering of snapshots for batch mode (pipes, TERM=dumb).

No colours, no cursor movement: every function returns a string of lines. The
numbers come from the analysis layer, as in the TUI: the same temperatures, sort
order and heatmap bins.
"""

from __future__ import annotations

from collections.abc import Sequence

from .analysis import (
    NO_DATA,
    RAMP,
    SORT_KEYS,
    AddressLayout,
    HeatmapModel,
    HeatmapSettings,
    SnapshotAnalysis,
    access_rate,
    filter_passed_missing,
    mean_columns,
    ramp_char,
    row_bins,
    sort_key,
)
from .model import DEFAULT_WEIGHTS, Action, BackendInfo, Snapshot, TemperatureWeights
from .model.units import format_duration_us, format_size

__all__ = [
    "RAMP",
    "SORT_KEYS",
    "format_header",
    "format_heatmap",
    "format_region_table",
    "format_scheme_stats",
    "heatmap_grid",
]

_ADDRESS = HeatmapSettings()  # batch mode draws address order, unzoomed
_PASSED = HeatmapSettings(overlay="filter_passed")


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
    """One row per region; `sort` is one of SORT_KEYS (in its natural direction:
    address ascending, the others highest first)."""
    if sort not in SORT_KEYS:
        raise ValueError(f"sort must be one of {', '.join(SORT_KEYS)}, not {sort!r}")
    analysis = SnapshotAnalysis(snapshot, weights)
    order = list(analysis.order(sort_key(sort)))
    if limit is not None:
        order = order[:limit]
    a, temps = analysis.arrays, analysis.temperatures
    mx = analysis.max_nr_accesses
    multi = analysis.multi_target
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
    for n, i in enumerate(order):
        nr = a.nr_accesses[i]
        body.append(
            [
                str(n),
                *([str(analysis.target_of(i))] if multi else []),
                f"{a.starts[i]:#x}",
                f"{a.ends[i]:#x}",
                format_size(a.ends[i] - a.starts[i]),
                f"{access_rate(nr, mx):.0f} %",
                str(nr),
                format_duration_us(a.ages[i] * snapshot.attrs.aggr_us),
                f"{temps[i]:.0f}",
            ]
        )
    right = set(range(len(header))) - {1 + multi, 2 + multi}
    return _table(header, body, right)


def heatmap_grid(
    history: Sequence[Snapshot], width: int, height: int, overlay: str = "access"
) -> tuple[AddressLayout, list[tuple[int, int]], list[list[float]]] | None:
    """The text heatmap's binning (analysis/heatmap.py, as the TUI's address order):
    the layout over the whole history, the row bins, and per column (the history
    split into `width` equal groups) each row's access fraction (the filter-passed
    share with overlay="filter_passed") or NO_DATA."""
    settings = _PASSED if overlay == "filter_passed" else _ADDRESS
    layout = AddressLayout.from_snapshots(history)
    if not layout.total:
        return None
    height = max(1, min(height, layout.total // 4096))
    width = max(1, min(width, len(history)))
    bins = row_bins(layout.total, height)
    model = HeatmapModel()
    groups = [
        history[len(history) * c // width : len(history) * (c + 1) // width] for c in range(width)
    ]
    columns = []
    for group in groups:
        column = mean_columns([model.cached(s, layout, height, settings) for s in group])
        columns.append(column if column is not None else [NO_DATA] * height)
    return layout, bins, columns


def format_heatmap(
    history: Sequence[Snapshot], width: int = 72, height: int = 16, overlay: str = "access"
) -> str:
    """Rows: equal slices of the monitored bytes (gaps skipped); columns: time.

    Characters go from ' ' (idle) to '@' (accessed in every sample); '?' marks a
    bin no snapshot of that column covered.  Where regions report bytes that passed
    the scheme's filters (sz_filter_passed), the access heatmap is followed by the
    filter-passed one (the TUI's `f` overlay).
    """
    if not history or not any(s.targets for s in history):
        return "(no data)"
    grid = heatmap_grid(history, width, height, overlay)
    if grid is None:  # e.g. a view-only kdamond that exposes no tried regions
        return "(no regions to draw)"
    layout, bins, columns = grid
    labels = [layout.label(lo) for lo, _ in bins]
    label_w = max(len(x) for x in labels)
    lines = []
    for row, label in enumerate(labels):
        cells = "".join("?" if col[row] < 0 else ramp_char(col[row]) for col in columns)
        lines.append(f"{label.rjust(label_w)} |{cells}|")
    first, last = history[0].elapsed_us, history[-1].elapsed_us
    lines.append(
        f"{'':>{label_w}}  {format_duration_us(first)} .. {format_duration_us(last)}"
        f"  ({len(history)} snapshots, ramp '{RAMP}' = 0..100 % "
        + ("of bytes passed the filters)" if overlay == "filter_passed" else "access)")
    )
    if overlay == "access" and filter_passed_missing(history) is None:
        passed = format_heatmap(history, width, height, "filter_passed")
        lines += ["", "filter-passed share (sz_filter_passed per region):", passed]
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
