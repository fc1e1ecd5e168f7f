"""Access source from idle page tracking: /sys/kernel/mm/page_idle/bitmap.

Page granular, sees reads and writes, the closest user-space match to what DAMON
does in the kernel (it clears and tests the same accessed bits). Setting a page's
idle bit clears its PTE accessed bits; any later access clears the idle bit again.
Needs root and CONFIG_IDLE_PAGE_TRACKING.

Two modes: for a process (pid given), addresses are virtual and are translated to
PFNs through /proc/PID/pagemap at every prepare and check (pages move and get
swapped); with pid=None, addresses are physical and the targets are the System RAM
ranges of /proc/iomem, like DAMON's paddr operations.
"""

from __future__ import annotations

import ctypes
import mmap
import os
from array import array
from typing import Any, ClassVar

from .... import kernels
from ....procfs import pid_alive, proc_comm
from ..layout import read_mapped, read_system_ram, read_three_regions
from .base import (
    AccessSource,
    ProbeResult,
    SourceError,
    ensure_alive,
    read_config_option,
)
from .softdirty import PAGE_SIZE, open_pagemap, read_entries

PM_PRESENT = 1 << 63
PM_PFN_MASK = (1 << 55) - 1
DEFAULT_BITMAP = "/sys/kernel/mm/page_idle/bitmap"


