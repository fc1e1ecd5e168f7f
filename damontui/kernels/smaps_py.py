"""Pure-Python twin of ``smaps_region_accesses`` in ext/_kernels.pyx (see kernels_py).

The text is read line by line (lines end at ``\\n``; empty lines are skipped):

* a line starting with a lowercase hex digit is a VMA header and must start with
  ``START-END `` (1 to 16 hex digits each, then a space), with START < END and START
  at or after the previous VMA's END (the kernel lists VMAs sorted);
* a line starting with ``Referenced:`` must be exactly ``Referenced:``, spaces or
  tabs, 1 to 18 decimal digits N < 2**54, `` kB``; it belongs to the last header, and
  every VMA has exactly one;
* every other line is ignored.

A VMA's referenced share is ``min(1.0, float(N * 1024) / float(END - START))``. A
region [s, e) gets ``min(max_nr, round(float(max_nr) * referenced / float(e - s)))``
where ``referenced`` sums, over the VMAs it overlaps in order, ``float(overlap) *
share``; gaps between VMAs count as unreferenced; ``round`` is round-half-to-even (C's
``rint``). Malformed text raises ValueError naming the line; both implementations
give the same message.
"""

from __future__ import annotations

import os
import re
from array import array

BytesLike = bytes | bytearray | memoryview

U32_MAX = 0xFFFFFFFF
MAX_HEX_DIGITS = 16
MAX_KB_DIGITS = 18
KB_LIMIT = 1 << 54  # N * 1024 stays below 2**64

# Candidate lines only (headers and Referenced:), found by one C-level scan; a literal
# "\n" first lets re jump between lines (see sources/smaps.py).
_LINE = re.compile(rb"\n([0-9a-f][^\n]*|Referenced:[^\n]*)")
_HEADER = re.compile(rb"([0-9a-f]+)-([0-9a-f]+) ")
_REFERENCED = re.compile(rb"Referenced:[ \t]+([0-9]+) kB")


def _line_no(text: bytes, pos: int) -> int:
    """1-based line number of the line starting at text[pos + 1] (text has a "\\n" first)."""
    return text.count(b"\n", 0, pos + 1)


def _at(text: bytes, m: re.Match[bytes], what: str) -> ValueError:
    """The error for the line matched by ``m`` (its number counted only now)."""
    return ValueError(f"smaps line {_line_no(text, m.start())}: {what}")


def smaps_vmas(data: BytesLike) -> tuple[list[int], list[int], list[float]]:
    """(starts, ends, referenced shares) of the VMAs of an smaps text (module docstring)."""
    text = b"\n" + bytes(data)
    starts: list[int] = []
    ends: list[int] = []
    shares: list[float] = []
    head_pos = -1  # position of the open VMA's header match, -1 before the first
    has_ref = False
    for m in _LINE.finditer(text):
        line = m.group(1)
        if line.startswith(b"Referenced:"):
            if head_pos < 0:
                raise _at(text, m, "Referenced: line before any VMA header")
            start, end = starts[-1], ends[-1]
            if has_ref:
                raise _at(text, m, f"second Referenced: line in VMA {start:x}-{end:x}")
            r = _REFERENCED.fullmatch(line)
            if r is None:
                raise _at(text, m, "malformed Referenced: line (want 'Referenced: N kB')")
            digits = r.group(1)
            if len(digits) > MAX_KB_DIGITS or int(digits) >= KB_LIMIT:
                raise _at(text, m, "Referenced: value too large")
            shares[-1] = min(1.0, float(int(digits) * 1024) / float(end - start))
            has_ref = True
            continue
        h = _HEADER.match(line)
        if h is None:
            raise _at(text, m, "malformed VMA header (want START-END and a space)")
        if len(h.group(1)) > MAX_HEX_DIGITS or len(h.group(2)) > MAX_HEX_DIGITS:
            raise _at(text, m, f"VMA address longer than {MAX_HEX_DIGITS} hex digits")
        if head_pos >= 0 and not has_ref:
            raise _no_referenced(text, head_pos, starts[-1], ends[-1])
        start, end = int(h.group(1), 16), int(h.group(2), 16)
        if end <= start:
            raise _at(text, m, f"VMA {start:x}-{end:x} is empty or reversed")
        if ends and start < ends[-1]:
            raise _at(
                text, m, f"VMA {start:x}-{end:x} starts before the previous one ends ({ends[-1]:x})"
            )
        starts.append(start)
        ends.append(end)
        shares.append(0.0)
        head_pos = m.start()
        has_ref = False
    if head_pos >= 0 and not has_ref:
        raise _no_referenced(text, head_pos, starts[-1], ends[-1])
    return starts, ends, shares


def _no_referenced(text: bytes, head_pos: int, start: int, end: int) -> ValueError:
    line = _line_no(text, head_pos)
    return ValueError(f"smaps line {line}: VMA {start:x}-{end:x} has no Referenced: line")


def smaps_region_accesses(data: BytesLike, starts: array, ends: array, max_nr: int) -> array:
    """Per region [starts[i], ends[i]), the share of it that the smaps text ``data``
    says was referenced, scaled to ``max_nr`` (module docstring), as array('I').

    Regions must be sorted and non-overlapping (as the engine keeps them) for every
    overlap to be counted: VMAs and regions are swept together once.
    """
    n = len(starts)
    if len(ends) != n:
        raise ValueError("starts and ends differ in length")
    if not 0 <= max_nr <= U32_MAX:
        raise ValueError(f"max_nr must be in [0, {U32_MAX}], got {max_nr}")
    vstarts, vends, shares = smaps_vmas(data)
    nv = len(vstarts)
    out = array("I", bytes(4 * n))
    scale = float(max_nr)
    j = 0
    for i in range(n):
        start, end = starts[i], ends[i]
        if end <= start:
            raise ValueError(f"region {i} [{start:#x}, {end:#x}) is empty")
        while j < nv and vends[j] <= start:
            j += 1
        referenced = 0.0
        k = j
        while k < nv and vstarts[k] < end:
            overlap = min(end, vends[k]) - max(start, vstarts[k])
            referenced += float(overlap) * shares[k]
            k += 1
        out[i] = min(max_nr, round(scale * referenced / float(end - start)))
    return out


def read_to_end(fd: int, buf: bytearray, offset: int) -> int:
    """Read ``fd`` into ``buf[offset:]`` until end of file or until ``buf`` is full;
    return how many bytes ``buf`` now holds (offset plus what was read).

    Each read asks for all the room left, as the bench's C floor does (seq_file files
    such as smaps hand out about a page per read whatever is asked, but an ask that
    ends mid-record costs an extra read). EINTR is retried; other errors raise OSError.
    """
    if not 0 <= offset <= len(buf):
        raise ValueError(f"offset must be in [0, {len(buf)}], got {offset}")
    n = offset
    with memoryview(buf) as view:
        while n < len(buf):
            got = os.readv(fd, [view[n:]])  # retries EINTR itself (PEP 475)
            if got == 0:
                break
            n += got
    return n
