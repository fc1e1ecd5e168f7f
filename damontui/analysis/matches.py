"""What a scheme's access pattern matches: per-region flags and the preview totals."""

from __future__ import annotations

from itertools import compress

from .. import kernels
from ..model import AccessPattern, RegionArrays


def match_flags(arrays: RegionArrays, pattern: AccessPattern) -> bytearray:
    """1 per region (in array order) whose size, nr_accesses and age are all within
    the pattern's inclusive ranges (what DAMOS would act on)."""
    return kernels.match_pattern(
        arrays,
        pattern.sz.min,
        pattern.sz.max,
        pattern.nr_accesses.min,
        pattern.nr_accesses.max,
        pattern.age.min,
        pattern.age.max,
    )


def matched_totals(arrays: RegionArrays, matched: bytes | bytearray) -> tuple[int, int]:
    """(count, bytes) of the regions flagged in `matched`."""
    count = matched.count(1)
    if not count:
        return 0, 0
    return count, sum(compress(arrays.ends, matched)) - sum(compress(arrays.starts, matched))
