"""Benchmark the compiled kernels against the pure-Python twin.

Run from the repository root: ``python bench/bench_kernels.py``. For 1k, 10k and 100k
regions it times (median of several runs, time.perf_counter):

* one aggregation step: merge + reset_aggregated + split;
* one sampling pass: pick_samples + apply_checks;
* temperature_order (the snapshot view's sort);

and checks the targets: aggregation >= 30x faster compiled, and < 1 ms for 10k regions.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from array import array
from collections.abc import Callable
from types import ModuleType

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from damontui.backends.engine.regionset import Regions, make_rng  # noqa: E402
from damontui.kernels import kernels_py  # noqa: E402

PAGE = 4096
SIZES = (1_000, 10_000, 100_000)
MAX_NR_ACCESSES = 20  # aggregation / sampling interval, as with DAMON's defaults
SAMPLE_US = 5_000
THRESHOLD = 2  # 10% of MAX_NR_ACCESSES, like damo's merge threshold
NR_SUBS = 2
TARGET_RATIO = 30.0
TARGET_10K_MS = 1.0


def make_regions(n: int, seed: int) -> Regions:
    """n page-aligned regions over three ranges, with clustered access counts."""
    rnd = random.Random(seed)
    span = n * 64 * PAGE
    ranges = [(0, span // 2), (span, span + span // 4), (4 * span, 4 * span + span // 4)]
    r = Regions.from_ranges(ranges, n, PAGE)
    level = 0
    for i in range(len(r)):
        if rnd.random() < 0.3:  # hot and cold stretches, so some neighbours merge
            level = rnd.randrange(MAX_NR_ACCESSES + 1)
        r.nr_accesses[i] = level
        r.last_nr_accesses[i] = max(0, level + rnd.randrange(-3, 4))
        r.age[i] = rnd.randrange(50)
    return r


def median_ms(
    setup: Callable[[], tuple[object, ...]], run: Callable[..., object], repeats: int
) -> float:
    """Median wall time of ``run(*setup())``; ``setup`` is not timed."""
    times = []
    for _ in range(repeats):
        args = setup()
        t0 = time.perf_counter()
        run(*args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def aggregation(k: ModuleType, r: Regions, sz_limit: int, rng: array) -> None:
    k.merge(r, THRESHOLD, sz_limit)
    k.reset_aggregated(r)
    k.split(r, NR_SUBS, PAGE, rng)


def sampling(k: ModuleType, r: Regions, rng: array, accessed: bytes) -> None:
    k.pick_samples(r, rng, PAGE)
    k.apply_checks(r, accessed)


def ordering(k: ModuleType, r: Regions) -> None:
    k.temperature_order(r, SAMPLE_US, SAMPLE_US * MAX_NR_ACCESSES, 0.0, 100.0, 100.0)


def bench_size(k: ModuleType, n: int, repeats: int) -> dict[str, float]:
    base = make_regions(n, seed=n)
    sz_limit = base.total_size() // 10  # DAMON: total / min_nr_regions
    accessed = bytes(random.Random(1).getrandbits(1) for _ in range(len(base)))
    live = base.copy()  # the sampling pass and the sort may reuse one region set
    return {
        "aggregation": median_ms(
            lambda: (k, base.copy(), sz_limit, make_rng(7)), aggregation, repeats
        ),
        "sampling": median_ms(lambda: (k, live, make_rng(7), accessed), sampling, repeats),
        "temperature_order": median_ms(lambda: (k, live), ordering, repeats),
    }


def python_repeats(n: int) -> int:
    return {1_000: 15, 10_000: 5}.get(n, 3)


def main() -> int:
    try:
        from damontui import _kernels as compiled
    except ImportError as exc:
        print(
            f"damontui._kernels is not built ({exc}); run "
            "'python setup.py build_ext --inplace' first"
        )
        return 1
    rows = []
    for n in SIZES:
        cy = bench_size(compiled, n, repeats=51 if n < 100_000 else 21)
        py = bench_size(kernels_py, n, repeats=python_repeats(n))
        rows += [(name, n, cy[name], py[name]) for name in cy]

    print(f"{'kernel':<20}{'regions':>9}{'cython ms':>12}{'python ms':>12}{'ratio':>9}")
    print("-" * 62)
    for name, n, cy_ms, py_ms in sorted(rows, key=lambda row: (row[0], row[1])):
        print(f"{name:<20}{n:>9,}{cy_ms:>12.4f}{py_ms:>12.3f}{py_ms / cy_ms:>8.0f}x")

    agg = {n: (cy_ms, py_ms) for name, n, cy_ms, py_ms in rows if name == "aggregation"}
    worst_ratio = min(py_ms / cy_ms for cy_ms, py_ms in agg.values())
    ok_ratio = worst_ratio >= TARGET_RATIO
    ok_10k = agg[10_000][0] < TARGET_10K_MS
    print()
    print(
        f"target: aggregation ratio >= {TARGET_RATIO:.0f}x: worst {worst_ratio:.0f}x "
        f"-> {'PASS' if ok_ratio else 'FAIL'}"
    )
    print(
        f"target: aggregation at 10k regions < {TARGET_10K_MS} ms: "
        f"{agg[10_000][0]:.4f} ms -> {'PASS' if ok_10k else 'FAIL'}"
    )
    return 0 if ok_ratio and ok_10k else 2


if __name__ == "__main__":
    sys.exit(main())
