"""CPU of the engine on the smaps source for a 1 GiB Python process, at the defaults.

Run: python bench/bench_smaps_budget.py [--seconds S] [--size MiB] [--hot MiB]
         [--budget PCT | --no-budget]

A child Python process maps SIZE MiB (default 1024), touches all of it once, then
keeps touching the first HOT MiB (default 128). damontui's engine monitors it with
``--source smaps`` exactly as the command line opens it (select.py: the smaps default
intervals, the CPU budget, default 2 %), in real time for S seconds (default 20, the
first aggregation's warm-up excluded). Printed: the engine thread's CPU in percent of
one core (its own CPU clock, not Python's start-up), the smaps reads and clear_refs
writes per second, the attrs in force at the end and the budget's status line, and
the share of the hot area the last snapshot reports accessed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CHILD = textwrap.dedent(
    """
    import ctypes, mmap, sys
    size, hot = int(sys.argv[1]) << 20, int(sys.argv[2]) << 20
    m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    for off in range(0, size, 4096):
        m[off] = 1
    print(ctypes.addressof(ctypes.c_char.from_buffer(m)), flush=True)
    while True:
        for off in range(0, hot, 4096):
            m[off] = 2
    """
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--size", type=int, default=1024, help="MiB mapped and touched once")
    ap.add_argument("--hot", type=int, default=128, help="MiB touched all the time")
    ap.add_argument("--budget", type=float, default=2.0, help="percent of one core")
    ap.add_argument("--no-budget", action="store_true")
    args = ap.parse_args()

    from damontui.backends.engine.sources import smaps as smaps_mod
    from damontui.backends.select import BackendRequest, open_backend
    from damontui.model import Target, TargetKind

    counts = {"smaps": 0, "clear_refs": 0}
    read, clear = smaps_mod.SmapsSource._read, smaps_mod.write_clear_refs

    def counted_read(self):  # type: ignore[no-untyped-def]
        counts["smaps"] += 1
        return read(self)

    def counted_clear(*a):  # type: ignore[no-untyped-def]
        counts["clear_refs"] += 1
        return clear(*a)

    smaps_mod.SmapsSource._read = counted_read  # type: ignore[method-assign]
    smaps_mod.write_clear_refs = counted_clear  # type: ignore[assignment]

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(args.size), str(args.hot)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        hot = int(child.stdout.readline())
        request = BackendRequest(
            backend="engine",
            target=Target(TargetKind.PID, pid=child.pid),
            source="smaps",
            cpu_budget=None if args.no_budget else args.budget,
        )
        backend = open_backend(request)
        cpu: dict[str, float] = {}
        snaps = []

        def on_snapshot(snap):  # type: ignore[no-untyped-def]
            snaps.append(snap)
            if len(snaps) == 1:  # warm-up done: start the clocks
                cpu["t0"], cpu["w0"] = time.thread_time(), time.monotonic()
                cpu["n0"], cpu["c0"] = counts["smaps"], counts["clear_refs"]
            cpu["t1"], cpu["w1"] = time.thread_time(), time.monotonic()
            cpu["n1"], cpu["c1"] = counts["smaps"], counts["clear_refs"]

        backend.start(on_snapshot, lambda m: print("engine:", m, file=sys.stderr))
        time.sleep(args.seconds)
        backend.stop()
        attrs, status = backend.attrs(), backend.info.features[-1]
        backend.close()
    finally:
        child.kill()
        child.wait()
    if len(snaps) < 2:
        print(f"only {len(snaps)} snapshots in {args.seconds} s: nothing to measure")
        return 1
    wall = cpu["w1"] - cpu["w0"]
    use = 100.0 * (cpu["t1"] - cpu["t0"]) / wall
    last = snaps[-1].targets[0]
    hot_end = hot + (args.hot << 20)
    acc = tot = 0
    for s, e, n in zip(last.starts, last.ends, last.nr_accesses, strict=True):
        lo, hi = max(s, hot), min(e, hot_end)
        if hi > lo:
            acc += (hi - lo) * n
            tot += hi - lo
    max_nr = snaps[-1].attrs.max_nr_accesses
    import damontui

    print(f"damontui from {Path(damontui.__file__).parent}")
    print(f"{args.size} MiB process, {args.hot} MiB hot; {len(snaps)} snapshots")
    print(f"attrs at the end: sample {attrs.sample_us} us, aggr {attrs.aggr_us} us, "
          f"regions {attrs.min_nr_regions}..{attrs.max_nr_regions}")  # fmt: skip
    print(f"budget: {status}")
    print(f"smaps reads {(cpu['n1'] - cpu['n0']) / wall:.2f}/s, "
          f"clear_refs writes {(cpu['c1'] - cpu['c0']) / wall:.2f}/s")  # fmt: skip
    print(f"hot area accessed: {100 * acc / max(tot, 1) / max_nr:.0f} % (last snapshot)")
    print(f"engine thread CPU {use:.2f} % of a core over {wall:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
