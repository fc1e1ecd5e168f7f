"""The `record`, `report` and `replay` subcommands (cli.py dispatches here)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from ..model import ValidationError
from ..model.units import format_size, parse_size
from .frames import RecordError

COMMANDS = ("record", "report", "replay")
FORMATS = ("damontui", "damo")


def _size(text: str) -> int:
    try:
        return parse_size(text, "--max-size")
    except ValidationError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _backend_options(parser: argparse.ArgumentParser) -> None:
    # No choices here: the backend selection (select.py) names the valid ones, so a
    # backend added there (e.g. damon_stat) can be recorded without editing this list.
    parser.add_argument("--backend", metavar="NAME",
                        help="where data comes from: auto (default), engine, kernel, "
                             "damon_stat")  # fmt: skip
    parser.add_argument(
        "--kdamond",
        type=int,
        metavar="N",
        help="record the existing kdamond N (read-only unless damontui's)",
    )
    parser.add_argument("--take-over", metavar="NAME", help=argparse.SUPPRESS)
    parser.add_argument("--reset-stopped", metavar="NAME", action="append", default=[],
                        help=argparse.SUPPRESS)  # fmt: skip
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="leave kernel DAMON monitoring running after the record",
    )
    parser.add_argument("--turn-off", metavar="MODULE", action="append", default=[],
                        help="turn the in-kernel DAMON user MODULE (damon_stat, ...) off for "
                             "the record and back on after it")  # fmt: skip


def add_parsers(
    sub: argparse._SubParsersAction,
    target_options: Callable[[argparse.ArgumentParser], None],
    seconds: Callable[[str], float],
) -> None:
    rec = sub.add_parser(
        "record",
        help="record snapshots headless to a file (or stdout)",
        description="Run a backend without the TUI and write its snapshots to a damontui "
        "record (compressed, checksummed frames; readable while written). Ends cleanly "
        "on SIGINT, SIGTERM or SIGHUP; a record killed harder keeps every complete snapshot.",
    )
    rec.add_argument("-o", "--output", required=True, metavar="FILE",
                     help="record file; '-' streams to stdout (for --remote)")  # fmt: skip
    rec.add_argument("--duration", type=seconds, metavar="S", help="stop after S seconds")
    rec.add_argument("--count", type=int, metavar="N", help="stop after N snapshots")
    rec.add_argument(
        "--max-size",
        type=_size,
        metavar="SIZE",
        help="rotate: start FILE.1, FILE.2, ... when a part would pass SIZE",
    )
    rec.add_argument("--append", action="store_true", help="append to an existing record")
    rec.add_argument(
        "--format",
        choices=FORMATS,
        default="damontui",
        help="damontui (default) or damo (damo's json_compressed record)",
    )
    rec.add_argument(
        "--stream",
        action="store_true",
        help="with -o -: serve a --remote viewer (control requests on stdin)",
    )
    rec.add_argument(
        "--allow-tuning",
        action="store_true",
        help="with --stream: accept scheme changes from the viewer",
    )
    target_options(rec)
    _backend_options(rec)

    rep = sub.add_parser(
        "report",
        help="print a text report of a record",
        description="Text reports of a damontui or damo record.",
    )
    rep.add_argument(
        "files",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="a record (with its rotation parts FILE.1, ...), or several",
    )
    from .report import SORTS, STYLES

    rep.add_argument(
        "--style",
        choices=STYLES,
        default="summary",
        help=f"report style: {', '.join(STYLES)} (default: summary)",
    )
    rep.add_argument(
        "--json", action="store_true", help="machine-readable regions of every snapshot (JSON)"
    )
    rep.add_argument("--since", metavar="T", help="skip snapshots before T (e.g. 30s, 5m)")
    rep.add_argument("--until", metavar="T", help="skip snapshots after T")
    rep.add_argument(
        "--sort",
        choices=SORTS,
        help="region order (default: temperature, hottest first; address for --json)",
    )
    rep.add_argument("--limit", type=int, metavar="N", help="at most N rows per table")
    rep.add_argument(
        "--heatmap", type=Path, metavar="OUT.svg", help="also write the heatmap as an SVG picture"
    )
    rep.add_argument("--width", type=int, default=72, metavar="N", help="heatmap columns (72)")
    rep.add_argument("--height", type=int, default=16, metavar="N", help="heatmap rows (16)")

    rp = sub.add_parser("replay", help="open the app on a record",
                        description="Browse a recorded session with every view: time slider, "
                        "play/pause, speed, step, jump. Read-only.")  # fmt: skip
    rp.add_argument(
        "files",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="a record (with its rotation parts FILE.1, ...), or several",
    )
    rp.add_argument("--theme", metavar="NAME", help="colour theme")
    rp.add_argument("--no-color", action="store_true", help="no colours (as NO_COLOR)")
    rp.add_argument("--no-mouse", action="store_true", help="do not capture the mouse")
    rp.add_argument("--speed", type=float, default=1.0, metavar="X", help="playback speed (1)")
    rp.add_argument(
        "--follow",
        action="store_true",
        help="a record still being written: playing on at its end waits for more",
    )


def run(args: argparse.Namespace) -> int:
    try:
        if args.command == "record":
            return run_record(args)
        if args.command == "report":
            from .report import run_report

            return run_report(args, sys.stdout)
        from .replay import run_replay

        return run_replay(args)
    except RecordError as e:
        print(f"damontui {args.command}: error: {e}", file=sys.stderr)
        return 1


def run_record(args: argparse.Namespace) -> int:
    from .. import cli as main_cli
    from .recorder import Recorder, SnapshotSink, progress_stream, stdout_binary
    from .writer import RecordWriter

    to_stdout = args.output == "-"
    if to_stdout and sys.stdout.isatty():
        print("damontui record: error: -o -: stdout is a terminal; pipe it (or give a FILE)",
              file=sys.stderr)  # fmt: skip
        return 2
    if (args.stream or args.allow_tuning) and not to_stdout:
        print("damontui record: error: --stream and --allow-tuning need -o - (stdout)",
              file=sys.stderr)  # fmt: skip
        return 2
    if args.count is not None and args.count < 1:
        print(f"damontui record: error: --count: {args.count} is invalid; >= 1",
              file=sys.stderr)  # fmt: skip
        return 2
    damo_write = _damo_writer() if args.format == "damo" else None
    if args.format == "damo" and (damo_write is None or to_stdout or args.max_size or args.append):
        why = (
            "this build lacks damontui.formats.damo_record"
            if damo_write is None
            else "damo's format is one JSON document: no -o -, --max-size or --append"
        )
        print(f"damontui record: error: --format damo: {why}", file=sys.stderr)
        return 2
    config, config_errors = main_cli._load_config(args)
    for error in config_errors:
        print(f"damontui record: config: {error}", file=sys.stderr)
    backend = main_cli._open_backend(args, config)
    extra = {"host": os.uname().nodename, "argv": sys.argv[1:]}
    try:
        writer: SnapshotSink
        if damo_write is not None:
            writer = DamoRecordSink(args.output, damo_write)
        elif to_stdout:
            writer = RecordWriter(stream=stdout_binary(), extra=extra)
        else:
            writer = RecordWriter(args.output, max_size=args.max_size, append=args.append,
                                  extra=extra)  # fmt: skip
    except (RecordError, ValueError) as e:
        main_cli._close(backend)
        print(f"damontui record: error: {e}", file=sys.stderr)
        return 1
    recorder = Recorder(backend, writer, duration_s=args.duration, count=args.count,
                        progress=progress_stream())  # fmt: skip
    old_handlers = recorder.install_signals()
    control = None
    if args.stream and isinstance(writer, RecordWriter):
        from ..remote.serve import StreamControl

        control = StreamControl(backend, writer, recorder, allow_tuning=args.allow_tuning)
        control.start()
    try:
        result = recorder.run()
    finally:
        main_cli._close(backend)
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
    for text in result.errors:
        print(f"damontui record: {text}", file=sys.stderr)
    if not to_stdout and progress_stream() is None and not args.stream:
        parts = ", ".join(str(p) for p in result.parts)
        print(f"damontui record: {result.snapshots} snapshots, {format_size(result.bytes)} "
              f"in {parts} ({result.stopped_by or 'stopped'})", file=sys.stderr)  # fmt: skip
    if result.snapshots == 0 and result.stopped_by in ("duration", "count"):
        print("damontui record: no snapshot arrived; record longer (--duration)",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


def _damo_writer() -> object | None:
    try:
        from ..formats.damo_record import write_damo_record
    except ImportError:
        return None
    return write_damo_record


class DamoRecordSink:
    """The RecordWriter interface over damo's record format: damo's file is one JSON
    document, so snapshots are kept and written when the record ends (a clean end:
    SIGINT/SIGTERM/SIGHUP, --duration, --count; a kill -9 loses them)."""

    def __init__(self, path: str, write: object) -> None:
        self.name = path
        self.path = Path(path)
        self.parts = [self.path]
        self._write = write
        self._snaps: list = []
        self.bytes_written = 0
        self._closed = False
        try:  # fail now, not after an hour of recording
            self.path.touch()
        except OSError as e:
            raise RecordError(path, None, f"can't write: {e.strerror or e}") from None

    def write(self, snap: object, info: object) -> None:
        self._snaps.append(snap)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._write(self.path, self._snaps, "json_compressed")  # type: ignore[operator]
        except OSError as e:
            raise RecordError(self.name, None, f"can't write: {e.strerror or e}") from None
        self.bytes_written = self.path.stat().st_size
