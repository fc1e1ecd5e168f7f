"""Command line: the TUI, its plain-text batch mode, and `damontui engine`.

Batch mode (header, region table and text heatmap via damontui.report) is used
with --batch/--once, and automatically when stdout is not a terminal or
TERM=dumb, because Textual has no fallback for those.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from . import inputs, report
from .backends.base import Backend, BackendError, Stepper
from .backends.select import BackendRequest, open_backend, open_engine_once
from .cli_args import PATTERNS as PATTERNS
from .cli_args import SORTS as SORTS
from .cli_args import SOURCES as SOURCES
from .cli_args import build_parser as build_parser
from .model import (
    DEFAULT_WEIGHTS,
    MonitoringAttrs,
    Snapshot,
    Target,
    TargetKind,
    TemperatureWeights,
    ValidationError,
)
from .model.errors import InputError
from .procfs import proc_comm

# --- configuration and backend --------------------------------------------------------


def _load_config(args: argparse.Namespace) -> tuple[object | None, list[str]]:
    try:
        from .config import load_config
    except ImportError as e:  # the app still runs on built-in defaults
        return None, [f"config not loaded: {e}"]
    return load_config(args.config)


def _setting(args: argparse.Namespace, config: object | None, name: str, field: str,
             default: Any) -> Any:  # fmt: skip
    """Command line first, then the config file, then the built-in default."""
    value = getattr(args, name, None)
    if value is not None:
        return value
    return getattr(config, field, default) if config is not None else default


def _attrs(args: argparse.Namespace, config: object | None) -> MonitoringAttrs:
    attrs: MonitoringAttrs = getattr(config, "intervals", None) or MonitoringAttrs()
    given = {
        field: value
        for field, value in (
            ("sample_us", args.sample), ("aggr_us", args.aggr), ("update_us", args.update),
            ("min_nr_regions", args.min_regions), ("max_nr_regions", args.max_regions),
        )
        if value is not None
    }  # fmt: skip
    path = getattr(config, "path", None)
    origin = f"the config file {path}" if path and attrs != MonitoringAttrs() else "the defaults"
    return inputs.attrs_from_flags(attrs, given, origin)


def _target(args: argparse.Namespace) -> Target | None:
    """The target named on the command line; None lets the backend choice decide."""
    if args.pid is not None:
        return Target(TargetKind.PID, pid=args.pid, name=proc_comm(args.pid))
    if args.paddr:
        return Target(TargetKind.PADDR)
    if args.synthetic:
        return Target(TargetKind.SYNTHETIC, name=args.synthetic)
    return None


def _request(args: argparse.Namespace, config: object | None) -> BackendRequest:
    config_source = getattr(config, "source", "auto")
    if getattr(args, "damo_config", None):
        from .damo_cli import damo_config

        target, attrs, schemes = damo_config(args.damo_config)
        return replace(_request(replace_ns(args, damo_config=None), config), target=target,
                       attrs=attrs, schemes=schemes)  # fmt: skip
    return BackendRequest(
        backend=str(_setting(args, config, "backend", "backend", "auto")),
        target=_target(args),
        source=args.source or (None if config_source == "auto" else config_source),
        synthetic_pattern=str(
            _setting(args, config, "synthetic", "synthetic_pattern", "hotcold")
        ),  # fmt: skip
        seed=int(_setting(args, config, "seed", "seed", 0)),
        attrs=_attrs(args, config),
        schemes=tuple(getattr(config, "schemes", ())),
        kdamond=getattr(args, "kdamond", None),
        take_over=getattr(args, "take_over", None),
        reset_stopped=tuple(getattr(args, "reset_stopped", ()) or ()),
        keep_running=bool(getattr(args, "keep_running", False)),
        cpu_budget=(
            getattr(config, "cpu_budget", 2.0)
            if args.cpu_budget is None
            else args.cpu_budget or None
        ),  # fmt: skip
        turn_off=tuple(getattr(args, "turn_off", ()) or ()),
    )


def replace_ns(args: argparse.Namespace, **changes: object) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), **changes})


def _open_backend(args: argparse.Namespace, config: object | None) -> Backend:
    """The best backend for the request; selection notes travel in its BackendInfo."""
    request = _request(args, config)
    inputs.check_reset_stopped(request.reset_stopped, request.backend, request.sysfs_root)
    target = request.target
    if request.source not in (None, "synthetic") and (
        target is None or target.kind is TargetKind.SYNTHETIC
    ):  # fmt: skip
        if args.source:
            raise InputError(inputs.source_needs_target(args.source), "--source")
        request = replace(request, source=None)  # the config's source is for real targets
    return open_backend(request)


# --- batch mode -----------------------------------------------------------------------


class _Collector:
    """Receives snapshots from the backend thread."""

    def __init__(self) -> None:
        self.history: list[Snapshot] = []
        self.errors: list[str] = []
        self.cond = threading.Condition()

    def snapshot(self, snap: Snapshot) -> None:
        with self.cond:
            self.history = [*self.history[-511:], snap]
            self.cond.notify_all()

    def error(self, text: str) -> None:
        with self.cond:
            self.errors.append(text)

    def newer_than(self, seen: Snapshot | None) -> bool:
        """A snapshot other than `seen` arrived last (call with `cond` held)."""
        return bool(self.history) and self.history[-1] is not seen


def _temperature_weights(args: argparse.Namespace, config: object | None) -> TemperatureWeights:
    """--temperature-weights, else the config's [temperature_weights], else damo's."""
    flag = getattr(args, "temperature_weights", None)
    if flag is not None:
        return TemperatureWeights(*flag)  # ValidationError names the weight
    return getattr(config, "temperature_weights", None) or DEFAULT_WEIGHTS


def print_report(out: TextIO, snap: Snapshot, history: Sequence[Snapshot], backend: Backend,
                 args: argparse.Namespace) -> None:  # fmt: skip
    width = max(40, min(200, _terminal_width()))
    if snap.damon_stat is not None:  # DAMON_STAT's outputs: no regions
        from .damon_stat_text import format_report

        notes = "".join(f"note: {n}\n" for n in backend.info.notes)
        out.write(
            f"damontui {backend.info.kernel_version}\n{notes}\n"
            + format_report(snap.damon_stat, width)
            + "\n"
        )
        out.flush()
        return
    weights = getattr(args, "weights", DEFAULT_WEIGHTS)
    out.write(report.format_header(snap, backend.info) + "\n\n")
    out.write(report.format_heatmap(history, width=width - 20, height=16) + "\n\n")
    out.write(report.format_region_table(snap, args.sort, args.limit, weights) + "\n")
    if snap.schemes:
        out.write("\n" + report.format_scheme_stats(snap) + "\n")
    out.flush()


def _terminal_width() -> int:
    try:
        return os.get_terminal_size().columns
    except OSError:
        return inputs.env_int("COLUMNS", 100, 1, 100_000, warn=_warn_once)


def _warn_once(text: str, _seen: set[str] = set()) -> None:  # noqa: B006 - the memo
    if text not in _seen:
        _seen.add(text)
        print(f"damontui: {text}", file=sys.stderr)


def run_batch(args: argparse.Namespace, backend: Backend, refresh_s: float, out: TextIO) -> int:
    count = 1 if args.once else (args.count if args.count is not None else 1)
    delay = args.delay if args.delay is not None else refresh_s
    sink = _Collector()
    _exit_on_signals()  # so `finally` stops the backend (and any kdamond we started)
    backend.start(sink.snapshot, sink.error)
    try:
        printed, last = 0, None
        while count == 0 or printed < count:
            if printed:  # the first report comes with the first snapshot, not after a delay
                time.sleep(delay)
            with sink.cond:  # wait for a snapshot not printed yet
                sink.cond.wait_for(partial(sink.newer_than, last), timeout=30)
                history = list(sink.history)
            if not history or history[-1] is last:
                print("damontui: no new data from the backend after 30 s", file=sys.stderr)
                return 1
            last = history[-1]
            if printed:
                out.write("\n" + "=" * 72 + "\n")
            print_report(out, history[-1], history, backend, args)
            printed += 1
    finally:
        _close(backend)
    for text in sink.errors:
        print(f"damontui: {text}", file=sys.stderr)
    return 0


def _exit_on_signals() -> None:
    """Turn SIGTERM/SIGHUP into SystemExit in batch mode (the TUI has its own)."""

    def leave(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, leave)


def run_engine_once(args: argparse.Namespace, out: TextIO) -> int:
    """`damontui engine --once`: simulated time for synthetic targets, else wall time."""
    config, _ = _load_config(args)
    args.weights = _temperature_weights(args, config)
    backend, step = open_engine_once(_request(args, config))
    try:
        history = _run_engine(backend, args.sim_seconds, step)
    finally:
        backend.close()
    if not history:
        print("damontui: the engine produced no snapshot; run it longer", file=sys.stderr)
        return 1
    print_report(out, history[-1], history, backend, args)
    return 0


def _run_engine(backend: Backend, seconds: float, step: Stepper | None) -> list[Snapshot]:
    if step is None:
        sink = _Collector()
        backend.start(sink.snapshot, sink.error)
        time.sleep(seconds)
        backend.stop()
        for text in sink.errors:
            print(f"damontui: {text}", file=sys.stderr)
        return sink.history
    history: list[Snapshot] = []
    aggr, end, elapsed = backend.attrs().aggr_us, int(seconds * 1e6), 0
    while elapsed < end:
        us = min(aggr, end - elapsed)
        snap = step(us)
        elapsed += us
        if snap is not None and (not history or snap is not history[-1]):
            history.append(snap)
    return history


# --- entry point ----------------------------------------------------------------------


def _want_batch(args: argparse.Namespace) -> bool:
    if args.batch or args.once or args.count is not None:
        return True
    return not sys.stdout.isatty() or os.environ.get("TERM", "") == "dumb"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["damo-json"]:
        from .damo_cli import main as damo_json_main

        return damo_json_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        if args.command == "engine":
            return run_engine_once(args, sys.stdout)
        if args.command in ("record", "report", "replay"):
            from .record import cli as record_cli

            return record_cli.run(args)
        return _run(args)
    except InputError as e:  # a flag's value: the flags say what to change
        print(f"damontui: error: {e}", file=sys.stderr)
        return 2
    except (BackendError, ValidationError) as e:
        print(f"damontui: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `damontui --once | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace) -> int:
    config, config_errors = _load_config(args)
    refresh_s = float(_setting(args, config, "refresh", "refresh_s", 1.0))
    args.weights = _temperature_weights(args, config)
    if args.no_color:
        os.environ["NO_COLOR"] = "1"
    batch = _want_batch(args)
    from .remote import cli as remote_cli

    remote_cli.check(args)
    if args.remote:
        return remote_cli.run_remote(args, batch, refresh_s)
    backend = _open_backend(args, config)
    if batch:
        for error in config_errors:
            print(f"damontui: config: {error}", file=sys.stderr)
        return run_batch(args, backend, refresh_s, sys.stdout)
    from .tui.app import DamonApp

    on_damon_stat = backend.info.backend == "damon_stat"
    registry = None
    if on_damon_stat:  # DAMON_STAT's results: its view first (registry), read-only
        from .tui.damon_stat_view import damon_stat_registry

        registry = damon_stat_registry()
    app = DamonApp(
        backend,
        refresh_s=refresh_s,
        theme=str(_setting(args, config, "theme", "theme", "")) or None,
        readonly=args.readonly or on_damon_stat,
        registry=registry,
        weights=args.weights,
        startup_messages=config_errors,
        keymap=getattr(config, "keymap", None),
        theme_dirs=_user_theme_dirs(),
        exit_on_hangup=True,
        schemes_file=getattr(config, "schemes_file", None),
    )
    try:
        app.run(mouse=not args.no_mouse)
        return app.return_code or 0
    finally:
        _close(backend)


def _close(backend: Backend) -> None:
    """Stop the thread and release what the backend holds (fds of access sources)."""
    backend.close()


def _user_theme_dirs() -> list[Path]:
    try:
        from .config import user_theme_dir
    except ImportError:
        return []
    return [user_theme_dir()]
