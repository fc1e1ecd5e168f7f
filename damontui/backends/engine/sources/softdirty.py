"""Access source from soft-dirty bits: ``clear_refs`` 4 + pagemap bit 55.

Page granular but sees writes only: soft-dirty is set when a page is written after
the bits were cleared, reads leave it alone. Needs CONFIG_MEM_SOFT_DIRTY.
"""

from __future__ import annotations

import os
import sys
from array import array
from typing import Any, ClassVar

from .... import kernels
from ....procfs import pid_alive, proc_comm
from ..layout import read_mapped, read_three_regions
from .base import (
    AccessSource,
    ProbeResult,
    SourceError,
    TargetGone,
    ensure_alive,
    read_config_option,
    write_clear_refs,
)

PM_SOFT_DIRTY = 1 << 55
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
# Bit 55 is the top bit of byte 6 of a little-endian u64: pick those bytes and map
# each to 0/1 in C (slice + translate) instead of a Python loop over the entries.
_TOP_BIT = bytes(b >> 7 for b in range(256))


def soft_dirty_bits(entries: array) -> bytearray:
    """1 per pagemap entry with the soft-dirty bit set."""
    if sys.byteorder == "little" and entries.itemsize == 8:
        return bytearray(memoryview(entries).cast("B")[6::8].tobytes().translate(_TOP_BIT))
    return bytearray(1 if e & PM_SOFT_DIRTY else 0 for e in entries)


def open_pagemap(proc_root: str, pid: int) -> int:
    """Open /proc/PID/pagemap read-only, mapping errors to TargetGone/SourceError."""
    path = f"{proc_root}/{pid}/pagemap"
    try:
        return os.open(path, os.O_RDONLY)
    except (FileNotFoundError, ProcessLookupError):
        raise TargetGone(f"pid {pid} exited ({path} gone)") from None
    except OSError as e:
        raise SourceError(f"cannot open {path}: {e.strerror}") from None


def read_entries(fd: int, path: str, addrs: array, page_size: int) -> array:
    """kernels.read_pagemap with errors naming the file."""
    try:
        return kernels.read_pagemap(fd, addrs, page_size)
    except ProcessLookupError:
        raise TargetGone(f"{path}: process exited") from None
    except OSError as e:
        raise SourceError(f"cannot read {path}: {e.strerror}") from None


class SoftDirtySource(AccessSource):
    """Page-granular, writes-only access source for one process."""

    name: ClassVar[str] = "softdirty"
    granularity: ClassVar[str] = "page"
    sees: ClassVar[str] = "writes"
    description: ClassVar[str] = (
        "clear_refs 4 + pagemap soft-dirty bit: page granularity, sees writes only "
        "(needs CONFIG_MEM_SOFT_DIRTY)"
    )

    def __init__(self, pid: int, proc_root: str = "/proc", page_size: int = PAGE_SIZE) -> None:
        self.pid = pid
        self.proc_root = proc_root
        self.page_size = page_size
        self.pagemap_path = f"{proc_root}/{pid}/pagemap"
        self._comm = proc_comm(pid, proc_root, missing="?")
        ensure_alive(proc_root, pid)
        self._fd: int | None = open_pagemap(proc_root, pid)
        self._clear_fd: int | None = None

    @classmethod
    def probe(cls, **kwargs: Any) -> ProbeResult:
        """Reads the kernel config; with pid=None only the kernel is probed (/proc/self)."""
        proc_root = kwargs.get("proc_root", "/proc")
        config_path = kwargs.get("config_path", "/proc/config.gz")
        pid = kwargs.get("pid")
        value = read_config_option(config_path, "CONFIG_MEM_SOFT_DIRTY")
        if value == "n":
            return ProbeResult(
                False,
                f"soft-dirty tracking unavailable: CONFIG_MEM_SOFT_DIRTY is not set in "
                f"{config_path} (needs a kernel built with CONFIG_MEM_SOFT_DIRTY=y)",
            )
        if pid is not None and not pid_alive(pid, proc_root):
            return ProbeResult(False, f"softdirty unavailable: pid {pid} not found in {proc_root}")
        who = "self" if pid is None else str(pid)
        pagemap, clear = f"{proc_root}/{who}/pagemap", f"{proc_root}/{who}/clear_refs"
        if not os.access(pagemap, os.R_OK):
            return ProbeResult(False, f"softdirty unavailable: {pagemap} not readable")
        if not os.access(clear, os.W_OK):
            return ProbeResult(False, f"softdirty unavailable: {clear} not writable")
        if value is None:
            # Writing clear_refs 4 is accepted even without soft-dirty support, so the
            # config is the only read-only evidence; without it, try and see.
            return ProbeResult(
                True,
                f"CONFIG_MEM_SOFT_DIRTY unknown ({config_path} not readable); "
                "soft-dirty bits may never be set",
            )
        return ProbeResult(True, "")

    def target_ranges(self) -> list[tuple[int, int]]:
        return read_three_regions(self.pid, self.proc_root)

    def prepare(self, addrs: array) -> None:
        # clear_refs works on the whole process, so one write serves any batch.
        if len(addrs):
            write_clear_refs(self.proc_root, self.pid, b"4")

    def check(self, addrs: array) -> bytearray:
        if self._fd is None:
            raise SourceError(f"{self.pagemap_path}: source closed")
        if not len(addrs):
            return bytearray()
        entries = read_entries(self._fd, self.pagemap_path, addrs, self.page_size)
        # A gone process reads as empty pagemap entries; do not report that as "cold".
        ensure_alive(self.proc_root, self.pid)
        return soft_dirty_bits(entries)

    def make_sampler(self, impl: Any) -> Any | None:
        """Soft-dirty sampler: clear_refs stays open, one write per sampling interval."""
        if self._fd is None:
            return None
        if self._clear_fd is None:
            path = f"{self.proc_root}/{self.pid}/clear_refs"
            try:
                self._clear_fd = os.open(path, os.O_WRONLY)
            except (FileNotFoundError, ProcessLookupError):
                raise TargetGone(f"pid {self.pid} exited ({path} gone)") from None
            except OSError as e:
                raise SourceError(f"cannot open {path}: {e.strerror}") from None
        mode = impl.CONSTANTS["MODE_SOFTDIRTY"]
        return impl.PageSampler(mode, self._fd, -1, self._clear_fd, -1, self.page_size)

    def mapped_ranges(self) -> list[tuple[int, int]] | None:
        return read_mapped(self.pid, self.proc_root, trackable=True)

    def sampler_file(self, code: int) -> str:
        return {1: self.pagemap_path, 3: f"{self.proc_root}/{self.pid}/clear_refs"}.get(
            code, f"file {code}"
        )

    def describe(self) -> str:
        return f"softdirty (page granularity, writes) pid {self.pid} ({self._comm})"

    def close(self) -> None:
        for attr in ("_fd", "_clear_fd"):
            fd = getattr(self, attr, None)
            if fd is not None:
                os.close(fd)
                setattr(self, attr, None)
