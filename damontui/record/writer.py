"""Write damontui records: one frame per write(), rotation, append, streams."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from ..model import BackendInfo, Snapshot, Target
from .codec import Meta, encode_meta, encode_snapshot
from .frames import KIND_META, KIND_NOTE, KIND_SNAPSHOT, RecordError, encode_frame, file_header

# The smallest --max-size: a part must hold its header, its meta and a snapshot.
MIN_PART_SIZE = 4096


def part_path(path: Path, number: int) -> Path:
    """Rotation part `number` (0 is the path itself): out.dtrec, out.dtrec.1, ..."""
    return path if number == 0 else path.with_name(f"{path.name}.{number}")


class RecordWriter:
    """Appends snapshots to a record file, or to a binary stream (`-o -`).

    A meta frame (backend info, attributes, schemes, targets) precedes the
    first snapshot and is written again whenever any of it changes, so every
    part of a rotated record, and every reader joining a stream, has what it
    needs. Each frame goes out in a single write(); nothing is buffered, so a
    kill at any moment keeps every snapshot written before it.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        stream: BinaryIO | None = None,
        max_size: int | None = None,
        append: bool = False,
        extra: dict[str, Any] | None = None,
        on_rotate: Callable[[Path], None] | None = None,
    ) -> None:
        if (path is None) == (stream is None):
            raise ValueError("RecordWriter needs exactly one of path and stream")
        if max_size is not None and max_size < MIN_PART_SIZE:
            raise ValueError(f"--max-size: {max_size} is too small; at least {MIN_PART_SIZE} B")
        self.path = Path(path) if path is not None else None
        self.name = str(path) if path is not None else "<stream>"
        self._stream = stream
        self._fd: int | None = None
        self.max_size = max_size if stream is None else None
        self.extra = dict(extra or {})
        self.on_rotate = on_rotate
        self.part = 0
        self.parts: list[Path] = []
        self.part_bytes = 0
        self.bytes_written = 0  # all parts
        self.snapshots = 0
        self._meta: Meta | None = None
        self._targets: dict[Target, int] = {}
        self._closed = False
        self._part_first = 0
        self._elapsed_offset = 0  # added to the snapshots' monitoring time (--append)
        self._append_after: int | None = None
        self._lock = threading.Lock()  # whole frames only, from the recorder and control
        if self.path is not None:
            self._open_part(append)
        else:
            self._emit(file_header())

    # --- output --------------------------------------------------------------------------

    def _open_part(self, append: bool = False) -> None:
        assert self.path is not None
        path = part_path(self.path, self.part)
        try:
            if append and path.exists() and path.stat().st_size > 0:
                self._reopen(path)
            else:
                self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                self.part_bytes = 0
                self._emit(file_header())
        except OSError as e:
            raise RecordError(str(path), None, f"can't write: {e.strerror or e}") from None
        self.parts.append(path)

    def _reopen(self, path: Path) -> None:
        """Append to an existing record: drop a partial last frame, continue."""
        from .reader import RecordReader

        with RecordReader(path) as reader:
            end = reader.end_offset
            meta = reader.last_meta()
            self.snapshots = self._part_first = len(reader)
            if len(reader):  # where the record's clock stands (see _snapshot_frame)
                self._append_after = reader.elapsed_us[-1] + (meta.attrs.aggr_us if meta else 0)
        self._fd = os.open(path, os.O_WRONLY)
        os.ftruncate(self._fd, end)
        os.lseek(self._fd, end, os.SEEK_SET)
        self.part_bytes = end
        if meta is not None:
            self._meta = meta
            self._targets = {t: i for i, t in enumerate(meta.targets)}

    def _emit(self, data: bytes) -> None:
        with self._lock:
            self._emit_locked(data)

    def _emit_locked(self, data: bytes) -> None:
        if self._stream is not None:
            self._stream.write(data)
            self._stream.flush()
        else:
            assert self._fd is not None
            view = memoryview(data)
            while view:  # a regular file takes it whole; loop for safety
                n = os.write(self._fd, view)
                view = view[n:]
        self.part_bytes += len(data)
        self.bytes_written += len(data)

    # --- frames --------------------------------------------------------------------------

    def _index_targets(self, snap: Snapshot) -> dict[Target, int]:
        for ts in snap.targets:
            self._targets.setdefault(ts.target, len(self._targets))
        return self._targets

    def _need_meta(self, snap: Snapshot, info: BackendInfo) -> bool:
        meta = self._meta
        if meta is None or len(meta.targets) != len(self._targets):
            return True
        return not (
            meta.attrs == snap.attrs
            and (meta.schemes is snap.schemes or meta.schemes == snap.schemes)
            and meta.info == info
        )

    def _write_meta(self, snap: Snapshot, info: BackendInfo) -> None:
        meta = Meta(info, snap.attrs, tuple(snap.schemes), tuple(self._targets), self.extra)
        self._emit(encode_frame(KIND_META, encode_meta(meta), timestamp=snap.timestamp))
        self._meta = meta

    def write(self, snap: Snapshot, info: BackendInfo) -> None:
        """Append one snapshot (after a meta frame if anything it refers to changed)."""
        if self._closed:
            raise RecordError(self.name, None, "write after close")
        frame = self._snapshot_frame(snap)
        if self._rotation_due(len(frame)):
            self._rotate()
            frame = self._snapshot_frame(snap)
        if self._need_meta(snap, info):
            self._write_meta(snap, info)
        self._emit(frame)
        self.snapshots += 1

    def note(self, doc: dict[str, Any]) -> None:
        """A note frame (JSON) for a stream's viewer; record readers skip notes."""
        if not self._closed:
            self._emit(encode_frame(KIND_NOTE, json.dumps(doc).encode(), compress=False))

    def _snapshot_frame(self, snap: Snapshot) -> bytes:
        if self._append_after is not None:
            # A new run appended to a record starts its clock at 0: shift it so the
            # record keeps one increasing clock (a continuing run needs no shift).
            if snap.elapsed_us < self._append_after:
                self._elapsed_offset = self._append_after - snap.elapsed_us
            self._append_after = None
        body = encode_snapshot(snap, self._index_targets(snap))
        return encode_frame(KIND_SNAPSHOT, body, seq=self.snapshots,
                            elapsed_us=snap.elapsed_us + self._elapsed_offset,
                            timestamp=snap.timestamp)  # fmt: skip

    def _rotation_due(self, upcoming: int) -> bool:
        # A part holds at least one snapshot whatever its size; 1 KiB is left
        # for a meta frame the snapshot may need.
        return (
            self.max_size is not None
            and self.part_snapshots() > 0
            and self.part_bytes + upcoming + 1024 > self.max_size
        )

    def part_snapshots(self) -> int:
        return self.snapshots - self._part_first

    def _rotate(self) -> None:
        self._close_fd()
        self.part += 1
        self._meta = None  # each part starts with its own meta: readable alone
        self._targets = {}
        self._part_first = self.snapshots
        self._open_part()
        if self.on_rotate is not None:
            self.on_rotate(self.parts[-1])

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._stream is not None:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                pass
        else:
            self._close_fd()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
