"""Command-line arguments: the argparse parser of the TUI, batch mode and `damontui engine`.

Every flag value goes through damontui.inputs (finite, in range, exit 2 naming the flag);
cli.py parses with build_parser() and turns the namespace into a backend request.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import inputs, report
from .model import SYNTHETIC_PATTERNS
from .model.units import U64_MAX, parse_cpu_budget

PATTERNS = tuple(SYNTHETIC_PATTERNS)
SOURCES = ("synthetic", "smaps", "softdirty", "pageidle")
SORTS = report.SORT_KEYS


# Every flag value goes through damontui.inputs: finite, in range, exit 2 with the flag.
_REFRESH = inputs.seconds_flag("--refresh", 0.05, 3600)
_DELAY = inputs.seconds_flag("--delay", 0, 86_400)
_DURATION = inputs.seconds_flag("--duration", 0.001, 31_622_400)  # `record`: up to a year
_SIM_SECONDS = inputs.seconds_flag("--sim-seconds", 0.001, 86_400)
_COUNT = inputs.whole_flag("--count", 0, 1_000_000_000)
_LIMIT = inputs.whole_flag("--limit", 1, 1_000_000_000)
_PID = inputs.whole_flag("--pid", 1, inputs.PID_MAX)
_SEED = inputs.whole_flag("--seed", 0, U64_MAX)
_KDAMOND = inputs.whole_flag("--kdamond", 0, 65_535)
_KDAMOND_NAME = inputs.flag_type(inputs.kdamond_name, "--reset-stopped")
_WEIGHT = inputs.flag_type(inputs.weight, "--temperature-weights")
# Percent of one core; 0.0 stands for 'off' (None is "not given").
_CPU_BUDGET = inputs.flag_type(
    lambda text, flag: parse_cpu_budget(text, flag) or 0.0, "--cpu-budget"
)


def _target_options(parser: argparse.ArgumentParser) -> None:
    """What to monitor and with which engine source (shared by the TUI and `engine`)."""
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--pid", type=_PID, metavar="N", help="monitor process N")
    what.add_argument("--paddr", action="store_true", help="monitor physical memory")
    what.add_argument("--synthetic", choices=PATTERNS, metavar="PATTERN",
                      help=f"monitor a simulated workload: {', '.join(PATTERNS)}")  # fmt: skip
    parser.add_argument(
        "--source",
        choices=SOURCES,
        metavar="NAME",
        help=f"engine access source: {', '.join(SOURCES)} (default: best)",
    )
    parser.add_argument("--seed", type=_SEED, metavar="N", help="synthetic workload seed")
    parser.add_argument("--sample", type=inputs.attr_flag("sample_us"), metavar="T",
                        help="sampling interval (5ms)")  # fmt: skip
    parser.add_argument("--aggr", type=inputs.attr_flag("aggr_us"), metavar="T",
                        help="aggregation interval (100ms)")  # fmt: skip
    parser.add_argument("--update", type=inputs.attr_flag("update_us"), metavar="T",
                        help="regions update interval (60s)")  # fmt: skip
    parser.add_argument("--min-regions", type=inputs.attr_flag("min_nr_regions"), metavar="N",
                        help="minimum regions (10)")  # fmt: skip
    parser.add_argument("--max-regions", type=inputs.attr_flag("max_nr_regions"), metavar="N",
                        help="maximum regions (1000)")  # fmt: skip
    parser.add_argument(
        "--cpu-budget",
        type=_CPU_BUDGET,
        metavar="PCT",
        help="engine CPU budget, percent of one core, or 'off' (2)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="config file (default: $XDG_CONFIG_HOME/damontui/config.toml)",
    )
    parser.add_argument(
        "--damo-config",
        type=Path,
        metavar="FILE",
        help="start monitoring and schemes from a damo kdamonds JSON file",
    )


def _weights_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--temperature-weights",
        "--temperature_weights",
        type=_WEIGHT,
        nargs=3,
        metavar=("SIZE", "ACCESS_RATE", "AGE"),
        help="damo's temperature weights: per byte, per %% access rate and per "
        "us of age (default 0 100 100; the config's [temperature_weights])",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = inputs.ArgumentParser(
        prog="damontui",
        description="htop for memory data-access patterns: live hot/cold memory regions "
        "(Linux DAMON or a user-space DAMON engine), heatmaps and DAMOS scheme tuning.",
        epilog="Subcommands: 'damontui damo-json IN.json -o OUT.json [--raw]' checks and "
        "rewrites damo's kdamonds JSON; 'damontui engine --once [--pid N | --synthetic P] "
        "[--sim-seconds S]' runs the user-space engine without the TUI and prints the "
        "region table. Batch mode is used automatically when stdout is not a terminal or "
        "TERM=dumb. NO_COLOR is honoured.",
    )
    _target_options(parser)
    parser.add_argument("--backend", choices=("auto", "engine", "kernel", "damon_stat"),
                        help="where data comes from (default: auto; damon_stat: DAMON_STAT's "
                             "own results, read-only)")  # fmt: skip
    parser.add_argument("--refresh", type=_REFRESH, metavar="SECONDS",
                        help="screen refresh interval (1)")  # fmt: skip
    parser.add_argument("--theme", metavar="NAME", help="colour theme")
    parser.add_argument("--no-color", action="store_true", help="no colours (as NO_COLOR)")
    parser.add_argument("--no-mouse", action="store_true", help="do not capture the mouse")
    parser.add_argument(
        "--readonly",
        action="store_true",
        help="observe only: never change schemes, attributes or targets",
    )
    _weights_option(parser)
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="leave kernel DAMON monitoring running after exit",
    )
    parser.add_argument(
        "--kdamond",
        type=_KDAMOND,
        metavar="N",
        help="view (or re-attach to) the existing kdamond N",
    )
    parser.add_argument(
        "--take-over",
        metavar="NAME",
        help="with --kdamond N: take over that kdamond though damontui did not "
        "start it; NAME must repeat its name (kdamond.N) or pid to confirm",
    )
    parser.add_argument(
        "--reset-stopped",
        metavar="NAME",
        action="append",
        default=[],
        type=_KDAMOND_NAME,
        help="allow starting a kdamond although it resets the staged "
        "configuration of stopped kdamond NAME (kdamond.N; repeatable)",
    )
    parser.add_argument(
        "--turn-off",
        metavar="MODULE",
        action="append",
        default=[],
        choices=("damon_stat", "damon_reclaim", "damon_lru_sort"),
        help="turn the in-kernel DAMON user MODULE (damon_stat, damon_reclaim, "
        "damon_lru_sort) off for this run and back on at exit; it holds "
        "DAMON exclusively (repeatable)",
    )
    from .remote import cli as remote_cli

    remote_cli.add_options(parser)
    batch = parser.add_argument_group("batch mode (plain text, no TUI)")
    batch.add_argument("--once", action="store_true", help="print one report and exit")
    batch.add_argument("--batch", action="store_true", help="print reports instead of the TUI")
    batch.add_argument(
        "--count",
        type=_COUNT,
        metavar="N",
        help="reports to print (default 1; 0: until interrupted)",
    )
    batch.add_argument(
        "--delay",
        type=_DELAY,
        metavar="S",
        help="seconds between reports (default: the refresh interval)",
    )
    batch.add_argument(
        "--sort",
        choices=SORTS,
        default="temperature",
        help="region table order in batch mode (default: temperature)",
    )
    batch.add_argument("--limit", type=_LIMIT, metavar="N", help="at most N table rows")
    sub = parser.add_subparsers(dest="command", metavar="{engine,record,report,replay}")
    engine = sub.add_parser("engine", help="run the user-space engine and print its regions")
    _target_options(engine)
    engine.add_argument("--once", action="store_true", required=True,
                        help="run once and print the region table")  # fmt: skip
    engine.add_argument("--sim-seconds", type=_SIM_SECONDS, default=5.0, metavar="S",
                        help="monitoring time to run: simulated for --synthetic, "
                        "wall-clock for --pid/--paddr (default 5)")  # fmt: skip
    engine.add_argument("--sort", choices=SORTS, default="temperature")
    _weights_option(engine)
    engine.add_argument("--limit", type=_LIMIT, metavar="N")
    from .record import cli as record_cli

    record_cli.add_parsers(sub, _target_options, _DURATION)
    return parser
