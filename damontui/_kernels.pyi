"""Type stub for the compiled kernels built from ext/_kernels.pyx.

Keep in step with the ``def`` functions there; their pure-Python twin
(damontui/kernels/kernels_py.py) has the same signatures and documents the semantics.
"""

from array import array

from damontui.backends.engine.regionset import Regions
from damontui.kernels.kernels_py import BytesLike, RegionsView

KERNELS_API_VERSION: int

def synthetic_check(
    addrs: array, block_starts: array, block_ends: array, block_prob: array, rng: array
) -> bytearray: ...
def pick_samples(r: Regions, rng: array, page_size: int) -> None: ...
def apply_checks(r: Regions, accessed: BytesLike) -> int: ...
def merge(r: Regions, threshold: int, sz_limit: int, age_regions: bool = True) -> None: ...
def merge_to_limit(
    r: Regions, threshold: int, sz_limit: int, max_nr_regions: int, max_threshold: int
) -> None: ...
def reset_aggregated(r: Regions) -> None: ...
def split(r: Regions, nr_subs: int, min_region_sz: int, rng: array) -> None: ...
def temperatures(
    r: RegionsView,
    sample_us: int,
    aggr_us: int,
    sz_weight: float,
    ar_weight: float,
    age_weight: float,
) -> array: ...
def temperature_order(
    r: RegionsView,
    sample_us: int,
    aggr_us: int,
    sz_weight: float,
    ar_weight: float,
    age_weight: float,
    descending: bool = True,
) -> array: ...
def match_pattern(
    r: RegionsView,
    min_sz: int,
    max_sz: int,
    min_nr: int,
    max_nr: int,
    min_age: int,
    max_age: int,
) -> bytearray: ...
def coalesce(sorted_indices: array, max_gap: int) -> list[tuple[int, int]]: ...
def read_pagemap(fd: int, addrs: array, page_size: int, max_gap: int = 64) -> array: ...
def idle_bitmap_get(fd: int, pfns: array, max_gap: int = 64) -> bytearray: ...
def idle_bitmap_set(fd: int, pfns: array) -> None: ...
def smaps_region_accesses(data: BytesLike, starts: array, ends: array, max_nr: int) -> array: ...
def read_to_end(fd: int, buf: bytearray, offset: int) -> int: ...
