"""The VM tier, host side: for every kernel in tests/vm/kernels/*.conf, boot ONE
QEMU guest and run the kernel integration tests (tests/kernel/) inside it as root.

Each kernel prints exactly one summary line (also written to
``<results>/<kernel>/summary-line.txt``)::

    vm-tier <uname -r>: N passed, M failed, K skipped (page_idle yes|no, damon_stat on|off)

damon_stat is DAMON_STAT's state at boot, read in the guest before any test ran.

Skipped - with the reason printed - when this machine cannot run the guest (no
qemu/busybox/virtiofsd, no cached kernel: see tests/vm/setup.sh), when not root,
or when DAMONTUI_VM_TIER=0.  Fails when a test in the guest fails, when the
guest dies or hangs mid-run, or when nothing in the guest actually passed.

Tunables (env): DAMONTUI_VM_TIER=0 (skip), DAMONTUI_VM_TIMEOUT (s, default 900),
DAMONTUI_VM_RESULTS (copy junit.xml/summary.json there, one directory per kernel),
DAMONTUI_VM_PYTEST_ARGS (extra args for the guest pytest, e.g. "-k raw"),
DAMONTUI_VM_KERNELS (comma-separated descriptor names to boot), and those of
tests/vm/damontui_vm.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import shutil
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.vm


def _harness():
    spec = importlib.util.spec_from_file_location("damontui_vm", REPO / "tests/vm/damontui_vm.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("damontui_vm", mod)
    spec.loader.exec_module(mod)
    return mod


def _say(capsys, text: str) -> None:
    """Print past pytest's capture so CI logs show it as it happens."""
    with capsys.disabled():
        print(text, flush=True)


class _Lines:
    """Re-assemble streamed chunks into whole lines before printing them."""

    def __init__(self, capsys) -> None:
        self.capsys, self.buf = capsys, ""

    def __call__(self, chunk: str) -> None:
        self.buf += chunk
        *lines, self.buf = self.buf.split("\n")
        if lines:
            _say(self.capsys, "\n".join(lines))

    def flush(self) -> None:
        if self.buf:
            _say(self.capsys, self.buf)
            self.buf = ""


def _skip(capsys, reason: str):
    _say(capsys, f"\n[vm-tier] SKIPPED: {reason}")
    pytest.skip(reason)


def _guest_env(vm_mod) -> dict[str, str]:
    env = {
        "PATH": vm_mod.guest_path(sys.executable),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "DAMONTUI_IN_VM": "1",
        "PYTHONDONTWRITEBYTECODE": "1",  # the root fs is read-only underneath anyway
        "PYTHONUNBUFFERED": "1",
    }
    # pass the project's own switches through (e.g. DAMONTUI_REQUIRE_COMPILED)
    for k, v in os.environ.items():
        if k.startswith("DAMONTUI_") and not k.startswith("DAMONTUI_VM") and k not in env:
            env[k] = v
    if os.environ.get("VIRTUAL_ENV"):
        env["VIRTUAL_ENV"] = os.environ["VIRTUAL_ENV"]
    return env


def _junit(path: Path) -> list[dict]:
    if not path.exists():
        return []
    cases = []
    for tc in ET.parse(path).getroot().iter("testcase"):
        outcome = "passed"
        message = ""
        for kind in ("failure", "error", "skipped"):
            el = tc.find(kind)
            if el is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[kind]
                message = (el.get("message") or "").strip()
                break
        cases.append(
            {
                "test": f"{tc.get('classname')}::{tc.get('name')}",
                "outcome": outcome,
                "time_s": float(tc.get("time") or 0),
                "message": message[:500],
            }
        )
    return cases


def _specs() -> list:
    try:
        return _harness().kernel_specs()
    except ValueError as e:  # a broken descriptor is a failure, not a skip
        pytest.fail(str(e), pytrace=False)


def summary_line(boot: dict, counts: dict[str, int]) -> str:
    """The per-kernel line, exactly as issue 8 asks for it."""
    stat = boot.get("modules", {}).get("damon_stat", {})
    idle = "yes" if boot.get("page_idle") else "no"
    return (
        f"vm-tier {boot.get('release', '?')}: {counts.get('passed', 0)} passed, "
        f"{counts.get('failed', 0) + counts.get('error', 0)} failed, "
        f"{counts.get('skipped', 0)} skipped (page_idle {idle}, "
        f"damon_stat {'on' if stat.get('enabled') else 'off'})"
    )


def _write_line(name: str, line: str) -> None:
    if os.environ.get("DAMONTUI_VM_RESULTS"):
        dest = Path(os.environ["DAMONTUI_VM_RESULTS"]) / name
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "summary-line.txt").write_text(line + "\n")