def zero_page_pfn() -> int:
    """The PFN of the shared zero page, which a read of untouched anonymous memory maps
    (0 if unknown: PFNs need CAP_SYS_ADMIN). Found by reading a fresh page of our own."""
    m = mmap.mmap(-1, mmap.PAGESIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        view = ctypes.c_char.from_buffer(m)
        addr = ctypes.addressof(view)
        del view
        _ = m[0]  # read fault: the zero page is mapped
        with open("/proc/self/pagemap", "rb") as f:
            f.seek(addr // mmap.PAGESIZE * 8)
            entry = int.from_bytes(f.read(8), "little")
    except OSError:
        return 0
    finally:
        m.close()
    return entry & ((1 << 55) - 1) if entry >> 63 else 0


class PageIdleSource(AccessSource):
    """Page-granular, reads+writes access source (see module docstring)."""

    name: ClassVar[str] = "pageidle"
    granularity: ClassVar[str] = "page"
    sees: ClassVar[str] = "reads+writes"
    description: ClassVar[str] = (
        "pagemap PFNs + idle page bitmap: page granularity, reads+writes "
        "(needs root and CONFIG_IDLE_PAGE_TRACKING)"
    )

    def __init__(
        self,
        pid: int | None = None,
        proc_root: str = "/proc",
        page_idle_path: str = DEFAULT_BITMAP,
        iomem_path: str = "/proc/iomem",
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.pid = pid
        self.proc_root = proc_root
        self.page_idle_path = page_idle_path
        self.iomem_path = iomem_path
        self.page_size = page_size
        self._pagemap_fd: int | None = None
        self._kpf_fd: int | None = None
        self._bitmap_fd: int | None = None
        self._comm = ""
        if os.geteuid() != 0 and page_idle_path == DEFAULT_BITMAP:
            raise SourceError(
                f"pageidle needs root: {page_idle_path} and the PFNs in pagemap are "
                "root-only (run as root, or use --source smaps)"
            )
        if pid is not None:
            self._comm = proc_comm(pid, proc_root, missing="?")
            ensure_alive(proc_root, pid)
            self.pagemap_path = f"{proc_root}/{pid}/pagemap"
            self._pagemap_fd = open_pagemap(proc_root, pid)
        try:
            self._bitmap_fd = os.open(page_idle_path, os.O_RDWR)
        except OSError as e:
            self.close()
            raise SourceError(f"cannot open {page_idle_path}: {e.strerror}") from None

    @classmethod
    def probe(cls, **kwargs: Any) -> ProbeResult:
        proc_root = kwargs.get("proc_root", "/proc")
        path = kwargs.get("page_idle_path", DEFAULT_BITMAP)
        config_path = kwargs.get("config_path", "/proc/config.gz")
        pid = kwargs.get("pid")
        if not os.path.exists(path):
            config = read_config_option(config_path, "CONFIG_IDLE_PAGE_TRACKING")
            why = (
                f"CONFIG_IDLE_PAGE_TRACKING is not set in {config_path}"
                if config == "n"
                else "needs CONFIG_IDLE_PAGE_TRACKING"
            )
            return ProbeResult(False, f"page idle tracking unavailable: {path} not found ({why})")
        if os.geteuid() != 0:
            return ProbeResult(
                False, f"page idle tracking unavailable: {path} and PFNs need root (run as root)"
            )
        if not os.access(path, os.R_OK | os.W_OK):
            return ProbeResult(False, f"page idle tracking unavailable: {path} not read-writable")
        if pid is not None:
            if not pid_alive(pid, proc_root):
                return ProbeResult(
                    False, f"pageidle unavailable: pid {pid} not found in {proc_root}"
                )
            pagemap = f"{proc_root}/{pid}/pagemap"
            if not os.access(pagemap, os.R_OK):
                return ProbeResult(False, f"pageidle unavailable: {pagemap} not readable")
        return ProbeResult(True, "")

    # --- address -> PFN ------------------------------------------------------------

    def _pfns(self, addrs: array) -> array:
        """PFN per address, 0 where the page is not present (never accessed then)."""
        if self.pid is None:
            ps = self.page_size
            return array("Q", [a // ps for a in addrs])
        if self._pagemap_fd is None:
            raise SourceError(f"{self.pagemap_path}: source closed")
        entries = read_entries(self._pagemap_fd, self.pagemap_path, addrs, self.page_size)
        pfns = array("Q", [e & PM_PFN_MASK if e & PM_PRESENT else 0 for e in entries])
        if not any(pfns) and any(e & PM_PRESENT for e in entries):
            # The kernel zeroes PFNs for readers without CAP_SYS_ADMIN.
            raise SourceError(
                f"{self.pagemap_path} shows PFN 0 for present pages: reading PFNs needs "
                "CAP_SYS_ADMIN (run as root)"
            )
        return pfns

    def _bitmap_call(self, what: str, fn: Any, pfns: array) -> Any:
        if self._bitmap_fd is None:
            raise SourceError(f"{self.page_idle_path}: source closed")
        try:
            return fn(self._bitmap_fd, pfns)
        except OSError as e:
            raise SourceError(f"cannot {what} {self.page_idle_path}: {e.strerror}") from None

    # --- AccessSource ----------------------------------------------------------------

    def target_ranges(self) -> list[tuple[int, int]]:
        if self.pid is None:
            return read_system_ram(self.iomem_path)
        return read_three_regions(self.pid, self.proc_root)

    def prepare(self, addrs: array) -> None:
        if not len(addrs):
            return
        present = array("Q", [p for p in self._pfns(addrs) if p])
        if present:
            self._bitmap_call("write", kernels.idle_bitmap_set, present)

    def check(self, addrs: array) -> bytearray:
        if not len(addrs):
            return bytearray()
        pfns = self._pfns(addrs)
        if self.pid is not None:
            ensure_alive(self.proc_root, self.pid)  # a gone process reads as not present
        out = bytearray(len(addrs))
        idx = [i for i, p in enumerate(pfns) if p]
        if not idx:
            return out
        present = pfns if len(idx) == len(pfns) else array("Q", [pfns[i] for i in idx])
        got = self._bitmap_call("read", kernels.idle_bitmap_get, present)
        if len(idx) == len(pfns):
            return bytearray(got)
        for j, i in enumerate(idx):
            out[i] = got[j]
        return out

    def make_sampler(self, impl: Any) -> Any | None:
        """Idle-bitmap sampler; /proc/kpageflags (if readable) finds huge-page heads."""
        if self._bitmap_fd is None:
            return None
        if self._kpf_fd is None:
            try:
                self._kpf_fd = os.open(f"{self.proc_root}/kpageflags", os.O_RDONLY)
            except OSError:
                self._kpf_fd = -1  # no THP head lookup: tails of huge pages read hot
        mode = impl.CONSTANTS["MODE_IDLE_PADDR" if self.pid is None else "MODE_IDLE_VADDR"]
        pagemap = -1 if self._pagemap_fd is None else self._pagemap_fd
        sampler = impl.PageSampler(mode, pagemap, self._bitmap_fd, -1, self._kpf_fd, self.page_size)
        if self.pid is not None and self.proc_root == "/proc":  # (a fake /proc: tests)
            sampler.set_zero_pfn(zero_page_pfn())
        return sampler

    def mapped_ranges(self) -> list[tuple[int, int]] | None:
        return None if self.pid is None else read_mapped(self.pid, self.proc_root, trackable=True)

    def sampler_file(self, code: int) -> str:
        return {
            1: getattr(self, "pagemap_path", "pagemap"),
            2: self.page_idle_path,
            4: f"{self.proc_root}/kpageflags",
        }.get(code, f"file {code}")

    def describe(self) -> str:
        if self.pid is None:
            return "pageidle (page granularity, reads+writes) physical memory"
        return f"pageidle (page granularity, reads+writes) pid {self.pid} ({self._comm})"

    def close(self) -> None:
        for attr in ("_pagemap_fd", "_bitmap_fd", "_kpf_fd"):
            fd = getattr(self, attr, None)
            if fd is not None and fd >= 0:
                os.close(fd)
                setattr(self, attr, None)
