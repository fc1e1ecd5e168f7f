"""Engine cost: compiled (Cython) kernels against the pure-Python twin.

Two measurements per implementation, each in its own subprocess (the kernels are
chosen at import; DAMONTUI_PURE_PYTHON=1 forces the twin):

* real time: EngineBackend on the synthetic workload at DAMON's default intervals
  (sample 5 ms, aggr 100 ms, regions 10..1000) for a few seconds; the engine
  thread's CPU time per second of monitoring (time.thread_time in the thread,
  reported per aggregation as Snapshot.cpu_percent) and the process's CPU
  (getrusage) as a cross-check;
* simulated time: Engine.run_for back to back with the region count pinned to 1k
  and 10k; sampling steps per wall second and region samples (checks) per second.

Usage: python bench/bench_engine.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def realtime(seconds: float) -> dict[str, float]:
    from damontui.backends.engine.backend import EngineBackend
    from damontui.model import MonitoringAttrs, Snapshot, Target, TargetKind

    attrs = MonitoringAttrs(
        sample_us=5_000, aggr_us=100_000, min_nr_regions=10, max_nr_regions=1_000
    )
    backend = EngineBackend([Target(TargetKind.SYNTHETIC, name="hotcold")], attrs=attrs)
    snaps: list[Snapshot] = []
    cpu0, wall0 = _cpu_s(), time.monotonic()
    backend.start(snaps.append, lambda message: print(message, file=sys.stderr))
    time.sleep(seconds)
    backend.stop()
    cpu, wall = _cpu_s() - cpu0, time.monotonic() - wall0
    backend.close()
    used = snaps[1:]  # the first aggregation includes thread start-up
    return {
        "thread_cpu_pct": sum(s.cpu_percent for s in used) / max(1, len(used)),
        "process_cpu_pct": 100.0 * cpu / wall,
        "regions": sum(s.nr_regions for s in used) / max(1, len(used)),
        "lag_ms": backend.lag_us / 1000,
        "monitored_s": snaps[-1].elapsed_us / 1e6 if snaps else 0.0,
    }


def simulated(nr_regions: int, budget_s: float = 1.5) -> dict[str, float]:
    from damontui.backends.engine.engine import Engine
    from damontui.backends.engine.sources.synthetic import SyntheticSource
    from damontui.model import MonitoringAttrs, Target, TargetKind

    attrs = MonitoringAttrs(
        sample_us=5_000, aggr_us=100_000, min_nr_regions=nr_regions, max_nr_regions=nr_regions
    )
    src = SyntheticSource("hotcold", seed=1, size=4 << 30)
    engine = Engine([(Target(TargetKind.SYNTHETIC), src)], attrs, seed=1)
    engine.run_for(attrs.aggr_us)  # warm up
    steps = checks = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < budget_s:
        n = engine.nr_regions
        engine.sample_step()
        steps += 1
        checks += n
    wall = time.perf_counter() - t0
    return {
        "steps_per_s": steps / wall,
        "samples_per_s": checks / wall,
        "regions": engine.nr_regions,
        "realtime_x": steps * attrs.sample_us / 1e6 / wall,
    }


def worker(seconds: float) -> dict[str, Any]:
    from damontui import kernels

    return {
        "impl": kernels.IMPL_NAME,
        "import_error": kernels.IMPORT_ERROR,
        "realtime": realtime(seconds),
        "sim_1k": simulated(1_000),
        "sim_10k": simulated(10_000),
    }


def run_worker(pure: bool, seconds: float) -> dict[str, Any]:
    env = dict(os.environ)
    env.pop("DAMONTUI_PURE_PYTHON", None)
    if pure:
        env["DAMONTUI_PURE_PYTHON"] = "1"
    out = subprocess.run(
        [sys.executable, __file__, "--worker", "--seconds", str(seconds)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="real-time run length")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.seconds)))
        return
    fast, slow = run_worker(False, args.seconds), run_worker(True, args.seconds)
    if fast["impl"] != "cython":
        print(f"warning: compiled kernels not loaded: {fast['import_error']}")
    # (label, group, key, format, higher is better)
    rows = [
        ("real time: engine thread CPU, % of one core", "realtime", "thread_cpu_pct", "{:.2f}", 0),
        ("real time: process CPU, % of one core", "realtime", "process_cpu_pct", "{:.2f}", 0),
        ("real time: mean regions", "realtime", "regions", "{:.0f}", None),
        ("simulated 1k regions: samples/s", "sim_1k", "samples_per_s", "{:,.0f}", 1),
        ("simulated 1k regions: x real time", "sim_1k", "realtime_x", "{:,.1f}", 1),
        ("simulated 10k regions: samples/s", "sim_10k", "samples_per_s", "{:,.0f}", 1),
        ("simulated 10k regions: x real time", "sim_10k", "realtime_x", "{:,.1f}", 1),
    ]
    print(
        f"engine bench: synthetic hotcold, sample 5 ms, aggr 100 ms, "
        f"{args.seconds:g} s real time per implementation"
    )
    print(f"{'metric':<46} {fast['impl']:>14} {slow['impl']:>14} {'cython gain':>12}")
    for label, group, key, fmt, higher in rows:
        a, b = fast[group][key], slow[group][key]
        gain = "" if higher is None or not (a and b) else f"{(a / b if higher else b / a):.1f}x"
        print(f"{label:<46} {fmt.format(a):>14} {fmt.format(b):>14} {gain:>12}")
    print(
        f"real-time lag (steps started late, total ms): cython {fast['realtime']['lag_ms']:.1f},"
        f" python {slow['realtime']['lag_ms']:.1f}"
    )


if __name__ == "__main__":
    main()
