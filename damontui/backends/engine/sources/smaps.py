"""Access source from /proc/PID/smaps ``Referenced:`` after ``clear_refs`` 1.

Works on any kernel with CONFIG_PROC_PAGE_MONITOR, but only knows, per VMA, how many
bytes were referenced since the reset, not which pages. DAMON checks one random page
per region; Referenced/Size is exactly the chance that a uniformly random page of
the VMA was referenced, so each address is reported accessed with that probability.
The estimate is right on average per VMA but cannot tell hot and cold parts of one
VMA apart.
"""

from __future__ import annotations

import os
import re
from array import array
from dataclasses import dataclass
from typing import Any, ClassVar

from .... import kernels
from ....procfs import pid_alive, proc_comm
from ..layout import read_three_regions
from ..regionset import make_rng
from .base import (
    AccessSource,
    ProbeResult,
    SourceError,
    TargetGone,
    ensure_alive,
    write_clear_refs,
)

_HEADER = re.compile(rb"^([0-9a-f]+)-([0-9a-f]+) ", re.M)
_REFERENCED = re.compile(rb"^Referenced:\s+(\d+) kB", re.M)
_RSS = re.compile(rb"^Rss:\s+(\d+) kB", re.M)


@dataclass(frozen=True)
class SmapsVma:
    start: int
    end: int
    rss: int  # bytes resident
    referenced: int  # bytes referenced since the last clear_refs


def parse_smaps(data: bytes) -> list[SmapsVma]:
    """VMAs of an smaps text. Regexes over the whole text keep parsing in C.

    Every VMA has exactly one header, one Rss: and one Referenced: line, in order.
    """
    heads = _HEADER.findall(data)
    rss = _RSS.findall(data)
    refs = _REFERENCED.findall(data)
    if not (len(heads) == len(rss) == len(refs)):
        raise ValueError(
            f"smaps has {len(heads)} VMA headers but {len(rss)} Rss and {len(refs)} "
            "Referenced lines"
        )
    return [
        SmapsVma(int(s, 16), int(e, 16), int(r) * 1024, int(f) * 1024)
        for (s, e), r, f in zip(heads, rss, refs, strict=True)
    ]


class SmapsSource(AccessSource):
    """VMA-granular access source for one process (see module docstring)."""

    name: ClassVar[str] = "smaps"
    granularity: ClassVar[str] = "vma"
    sees: ClassVar[str] = "reads+writes"
    description: ClassVar[str] = (
        "clear_refs + /proc/PID/smaps Referenced: per-VMA share of referenced bytes "
        "(works on any kernel, VMA granularity)"
    )

    def __init__(self, pid: int, proc_root: str = "/proc", seed: int = 0) -> None:
        self.pid = pid
        self.proc_root = proc_root
        self.smaps_path = f"{proc_root}/{pid}/smaps"
        self._rng = make_rng(seed)
        self._comm = proc_comm(pid, proc_root, missing="?")
        ensure_alive(proc_root, pid)

    @classmethod
    def probe(cls, **kwargs: Any) -> ProbeResult:
        """With pid=None, probes whether the kernel offers the files (via /proc/self)."""
        proc_root = kwargs.get("proc_root", "/proc")
        pid = kwargs.get("pid")
        who = "self" if pid is None else str(pid)
        if pid is not None and not pid_alive(pid, proc_root):
            return ProbeResult(False, f"smaps unavailable: pid {pid} not found in {proc_root}")
        smaps = f"{proc_root}/{who}/smaps"
        clear = f"{proc_root}/{who}/clear_refs"
        for path in (smaps, clear):
            if not os.path.exists(path):
                return ProbeResult(
                    False, f"smaps unavailable: {path} not found (needs CONFIG_PROC_PAGE_MONITOR)"
                )
        if not os.access(smaps, os.R_OK):
            return ProbeResult(False, f"smaps unavailable: {smaps} not readable (run as root)")
        if not os.access(clear, os.W_OK):
            return ProbeResult(False, f"smaps unavailable: {clear} not writable (run as root)")
        return ProbeResult(True, "")

    def _read(self) -> bytes:
        try:
            with open(self.smaps_path, "rb") as f:
                data = f.read()
        except (FileNotFoundError, ProcessLookupError):
            raise TargetGone(f"pid {self.pid} exited ({self.smaps_path} gone)") from None
        except OSError as e:
            raise SourceError(f"cannot read {self.smaps_path}: {e.strerror}") from None
        if not data:
            ensure_alive(self.proc_root, self.pid)  # zombies read empty
        return data

    def vmas(self) -> list[SmapsVma]:
        try:
            return parse_smaps(self._read())
        except ValueError as e:
            raise SourceError(f"{self.smaps_path}: {e}") from None

    def target_ranges(self) -> list[tuple[int, int]]:
        return read_three_regions(self.pid, self.proc_root)

    def prepare(self, addrs: array) -> None:
        # clear_refs works on the whole process, so one write serves any batch.
        if len(addrs):
            write_clear_refs(self.proc_root, self.pid, b"1")

    def check(self, addrs: array) -> bytearray:
        if not len(addrs):
            return bytearray()
        starts, ends, probs = array("Q"), array("Q"), array("d")
        for v in self.vmas():
            starts.append(v.start)
            ends.append(v.end)
            probs.append(min(1.0, v.referenced / (v.end - v.start)))
        # Addresses outside every VMA (unmapped since) come back 0 from the kernel.
        return kernels.synthetic_check(addrs, starts, ends, probs, self._rng)

    def describe(self) -> str:
        return f"smaps (VMA granularity, reads+writes) pid {self.pid} ({self._comm})"
