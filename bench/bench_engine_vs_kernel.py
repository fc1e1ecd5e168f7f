"""damontui's engine (pageidle) against the kernel's own vaddr DAMON, in one guest boot.

Run (host, root): python bench/bench_engine_vs_kernel.py [--seconds S] [--rounds N]
                                  [--fixed-regions N] [--workload c|python]

Boots the page-idle guest (tests/vm/pageidle/build.sh must have built its kernel)
once and runs this file inside it with --in-guest. There, the workload (six 8 MiB
areas, two touched constantly; a fresh process for each run, and the idle flags the
runs before left on its shared file pages cleared) is monitored for the same time, one
after the other, at the same intervals (5 ms / 100 ms) and region bounds (10..1000):

1. by damontui's engine with the pageidle source: CPU of the engine thread only
   (/proc/self/task/TID/stat), not Python's start-up;
2. by kernel vaddr DAMON through plain sysfs writes: CPU of the kdamond
   (/proc/PID/stat).

With --rounds N the two alternate N times (seconds / N each) and the CPU times add up:
under TCG, guest CPU time follows the host's load, and a drift then weighs on both.
Each run also prints its mean region count: both monitors adapt their regions, and
the CPU of either grows with it.

The workload is tests/vm/pageidle/workload.c (compiled in the guest with gcc), or with
``--workload python`` workload.py, the tests' workload: the same areas and sweep, but
in an interpreter whose own few hot pages (in libpython) both monitors keep finding
and isolating at random. With it, a run's region counts drift (the kdamond's 16 to 136,
the engine's 16 to 68 in the same time) and the ratio follows that luck more than the
cost per region. ``--fixed-regions N`` pins both to N regions
(min = max = N) to compare the cost per region without that noise. Run the bench on
an otherwise idle host: under TCG a loaded host inflates the guest's CPU accounting,
the engine's (longer bursts) more than the kdamond's.

Hot sets: bytes of the workload's areas in regions with at least HOT_NR of 20 accesses,
taken over the last 5 seconds (a byte is hot if it is hot in most readings), compared
by Jaccard index. The last line is exactly:

    engine/kernel CPU ratio R (engine X s, kdamond Y s over Z s); hot-set Jaccard J

Timings under TCG emulation are not absolute figures: only the ratio, measured in the
same guest run, means something.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests/vm/pageidle"))

ADMIN = Path("/sys/kernel/mm/damon/admin")
HOT_NR = 5  # of max_nr_accesses 20: "hot" for both monitors
READINGS_S = 5.0
U32_MAX, U64_MAX = 2**32 - 1, 2**64 - 1


def _write(path: Path, value: object) -> None:
    path.write_text(f"{value}\n")


def _read(path: Path) -> str:
    return path.read_text().strip()


SPAN = 1 << 30  # area i is placed at i * SPAN in the canonical coordinates below


def hot_ranges(regions: list[tuple[int, int, int]], areas: list[tuple[int, int]]) -> list:
    """Hot parts of the areas (nr_accesses >= HOT_NR), clipped to an area, in canonical
    coordinates (area index * SPAN + offset in the area): runs on different workload
    processes compare."""
    out = []
    for s, e, nr in regions:
        if nr < HOT_NR:
            continue
        for i, (a, b) in enumerate(areas):
            lo, hi = max(s, a), min(e, b)
            if lo < hi:
                out.append((i * SPAN + lo - a, i * SPAN + hi - a))
    return out


def canonical_areas(areas: list[tuple[int, int]], indexes: list[int]) -> list:
    return [(i * SPAN, i * SPAN + areas[i][1] - areas[i][0]) for i in indexes]


def majority(readings: list[list[tuple[int, int]]], areas: list[tuple[int, int]]) -> list:
    """Bytes hot in more than half of the readings, as page-granular ranges."""
    page = 4096
    counts: dict[int, int] = {}
    for ranges in readings:
        pages = {p for s, e in ranges for p in range(s // page, e // page)}
        for p in pages:
            counts[p] = counts.get(p, 0) + 1
    hot = sorted(p for p, c in counts.items() if c * 2 > len(readings))
    out: list[tuple[int, int]] = []
    for p in hot:
        if out and out[-1][1] == p * page:
            out[-1] = (out[-1][0], (p + 1) * page)
        else:
            out.append((p * page, (p + 1) * page))
    return out


def size(ranges: list[tuple[int, int]]) -> int:
    return sum(e - s for s, e in ranges)


def jaccard(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> float:
    pa = {p for s, e in a for p in range(s // 4096, e // 4096)}
    pb = {p for s, e in b for p in range(s // 4096, e // 4096)}
    union = pa | pb
    return len(pa & pb) / len(union) if union else 1.0


MIN_REGIONS, MAX_REGIONS = 10, 1000  # DAMON's defaults; --fixed-regions changes both


def run_engine(w, seconds: float) -> tuple[float, float, list]:  # noqa: ANN001
    import guestkit

    from damontui.model import MonitoringAttrs, Target, TargetKind

    attrs = MonitoringAttrs(min_nr_regions=MIN_REGIONS, max_nr_regions=MAX_REGIONS)
    run = guestkit.run_engine([Target(TargetKind.PID, pid=w.pid)], "pageidle", seconds, attrs=attrs)
    if run.errors:
        print(f"engine messages: {run.errors}")
    end = run.snapshots[-1].elapsed_us
    readings = [
        hot_ranges(
            [
                (s, e, nr)
                for t in snap.targets
                for s, e, nr in zip(t.starts, t.ends, t.nr_accesses, strict=True)
            ],
            w.areas,
        )
        for snap in run.snapshots
        if snap.elapsed_us >= end - READINGS_S * 1e6
    ]
    print(
        f"engine: {run.elapsed_s:.1f} s monitored in {run.wall_s:.1f} s wall, {run.cpu_s:.2f} s "
        f"CPU, {sum(s.nr_regions for s in run.snapshots) / len(run.snapshots):.0f} regions (mean), "
        "per area " + " ".join(f"{p:.0f}%" for p in run.area_percents(w.areas))
    )
    return run.cpu_s, run.wall_s, majority(readings, w.areas)


def run_kernel(w, seconds: float) -> tuple[float, float, list]:  # noqa: ANN001
    import guestkit

    kd = ADMIN / "kdamonds/0"
    _write(ADMIN / "kdamonds/nr_kdamonds", 1)
    c = kd / "contexts/0"
    _write(kd / "contexts/nr_contexts", 1)
    _write(c / "operations", "vaddr")
    for key, value in (("sample_us", 5000), ("aggr_us", 100_000), ("update_us", 60_000_000)):
        _write(c / f"monitoring_attrs/intervals/{key}", value)
    _write(c / "monitoring_attrs/nr_regions/min", MIN_REGIONS)
    _write(c / "monitoring_attrs/nr_regions/max", MAX_REGIONS)
    _write(c / "targets/nr_targets", 1)
    _write(c / "targets/0/pid_target", w.pid)
    _write(c / "schemes/nr_schemes", 1)
    sd = c / "schemes/0"
    _write(sd / "action", "stat")
    for key, hi in (("sz", U64_MAX), ("nr_accesses", U32_MAX), ("age", U32_MAX)):
        _write(sd / f"access_pattern/{key}/min", 0)
        _write(sd / f"access_pattern/{key}/max", hi)
    _write(kd / "state", "on")
    pid = int(_read(kd / "pid"))
    cpu0, t0 = guestkit.thread_cpu_seconds(pid), time.monotonic()
    readings = []
    nr_regions: list[int] = []
    per_area: list[float] = []
    while time.monotonic() - t0 < seconds:
        time.sleep(0.5)
        if time.monotonic() - t0 < seconds - READINGS_S:
            continue
        _write(kd / "state", "update_schemes_tried_regions")
        tr = sd / "tried_regions"
        regions = [
            (int(_read(d / "start")), int(_read(d / "end")), int(_read(d / "nr_accesses")))
            for d in sorted(tr.iterdir(), key=lambda p: p.name)
            if d.name.isdigit()
        ]
        readings.append(hot_ranges(regions, w.areas))
        nr_regions.append(len(regions))
        per_area = [
            sum(nr * (min(e, b) - max(s, a)) for s, e, nr in regions if s < b and e > a)
            / (b - a)
            / 20
            * 100
            for a, b in w.areas
        ]
    cpu1, wall = guestkit.thread_cpu_seconds(pid), time.monotonic() - t0
    _write(kd / "state", "off")
    _write(ADMIN / "kdamonds/nr_kdamonds", 0)
    print(
        f"kernel: {len(readings)} readings, {cpu1 - cpu0:.2f} s CPU, "
        f"{sum(nr_regions) / max(1, len(nr_regions)):.0f} regions (mean), per area "
        + " ".join(f"{p:.0f}%" for p in per_area)
    )
    return cpu1 - cpu0, wall, majority(readings, w.areas)


def in_guest(seconds: float, rounds: int, program: str) -> None:
    import guestkit

    problem = guestkit.guest_problem()
    if problem:
        sys.exit(f"bench_engine_vs_kernel: {problem}")
    # Rounds alternate engine and kernel (seconds / rounds each), each on a workload of
    # its own: kernel DAMON marks the pages it samples idle (PG_idle, the flag the
    # bitmap shows), and a page stays idle until accessed, so the engine would pay rmap
    # walks for the kernel's leftovers in a shared workload. A fresh process has fresh
    # anonymous pages (freeing a page clears its flags). Its file pages (Python itself,
    # libc) are shared and keep the flags of the runs before: those are cleared before
    # each run (guestkit.unidle_shared_files); an engine run after a kernel run
    # otherwise cost 25 % more CPU at the same region count.
    if program == "c":
        try:
            guestkit.workload_c_program()
        except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
            sys.exit(f"bench_engine_vs_kernel: --workload c: {e} (or use --workload python)")
    part = seconds / rounds
    e_cpu = k_cpu = e_wall = k_wall = 0.0
    e_hot: list = []
    k_hot: list = []
    truth: list = []
    reset: list[tuple[int, int]] = []
    for _ in range(rounds):
        with guestkit.workload("--thp", "off", program=program) as w:
            reset.append(guestkit.unidle_shared_files(w.pid))
            truth = canonical_areas(w.areas, w.hot)
            cpu, wall, e_hot = run_engine(w, part)
            e_cpu, e_wall = e_cpu + cpu, e_wall + wall
        with guestkit.workload("--thp", "off", program=program) as w:
            reset.append(guestkit.unidle_shared_files(w.pid))
            cpu, wall, k_hot = run_kernel(w, part)
            k_cpu, k_wall = k_cpu + cpu, k_wall + wall
    print(
        "shared file pages made not idle before each run (of them idle): "
        + ", ".join(f"{n} ({idle})" for n, idle in reset)
    )
    print(
        f"hot bytes (last round): engine {size(e_hot) >> 20} MiB, kernel {size(k_hot) >> 20} "
        f"MiB, truth {size(truth) >> 20} MiB; Jaccard engine/truth {jaccard(e_hot, truth):.2f}, "
        f"kernel/truth {jaccard(k_hot, truth):.2f}"
    )
    ratio = e_cpu / k_cpu if k_cpu > 0 else float("inf")
    print(
        f"engine/kernel CPU ratio {ratio:.2f} (engine {e_cpu:.2f} s, kdamond {k_cpu:.2f} s "
        f"over {min(e_wall, k_wall):.0f} s); hot-set Jaccard {jaccard(e_hot, k_hot):.2f}"
    )


def on_host(seconds: float, rounds: int, fixed: int | None, program: str) -> int:
    from pageidle_guest import run_in_guest

    cmd = [sys.executable, str(Path(__file__).resolve()), "--in-guest"]
    cmd += ["--seconds", str(seconds), "--rounds", str(rounds), "--workload", program]
    if fixed:
        cmd += ["--fixed-regions", str(fixed)]
    return run_in_guest(cmd, timeout=seconds * 4 + 300)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument(
        "--rounds", type=int, default=1, help="alternations of engine and kernel (default 1)"
    )
    ap.add_argument(
        "--fixed-regions",
        type=int,
        metavar="N",
        help="pin both monitors to N regions (min = max = N; default: DAMON's 10..1000)",
    )
    ap.add_argument(
        "--workload",
        choices=("c", "python"),
        default="c",
        help="the workload's program: workload.c (default) or workload.py",
    )
    ap.add_argument("--in-guest", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.seconds <= 0 or args.rounds < 1:
        ap.error("--seconds must be > 0 and --rounds >= 1")
    if args.fixed_regions is not None and not 10 <= args.fixed_regions <= 10_000:
        ap.error(f"--fixed-regions must be 10..10000, got {args.fixed_regions}")
    if args.in_guest:
        global MIN_REGIONS, MAX_REGIONS
        if args.fixed_regions:
            MIN_REGIONS = MAX_REGIONS = args.fixed_regions
        in_guest(args.seconds, args.rounds, args.workload)
        return 0
    return on_host(args.seconds, args.rounds, args.fixed_regions, args.workload)


if __name__ == "__main__":
    sys.exit(main())
