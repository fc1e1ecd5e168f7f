"""The page-idle VM tier, host side: boot the kernel of tests/vm/pageidle/build.sh once
and run the page-granular source tests (tests/vm/pageidle/) in it as root.

The kernel is built (about 6 minutes on 2 cores) by ``tests/vm/pageidle/build.sh``,
which .ci/run calls; here only the cached one is used (``build.sh --print``), and the
test skips, saying so, when there is none. Prints one summary line:

    vm-tier <uname -r>: N passed, M failed, K skipped (page_idle yes|no, damon_stat on|off)

Env: DAMONTUI_VM_TIER=0 skips; DAMONTUI_VM_PYTEST_ARGS adds guest pytest args.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "tests/vm/pageidle/build.sh"
pytestmark = pytest.mark.vm


def _harness():  # noqa: ANN202 - the damontui_vm module
    spec = importlib.util.spec_from_file_location("damontui_vm", REPO / "tests/vm/damontui_vm.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("damontui_vm", mod)
    spec.loader.exec_module(mod)
    return mod


def cached_kernel() -> tuple[str | None, str]:
    """(vmlinux path or None, why not)."""
    res = subprocess.run([str(BUILD), "--print"], capture_output=True, text=True)
    if res.returncode == 0 and res.stdout.strip():
        return res.stdout.strip().splitlines()[-1], ""
    return None, (res.stderr.strip() or "no cached kernel") + " - run tests/vm/pageidle/build.sh"


def _counts(junit: Path) -> dict[str, int]:
    counts = dict.fromkeys(("passed", "failed", "skipped"), 0)
    if not junit.exists():
        return counts
    for tc in ET.parse(junit).getroot().iter("testcase"):
        kind = "passed"
        for tag, name in (("failure", "failed"), ("error", "failed"), ("skipped", "skipped")):
            if tc.find(tag) is not None:
                kind = name
                break
        counts[kind] += 1
    return counts


def summary_line(release: str, counts: dict[str, int], page_idle: bool, damon_stat: bool) -> str:
    return (
        f"vm-tier {release}: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['skipped']} skipped (page_idle {'yes' if page_idle else 'no'}, "
        f"damon_stat {'on' if damon_stat else 'off'})"
    )


def test_pageidle_tier_in_vm(tmp_path: Path, capsys, monkeypatch) -> None:  # noqa: ANN001
    def say(text: str) -> None:
        with capsys.disabled():
            print(text, flush=True)

    if os.environ.get("DAMONTUI_VM_TIER") == "0":
        pytest.skip("VM tier disabled by DAMONTUI_VM_TIER=0")
    kernel, why = cached_kernel()
    if kernel is None:
        say(f"\n[vm-pageidle] SKIPPED: {why}")
        pytest.skip(why)
    monkeypatch.setenv("DAMONTUI_VM_KERNEL", kernel)
    vm_mod = _harness()
    try:
        vm = vm_mod.VM()
    except vm_mod.VMUnavailable as e:
        pytest.skip(f"this machine cannot run the VM: {e}")
    results = tmp_path / "results"
    results.mkdir()
    junit = results / "junit.xml"
    pytest_cmd = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-s", "-rA",
        "--color=no", f"--junitxml={junit}",
        *shlex.split(os.environ.get("DAMONTUI_VM_PYTEST_ARGS", "")), "tests/vm/pageidle",
    ]  # fmt: skip
    facts = (
        f"cat /sys/module/damon_stat/parameters/enabled > {results}/damon_stat 2>/dev/null; "
        f"test -e /sys/kernel/mm/page_idle/bitmap && echo yes > {results}/page_idle; "
    )
    cmd = ["sh", "-c", facts + "exec " + shlex.join(pytest_cmd)]
    env = {
        "PATH": vm_mod.guest_path(sys.executable),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "DAMONTUI_IN_VM": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        **{k: v for k, v in os.environ.items() if k.startswith("DAMONTUI_PAGEIDLE")},
    }
    say(f"\n[vm-pageidle] booting {vm.describe()}")
    res = vm.run(
        cmd, env=env, cwd=str(REPO), rw_dirs=[str(results)], timeout=900,
        on_stdout=lambda c: say(c.rstrip("\n")), on_stderr=lambda c: say(c.rstrip("\n")),
    )  # fmt: skip
    counts = _counts(junit)
    stat = (results / "damon_stat").read_text().strip() if (results / "damon_stat").exists() else ""
    say(summary_line(vm.release, counts, (results / "page_idle").exists(), stat == "Y"))
    if res.returncode is None:
        pytest.fail(f"page-idle guest: {res.problem}\n{res.console_tail}")
    assert res.returncode == 0 and not counts["failed"], "tests failed in the page-idle guest"
    assert counts["passed"] > 0, "nothing passed in the page-idle guest"
