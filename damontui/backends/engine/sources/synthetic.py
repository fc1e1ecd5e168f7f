"""A simulated address space with scripted access patterns and exact ground truth.

Useful everywhere (no kernel support needed) and for judging the engine: the
patterns say, at any simulated time, which blocks of the space are accessed with
which per-sample probability, so region estimates can be compared with the truth.

Patterns work on page offsets within the space ("logical" pages); the space itself
may be split into heap/mmap/stack-like segments with gaps, in which case logical
blocks are mapped onto the segments' addresses.
"""

from __future__ import annotations

import math
import random
from array import array
from bisect import bisect_right
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, ClassVar

from .... import kernels
from ....model.snapshot import SYNTHETIC_PATTERNS
from ..regionset import make_rng
from .base import AccessSource, ProbeResult

Block = tuple[int, int, float]  # (start, end exclusive, per-sample access probability)

DEFAULT_BASE = 0x7F0000000000
DEFAULT_SIZE = 1 << 30

PATTERNS = SYNTHETIC_PATTERNS  # the names live in the model (the UI lists them)


@dataclass(frozen=True)
class SyntheticWorkload:
    """The spec of a synthetic address space and its access pattern.

    Probabilities are per ``sample_us`` of simulated time: a page in a block with
    probability p is seen accessed in one sampling interval of that length with
    probability p.
    """

    pattern: str = "hotcold"
    seed: int = 0
    size: int = DEFAULT_SIZE
    base: int = DEFAULT_BASE
    page_size: int = 4096
    nr_hot: int = 3  # hot blocks (hotcold, phases)
    hot_prob: float = 0.9
    cold_prob: float = 0.0
    hot_fraction: float = 0.125  # of the space: hot blocks' total, or the window width
    step_us: int = 2_000_000  # window step (stairs, zigzag) or phase length (phases)
    nr_phases: int = 4
    sample_us: int = 5_000
    segments: int = 1  # 1: one contiguous range; 3: heap/mmap/stack-like with gaps

    def __post_init__(self) -> None:
        if self.pattern not in PATTERNS:
            raise ValueError(
                f"unknown synthetic pattern {self.pattern!r}; known: {', '.join(PATTERNS)}"
            )
        if self.size < self.page_size or self.size % self.page_size:
            raise ValueError(f"size {self.size} must be a positive multiple of page_size")
        if self.base % self.page_size:
            raise ValueError(f"base {self.base:#x} must be page aligned")
        if not 0.0 < self.hot_fraction <= 1.0:
            raise ValueError(f"hot_fraction {self.hot_fraction} must be in (0, 1]")
        for field in ("hot_prob", "cold_prob"):
            if not 0.0 <= getattr(self, field) <= 1.0:
                raise ValueError(f"{field} must be in [0, 1]")
        if self.nr_hot < 1 or self.nr_phases < 1 or self.step_us < 1 or self.sample_us < 1:
            raise ValueError("nr_hot, nr_phases, step_us and sample_us must be >= 1")
        if self.segments not in (1, 3):
            raise ValueError(f"segments must be 1 or 3, not {self.segments}")

    @property
    def nr_pages(self) -> int:
        return self.size // self.page_size

    def segment_ranges(self) -> list[tuple[int, int, int]]:
        """(address start, address end, first logical page) of each segment."""
        if self.segments == 1:
            return [(self.base, self.base + self.size, 0)]
        # heap-like 1/8, mmap-like 3/4, stack-like rest, separated by gaps much bigger
        # than the space so that a three-region layout finds them.
        n = self.nr_pages
        sizes = [max(1, n // 8), max(1, n * 3 // 4)]
        sizes.append(n - sum(sizes))
        gap = 4 * self.size
        out: list[tuple[int, int, int]] = []
        addr, page = self.base, 0
        for pages in sizes:
            if pages <= 0:
                continue
            out.append((addr, addr + pages * self.page_size, page))
            addr += pages * self.page_size + gap
            page += pages
        return out


class _Pattern:
    """Logical hot blocks (in pages) over time for one workload."""

    def __init__(self, w: SyntheticWorkload) -> None:
        self.w = w
        n = w.nr_pages
        self.width = max(1, round(n * w.hot_fraction))  # window width in pages
        self.nr_steps = math.ceil(n / self.width)
        self._static: list[tuple[int, int, float]] | None = None
        self._phases: list[list[tuple[int, int, float]]] = []
        if w.pattern == "hotcold":
            self._static = self._scatter(random.Random(w.seed))
        elif w.pattern == "phases":
            # Each phase has its own layout, all fixed by the seed.
            self._phases = [
                self._scatter(random.Random(w.seed * 1_000_003 + p)) for p in range(w.nr_phases)
            ]

    def _scatter(self, rnd: random.Random) -> list[tuple[int, int, float]]:
        """nr_hot non-overlapping blocks, one at a random spot in each of nr_hot slots."""
        w, n = self.w, self.w.nr_pages
        nr = min(w.nr_hot, n)
        block = max(1, round(n * w.hot_fraction / nr))
        slot = n // nr
        block = min(block, slot)
        # Distinct probabilities (hot_prob down to 0.8 of it, so the default 0.9
        # stays well clear of the 0.5 "hot" threshold at 20 samples per aggregation),
        # in a seeded order, so the blocks are distinguishable in tests and on screen.
        probs = [w.hot_prob * (1.0 - 0.2 * i / max(1, nr - 1)) for i in range(nr)]
        rnd.shuffle(probs)
        out = []
        for i in range(nr):
            lo = i * slot + rnd.randrange(slot - block + 1)
            out.append((lo, lo + block, probs[i]))
        return out

    def period_us(self) -> int:
        """The time between two possible changes of the layout; 0 when static."""
        return 0 if self.w.pattern == "hotcold" else self.w.step_us

    def hot_at(self, t_us: int) -> list[tuple[int, int, float]]:
        w = self.w
        if self._static is not None:
            return self._static
        step = max(0, t_us) // w.step_us
        if w.pattern == "phases":
            return self._phases[step % w.nr_phases]
        if w.pattern == "stairs" or self.nr_steps == 1:
            idx = step % self.nr_steps
        else:  # zigzag: 0, 1, ..., n-1, n-2, ..., 1, 0, 1, ...
            period = 2 * (self.nr_steps - 1)
            j = step % period
            idx = j if j < self.nr_steps else period - j
        lo = idx * self.width
        return [(lo, min(lo + self.width, w.nr_pages), w.hot_prob)]


class SyntheticSource(AccessSource):
    """Access source over a simulated address space (see module docstring)."""

    name: ClassVar[str] = "synthetic"
    granularity: ClassVar[str] = "exact"
    sees: ClassVar[str] = "reads+writes"
    description: ClassVar[str] = (
        "simulated address space with scripted hot/cold patterns and exact ground truth"
    )

    def __init__(
        self,
        pattern: str = "hotcold",
        seed: int = 0,
        size: int = DEFAULT_SIZE,
        nr_hot: int = 3,
        base: int = DEFAULT_BASE,
        segments: int = 1,
        step_us: int = 2_000_000,
        sample_us: int = 5_000,
        workload: SyntheticWorkload | None = None,
    ) -> None:
        self.workload = workload or SyntheticWorkload(
            pattern=pattern,
            seed=seed,
            size=size,
            nr_hot=nr_hot,
            base=base,
            segments=segments,
            step_us=step_us,
            sample_us=sample_us,
        )
        self._pattern = _Pattern(self.workload)
        self._segments = self.workload.segment_ranges()
        self._seg_starts = [s[2] for s in self._segments]
        self.now_us = 0
        self._prepared_at = 0
        self._rng = make_rng(self.workload.seed)

    @classmethod
    def probe(cls, **kwargs: Any) -> ProbeResult:
        return ProbeResult(True, "")

    @staticmethod
    def pattern_names() -> list[str]:
        return list(PATTERNS)

    # --- ground truth ----------------------------------------------------------------

    def _to_addr(self, lo: int, hi: int, prob: float, out: list[Block]) -> None:
        """Append the address blocks of logical pages [lo, hi), split at segments."""
        ps = self.workload.page_size
        i = bisect_right(self._seg_starts, lo) - 1
        while lo < hi and i < len(self._segments):
            start, end, first = self._segments[i]
            seg_pages = (end - start) // ps
            cut = min(hi, first + seg_pages)
            if cut > lo:
                out.append((start + (lo - first) * ps, start + (cut - first) * ps, prob))
            lo = cut
            i += 1

    def blocks_at(self, t_us: int) -> list[Block]:
        """All blocks covering the space at time ``t_us``, sorted, with probabilities."""
        w = self.workload
        out: list[Block] = []
        pos = 0
        for lo, hi, prob in sorted(self._pattern.hot_at(t_us)):
            if lo > pos:
                self._to_addr(pos, lo, w.cold_prob, out)
            self._to_addr(lo, hi, prob, out)
            pos = hi
        if pos < w.nr_pages:
            self._to_addr(pos, w.nr_pages, w.cold_prob, out)
        return out

    def hot_ranges(self, t_us: int, threshold: float = 0.5) -> list[tuple[int, int]]:
        """Merged address ranges whose per-sample probability is >= threshold."""
        out: list[tuple[int, int]] = []
        for start, end, prob in self.blocks_at(t_us):
            if prob < threshold:
                continue
            if out and out[-1][1] == start:
                out[-1] = (out[-1][0], end)
            else:
                out.append((start, end))
        return out

    def _window_blocks(self, t0: int, t1: int) -> list[Block]:
        """Blocks with the chance of at least one access during [t0, t1).

        Over k sampling intervals a page with per-sample probability p is accessed
        at least once with 1-(1-p)^k; when the layout changes inside the window the
        miss chances of the pieces multiply.
        """
        sample = self.workload.sample_us
        period = self._pattern.period_us()
        if period == 0 or t0 // period == (t1 - 1) // period:
            k = (t1 - t0) / sample
            return [(s, e, 1.0 - (1.0 - p) ** k) for s, e, p in self.blocks_at(t0)]
        pieces: list[tuple[list[Block], float]] = []
        t = t0
        while t < t1:
            nxt = min(t1, (t // period + 1) * period)
            pieces.append((self.blocks_at(t), (nxt - t) / sample))
            t = nxt
        bounds = sorted({b for blocks, _ in pieces for s, e, _ in blocks for b in (s, e)})
        out: list[Block] = []
        for start, end in pairwise(bounds):
            miss = 1.0
            for blocks, k in pieces:
                i = bisect_right(blocks, (start, math.inf, math.inf)) - 1
                if i >= 0 and blocks[i][0] <= start < blocks[i][1]:
                    miss *= (1.0 - blocks[i][2]) ** k
            if out and out[-1][1] == start and out[-1][2] == 1.0 - miss:
                out[-1] = (out[-1][0], end, out[-1][2])
            else:
                out.append((start, end, 1.0 - miss))
        return out

    # --- AccessSource ----------------------------------------------------------------

    def target_ranges(self) -> list[tuple[int, int]]:
        return [(s, e) for s, e, _ in self._segments]

    def prepare(self, addrs: array) -> None:
        self._prepared_at = self.now_us

    def check(self, addrs: array) -> bytearray:
        if not len(addrs):
            return bytearray()
        if self.now_us <= self._prepared_at:
            return bytearray(len(addrs))  # no simulated time passed: nothing happened
        blocks = self._window_blocks(self._prepared_at, self.now_us)
        return kernels.synthetic_check(
            addrs,
            array("Q", [b[0] for b in blocks]),
            array("Q", [b[1] for b in blocks]),
            array("d", [b[2] for b in blocks]),
            self._rng,
        )

    def advance(self, elapsed_us: int) -> None:
        self.now_us += elapsed_us

    def describe(self) -> str:
        w = self.workload
        return (
            f"synthetic (exact, reads+writes) {w.pattern} seed {w.seed}, "
            f"{w.size / (1 << 20):.0f} MiB at {w.base:#x}"
        )
