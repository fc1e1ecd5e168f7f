"""Render cost of the regions table and heatmap with 10,000 regions, and the app's
CPU use at 10 refreshes per second (changing data) versus idle.

    python bench/bench_render.py [--regions 10000] [--seconds 5]

Frame times: rebuilding the table rows for a new snapshot (sort + filter), then
rendering every visible line (what one refresh costs), headless at 160x50. CPU:
a feeder thread posts a new snapshot every 100 ms exactly like the engine thread
(App.post_message) while the app refreshes at 0.1 s; then no data at all.
CPU% is time.process_time() over wall time for the whole process (the feeder's
share is negligible: its snapshots are built before measuring).
Targets: 10 refreshes/s under 25% of one core; idle under 2%.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import threading
import time
from array import array
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_backend import FakeBackend  # noqa: E402

from damontui.analysis import SnapshotAnalysis  # noqa: E402
from damontui.model import MonitoringAttrs, Snapshot, Target, TargetKind, TargetSnapshot  # noqa: E402
from damontui.tui.app import DamonApp  # noqa: E402

SIZE = (160, 50)
ATTRS = MonitoringAttrs(min_nr_regions=10, max_nr_regions=20_000)
TARGET = Target(TargetKind.SYNTHETIC, name="bench")


def make_snapshots(count: int, nr_regions: int, seed: int = 1) -> list[Snapshot]:
    """`count` snapshots of `nr_regions` regions over 4 GiB; a hot band drifts."""
    rng = random.Random(seed)
    page = 4096
    bounds = sorted(rng.sample(range(1, (1 << 32) // page), nr_regions - 1))
    starts = array("Q", [0x7F0000000000 + b * page for b in [0, *bounds]])
    ends = array("Q", [*starts[1:], 0x7F0000000000 + (1 << 32)])
    snaps = []
    for seq in range(1, count + 1):
        band = (seq * nr_regions // 50) % nr_regions
        nr = array("I", (20 if abs(i - band) < nr_regions // 20 else rng.choice((0, 0, 0, 3))
                         for i in range(nr_regions)))  # fmt: skip
        ages = array("I", (0 if n else rng.randrange(600) for n in nr))
        ts = TargetSnapshot(TARGET, starts, ends, nr, ages)
        snaps.append(Snapshot(seq, float(seq), seq * ATTRS.aggr_us, ATTRS, (ts,)))
    return snaps


def render_visible(widget, height: int) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for y in range(height):
        widget.render_line(y)
    return time.perf_counter() - start


async def frame_times(snaps: list[Snapshot]) -> dict[str, float]:
    app = DamonApp(FakeBackend(), refresh_s=0.0, autostart=False)
    results: dict[str, list[float]] = {"rows": [], "table": [], "heatmap": [], "app": []}
    async with app.run_test(size=SIZE) as pilot:
        table, heatmap = app.regions, app.heatmap
        for snap in snaps[:40]:
            t0 = time.perf_counter()  # the analysis (sort, temperatures) is part of it
            table.show(snap, SnapshotAnalysis(snap, app.weights), app.history.frame())
            results["rows"].append(time.perf_counter() - t0)
            results["table"].append(render_visible(table, table.size.height))
            app.history.append(snap)
        await pilot.press("2")
        for snap in snaps[40:]:
            app.history.append(snap)
            analysis = SnapshotAnalysis(snap, app.weights)
            heatmap.show(snap, analysis, app.history.frame())  # one new column, all lines
            results["heatmap"].append(render_visible(heatmap, heatmap.size.height))
        for view in ("1", "2"):  # the whole app path: message, render, compositor
            await pilot.press(view)
            for snap in snaps[:20]:
                cpu = time.process_time()
                app.ingest(snap)
                await pilot.pause()
                results["app"].append(time.process_time() - cpu)
    return {k: statistics.median(v) * 1000 for k, v in results.items()}


async def cpu_percent(snaps: list[Snapshot], seconds: float, view: str) -> tuple[float, float]:
    """(busy %, idle %) of one core for the whole process."""
    app = DamonApp(FakeBackend(), refresh_s=0.1, autostart=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(view)
        stop = threading.Event()

        def feed() -> None:  # the engine thread's path: post_message every 100 ms
            k = 0
            next_at = time.monotonic()
            while not stop.is_set():
                app.post_message(_ready(snaps[k % len(snaps)], k))
                k += 1
                next_at += 0.1
                stop.wait(max(0.0, next_at - time.monotonic()))

        feeder = threading.Thread(target=feed, daemon=True)
        await asyncio.sleep(0.5)
        feeder.start()
        busy = await _measure(seconds)
        stop.set()
        feeder.join()
        await asyncio.sleep(0.5)
        idle = await _measure(seconds)
        await pilot.pause()
    return busy, idle


def _ready(snap: Snapshot, k: int):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from damontui.tui.messages import SnapshotReady

    return SnapshotReady(replace(snap, seq=10_000 + k))


async def _measure(seconds: float) -> float:
    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    return 100.0 * (time.process_time() - cpu) / (time.monotonic() - wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    snaps = make_snapshots(100, args.regions)
    times = asyncio.run(frame_times(snaps))
    print(f"{args.regions} regions, {SIZE[0]}x{SIZE[1]}, median milliseconds:")
    print(f"  table rows rebuild (sort+filter) {times['rows']:7.2f}")
    print(f"  table visible lines render       {times['table']:7.2f}")
    print(f"  heatmap frame (new column+lines) {times['heatmap']:7.2f}")
    print(f"  whole app, snapshot to screen    {times['app']:7.2f}  (CPU ms, incl. compositor)")
    for key, view in (("1", "regions"), ("2", "heatmap")):
        busy, idle = asyncio.run(cpu_percent(snaps, args.seconds, key))
        print(
            f"  CPU {view:8} 10 refreshes/s: {busy:5.1f}% (target < 25)   "
            f"idle: {idle:4.1f}% (target < 2)"
        )


if __name__ == "__main__":
    main()
