"""Run a command inside the page-idle guest (tests/vm/pageidle): the benches' VM path.

The kernel comes from tests/vm/pageidle/build.sh (built once per machine and cached);
the guest sees the host's files, so the command runs this checkout as it is.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_in_guest(cmd: Sequence[str], timeout: float) -> int:
    """Boot the guest once, run ``cmd`` there (output streamed); 0 if it succeeded."""
    spec = importlib.util.spec_from_file_location("damontui_vm", REPO / "tests/vm/damontui_vm.py")
    assert spec and spec.loader
    vm_mod = importlib.util.module_from_spec(spec)
    sys.modules["damontui_vm"] = vm_mod
    spec.loader.exec_module(vm_mod)
    res = subprocess.run(
        [str(REPO / "tests/vm/pageidle/build.sh"), "--print"], capture_output=True, text=True
    )
    if res.returncode != 0:
        print(f"no page-idle kernel: {res.stderr.strip()} (run tests/vm/pageidle/build.sh)")
        return 1
    os.environ["DAMONTUI_VM_KERNEL"] = res.stdout.strip().splitlines()[-1]
    vm = vm_mod.VM()
    print(f"booting {vm.describe()}", flush=True)
    env = {
        "PATH": vm_mod.guest_path(sys.executable),
        "HOME": os.environ.get("HOME", "/root"),
        "DAMONTUI_IN_VM": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    out = vm.run(
        list(cmd),
        env=env,
        cwd=str(REPO),
        timeout=timeout,
        on_stdout=lambda c: print(c, end="", flush=True),
        on_stderr=lambda c: print(c, end="", file=sys.stderr, flush=True),
    )
    if out.returncode != 0:
        print(
            f"guest run failed ({out.returncode}): {out.problem} {shlex.quote(out.stderr[-500:])}"
        )
        return 1
    return 0
