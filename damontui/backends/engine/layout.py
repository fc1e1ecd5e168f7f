"""Address-layout helpers: what the engine should monitor for a process or for RAM.

For a process, DAMON's vaddr operations do not monitor every mapping: they take the
whole span of mappings and cut out the two biggest unmapped gaps, leaving three
regions that roughly hold the heap, the mmap area and the stack. Monitoring the huge
gaps would waste regions on addresses that can never be accessed.
"""

from __future__ import annotations

import re

from ...procfs import Range, pid_alive, read_iomem
from ...procfs import system_ram_ranges as system_ram_ranges  # parsed in procfs

# [vsyscall] is listed in maps but is not a VMA of the process (it is the kernel's
# gate page, far above the stack); counting it would make stack->vsyscall the biggest
# gap and leave the stack lumped with the mmap area.
_NOT_VMAS = ("[vsyscall]",)
# Special mappings whose pages DAMON's vaddr checks never count as accessed: the vDSO's
# pages are on no LRU and vvar's are PFN-mapped kernel pages, so damon_get_folio()
# finds no folio. The idle bitmap reads such a page as "not idle" (accessed) at every
# check: the page samplers treat these mappings as holes (see read_mapped).
_UNTRACKED = ("[vvar]", "[vvar_vclock]", "[vdso]")


# A header line: "start-end perms ..."; smaps field lines ("Size: ...") don't match.
_HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (.*)$", re.MULTILINE)


def parse_maps(text: str, skip: tuple[str, ...] = _NOT_VMAS) -> list[Range]:
    """Mapped ranges (start, end exclusive) of a /proc/PID/maps (or smaps) text.

    Only header lines ``start-end perms offset dev inode [path]`` count; smaps field
    lines (``Size: ...``) are skipped, so both files parse alike. One regular
    expression over the text: the page samplers re-read maps every second, and a
    per-line split cost ~8 ms for 200 mappings in a TCG guest. Mappings whose name
    ends with one of ``skip`` are left out.
    """
    return [
        (start, end)
        for start, end, rest in ((int(a, 16), int(b, 16), r) for a, b, r in _HEADER.findall(text))
        if end > start and not rest.rstrip().endswith(skip)
    ]


def merge_ranges(ranges: list[Range]) -> list[Range]:
    """Sort and coalesce overlapping or touching ranges."""
    merged: list[Range] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def three_regions(ranges: list[Range]) -> list[Range]:
    """DAMON's vaddr initial layout: the mapped span minus its two biggest gaps.

    Returns [first start, gap A start), [gap A end, gap B start), [gap B end, last end)
    with gaps A and B in address order. With fewer than three separate mappings, the
    mappings themselves (merged) are returned.
    """
    merged = merge_ranges(ranges)
    if len(merged) < 3:
        return merged
    # Track the two biggest gaps; on ties the lower one wins, as a strict '>' keeps it.
    big: tuple[int, int] | None = None  # (size, index of mapping after the gap)
    second: tuple[int, int] | None = None
    for i in range(1, len(merged)):
        size = merged[i][0] - merged[i - 1][1]
        if big is None or size > big[0]:
            big, second = (size, i), big
        elif second is None or size > second[0]:
            second = (size, i)
    assert big is not None and second is not None
    a, b = sorted((big[1], second[1]))
    return [
        (merged[0][0], merged[a - 1][1]),
        (merged[a][0], merged[b - 1][1]),
        (merged[b][0], merged[-1][1]),
    ]


def read_three_regions(pid: int, proc_root: str = "/proc") -> list[Range]:
    """three_regions() of /proc/PID/maps; TargetGone/SourceError name the pid/file."""
    return three_regions(read_mapped(pid, proc_root))


def read_mapped(pid: int, proc_root: str = "/proc", trackable: bool = False) -> list[Range]:
    """The mapped ranges of /proc/PID/maps, merged; TargetGone/SourceError name the
    pid/file. ``trackable``: without the special mappings DAMON never finds accessed
    (_UNTRACKED), for the page samplers."""
    from .sources.base import SourceError, TargetGone

    path = f"{proc_root}/{pid}/maps"
    try:
        with open(path) as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError):
        raise TargetGone(f"pid {pid} exited ({path} gone)") from None
    except OSError as e:
        raise SourceError(f"cannot read {path}: {e.strerror}") from None
    ranges = parse_maps(text)
    if not ranges:
        if not pid_alive(pid, proc_root):
            raise TargetGone(f"pid {pid} exited")
        raise SourceError(f"{path} lists no mappings (kernel thread without address space?)")
    if trackable:
        ranges = parse_maps(text, _NOT_VMAS + _UNTRACKED)
    return merge_ranges(ranges)


def read_system_ram(iomem_path: str = "/proc/iomem") -> list[Range]:
    """system_ram_ranges() of the iomem file; SourceError names the file."""
    from .sources.base import SourceError

    try:
        text = read_iomem(iomem_path)
    except OSError as e:
        raise SourceError(f"cannot read {iomem_path}: {e.strerror}") from None
    try:
        ranges = system_ram_ranges(text)
    except ValueError as e:
        raise SourceError(f"{iomem_path}: {e}") from None
    if not ranges:
        raise SourceError(f"{iomem_path} lists no System RAM")
    return ranges
