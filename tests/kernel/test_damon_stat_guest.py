"""Issue 8's acceptance on Debian's stock 7.2, where DAMON_STAT runs at boot and
holds DAMON exclusively.  The damon_stat tests run first, with DAMON_STAT as the
kernel shipped it (conftest); the last one runs after it was turned off, as a
user would."""

from __future__ import annotations

import subprocess
import sys

import pytest

from . import vmkit

pytestmark = [
    pytest.mark.vm,
    pytest.mark.skipif(not vmkit.in_guest(), reason="runs only inside the VM tier"),
]

kernel = pytest.importorskip("damontui.backends.kernel")

from damontui.backends.kernel.exclusive import ExclusiveModuleBusy  # noqa: E402
from damontui.model import Target, TargetKind  # noqa: E402


def damontui(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "damontui", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def sleeper():
    p = subprocess.Popen(["sleep", "1000"])
    yield p.pid
    p.kill()
    p.wait()


def _state() -> tuple[str, bool, dict[str, str]]:
    return (
        vmkit.read(vmkit.KDAMONDS / "nr_kdamonds"),
        vmkit.module_enabled("damon_stat"),
        vmkit.tree(vmkit.ADMIN),
    )


@pytest.mark.damon_stat
def test_once_prints_damon_stat_percentiles():
    before = _state()
    r = damontui("--once")
    print(f"\n[damon_stat] damontui --once -> exit {r.returncode}\n{r.stdout}{r.stderr[-500:]}")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "DAMON_STAT (in-kernel, read-only): enabled; kdamond pid" in r.stdout
    assert "memory_idle_ms_percentiles" in r.stdout
    assert any(line.strip().startswith("p50") for line in r.stdout.splitlines())
    assert _state() == before  # nothing written: nr_kdamonds, DAMON_STAT, the tree


@pytest.mark.damon_stat
def test_kernel_backend_refused_naming_damon_stat(sleeper, writes):
    before = _state()
    pid = vmkit.module_param("damon_stat", "kdamond_pid")
    r = damontui("--backend", "kernel", "--pid", str(sleeper), "--once")
    print(
        f"\n[damon_stat] damontui --backend kernel --pid P --once -> exit {r.returncode}: "
        f"{r.stderr.strip()}"
    )
    assert r.returncode != 0
    assert "damon_stat" in r.stderr and f"kdamond pid {pid}" in r.stderr
    assert "echo N | sudo tee /sys/module/damon_stat/parameters/enabled" in r.stderr
    assert "Traceback" not in r.stderr
    after = _state()
    assert after[0] == before[0], "nr_kdamonds changed"
    assert after[1], "DAMON_STAT is no longer enabled"
    assert after == before
    # the backend itself: refused before any write at all
    with pytest.raises(ExclusiveModuleBusy):
        kernel.KernelBackend([Target(TargetKind.PID, pid=sleeper)]).launch()
    assert writes == []


@pytest.mark.damon_stat
def test_turn_off_flag_turns_it_back_on(sleeper):
    r = damontui("--backend", "kernel", "--pid", str(sleeper), "--once", "--turn-off", "damon_stat")
    print(
        f"\n[damon_stat] --turn-off damon_stat -> exit {r.returncode}; {r.stdout.splitlines()[:2]}"
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "DAMON_STAT turned off for this run" in r.stdout
    assert vmkit.module_enabled("damon_stat"), "DAMON_STAT was not turned back on"
    assert vmkit.wait_until(
        lambda: vmkit.module_param("damon_stat", "kdamond_pid") not in (None, "-1"), 10
    )


def test_after_user_turned_it_off_kernel_works_at_once(sleeper):
    """conftest turned DAMON_STAT off (echo N > enabled), as a user would."""
    if vmkit.module_param("damon_stat", "enabled") is None:
        pytest.skip(f"{vmkit.kernel_name()} has no DAMON_STAT")
    assert not vmkit.module_enabled("damon_stat")
    r = damontui("--backend", "kernel", "--pid", str(sleeper), "--once")
    print(
        f"\n[damon_stat] after turning it off -> exit {r.returncode}; {r.stdout.splitlines()[:2]}"
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "kernel" in r.stdout.splitlines()[0]
