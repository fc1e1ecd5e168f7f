"""Run the fuzz tests (tests/fuzz) for a while and say how many inputs were tried.

    nice -n 19 .venv/bin/python bench/fuzz_long.py --minutes 10

Each round calls every fuzz test once (each runs DAMONTUI_FUZZ_EXAMPLES examples,
200 by default here, fresh random inputs every time); rounds repeat until the time is
up. The first failure stops the run with hypothesis' minimal failing input.
"""

from __future__ import annotations

import argparse
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
    parser.add_argument("--examples", type=int, default=200, help="examples per test call")
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
            try:
                fn()
            except Exception:
                traceback.print_exc()
                print(f"FAILED: {module}::{name} after {calls} test calls", file=sys.stderr)
                return 1
            calls += 1
    elapsed = time.monotonic() - start
    tried = fuzz_harness.TRIED
    print(f"fuzz_long: {len(tests)} fuzz tests, {rounds} rounds, {elapsed:.0f} s, no failure")
    for surface, count in sorted(tried.items()):
        print(f"  {surface:20s} {count:10,d} inputs")
    print(f"  {'total':20s} {sum(tried.values()):10,d} inputs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
