"""damo interop on the command line.

`damontui damo-json IN.json -o OUT.json [--raw]` loads damo's kdamonds JSON into the
model and writes it back as damo JSON (the representation of what was loaded is kept;
--raw writes every value fresh as a plain number).  `damontui --damo-config FILE` starts
monitoring and the schemes of a damo config: its one kdamond's one context gives the
target, the monitoring attributes and the schemes.

Every problem is one line naming the file and the key path, and a non-zero exit.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .backends.base import BackendError
from .formats.damo_json import DamoJsonError, DamoKdamond, dumps, load_damo
from .model import MonitoringAttrs, Scheme, Target, TargetKind, ValidationError


def read_damo_file(path: str | os.PathLike[str]) -> list[DamoKdamond]:
    """Load a damo kdamonds JSON file; DamoJsonError names the file and key path."""
    name = os.fspath(path)
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise DamoJsonError("$", f"cannot read: {e.strerror or e}", name) from None
    return load_damo(data, file=name)


def write_damo_file(path: str | os.PathLike[str], kdamonds: Sequence[DamoKdamond],
                    raw: bool = False) -> None:  # fmt: skip
    """Write kdamonds as damo JSON (atomically: a temporary file renamed over `path`)."""
    text = dumps(kdamonds, raw=raw) + "\n"
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, target)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise DamoJsonError("$", f"cannot write: {e.strerror or e}", os.fspath(path)) from None


def damo_config(path: str | os.PathLike[str]) -> tuple[Target, MonitoringAttrs, tuple[Scheme, ...]]:
    """Target, attributes and schemes of a one-context damo config, validated.

    Raises BackendError naming the file (and the key path) when it can't be used.
    """
    name = os.fspath(path)
    try:
        kdamonds = read_damo_file(path)
    except DamoJsonError as e:
        raise BackendError(f"--damo-config {e}") from None
    contexts = [(k, c) for k, kd in enumerate(kdamonds) for c, _ in enumerate(kd.contexts)]
    if len(contexts) != 1:
        raise BackendError(f"--damo-config {name}: kdamonds: damontui runs one context; the "
                           f"file has {len(contexts)} (split it with `damo args damon "
                           "--remove`)")  # fmt: skip
    ctx = kdamonds[0].contexts[0]
    where = f"--damo-config {name}: kdamonds[0].contexts[0]"
    if len(ctx.targets) != 1:
        raise BackendError(f"{where}.targets: damontui monitors one target; the file has "
                           f"{len(ctx.targets)}")  # fmt: skip
    target = ctx.targets[0]
    if ctx.ops == "paddr":
        target = Target(TargetKind.PADDR, ranges=target.ranges)
    elif target.pid is None:
        raise BackendError(f"{where}.targets[0].pid: {ctx.ops} needs a pid")
    try:
        ctx.context.validate()
    except ValidationError as e:
        raise BackendError(f"{where}.{e}") from None
    return target, ctx.attrs, ctx.schemes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="damontui damo-json",
        description="Load damo's kdamonds JSON (e.g. from `damo args damon --format json`) "
        "and write it back as damo JSON; checks the file on the way.",
    )
    parser.add_argument("input", metavar="IN.json", help="damo kdamonds JSON to read")
    parser.add_argument("-o", "--output", metavar="OUT.json", required=True,
                        help="where to write (use - for standard output)")  # fmt: skip
    parser.add_argument("--raw", action="store_true",
                        help="write every value as a plain number in its key's unit")  # fmt: skip
    return parser


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    try:
        kdamonds = read_damo_file(args.input)
        if args.output == "-":
            sys.stdout.write(dumps(kdamonds, raw=args.raw) + "\n")
        else:
            write_damo_file(args.output, kdamonds, raw=args.raw)
    except DamoJsonError as e:
        print(f"damontui damo-json: error: {e}", file=sys.stderr)
        return 1
    return 0
