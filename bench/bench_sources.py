"""Access checks per second of the engine's sources, next to a C floor from the same run.

Run: python bench/bench_sources.py [--seconds S] [--regions N] [--vm]

The target is tests/vm/pageidle/workload.py (six 8 MiB areas, two touched all the
time), split into N regions (default 100). For each page-granular source the engine's
own sampling path (damontui._sampler, or its Python twin with DAMONTUI_PURE_PYTHON=1)
runs sampling intervals back to back; checks/s = regions x intervals / seconds, best of
3 runs alternating with the floor's (the machine may be shared). The C
floor is compiled here with gcc and does the same syscalls in a tight loop:

* pageidle: per check, pread 8 bytes of pagemap, pwrite 8 bytes of the idle bitmap,
  pread them back, on pages whose PFN starts a bitmap word (the pages the sampler
  prefers, so both pay one rmap walk per read);
* softdirty: per interval one clear_refs "4" write, per check one 8-byte pagemap pread;
* smaps: per round one clear_refs "1" write and one full smaps read (the engine does
  one round per aggregation; every region's count comes out of that read).

Without /sys/kernel/mm/page_idle (this host) pageidle runs against a sparse file in its
place (cost of the file, not of the kernel's bitmap: marked "emulated"); --vm boots the
page-idle guest (tests/vm/pageidle/build.sh) and runs the whole bench there. Target:
the engine at >= 80 % of the floor.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROUNDS = 3
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests/vm/pageidle"))

FLOOR_C = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
                          return t.tv_sec + t.tv_nsec * 1e-9; }
/* floor MODE PID BITMAP SECONDS NREGIONS START END [START END ...] */
int main(int argc, char **argv) {
    const char *mode = argv[1]; int pid = atoi(argv[2]); const char *bitmap = argv[3];
    double secs = atof(argv[4]); int nreg = atoi(argv[5]);
    char path[128]; snprintf(path, sizeof path, "/proc/%d/pagemap", pid);
    int pm = open(path, O_RDONLY);
    snprintf(path, sizeof path, "/proc/%d/clear_refs", pid);
    int cr = open(path, O_WRONLY);
    snprintf(path, sizeof path, "/proc/%d/smaps", pid);
    int nareas = (argc - 6) / 2; uint64_t pages[65536]; int np = 0;
    for (int a = 0; a < nareas && np < 65536; a++) {
        uint64_t s = strtoull(argv[6 + 2 * a], 0, 0), e = strtoull(argv[7 + 2 * a], 0, 0);
        for (uint64_t v = s / 4096; v < e / 4096 && np < 65536; v++) {
            uint64_t ent; pread(pm, &ent, 8, v * 8);
            uint64_t pfn = ent & ((1ULL << 55) - 1);
            if (strcmp(mode, "pageidle") || ((ent >> 63) && pfn && pfn % 64 == 0)) pages[np++] = v;
        }
    }
    if (np == 0) { printf("0\n"); return 0; }
    int bm = strcmp(mode, "pageidle") ? -1 : open(bitmap, O_RDWR);
    static char buf[1 << 20];
    uint64_t checks = 0, ent, w; unsigned seed = 1; double t0 = now(), t;
    do {
        if (!strcmp(mode, "softdirty")) write(cr, "4", 1);
        if (!strcmp(mode, "smaps")) {
            write(cr, "1", 1);
            int fd = open(path, O_RDONLY); while (read(fd, buf, sizeof buf) > 0) {} close(fd);
            checks += nreg;
        } else {
            for (int i = 0; i < nreg; i++) {
                uint64_t v = pages[rand_r(&seed) % np];
                pread(pm, &ent, 8, v * 8);
                if (bm >= 0) {
                    uint64_t pfn = ent & ((1ULL << 55) - 1);
                    w = 1ULL << (pfn & 63); pwrite(bm, &w, 8, pfn / 64 * 8);
                    pread(bm, &w, 8, pfn / 64 * 8);
                }
                checks++;
            }
        }
        t = now();
    } while (t - t0 < secs);
    printf("%.0f\n", checks / (t - t0));
    return 0;
}
"""


def compile_floor(tmp: Path) -> Path | None:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        return None
    src, exe = tmp / "floor.c", tmp / "floor"
    src.write_text(FLOOR_C)
    subprocess.run([gcc, "-O2", "-o", str(exe), str(src)], check=True)
    return exe


