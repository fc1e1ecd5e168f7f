"""Access checks per second of the engine's access sources (one prepare+check per address).

Run: python bench/bench_sources.py [--seconds S]. Measures with the kernels the loader
picks (Cython when built), then re-runs itself with DAMONTUI_PURE_PYTHON=1 for the
pure-Python twin. Real-process sources run against a child with ~50 VMAs that keeps
touching its memory.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from array import array
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

warnings.simplefilter("ignore", RuntimeWarning)  # the loader warns when Cython is missing

from damontui import kernels  # noqa: E402
from damontui.backends.engine.sources import (  # noqa: E402
    AccessSource,
    PageIdleSource,
    SmapsSource,
    SoftDirtySource,
    SyntheticSource,
)

NR_VMAS = 50
VMA_SIZE = 1 << 20
CHILD = textwrap.dedent(
    """
    import ctypes, mmap, sys
    n, size = int(sys.argv[1]), int(sys.argv[2])
    # Shared anonymous mappings never merge, so each is its own VMA.
    maps = [mmap.mmap(-1, size) for _ in range(n)]
    print(" ".join(str(ctypes.addressof(ctypes.c_char.from_buffer(m))) for m in maps),
          flush=True)
    while True:
        for i, m in enumerate(maps):
            if i % 2 == 0 or i % 7 == 0:  # some hot, some cold
                for off in range(0, size, 4096):
                    m[off] = 1
    """
)


def rate(src: AccessSource, addrs: array, seconds: float, advance_us: int = 0) -> float:
    """prepare+check rounds over ``addrs`` for ``seconds``; returns addresses per second."""
    rounds = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        src.prepare(addrs)
        if advance_us:
            src.advance(advance_us)
        src.check(addrs)
        rounds += 1
        now = time.perf_counter()
        if now >= deadline:
            return rounds * len(addrs) / (now - start)


def report(label: str, fn: Callable[[], float]) -> None:
    try:
        value = fn()
    except Exception as e:  # noqa: BLE001 - a bench line must not stop the others
        print(f"  {label:<52} skipped: {e}")
        return
    print(f"  {label:<52} {value / 1e3:10.1f} k checks/s", flush=True)


def bench(seconds: float) -> None:
    print(f"kernels: {kernels.IMPL_NAME}", flush=True)
    rnd = random.Random(0)
    synth = SyntheticSource(pattern="stairs", seed=1)
    lo, hi = synth.target_ranges()[0]
    for n in (1_000, 10_000):
        addrs = array("Q", [lo + rnd.randrange((hi - lo) // 4096) * 4096 for _ in range(n)])
        report(f"synthetic, batch {n}", lambda a=addrs: rate(synth, a, seconds, 5_000))

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(NR_VMAS), str(VMA_SIZE)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        bases = [int(x) for x in child.stdout.readline().split()]
        addrs = array(
            "Q", [rnd.choice(bases) + rnd.randrange(VMA_SIZE // 4096) * 4096 for _ in range(1000)]
        )
        smaps = SmapsSource(child.pid)
        nr_vmas = len(smaps.vmas())
        report(f"smaps, {nr_vmas} VMAs, batch 1000", lambda: rate(smaps, addrs, seconds))
        # Soft-dirty bits stay 0 on kernels without CONFIG_MEM_SOFT_DIRTY, but the
        # cost (clear_refs 4 + batched pagemap reads) is the same.
        report(
            "softdirty, batch 1000 (cost only)",
            lambda: rate(SoftDirtySource(child.pid), addrs, seconds),
        )
        report("pageidle, batch 1000", lambda: rate(PageIdleSource(child.pid), addrs, seconds))
        report(
            "pageidle, batch 1000 (bitmap emulated by a tmp file)",
            lambda: pageidle_on_file(child.pid, addrs, seconds),
        )
    finally:
        child.kill()
        child.wait()


def pageidle_on_file(pid: int, addrs: array, seconds: float) -> float:
    """Real pagemap translation, idle bitmap replaced by a sparse file covering RAM."""
    with tempfile.NamedTemporaryFile(prefix="page_idle_") as f:
        f.truncate((64 << 30) // 4096 // 8)  # enough bits for 64 GiB of PFNs
        with PageIdleSource(pid, page_idle_path=f.name) as src:
            return rate(src, addrs, seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    ap.add_argument("--no-pure", action="store_true", help="skip the pure-Python re-run")
    args = ap.parse_args()
    bench(args.seconds)
    if not args.no_pure and kernels.IMPL_NAME != "python":
        env = dict(os.environ, DAMONTUI_PURE_PYTHON="1")
        cmd = [sys.executable, __file__, "--seconds", str(args.seconds), "--no-pure"]
        subprocess.run(cmd, env=env, check=True)


if __name__ == "__main__":
    main()
