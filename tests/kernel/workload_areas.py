"""Issue 8's workload: N separate areas, some touched constantly, the rest never
(after being populated once).  For the kernel tests in the VM guest.

    python workload_areas.py COUNTER_FILE [NR_AREAS [AREA_MIB [HOT_INDICES]]]

Defaults: six 8 MiB areas, areas 1 and 4 hot.  Each area is its own mapping
followed by a PROT_NONE guard page, so the areas are separate VMAs (adjacent
anonymous mappings with the same flags would merge into one).  Prints one JSON
line {"pid", "areas": [[start, end], ...], "hot": [indices]} once populated.

COUNTER_FILE: an 8-byte file the loop keeps the number of completed sweeps in
(one sweep touches every page of every hot area once), so a test can compare
the workload's touch rate between runs (is something starving it?).

Writes, with a TLB flush (mprotect) before each sweep: see workload.py.
"""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import struct
import sys

PAGE = mmap.PAGESIZE


def main() -> None:
    counter_path = sys.argv[1]
    nr = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    size = int(float(sys.argv[3]) * (1 << 20)) if len(sys.argv) > 3 else 8 << 20
    hot_idx = [int(x) for x in sys.argv[4].split(",")] if len(sys.argv) > 4 else [1, 4]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    maps, addrs = [], []
    for _ in range(nr):
        m = mmap.mmap(-1, size + PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        if hasattr(mmap, "MADV_NOHUGEPAGE"):
            m.madvise(mmap.MADV_NOHUGEPAGE)
        addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
        libc.mprotect(addr + size, PAGE, 0)  # PROT_NONE guard: a separate VMA
        m[0:size:PAGE] = b"\x01" * (size // PAGE)  # populate every area once
        maps.append(m)
        addrs.append(addr)
    with open(counter_path, "wb") as f:
        f.write(b"\0" * 8)
    fd = os.open(counter_path, os.O_RDWR)
    counter = mmap.mmap(fd, 8)
    os.close(fd)
    print(
        json.dumps({"pid": os.getpid(), "areas": [[a, a + size] for a in addrs], "hot": hot_idx}),
        flush=True,
    )
    ones = b"\x02" * (size // PAGE)
    ro, rw = mmap.PROT_READ, mmap.PROT_READ | mmap.PROT_WRITE
    sweeps = 0
    while True:
        for i in hot_idx:
            libc.mprotect(addrs[i], size, ro)
            libc.mprotect(addrs[i], size, rw)
            maps[i][0:size:PAGE] = ones
        sweeps += 1
        counter[0:8] = struct.pack("<Q", sweeps)


if __name__ == "__main__":
    main()
