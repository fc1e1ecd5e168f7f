"""Record format size and speed, measured in one run.

A 1-hour record at 1 s snapshots of 1,000 regions: snapshots are synthesised
the way DAMON evolves them (regions split and merge a little every
aggregation, ages grow while the access count holds and reset when it moves,
a hot and a cold population), then written through the real RecordWriter.

Prints: file size, the recorder's CPU per snapshot and as a share of one core
at one snapshot per second, the time to open the file and to seek to (and
decode) random snapshots, and the same snapshots in damo's json_compressed
form for comparison. Targets: <= 20 MiB, <= 1 % of a core, seek < 100 ms.

    python bench/bench_record.py [--seconds 3600] [--regions 1000]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import zlib
from array import array
from pathlib import Path

from damontui.model import (
    BackendInfo,
    MonitoringAttrs,
    Snapshot,
    Target,
    TargetKind,
    TargetSnapshot,
)
from damontui.record import RecordReader, RecordWriter

PAGE = 4096
ATTRS = MonitoringAttrs(sample_us=50_000, aggr_us=1_000_000)  # 1 s snapshots
INFO = BackendInfo("kernel", "paddr", "6.18")


def synthesise(seconds: int, nr_regions: int, seed: int = 1):  # type: ignore[no-untyped-def]
    """Yield DAMON-like snapshots: bounds that drift by merge/split, ages and accesses."""
    rng = random.Random(seed)
    base = 0x100000000
    span = 64 << 30  # 64 GiB of physical memory
    cuts = sorted(rng.sample(range(1, span // PAGE), nr_regions - 1))
    bounds = [base, *(base + c * PAGE for c in cuts), base + span]
    hot = [rng.random() < 0.2 for _ in range(nr_regions)]
    nr = [rng.randint(5, 20) if h else 0 for h in hot]
    age = [rng.randint(0, 300) for _ in range(nr_regions)]
    mx = ATTRS.max_nr_accesses
    target = Target(TargetKind.PADDR)
    for t in range(seconds):
        # ~3 % of the boundaries move (a merge followed by a split elsewhere)
        for _ in range(nr_regions // 32):
            i = rng.randrange(1, nr_regions)
            lo, hi = bounds[i - 1] // PAGE + 1, bounds[i + 1] // PAGE - 1
            if lo < hi:
                bounds[i] = rng.randint(lo, hi) * PAGE
        for i in range(nr_regions):
            if rng.random() < 0.1:  # the access count moves: age resets
                if rng.random() < 0.02:
                    hot[i] = not hot[i]
                new = min(mx, max(0, nr[i] + rng.randint(-3, 3))) if hot[i] else 0
                if new != nr[i]:
                    nr[i], age[i] = new, 0
                    continue
            age[i] += 1
        ts = TargetSnapshot(
            target,
            array("Q", bounds[:-1]),
            array("Q", bounds[1:]),
            array("I", nr),
            array("I", age),
        )
        yield Snapshot(
            seq=t, timestamp=1.8e9 + t, elapsed_us=t * 1_000_000, attrs=ATTRS, targets=(ts,)
        )


def damo_json_compressed(snaps: list[Snapshot]) -> bytes:
    """damo-shaped record JSON (kdamond/context/scheme/snapshot tree, ns times, the
    regions' start/end/nr_accesses/age) zlib-compressed like json_compressed."""
    records = [
        {
            "kdamond_idx": 0,
            "context_idx": 0,
            "scheme_idx": 0,
            "intervals": {
                "sample_us": ATTRS.sample_us,
                "aggr_us": ATTRS.aggr_us,
                "ops_update_us": ATTRS.update_us,
            },  # fmt: skip
            "snapshots": [
                {
                    "start_time": s.elapsed_us * 1000,
                    "end_time": (s.elapsed_us + ATTRS.aggr_us) * 1000,
                    "regions": [
                        {
                            "start": t.starts[i],
                            "end": t.ends[i],
                            "nr_accesses": {"samples": t.nr_accesses[i]},
                            "age": {"aggr_intervals": t.ages[i]},
                        }
                        for t in s.targets
                        for i in range(len(t))
                    ],
                    "total_bytes": sum(t.total_size for t in s.targets),
                }
                for s in snaps
            ],
        }
    ]
    return zlib.compress(json.dumps(records, indent=None).encode())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=3600)
    parser.add_argument("--regions", type=int, default=1000)
    parser.add_argument("--no-damo", action="store_true", help="skip the damo comparison")
    args = parser.parse_args()
    snaps = list(synthesise(args.seconds, args.regions))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.dtrec"
        cpu0, wall0 = time.process_time(), time.perf_counter()
        with RecordWriter(path) as writer:
            for s in snaps:
                writer.write(s, INFO)
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - wall0
        size = path.stat().st_size
        per_snap_ms = cpu / len(snaps) * 1e3
        core_share = cpu / args.seconds * 100  # one snapshot per simulated second

        t0 = time.perf_counter()
        reader = RecordReader(path)
        open_ms = (time.perf_counter() - t0) * 1e3
        rng = random.Random(7)
        seeks = []
        for _ in range(50):
            t0 = time.perf_counter()
            target = rng.randrange(args.seconds) * 1_000_000
            snap = reader.snapshot(reader.index_at(target))
            seeks.append((time.perf_counter() - t0) * 1e3)
            assert snap.elapsed_us <= target
        t0 = time.perf_counter()
        RecordReader(path).snapshot(len(snaps) // 2)
        cold_ms = (time.perf_counter() - t0) * 1e3
        reader.close()
    mib = size / (1 << 20)
    print(f"snapshots: {len(snaps)} x {args.regions} regions ({args.seconds} s at 1 s)")
    print(
        f"damontui record: {mib:.2f} MiB ({size / len(snaps):.0f} B/snapshot)  target <= 20 MiB"
        f"  {'OK' if mib <= 20 else 'OVER'}"
    )
    print(
        f"recorder CPU: {per_snap_ms:.2f} ms/snapshot = {core_share:.3f} % of a core at 1/s"
        f"  target <= 1 %  {'OK' if core_share <= 1 else 'OVER'}  (wall {wall:.1f} s)"
    )
    seeks.sort()
    print(
        f"open (header scan): {open_ms:.1f} ms; seek+decode: median {seeks[len(seeks) // 2]:.2f}"
        f" ms, max {seeks[-1]:.2f} ms; cold open+seek {cold_ms:.1f} ms  target < 100 ms"
        f"  {'OK' if open_ms + seeks[-1] < 100 and cold_ms < 100 else 'OVER'}"
    )
    if not args.no_damo:
        damo_size, dcpu, how = damo_compressed_size(snaps)
        print(
            f"damo json_compressed ({how}): {damo_size / (1 << 20):.2f} MiB, {dcpu:.1f} s CPU "
            f"to write; damontui's is {damo_size / size:.1f}x smaller"
        )


def damo_compressed_size(snaps: list[Snapshot]) -> tuple[int, float, str]:
    """Size of the same snapshots in damo's json_compressed: through the damo interop
    writer (damontui.formats.damo_record, whose output damo 3.4.3 reads) when the
    build has it, else damo-shaped JSON through zlib (said so)."""
    try:
        from damontui.formats.damo_record import write_damo_record  # type: ignore[import-not-found]
    except ImportError:
        t0 = time.process_time()
        data = damo_json_compressed(snaps)
        return (
            len(data),
            time.process_time() - t0,
            "damo-shaped JSON through zlib, not damo's writer",
        )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "damon.data"
        t0 = time.process_time()
        write_damo_record(out, snaps, "json_compressed")
        return out.stat().st_size, time.process_time() - t0, "damontui.formats.damo_record"


if __name__ == "__main__":
    main()
