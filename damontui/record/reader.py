"""Read damontui records: a frame directory from the headers, random access.

Opening scans the frame headers (36 bytes each, checksummed) without touching
payloads; a snapshot is decompressed and checked only when asked for. A file
cut short (a killed recorder, a copy in progress) reads up to its last
complete frame and says so in `warnings`; `refresh()` picks up frames that a
live recorder appended since.
"""

from __future__ import annotations

import mmap
import os
import struct
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

from ..model import Snapshot
from .codec import Meta, PayloadError, decode_meta, decode_snapshot
from .frames import (
    FRAME_HEADER_SIZE,
    HEADER_SIZE,
    KIND_META,
    KIND_SNAPSHOT,
    KINDS,
    FrameHeader,
    RecordError,
    check_file_header,
    decode_payload,
    parse_header,
)

# Everything a payload that passed its checksum could still raise while being
# decoded by a damontui that did not write it; the reader turns these into
# RecordError so callers handle one type.
DECODE_ERRORS = (PayloadError, ValueError, TypeError, KeyError, IndexError, struct.error,
                 OverflowError, RecursionError, MemoryError)  # fmt: skip


class RecordReader:
    """Random access to the snapshots of one record file (one rotation part)."""

    def __init__(self, path: str | Path, cache: int = 64) -> None:
        self.path = Path(path)
        self.name = str(path)
        self.warnings: list[str] = []
        self.truncated_at: int | None = None
        self._file = None
        self._map: mmap.mmap | bytes = b""
        self._size = 0
        self._offsets: list[int] = []  # snapshot frame offsets
        self._heads: list[FrameHeader] = []
        self._elapsed: list[int] = []
        self._meta_of: list[int] = []  # index into _metas for each snapshot
        self._metas: list[tuple[int, FrameHeader]] = []
        self._meta_cache: dict[int, Meta] = {}
        self._cache: OrderedDict[int, Snapshot] = OrderedDict()
        self._cache_size = cache
        self._scan_end = HEADER_SIZE
        self._skipped_kinds: set[int] = set()
        try:
            self._file = open(self.path, "rb")  # noqa: SIM115 - closed in close()
        except OSError as e:
            raise RecordError(self.name, None, f"can't open: {e.strerror or e}") from None
        try:
            self._remap()
            check_file_header(self._map[:HEADER_SIZE], self.name)
            self._scan()
        except BaseException:
            self.close()
            raise

    # --- directory -----------------------------------------------------------------------

    def _remap(self) -> None:
        assert self._file is not None
        size = os.fstat(self._file.fileno()).st_size
        if size == self._size and self._map:
            return
        if isinstance(self._map, mmap.mmap):
            self._map.close()
        self._size = size
        self._map = mmap.mmap(self._file.fileno(), size, access=mmap.ACCESS_READ) if size else b""

    def _scan(self) -> int:
        """Extend the directory from where the last scan stopped; returns new snapshots."""
        data, size, pos = self._map, self._size, self._scan_end
        before = len(self._offsets)
        self.truncated_at = None
        while pos < size:
            if size - pos < FRAME_HEADER_SIZE:
                self._cut(pos, "the file ends inside a frame header")
                break
            try:
                head = parse_header(data, pos, self.name)
            except RecordError:
                if data[pos:size].count(0) == size - pos:  # a torn write's zero-filled tail
                    self._cut(pos, "zero-filled tail")
                    break
                raise
            end = pos + FRAME_HEADER_SIZE + head.length
            if end > size:
                self._cut(pos, f"the last frame needs {end - size} more bytes")
                break
            if head.kind == KIND_META:
                self._metas.append((pos, head))
            elif head.kind == KIND_SNAPSHOT:
                if not self._metas:
                    raise RecordError(self.name, pos, "corrupt record: a snapshot before any meta")
                self._offsets.append(pos)
                self._heads.append(head)
                self._elapsed.append(head.elapsed_us)
                self._meta_of.append(len(self._metas) - 1)
            elif head.kind not in KINDS and head.kind not in self._skipped_kinds:
                self._skipped_kinds.add(head.kind)
                self.warnings.append(f"{self.name}: byte {pos}: skipped frames of unknown kind "
                                     f"{head.kind} (written by a newer damontui?)")  # fmt: skip
            pos = end
        self._scan_end = pos
        return len(self._offsets) - before

    def _cut(self, pos: int, why: str) -> None:
        self.truncated_at = pos
        text = (f"{self.name}: truncated at byte {pos} ({why}); read "
                f"{len(self._offsets)} complete snapshots before it")  # fmt: skip
        self.warnings = [w for w in self.warnings if "truncated at byte" not in w] + [text]

    def refresh(self) -> int:
        """Pick up frames appended since opening (a record still being written)."""
        self._remap()
        if self.truncated_at is not None:
            self.warnings = [w for w in self.warnings if "truncated at byte" not in w]
        return self._scan()

    @property
    def end_offset(self) -> int:
        """Where the last complete frame ends (an appending writer continues there)."""
        return self._scan_end

    # --- access --------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._offsets)

    @property
    def elapsed_us(self) -> list[int]:
        """Monitoring time of every snapshot, from the headers alone."""
        return self._elapsed

    def timestamp(self, index: int) -> float:
        return self._heads[index].timestamp

    def index_at(self, elapsed_us: int) -> int:
        """The last snapshot at or before `elapsed_us` (0 if all are later)."""
        return max(0, bisect_right(self._elapsed, elapsed_us) - 1)

    def meta(self, index: int) -> Meta:
        """The meta in force for snapshot `index`."""
        return self._meta_at(self._meta_of[index])

    def last_meta(self) -> Meta | None:
        return self._meta_at(len(self._metas) - 1) if self._metas else None

    def _payload(self, pos: int, head: FrameHeader) -> bytes:
        start = pos + FRAME_HEADER_SIZE
        return decode_payload(head, self._map[start : start + head.length], pos, self.name)

    def _meta_at(self, k: int) -> Meta:
        meta = self._meta_cache.get(k)
        if meta is None:
            pos, head = self._metas[k]
            try:
                meta, warnings = decode_meta(self._payload(pos, head))
            except DECODE_ERRORS as e:
                raise RecordError(self.name, pos, f"corrupt meta frame: {e}") from None
            self.warnings += [f"{self.name}: byte {pos}: {w}" for w in warnings]
            self._meta_cache[k] = meta
        return meta

    def snapshot(self, index: int) -> Snapshot:
        if not -len(self) <= index < len(self):
            raise IndexError(f"snapshot {index} of {len(self)}")
        index %= len(self)
        snap = self._cache.get(index)
        if snap is not None:
            self._cache.move_to_end(index)
            return snap
        pos, head = self._offsets[index], self._heads[index]
        meta = self.meta(index)
        try:
            snap = decode_snapshot(self._payload(pos, head), meta, head.elapsed_us, head.timestamp)
        except DECODE_ERRORS as e:
            raise RecordError(self.name, pos, f"corrupt snapshot frame: {e}") from None
        self._cache[index] = snap
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return snap

    def offset(self, index: int) -> int:
        return self._offsets[index]

    def __iter__(self) -> Iterator[Snapshot]:
        for i in range(len(self)):
            yield self.snapshot(i)

    def close(self) -> None:
        if isinstance(self._map, mmap.mmap):
            self._map.close()
        self._map = b""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> RecordReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def is_record(path: str | Path) -> bool:
    """Whether the file starts like a damontui record (for format detection)."""
    from .frames import MAGIC

    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


