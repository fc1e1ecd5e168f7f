"""Type stub for the compiled sampling loop built from ext/_sampler.pyx.

Keep in step with the ``def``s and ``cdef class``es there; the pure-Python twin
(damontui/backends/engine/sampler_py.py) has the same API and documents it.
"""

from array import array
from collections.abc import Sequence

from damontui.backends.engine.regionset import Regions

SAMPLER_API_VERSION: int
CONSTANTS: dict[str, int]

class StopFlag:
    def set(self) -> None: ...
    def clear(self) -> None: ...
    def is_set(self) -> bool: ...

class PageSampler:
    def __init__(
        self,
        mode: int,
        pagemap_fd: int,
        bitmap_fd: int,
        clear_refs_fd: int,
        kpageflags_fd: int,
        page_size: int,
    ) -> None: ...
    @property
    def mode(self) -> int: ...
    def counters(self) -> dict[str, int]: ...
    def set_mapped(self, ranges: Sequence[tuple[int, int]] | None) -> None: ...
    def set_pagemap_ttl(self, aggregations: int) -> None: ...
    def set_zero_pfn(self, pfn: int) -> None: ...
    def prepared_pfns(self) -> list[tuple[int, int]]: ...

def prepare(sampler: PageSampler, r: Regions, rng: array) -> tuple[int, int, int]: ...
def run(
    samplers: Sequence[PageSampler],
    regions: Sequence[Regions],
    rngs: Sequence[array],
    nr_samples: int,
    sample_ns: int,
    deadline_ns: int,
    stop: StopFlag,
    fresh: bool = False,
) -> tuple[int, list[tuple[int, int, int]], int, int, int]: ...
