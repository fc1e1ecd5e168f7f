"""I/O helpers of the pure-Python sampler twin (sampler_py): reads, errors, the stop flag."""

from __future__ import annotations

import errno as errno_mod
import os
import threading
from bisect import bisect_right
from collections.abc import Sequence

FILE_PAGEMAP = 1  # the file code of sampler_py (CONSTANTS)


class _Gone(Exception):
    pass


class _Errno(Exception):
    def __init__(self, err: int, file: int) -> None:
        super().__init__(err, file)
        self.err, self.file = err, file


class StopFlag:
    """Set from any thread to end a running ``run()`` at once (it wakes the sleep)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        return self._event.wait(seconds)


def _pread(fd: int, nbytes: int, offset: int, file: int) -> bytes:
    """nbytes from offset, zero-filled past EOF; a pagemap EOF at once means gone."""
    out = b""
    while len(out) < nbytes:
        try:
            got = os.pread(fd, nbytes - len(out), offset + len(out))
        except InterruptedError:
            continue
        except ProcessLookupError:
            raise _Gone() from None
        except OSError as e:
            raise _Errno(e.errno or errno_mod.EIO, file) from None
        if not got:
            if not out and file == FILE_PAGEMAP:
                raise _Gone()
            return out + bytes(nbytes - len(out))
        out += got
    return out


def _pwrite(fd: int, data: bytes, offset: int, file: int) -> None:
    """All of data at offset (a short write is continued; 0 bytes written is EIO)."""
    done = 0
    while done < len(data):
        try:
            put = os.pwrite(fd, data[done:], offset + done)
        except InterruptedError:
            continue
        except OSError as e:
            raise _Errno(e.errno or errno_mod.EIO, file) from None
        if put == 0:
            raise _Errno(errno_mod.EIO, file)
        done += put


def mapped_span(
    mapped: Sequence[int] | None, a: int, ps: int, start: int, end: int
) -> tuple[int, int]:
    """Pages [start, end) clipped to the mapped range holding address a (the compiled
    _clip_to_mapped): a sample's window never reaches into a hole or a special
    mapping. None means every address is mapped."""
    if mapped is None:
        return start, end
    i = bisect_right(mapped, a)
    if i % 2 == 0:
        return start, end  # in a hole: such samples are skipped before windows
    return max(start, mapped[i - 1] // ps), min(end, mapped[i] // ps)


def in_hole(mapped: Sequence[int] | None, a: int) -> bool:
    """True if address a is in none of the flat sorted [start, end, ...] ranges
    (the compiled _in_hole); None means every address is mapped."""
    if mapped is None:
        return False
    i = bisect_right(mapped, a)  # odd: inside [start, end)
    return i % 2 == 0
