"""Per-snapshot read cost: damontui's kernel reader vs a naive read of every file.

Run: python bench/bench_kernel_read.py [--regions 1000 10000] [--repeat 5]

Builds a fake DAMON sysfs tree (kernel 6.18 layout, in a temporary directory)
holding one running kdamond like damontui runs it: three user schemes plus the
hidden snapshot scheme, each with tried regions the way the kernel fills them
after ``update_schemes_tried_regions`` (the snapshot scheme has every region,
the user schemes a part).  Then times, per snapshot:

* ours:  the snapshot scheme's tried_regions/ (start, end, nr_accesses, age)
         and the user schemes' stats files - what KernelBackend reads per tick;
* naive: every file under kdamonds/ (what damo's status/snapshot reading does),
         with Python's open().read(), and again with os.open/os.read like ours
         (the second ratio is the gain from reading fewer files alone).

Files in a tmpfs/disk tree are cheaper to open than sysfs files, but both
readers pay the same per-file cost, so the ratio carries over.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fakesysfs import FakeSysfs  # noqa: E402

from damontui.backends.kernel.reader import (  # noqa: E402
    read_stats,
    read_tried_regions,
    stats_file_names,
)
from damontui.backends.kernel.sysfs import RealSysfs, join  # noqa: E402
from damontui.backends.kernel.writer import snapshot_scheme  # noqa: E402
from damontui.model import (  # noqa: E402
    AccessPattern,
    Action,
    MonitoringAttrs,
    Range,
    Scheme,
    Target,
    TargetKind,
)

U64 = (1 << 64) - 1
U32 = (1 << 32) - 1


def build(base: Path, nr_regions: int) -> tuple[str, str, list[str]]:
    fake = FakeSysfs.build(base, (6, 18))
    attrs = MonitoringAttrs()
    user = [
        Scheme(
            action=Action.PAGEOUT,
            access_pattern=AccessPattern(Range(0, U64), Range(0, 0), Range(10, U32)),
        ),
        Scheme(
            action=Action.LRU_PRIO,
            access_pattern=AccessPattern(Range(0, U64), Range(5, U32), Range(0, U32)),
        ),
        Scheme(
            action=Action.STAT,
            access_pattern=AccessPattern(Range(1 << 20, U64), Range(0, U32), Range(0, U32)),
        ),
    ]
    snap = snapshot_scheme(attrs, fake.features())
    fake.setup_kdamond(
        ops="paddr",
        targets=[Target(TargetKind.PADDR, ranges=((0, 1 << 40),))],
        attrs=attrs,
        schemes=user + [snap],
        running=True,
    )
    size = (1 << 40) // nr_regions
    regions = [(i * size, (i + 1) * size, (i * 7) % 21, (i * 13) % 50) for i in range(nr_regions)]
    sroot = "kdamonds/0/contexts/0/schemes"
    for i, s in enumerate(user + [snap]):
        tried = [r for r in regions if s.access_pattern.matches(r[1] - r[0], r[2], r[3])]
        fake.write_tried_regions(f"{sroot}/{i}", tried)
    kdamonds = join(fake.admin, "kdamonds")
    snap_dir = join(fake.admin, sroot, len(user))
    user_dirs = [join(fake.admin, sroot, i) for i in range(len(user))]
    return kdamonds, snap_dir, user_dirs


def ours(snap_dir: str, user_dirs: list[str], sysfs: RealSysfs, names: dict) -> int:
    regions = read_tried_regions(sysfs, snap_dir)
    for d in user_dirs:
        read_stats(sysfs, d, names[d])
    return len(regions)


def naive(kdamonds: str) -> int:
    """Walk kdamonds/ and read every file, as damo does on each refresh."""
    nfiles = 0
    for dirpath, _dirs, files in os.walk(kdamonds):
        for name in files:
            with open(os.path.join(dirpath, name)) as f:
                f.read()
            nfiles += 1
    return nfiles


def naive_fast(kdamonds: str) -> int:
    """The same walk, but each file read like ours (os.open/os.read): isolates how much
    of the gain comes from reading fewer files."""
    nfiles = 0
    for dirpath, _dirs, files in os.walk(kdamonds):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.read(fd, 4096)
            finally:
                os.close(fd)
            nfiles += 1
    return nfiles


def timeit(fn, repeat: int) -> float:
    fn()  # warm the dentry cache once
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--regions", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    sysfs = RealSysfs()
    print(
        f"{'regions':>8} {'ours ms':>9} {'naive ms':>9} {'ratio':>6}   "
        f"{'naive os.read ms':>16} {'ratio':>6}  files read (ours/naive)"
    )
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    for n in args.regions:
        with tempfile.TemporaryDirectory(prefix="damontui-bench-", dir=shm) as tmp:
            kdamonds, snap_dir, user_dirs = build(Path(tmp), n)
            names = {d: stats_file_names(sysfs, d) for d in user_dirs}
            got = ours(snap_dir, user_dirs, sysfs, names)
            assert got == n, (got, n)
            files_ours = 4 * n + sum(len(v) for v in names.values())
            files_naive = naive(kdamonds)
            t_ours = timeit(partial(ours, snap_dir, user_dirs, sysfs, names), args.repeat)
            t_naive = timeit(partial(naive, kdamonds), args.repeat)
            t_fast = timeit(partial(naive_fast, kdamonds), args.repeat)
            print(
                f"{n:>8} {t_ours * 1e3:>9.1f} {t_naive * 1e3:>9.1f} "
                f"{t_naive / t_ours:>5.1f}x   {t_fast * 1e3:>16.1f} {t_fast / t_ours:>5.1f}x  "
                f"{files_ours}/{files_naive}"
            )


if __name__ == "__main__":
    main()
