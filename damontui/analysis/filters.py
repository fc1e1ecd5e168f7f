"""Which regions a view shows: address range, size, temperature and hot/cold."""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..model import RegionArrays
from ..model.units import U64_MAX, format_size

HeatOnly = Literal["all", "hot", "cold"]


@dataclass(frozen=True)
class RegionFilter:
    """Which regions the table shows; the default shows all."""

    addr_start: int = 0
    addr_end: int = U64_MAX
    min_size: int = 0
    min_temperature: float | None = None
    heat: HeatOnly = "all"  # hot: accessed in the last aggregation; cold: not

    @property
    def active(self) -> bool:
        return self != RegionFilter()

    def describe(self) -> str:
        parts = []
        if self.addr_start or self.addr_end != U64_MAX:
            parts.append(f"{self.addr_start:#x}-{self.addr_end:#x}")
        if self.min_size:
            parts.append(f">= {format_size(self.min_size)}")
        if self.min_temperature is not None:
            parts.append(f"temp >= {self.min_temperature:g}")
        if self.heat != "all":
            parts.append(f"{self.heat} only")
        return ", ".join(parts) or "none"


def filter_order(
    order: array, arrays: RegionArrays, temps: Sequence[float], f: RegionFilter
) -> array:
    """The indices of `order` (kept in that order) whose regions pass `f`."""
    if not f.active:
        return order
    a, lo, hi = arrays, f.addr_start, f.addr_end
    min_t = f.min_temperature if f.min_temperature is not None else float("-inf")
    keep = [
        e > lo and s < hi and e - s >= f.min_size and t >= min_t
        and (f.heat == "all" or (nr > 0) == (f.heat == "hot"))
        for s, e, nr, t in zip(a.starts, a.ends, a.nr_accesses, temps, strict=True)
    ]  # fmt: skip
    return array("I", (i for i in order if keep[i]))
