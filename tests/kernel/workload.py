"""A process with a known access pattern, for the kernel tests in the VM guest.

    python workload.py [HOT_MIB [COLD_MIB]]

Maps two anonymous areas: HOT (default 8 MiB), written page by page over and
over, and COLD (default 64 MiB), written once and then left alone.  Prints one
JSON line {"pid", "hot": [start, end], "cold": [start, end]} once both are
populated, then keeps the hot area hot until killed.

Writes (not reads) so that write-only sources (soft-dirty) see the same thing
DAMON's accessed-bit checks see.  A sweep is one strided slice assignment (a C
loop), fast even under TCG, so every page is touched many times per sampling
interval (see the TLB note in main()).  It never sleeps: under TCG on a busy
host a vCPU can be off the CPU for tens of milliseconds, every sweep counts.
(The guest has 2 vCPUs: the workload takes one, kdamond and pytest share the
other.)
"""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import sys

PAGE = mmap.PAGESIZE


def area(size: int) -> tuple[mmap.mmap, int]:
    m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    # madvise(MADV_NOHUGEPAGE): with THP a 2 MiB huge page blurs the area's
    # edges (one accessed bit for 512 pages); keep the ground truth page-exact.
    if hasattr(mmap, "MADV_NOHUGEPAGE"):
        m.madvise(mmap.MADV_NOHUGEPAGE)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    return m, addr


def main() -> None:
    hot_size = int(float(sys.argv[1]) * (1 << 20)) if len(sys.argv) > 1 else 8 << 20
    cold_size = int(float(sys.argv[2]) * (1 << 20)) if len(sys.argv) > 2 else 64 << 20
    cold, cold_addr = area(cold_size)
    hot, hot_addr = area(hot_size)
    n_cold, n_hot = cold_size // PAGE, hot_size // PAGE
    cold[0:cold_size:PAGE] = b"\x01" * n_cold  # touched once
    ones = b"\x02" * n_hot
    hot[0:hot_size:PAGE] = ones
    print(
        json.dumps(
            {
                "pid": os.getpid(),
                "hot": [hot_addr, hot_addr + hot_size],
                "cold": [cold_addr, cold_addr + cold_size],
            }
        ),
        flush=True,
    )
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    ro, rw = mmap.PROT_READ, mmap.PROT_READ | mmap.PROT_WRITE
    while True:
        # Flush the hot area's TLB entries before each sweep (mprotect changes
        # the PTEs, so the kernel flushes them).  DAMON clears PTE accessed
        # bits WITHOUT a TLB flush; a CPU only sets the bit again when it walks
        # the page table.  Real CPUs evict TLB entries quickly, but QEMU's TCG
        # TLB is huge and only flushed on invlpg/CR3 writes: a loop that never
        # leaves its address space looks idle to DAMON under TCG.
        libc.mprotect(hot_addr, hot_size, ro)
        libc.mprotect(hot_addr, hot_size, rw)
        hot[0:hot_size:PAGE] = ones


if __name__ == "__main__":
    main()