class RecordSet:
    """Several record files (the parts of a rotated record, or files given together)
    read as one: the RecordReader interface over their concatenated snapshots."""

    def __init__(self, paths: list[Path], cache: int = 64) -> None:
        self.readers: list[RecordReader] = []
        try:
            for path in paths:
                self.readers.append(RecordReader(path, cache=cache))
        except BaseException:
            self.close()
            raise
        self.name = ", ".join(str(p) for p in paths)
        self._reindex()

    def _reindex(self) -> None:
        self._starts = [0]
        for r in self.readers:
            self._starts.append(self._starts[-1] + len(r))

    @property
    def warnings(self) -> list[str]:
        return [w for r in self.readers for w in r.warnings]

    @property
    def elapsed_us(self) -> list[int]:
        return [t for r in self.readers for t in r.elapsed_us]

    def __len__(self) -> int:
        return self._starts[-1]

    def _locate(self, index: int) -> tuple[RecordReader, int]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"snapshot {index} of {len(self)}")
        index %= len(self)
        part = bisect_right(self._starts, index) - 1
        return self.readers[part], index - self._starts[part]

    def snapshot(self, index: int) -> Snapshot:
        reader, i = self._locate(index)
        return reader.snapshot(i)

    def meta(self, index: int) -> Meta:
        reader, i = self._locate(index)
        return reader.meta(i)

    def refresh(self) -> int:
        """New frames in the last part (the one a recorder may still write)."""
        grown = self.readers[-1].refresh() if self.readers else 0
        self._reindex()
        return grown

    def close(self) -> None:
        for r in self.readers:
            r.close()

    def __enter__(self) -> RecordSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def record_parts(paths: list[Path]) -> list[Path]:
    """The files to read: as given, and for a single FILE its rotation parts FILE.1,
    FILE.2, ... when they exist."""
    if len(paths) != 1:
        return paths
    from .writer import part_path

    out = [paths[0]]
    while part_path(paths[0], len(out)).exists():
        out.append(part_path(paths[0], len(out)))
    return out
