"""The regions table's rows: one snapshot's analysis sorted and filtered once, and
each row's cell texts (the widget, regions_view.RegionsTable, only draws them)."""

from __future__ import annotations

from dataclasses import dataclass

from ..analysis import RegionFilter, SnapshotAnalysis, access_rate, heat_fraction, sort_key
from ..model.units import format_duration_us, format_size


class RegionRows:
    """One snapshot's regions, sorted and filtered once, ready to render row by row."""

    def __init__(
        self,
        analysis: SnapshotAnalysis,
        sort_key_name: str = "temp",
        descending: bool | None = None,  # None: the column's natural order
        region_filter: RegionFilter | None = None,
    ) -> None:
        key = sort_key(sort_key_name)
        self.analysis = analysis
        self.arrays = arrays = analysis.arrays
        self.max_nr = analysis.max_nr_accesses
        self.aggr_us = analysis.snapshot.attrs.aggr_us
        self.multi_target = analysis.multi_target
        self.temps = analysis.temperatures
        self.temp_lo, self.temp_hi = analysis.temperature_range
        order = analysis.order(key, descending)
        self.order = analysis.filtered(order, region_filter or RegionFilter())
        self.matched = analysis.matched
        self.matched_count, self.matched_bytes = analysis.preview or (0, 0)
        self.addr_width = max(10, len(f"{max(arrays.ends, default=0):#x}"))
        # None: no such column.  The kernel counts only bytes passing ops filters, so
        # a scheme without any (damontui's own snapshot scheme) reads 0 everywhere
        passed = analysis.filter_passed
        self.filter_passed = passed if passed is not None and any(passed) else None

    def __len__(self) -> int:
        return len(self.order)

    @property
    def total(self) -> int:
        return len(self.arrays)

    def heat(self, index: int) -> float:
        """Temperature of region `index` normalised to 0..1 within this snapshot."""
        return heat_fraction(self.temps[index], self.temp_lo, self.temp_hi)

    def cells(self, row: int) -> dict[str, str]:
        """The text of each column for table row `row`."""
        i = self.order[row]
        a = self.arrays
        nr = a.nr_accesses[i]
        rate = access_rate(nr, self.max_nr)
        passed = self.filter_passed
        return {
            "passed": format_size(passed[i]) if passed is not None else "",
            "target": str(self.analysis.target_of(i)) if self.multi_target else "",
            "start": f"{a.starts[i]:#x}",
            "end": f"{a.ends[i]:#x}",
            "size": format_size(a.ends[i] - a.starts[i]),
            "access": f"{rate:3.0f}% {nr:>{len(str(self.max_nr))}}",
            "age": format_duration_us(a.ages[i] * self.aggr_us),
            "temp": format_temperature(self.temps[i]),
        }

    def is_matched(self, row: int) -> bool:
        return self.matched is not None and bool(self.matched[self.order[row]])


def format_temperature(value: float, width: int = 8) -> str:
    """A temperature in at most `width` characters: the whole number when it fits
    (damo's are large: age counts in microseconds), else 3 digits and k/M/G/T/P."""
    text = f"{value:.0f}"
    if len(text) <= width:
        return text
    magnitude = abs(value)
    for suffix, scale in (("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12), ("P", 1e15)):
        if magnitude < scale * 999.5 or suffix == "P":
            scaled = value / scale
            digits = 0 if abs(scaled) >= 99.5 else 1 if abs(scaled) >= 9.995 else 2
            return f"{scaled:.{digits}f}{suffix}"
    return text  # pragma: no cover - the loop always returns


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    width: int


def table_columns(rows: RegionRows | None) -> list[Column]:
    addr = rows.addr_width if rows else 14
    nr_width = len(str(rows.max_nr)) if rows else 2
    columns = [Column("mark", "", 1)]
    if rows is not None and rows.multi_target:
        columns.append(Column("target", "tgt", 3))
    return (
        columns
        + [
            Column("start", "start", addr),
            Column("end", "end", addr),
            Column("size", "size", 10),
            Column("access", "access", max(6, 5 + nr_width)),
            Column("age", "age", 9),
            Column("temp", "temp", 9),
        ]
        + (
            [Column("passed", "passed", 10)]
            if rows is not None and rows.filter_passed is not None
            else []
        )
    )
