"""Kernel integration tests: run ONLY inside the VM guest (tests/test_vm_tier.py).

On the host every test here is skipped (DAMONTUI_IN_VM unset, or no guest
marker): they write DAMON sysfs, and the host's DAMON belongs to the machine.
"""

from __future__ import annotations

import time

import pytest

from . import vmkit


@pytest.fixture(autouse=True)
def _only_in_guest(request):
    """Skip (never run) outside the guest, whatever marks a test module forgot.

    In the guest: every test starts and ends with no kdamond at all."""
    problem = vmkit.guest_problem()
    if problem:
        pytest.skip(problem)
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