def floor_rate(exe: Path, mode: str, pid: int, bitmap: str, secs: float, nreg: int, areas) -> float:  # noqa: ANN001
    args = [str(exe), mode, str(pid), bitmap, str(secs), str(nreg)]
    args += [str(x) for a in areas for x in a]
    return float(subprocess.run(args, capture_output=True, text=True, check=True).stdout)


def engine_rate(source, nreg: int, areas, secs: float) -> float:  # noqa: ANN001
    """The engine's sampling path: intervals of 20 back to back (one aggregation each)."""
    from damontui.backends.engine import sampler
    from damontui.backends.engine.regionset import Regions, make_rng

    s = source.make_sampler(sampler.impl)
    r = Regions.from_ranges(areas, nreg, 4096)
    rng = make_rng(1)
    stop = sampler.impl.StopFlag()
    checks, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < secs:
        st = sampler.impl.prepare(s, r, rng)
        done, statuses, *_ = sampler.impl.run([s], [r], [rng], 20, 0, 0, stop)
        if st[0] or statuses[0][0]:
            raise RuntimeError(f"sampler status {st} {statuses}")
        checks += done * len(r)
    return checks / (time.perf_counter() - t0)


def smaps_rate(pid: int, nreg: int, areas, secs: float) -> float:  # noqa: ANN001
    """The smaps source as the engine drives it: one clear_refs + smaps read per
    aggregation (here back to back); every region's nr_accesses comes out of that
    read, so a round counts one check per region, like the floor's."""
    from damontui.backends.engine.regionset import Regions
    from damontui.backends.engine.sources import SmapsSource

    src = SmapsSource(pid)
    r = Regions.from_ranges(areas, nreg, 4096)
    checks, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < secs:
        src.begin_aggregation()
        r.nr_accesses[:] = src.aggregation_accesses(r, 20)
        checks += len(r)
    src.close()
    return checks / (time.perf_counter() - t0)


def line(label: str, engine: float, floor: float | None, note: str = "") -> None:
    if floor:
        tail = f"C floor {floor / 1e3:9.1f} k/s  -> {100 * engine / floor:5.1f} % of the floor"
    else:
        tail = "no C floor (gcc missing)"
    print(f"  {label:<24} engine {engine / 1e3:9.1f} k checks/s   {tail}{note}", flush=True)


def bench(secs: float, nreg: int) -> None:
    import guestkit

    from damontui.backends.engine import sampler
    from damontui.backends.engine.sources import PageIdleSource, SoftDirtySource

    print(f"sampler: {sampler.IMPL_NAME}; kernel {os.uname().release}; {nreg} regions")
    with tempfile.TemporaryDirectory() as tmp, guestkit.workload("--thp", "off") as w:
        exe = compile_floor(Path(tmp))
        bitmap = "/sys/kernel/mm/page_idle/bitmap"
        note = ""
        if not os.path.exists(bitmap):
            bitmap = str(Path(tmp) / "bitmap")
            with open(bitmap, "wb") as f:
                f.truncate((64 << 30) // 4096 // 8)
            note = "  (bitmap emulated by a file: no page_idle here)"
        # engine and floor alternate, best of ROUNDS each: the machine is shared
        for name in ("pageidle", "softdirty", "smaps"):
            eng, flo = [], []
            for _ in range(ROUNDS):
                if name == "pageidle":
                    src = PageIdleSource(w.pid, page_idle_path=bitmap)
                    eng.append(engine_rate(src, nreg, w.areas, secs))
                    src.close()
                elif name == "softdirty":
                    src = SoftDirtySource(w.pid)
                    eng.append(engine_rate(src, nreg, w.areas, secs))
                    src.close()
                else:
                    eng.append(smaps_rate(w.pid, nreg, w.areas, secs))
                if exe:
                    flo.append(floor_rate(exe, name, w.pid, bitmap, secs, nreg, w.areas))
            line(name, max(eng), max(flo) if flo else None, note if name == "pageidle" else "")


def in_vm(secs: float, nreg: int) -> int:
    from pageidle_guest import run_in_guest

    cmd = [sys.executable, __file__, "--seconds", str(secs), "--regions", str(nreg)]
    return run_in_guest(cmd, timeout=600)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    ap.add_argument("--regions", type=int, default=100)
    ap.add_argument("--vm", action="store_true", help="run in the page-idle guest")
    args = ap.parse_args()
    if args.vm:
        return in_vm(args.seconds, args.regions)
    bench(args.seconds, args.regions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
