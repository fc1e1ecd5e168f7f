"""Shared pytest fixtures."""


# --- kernel backend: guard against writing the host's DAMON sysfs -----------------------
# (owned by the kernel-backend tests; other fixtures go above this block)

import os as _os

import pytest as _pytest


class RealDamonWriteBlocked(BaseException):  # noqa: N818 - BaseException: must not be swallowed
    """A test tried to write the host's /sys/kernel/mm/damon (it belongs to the machine)."""


# The VM tier's guest has both: DAMONTUI_IN_VM=1 in the environment of the tests it
# runs, and its stage2 script under /run/damontui-vm (a tmpfs the guest mounts; see
# tests/vm/damontui_vm.py and tests/kernel/vmkit.py guest_problem()).  The env var
# alone is too easy to set on the host by mistake, so the guard needs both.
GUEST_MARKER = "/run/damontui-vm/stage2"


def in_vm_guest() -> bool:
    """Whether this is the damontui VM guest, whose DAMON sysfs is its own."""
    return _os.environ.get("DAMONTUI_IN_VM") == "1" and _os.path.exists(GUEST_MARKER)


class _DamonWriteGuard:
    def __init__(self) -> None:
        self.writes: list[tuple[str, str]] = []  # every write through the one write path
        self.blocked: list[tuple[str, str]] = []  # writes refused under the real DAMON dir

    def real_writes(self) -> list[tuple[str, str]]:
        from damontui.backends.kernel.sysfs import is_under_real_damon

        return [(p, d) for p, d in self.writes if is_under_real_damon(p)]


@_pytest.fixture(autouse=True)
def damon_write_guard(monkeypatch):
    """Patch the kernel backend's single write path (sysfs.write_file): any write under
    the real /sys/kernel/mm/damon raises RealDamonWriteBlocked and fails the test,
    unless this is the VM tier's guest (whose DAMON is its own): DAMONTUI_IN_VM=1 AND
    the guest marker GUEST_MARKER exists.  The env var alone never disables it."""
    from damontui.backends.kernel import sysfs as ksysfs

    guard = _DamonWriteGuard()
    real_write = ksysfs.write_file

    def guarded_write_file(path: str, data: str) -> None:
        guard.writes.append((str(path), data))
        if ksysfs.is_under_real_damon(str(path)) and not in_vm_guest():
            guard.blocked.append((str(path), data))
            raise RealDamonWriteBlocked(
                f"test tried to write {data.strip()!r} to {path}: the host's DAMON sysfs "
                "belongs to the machine (use a fake sysfs root, or the VM tier)"
            )
        real_write(path, data)

    monkeypatch.setattr(ksysfs, "write_file", guarded_write_file)
    yield guard
    if guard.blocked:
        blocked, guard.blocked = list(guard.blocked), []
        _pytest.fail(f"writes to the real DAMON sysfs were attempted: {blocked}", pytrace=False)
