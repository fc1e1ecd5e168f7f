"""Kernel integration tests: run ONLY inside the VM guest (tests/test_vm_tier.py).

On the host every test here is skipped (DAMONTUI_IN_VM unset, or no guest
marker): they write DAMON sysfs, and the host's DAMON belongs to the machine.
"""

from __future__ import annotations

import time

import pytest

from . import vmkit


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "damon_stat: runs while DAMON_STAT is on, as the kernel shipped it"
    )


def pytest_collection_modifyitems(config, items):
    """DAMON_STAT tests first: they see the module as it was at boot (the others
    turn it off, as a user would, and nothing turns it back on for them)."""
    items.sort(key=lambda it: it.get_closest_marker("damon_stat") is None)


@pytest.fixture(autouse=True)
def _only_in_guest(request):
    """Skip (never run) outside the guest, whatever marks a test module forgot.

    In the guest: every test starts and ends with no sysfs kdamond at all.  Tests
    marked damon_stat run with DAMON_STAT on (skipped where the kernel has no
    DAMON_STAT); every other test first turns the exclusive in-kernel DAMON
    modules off, as a user would, since they refuse sysfs kdamonds (EBUSY)."""
    problem = vmkit.guest_problem()
    if problem:
        pytest.skip(problem)
    if request.node.get_closest_marker("damon_stat"):
        if vmkit.module_param("damon_stat", "enabled") is None:
            pytest.skip(f"{vmkit.kernel_name() or 'this kernel'} has no DAMON_STAT")
        if not vmkit.module_enabled("damon_stat"):
            vmkit.set_module("damon_stat", True)
    else:
        vmkit.exclusive_modules_off()
    vmkit.reset_all()
    t0 = time.monotonic()
    yield
    vmkit.reset_all()
    # per-test guest timings end up in the tier's log (pytest -s in the guest)
    print(f"\n[vm] {request.node.name}: {time.monotonic() - t0:.1f}s")


@pytest.fixture(scope="session")
def work():
    """One hot/cold workload process shared by the whole session (spawning
    Python under TCG costs seconds).  Tests only monitor it."""
    if not vmkit.in_guest():
        pytest.skip(vmkit.guest_problem() or "")
    with vmkit.workload() as w:
        yield w


@pytest.fixture
def live_work(work):
    assert work.alive(), "the workload process died"
    return work


@pytest.fixture
def writes(monkeypatch):
    """Every write damontui makes (path, value), through its single write path."""
    from damontui.backends.kernel import sysfs as sysfs_mod

    seen: list[tuple[str, str]] = []
    real = sysfs_mod.write_file

    def spy(path: str, data: str) -> None:
        seen.append((path, data))
        real(path, data)

    monkeypatch.setattr(sysfs_mod, "write_file", spy)
    return seen
