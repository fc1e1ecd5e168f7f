"""`damontui record`: run a backend headless and write its snapshots to a record.

The backend thread hands snapshots over a queue; the main thread writes them
(one frame per write) and draws the progress line, so signals (SIGINT,
SIGTERM, SIGHUP) only set a flag and the record always ends on a frame
boundary, with the backend stopped.
"""

from __future__ import annotations

import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TextIO

from ..backends.base import Backend
from ..model import BackendInfo, Snapshot
from ..model.units import format_duration_us, format_size

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class SnapshotSink(Protocol):
    """What the recorder writes to: a RecordWriter, or damo's format (record/cli.py)."""

    name: str
    parts: list[Path]
    bytes_written: int

    def write(self, snap: Snapshot, info: BackendInfo) -> None: ...

    def close(self) -> None: ...


@dataclass
class RecordResult:
    snapshots: int = 0
    bytes: int = 0
    seconds: float = 0.0
    parts: list[Path] = field(default_factory=list)
    stopped_by: str = ""  # "duration", "count", "SIGINT", "stream closed", ...
    errors: list[str] = field(default_factory=list)


class Recorder:
    """Drives one record: backend -> queue -> writer, until a stop condition."""

    def __init__(
        self,
        backend: Backend,
        writer: SnapshotSink,
        *,
        duration_s: float | None = None,
        count: int | None = None,
        progress: TextIO | None = None,
        on_snapshot: Callable[[Snapshot], None] | None = None,
    ) -> None:
        self.backend = backend
        self.writer = writer
        self.duration_s = duration_s
        self.count = count
        self.progress = progress
        self.on_snapshot = on_snapshot
        self._queue: queue.Queue[Snapshot | None] = queue.Queue()
        self._stop = threading.Event()
        self.result = RecordResult()
        self._last: Snapshot | None = None
        self._last_progress = 0.0
        self._progress_width = 0
        self._signalled = ""  # set by the signal handler (install_signals), read by run()

    def stop(self, why: str) -> None:
        if not self.result.stopped_by:
            self.result.stopped_by = why
        self._stop.set()
        self._queue.put(None)  # wake the writer loop

    def _snapshot(self, snap: Snapshot) -> None:
        self._queue.put(snap)

    def _error(self, text: str) -> None:
        self.result.errors.append(text)

    def install_signals(self) -> dict[int, Any]:
        """SIGINT/SIGTERM/SIGHUP end the record cleanly; returns the old handlers."""
        old: dict[int, Any] = {}
        if threading.current_thread() is not threading.main_thread():
            return old

        def handler(signum: int, _frame: object) -> None:
            # No lock here (no Event.set, no queue put): the handler runs in the main
            # thread between two bytecodes, maybe while that thread holds the queue's
            # lock inside get(), and taking it again would wait forever. run() looks
            # at the flag at least every 0.5 s.
            self._signalled = self._signalled or signal.Signals(signum).name

        for sig in STOP_SIGNALS:
            old[sig] = signal.signal(sig, handler)
        return old

    def run(self) -> RecordResult:
        start = time.monotonic()
        deadline = start + self.duration_s if self.duration_s else None
        try:
            self.backend.start(self._snapshot, self._error)
            while not self._stop.is_set():
                if self._signalled:
                    self.stop(self._signalled)
                    break
                timeout = (
                    0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
                )
                try:
                    snap = self._queue.get(timeout=timeout)
                except queue.Empty:
                    snap = None
                if snap is not None and snap is not self._last:
                    if not self._write(snap):
                        break
                if deadline is not None and time.monotonic() >= deadline:
                    self.stop("duration")
                if self.count and self.result.snapshots >= self.count:
                    self.stop("count")
                self._draw_progress(start)
        finally:
            self.backend.stop()
            self.result.seconds = time.monotonic() - start
            self.writer.close()
            self.result.bytes = self.writer.bytes_written
            self.result.parts = list(self.writer.parts)
            self._draw_progress(start, final=True)
        return self.result

    def _write(self, snap: Snapshot) -> bool:
        try:
            self.writer.write(snap, self.backend.info)
        except (BrokenPipeError, ConnectionResetError):
            self.stop("stream closed")  # `-o -` and the reader (ssh) went away
            return False
        self._last = snap
        self.result.snapshots += 1
        if self.on_snapshot is not None:
            self.on_snapshot(snap)
        return True

    def _draw_progress(self, start: float, final: bool = False) -> None:
        out = self.progress
        now = time.monotonic()
        if out is None or (not final and now - self._last_progress < 0.5):
            return
        self._last_progress = now
        elapsed = now - start
        nbytes = self.writer.bytes_written
        rate = nbytes / elapsed if elapsed > 0 else 0.0
        line = (
            f"recording {self.writer.name}: {format_duration_us(int(elapsed * 1e6))}  "
            f"{self.result.snapshots} snapshots  {format_size(nbytes)}  "
            f"{format_size(rate)}/s"
        )
        if len(self.writer.parts) > 1:
            line += f"  part {len(self.writer.parts)}"
        pad = max(0, self._progress_width - len(line))
        self._progress_width = len(line)
        out.write("\r" + line + " " * pad + ("\n" if final else ""))
        out.flush()


def progress_stream(stream: TextIO | None = None) -> TextIO | None:
    """stderr when it is a terminal, else None (nothing is drawn into pipes and logs)."""
    stream = stream or sys.stderr
    try:
        return stream if stream.isatty() else None
    except (AttributeError, ValueError):
        return None


def stdout_binary() -> BinaryIO:
    return sys.stdout.buffer
