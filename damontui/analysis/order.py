"""The one sort vocabulary of regions: the TUI's columns, batch mode's --sort and
report's order all use these keys."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..model import RegionArrays


@dataclass(frozen=True)
class SortKey:
    name: str  # what --sort takes and the report prints
    column: str  # the regions table column it sorts (shown in the status line)
    descending: bool  # the natural direction: biggest, busiest, oldest, hottest first


SORTS = (
    SortKey("address", "start", False),
    SortKey("end", "end", False),
    SortKey("size", "size", True),
    SortKey("access", "access", True),
    SortKey("age", "age", True),
    SortKey("temperature", "temp", True),
)
SORT_KEYS = tuple(s.name for s in SORTS)
_BY_NAME = {s.name: s for s in SORTS} | {s.column: s for s in SORTS}


def sort_key(name: str) -> SortKey:
    """The SortKey called `name` (a key or its column name, e.g. 'temp')."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"sort key must be one of {', '.join(SORT_KEYS)}, not {name!r}") from None


def sorted_order(
    arrays: RegionArrays,
    key: SortKey,
    descending: bool,
    temperature_order: Callable[[bool], array],
) -> array:
    """Region indices in `key` order. Ties keep array order (targets one after the
    other, each in address order); 'address' is that order itself. Temperature
    comes from `temperature_order(descending)` (the analysis caches it)."""
    n = len(arrays)
    if key.name == "temperature":
        return temperature_order(descending)
    if key.name == "address":
        return array("I", range(n - 1, -1, -1) if descending else range(n))
    a = arrays
    column: Sequence[int] = {
        "end": a.ends,
        "size": [e - s for s, e in zip(a.starts, a.ends, strict=True)],
        "access": a.nr_accesses,
        "age": a.ages,
    }[key.name]
    return array("I", sorted(range(n), key=column.__getitem__, reverse=descending))
