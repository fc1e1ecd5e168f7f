"""Six 8 MiB areas, two of them touched constantly: the page-idle guest's workload.

    python workload.py [--thp on|off] [--access write|read] [--areas 6] [--hot 1,4]
                       [--file PATH]

Prints one JSON line {"pid", "areas": [[start, end], ...], "hot": [i, ...], "thp"}
once every area is populated, then touches the hot areas until killed.

Before each sweep the hot areas are mprotect()ed read-only and back: that changes
their PTEs, so the kernel flushes their TLB entries. Setting a page idle (like
DAMON's own check) clears the PTE accessed bit without a TLB flush, and QEMU's TCG
TLB is only flushed on invlpg/CR3 writes: without the flush a loop that never leaves
its address space looks idle under TCG. With ``--thp on`` each area is 2 MiB aligned
and MADV_HUGEPAGE'd, so it is backed by huge pages (only a head page is tracked by
the idle bitmap). ``--file PATH`` adds a 7th area: a private file mapping of PATH,
read once (cold, file-backed: for the pageout scheme test).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import mmap
import os

PAGE = mmap.PAGESIZE
AREA = 8 << 20
HUGE = 2 << 20


def area(thp: bool) -> tuple[mmap.mmap, int, int]:
    """An anonymous 8 MiB area (2 MiB aligned for THP); (map, start address, offset)."""
    m = mmap.mmap(-1, AREA + HUGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    base = ctypes.addressof(ctypes.c_char.from_buffer(m))
    off = (-base) % HUGE if thp else 0
    advice = mmap.MADV_HUGEPAGE if thp else mmap.MADV_NOHUGEPAGE
    m.madvise(advice, off, AREA)
    return m, base + off, off


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--thp", choices=("on", "off"), default="off")
    ap.add_argument("--access", choices=("write", "read"), default="write")
    ap.add_argument("--areas", type=int, default=6)
    ap.add_argument("--hot", default="1,4")
    ap.add_argument("--file")
    args = ap.parse_args()
    thp = args.thp == "on"
    hot = [int(x) for x in args.hot.split(",") if x]
    maps = [area(thp) for _ in range(args.areas)]
    n = AREA // PAGE
    for m, _, off in maps:
        m[off : off + AREA : PAGE] = b"\x01" * n  # every page populated (written once)
    spans = [[start, start + AREA] for _, start, _ in maps]
    if args.file:
        fd = os.open(args.file, os.O_RDONLY)
        size = os.fstat(fd).st_size
        # private + writable only so ctypes can take its address; it is only read,
        # so its pages stay file-backed page cache
        fm = mmap.mmap(fd, size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        os.close(fd)
        fm.madvise(mmap.MADV_NOHUGEPAGE)
        bytes(fm[0:size:PAGE])  # read once: resident, then cold
        start = ctypes.addressof(ctypes.c_char.from_buffer(fm))
        spans.append([start, start + size])
    print(json.dumps({"pid": os.getpid(), "areas": spans, "hot": hot, "thp": thp}), flush=True)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    ro, rw = mmap.PROT_READ, mmap.PROT_READ | mmap.PROT_WRITE
    ones = b"\x02" * n
    while True:
        for i in hot:
            m, start, off = maps[i]
            libc.mprotect(start, AREA, ro)
            libc.mprotect(start, AREA, rw)
            if args.access == "write":
                m[off : off + AREA : PAGE] = ones
            else:
                bytes(m[off : off + AREA : PAGE])


if __name__ == "__main__":
    main()
