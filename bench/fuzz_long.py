"""Run the fuzz tests (tests/fuzz) for a while and say how many inputs were tried.

    nice -n 19 .venv/bin/python bench/fuzz_long.py --minutes 10

Each round calls every fuzz test once (each runs --examples examples, 50 by default,
fresh random inputs every time); rounds repeat until the time is up (a test call
under way finishes first). The counts are printed after every round, so a run that
is stopped early still says how far it got. The first failure stops the run with
hypothesis' minimal failing input.
"""

from __future__ import annotations

import argparse
import faulthandler
import inspect
import os
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--examples", type=int, default=50, help="examples per test call")
    parser.add_argument(
        "--hang-after", type=float, default=600, help="seconds a test call may take (else a hang)"
    )
    args = parser.parse_args()
    os.environ["DAMONTUI_FUZZ_LONG"] = "1"
    os.environ["DAMONTUI_FUZZ_EXAMPLES"] = str(args.examples)
    sys.path[:0] = [str(ROOT / "tests" / "fuzz"), str(ROOT / "tests"), str(ROOT)]
    import fuzz_harness

    modules = [__import__(p.stem) for p in sorted((ROOT / "tests" / "fuzz").glob("test_*.py"))]
    tests = [(m.__name__, name, fn) for m in modules for name, fn in inspect.getmembers(m)
             if name.startswith("test_") and hasattr(fn, "hypothesis")]  # fmt: skip
    deadline = time.monotonic() + args.minutes * 60
    calls = rounds = 0
    start = time.monotonic()
    while time.monotonic() < deadline:
        rounds += 1
        for module, name, fn in tests:
            if time.monotonic() >= deadline:
                break
            # a hang is a failure too: dump every thread's stack and exit
            faulthandler.dump_traceback_later(args.hang_after, exit=True)
            try:
                fn()
            except Exception:
                traceback.print_exc()
                print(f"FAILED: {module}::{name} after {calls} test calls", file=sys.stderr)
                return 1
            finally:
                faulthandler.cancel_dump_traceback_later()
            calls += 1
        report(fuzz_harness.TRIED, len(tests), rounds, time.monotonic() - start, start)
    print("fuzz_long: done, no failure", flush=True)
    return 0


def report(tried: dict[str, int], tests: int, rounds: int, elapsed: float, start: float) -> None:
    cpu = time.process_time()
    print(f"fuzz_long: {tests} fuzz tests, {rounds} rounds, {elapsed:.0f} s wall, "
          f"{cpu:.0f} s CPU, no failure so far")  # fmt: skip
    for surface, count in sorted(tried.items()):
        print(f"  {surface:20s} {count:10,d} inputs")
    print(f"  {'total':20s} {sum(tried.values()):10,d} inputs", flush=True)


if __name__ == "__main__":
    sys.exit(main())
