"""`--remote` on the command line: options, the remote command, batch and TUI runs."""

from __future__ import annotations

import argparse
import shlex
import sys
import threading
from typing import TextIO

from ..backends.base import BackendError
from .client import LOST, RemoteBackend, parse_remote

# Options that choose what the remote monitors, forwarded to its `damontui record`.
FORWARDED = (
    ("pid", "--pid"), ("synthetic", "--synthetic"), ("source", "--source"), ("seed", "--seed"),
    ("min_regions", "--min-regions"), ("max_regions", "--max-regions"),
    ("backend", "--backend"), ("kdamond", "--kdamond"),
)  # fmt: skip
DURATIONS = (("sample", "--sample"), ("aggr", "--aggr"), ("update", "--update"))


def add_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("remote attach (over the system's OpenSSH client)")
    group.add_argument(
        "--remote",
        metavar="[USER@]HOST[:PORT]",
        help="watch HOST: runs 'damontui record -o - --stream' there over ssh",
    )
    group.add_argument("--allow-tuning", action="store_true",
                       help="with --remote: let scheme changes reach the remote (default: "
                       "read-only)")  # fmt: skip
    group.add_argument(
        "--ssh-option",
        action="append",
        default=[],
        metavar="OPT",
        help="with --remote: pass '-o OPT' to ssh (repeatable)",
    )
    group.add_argument(
        "--remote-command",
        default="damontui",
        metavar="CMD",
        help="with --remote: how to run damontui on HOST (default: damontui)",
    )


def remote_argv(args: argparse.Namespace) -> list[str]:
    argv = [*shlex.split(args.remote_command), "record", "-o", "-", "--stream"]
    if args.allow_tuning:
        argv.append("--allow-tuning")
    if getattr(args, "paddr", False):
        argv.append("--paddr")
    for name, flag in FORWARDED:
        value = getattr(args, name, None)
        if value is not None:
            argv += [flag, str(value)]
    for name, flag in DURATIONS:
        value = getattr(args, name, None)
        if value is not None:
            argv += [flag, f"{value}us"]
    return argv


def open_remote(args: argparse.Namespace) -> RemoteBackend:
    spec = parse_remote(args.remote)
    return RemoteBackend(spec, remote_argv(args), ssh_options=args.ssh_option,
                         allow_tuning=args.allow_tuning)  # fmt: skip


def run_remote(args: argparse.Namespace, batch: bool, refresh_s: float) -> int:
    backend = open_remote(args)
    if batch:
        return run_remote_batch(args, backend, refresh_s, sys.stdout)
    from .app import RemoteApp

    app = RemoteApp(backend, refresh_s=refresh_s, theme=args.theme, exit_on_hangup=True)
    try:
        app.run(mouse=not args.no_mouse)
        return app.return_code or 0
    finally:
        backend.close()


class _Sink:
    def __init__(self) -> None:
        self.history: list = []
        self.errors: list[str] = []
        self.lost = threading.Event()
        self.cond = threading.Condition()

    def snapshot(self, snap: object) -> None:
        with self.cond:
            self.history = [*self.history[-511:], snap]
            self.cond.notify_all()

    def error(self, text: str) -> None:
        with self.cond:
            self.errors.append(text)
            if LOST.match(text):
                self.lost.set()
            self.cond.notify_all()


def run_remote_batch(args: argparse.Namespace, backend: RemoteBackend, refresh_s: float,
                     out: TextIO) -> int:  # fmt: skip
    """Reports from the stream like local batch mode; a drop is said on stderr, the
    snapshots received are reported once more, and the exit status is 3."""
    from ..cli import _exit_on_signals, print_report

    count = 1 if args.once else (args.count if args.count is not None else 1)
    delay = args.delay if args.delay is not None else refresh_s
    sink = _Sink()
    _exit_on_signals()
    backend.start(sink.snapshot, sink.error)
    printed, shown = 0, None
    try:
        while count == 0 or printed < count:
            with sink.cond:  # the delay, cut short by a drop; then data or a drop
                sink.cond.wait_for(sink.lost.is_set, timeout=max(0.0, delay))
                sink.cond.wait_for(lambda: bool(sink.history) or sink.lost.is_set(), timeout=60)
                history = list(sink.history)
            if not history and not sink.lost.is_set():
                print(f"damontui: no data from {backend.spec.label} after 60 s", file=sys.stderr)
                return 1
            if history and (history[-1] is not shown):
                if printed:
                    out.write("\n" + "=" * 72 + "\n")
                print_report(out, history[-1], history, backend, args)
                shown = history[-1]
                printed += 1
            if sink.lost.is_set():
                break
    finally:
        backend.close()
    for text in sink.errors:
        print(f"damontui: {text}", file=sys.stderr)
    if sink.lost.is_set():
        print(f"damontui: kept {len(sink.history)} snapshots from {backend.spec.label}; "
              "run the command again to reconnect", file=sys.stderr)  # fmt: skip
        return 3
    return 0


def check(args: argparse.Namespace) -> None:
    """Flags that only make sense with --remote."""
    if not args.remote and (args.allow_tuning or args.ssh_option):
        raise BackendError("--allow-tuning and --ssh-option need --remote HOST")