@pytest.mark.parametrize("kernel", [s.name for s in _specs()])
def test_kernel_tier_in_vm(kernel: str, tmp_path, capsys):
    if os.environ.get("DAMONTUI_VM_TIER") == "0":
        _skip(capsys, "VM tier disabled by DAMONTUI_VM_TIER=0")
    vm_mod = _harness()
    try:
        vm = vm_mod.VM(kernel_name=kernel)
    except vm_mod.VMUnavailable as e:
        _write_line(kernel, f"vm-tier {kernel}: SKIPPED ({e})")
        _skip(capsys, f"{kernel}: this machine cannot run the DAMON VM: {e}")
    for what, path in (("the checkout", str(REPO)), ("the Python interpreter", sys.executable)):
        mount = vm_mod.hidden_from_guest(path)
        if mount:
            _skip(
                capsys,
                f"{what} ({path}) is on {mount}, a filesystem the guest cannot see "
                "(only / and local disk/tmpfs submounts are shared)",
            )
    if not list((REPO / "damontui").glob("_kernels*.so")):
        _say(
            capsys,
            "[vm-tier] note: damontui/_kernels*.so not built; the guest uses the "
            "pure-Python kernels",
        )

    results = tmp_path / "results"
    results.mkdir()
    junit = results / "junit.xml"
    cmd = [
        sys.executable,
        str(REPO / "tests/vm/guest_tier.py"),
        str(results),
        "--",
        "-p",
        "no:cacheprovider",
        "-q",
        "-s",
        "-rA",
        "--color=no",
        f"--junitxml={junit}",
        "-o",
        "junit_family=xunit2",
        *shlex.split(os.environ.get("DAMONTUI_VM_PYTEST_ARGS", "")),
        "tests/kernel",
    ]
    timeout = float(os.environ.get("DAMONTUI_VM_TIMEOUT", "900"))
    _say(capsys, f"\n[vm-tier] {kernel}: booting {vm.describe()}; guest runs: {shlex.join(cmd)}")
    t0 = time.monotonic()
    out, err = _Lines(capsys), _Lines(capsys)
    env = _guest_env(vm_mod)
    env["DAMONTUI_VM_KERNEL_NAME"] = kernel
    res = vm.run(
        cmd,
        env=env,
        cwd=str(REPO),
        rw_dirs=[str(results)],
        timeout=timeout,
        on_stdout=out,
        on_stderr=err,
    )
    out.flush()
    err.flush()
    wall = time.monotonic() - t0

    cases = _junit(junit)
    counts = {
        k: sum(c["outcome"] == k for c in cases) for k in ("passed", "failed", "error", "skipped")
    }
    boot_file = results / "boot.json"
    boot = json.loads(boot_file.read_text()) if boot_file.exists() else {"release": vm.release}
    line = summary_line(boot, counts)
    summary = {
        "kernel": vm.release,
        "name": kernel,
        "accel": vm.accel,
        "smp": vm.smp,
        "mem": vm.mem,
        "wall_s": round(wall, 1),
        "boots": res.attempts,
        "returncode": res.returncode,
        "problem": res.problem,
        "boot": boot,
        "counts": counts,
        "summary_line": line,
        "tests": cases,
    }
    (results / "summary.json").write_text(json.dumps(summary, indent=2))
    (results / "guest-output.log").write_text(
        f"--- stdout\n{res.stdout}\n--- stderr\n{res.stderr}\n--- console tail\n"
        f"{res.console_tail}\n"
    )
    if os.environ.get("DAMONTUI_VM_RESULTS"):
        dest = Path(os.environ["DAMONTUI_VM_RESULTS"]) / kernel
        dest.mkdir(parents=True, exist_ok=True)
        for f in results.iterdir():
            shutil.copy(f, dest / f.name)
    _write_line(kernel, line)
    lines = [
        f"[vm-tier] {kernel}: {wall:.1f}s wall, {res.attempts} boot(s), guest exit {res.returncode}"
    ]
    lines += [
        f"[vm-tier]   {c['outcome']:7} {c['time_s']:6.1f}s  {c['test']}"
        + (f"  ({c['message'][:120]})" if c["outcome"] != "passed" and c["message"] else "")
        for c in cases
    ]
    lines.append(line)
    _say(capsys, "\n".join(lines))

    if res.returncode is None:
        if not res.started and not res.timed_out:
            # never got as far as the command, even after retries: the machine
            # cannot boot the guest - that is not a test failure
            _skip(
                capsys,
                f"the guest could not be booted: {res.problem}\nconsole tail:\n{res.console_tail}",
            )
        pytest.fail(
            f"VM tier: {res.problem}\nguest console tail:\n{res.console_tail}\n"
            f"guest stderr tail:\n{res.stderr[-3000:]}"
        )
    bad = [c for c in cases if c["outcome"] in ("failed", "error")]
    if res.returncode != 0 or bad:
        pytest.fail(
            f"VM tier: guest pytest exited {res.returncode}; failed: "
            + (", ".join(c["test"] for c in bad) or "(see output above)")
            + f"\n--- guest output tail:\n{res.stdout[-4000:]}\n{res.stderr[-2000:]}"
        )
    assert counts["passed"] > 0, "no kernel test passed in the guest (all skipped?)"
