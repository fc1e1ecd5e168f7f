"""Runs INSIDE the VM guest as the tier's command: records what the kernel was
at boot (release, page_idle, the exclusive DAMON modules' state) BEFORE any test
can change it, then execs pytest.

    python guest_tier.py OUT_DIR -- PYTEST_ARGS...

Writes OUT_DIR/boot.json; the host side (tests/test_vm_tier.py) prints the
per-kernel summary line from it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

MODULES = ("damon_stat", "damon_reclaim", "damon_lru_sort")


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def boot_info() -> dict:
    info: dict = {
        "release": os.uname().release,
        "page_idle": os.path.exists("/sys/kernel/mm/page_idle/bitmap"),
        "damon_sysfs": os.path.isdir("/sys/kernel/mm/damon/admin/kdamonds"),
        "nr_kdamonds": _read("/sys/kernel/mm/damon/admin/kdamonds/nr_kdamonds"),
        "modules": {},
    }
    for mod in MODULES:
        enabled = _read(f"/sys/module/{mod}/parameters/enabled")
        if enabled is None:
            continue
        info["modules"][mod] = {
            "enabled": enabled == "Y",
            "kdamond_pid": _read(f"/sys/module/{mod}/parameters/kdamond_pid"),
        }
    return info


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: guest_tier.py OUT_DIR -- PYTEST_ARGS...", file=sys.stderr)
        return 2
    out = Path(argv[0])
    info = boot_info()
    (out / "boot.json").write_text(json.dumps(info, indent=2))
    print(f"[vm-tier] guest boot state: {json.dumps(info)}", flush=True)
    os.execv(sys.executable, [sys.executable, "-m", "pytest", *argv[2:]])
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
