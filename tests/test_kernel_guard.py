"""The autouse guard (tests/conftest.py) makes any write to the host's DAMON sysfs fail."""

from __future__ import annotations

import os
from pathlib import Path

import conftest
import pytest
from conftest import RealDamonWriteBlocked
from kernel import vmkit

from damontui.backends.kernel import sysfs as ksysfs
from damontui.backends.kernel.sysfs import RealSysfs

# A file that does not exist (under a directory that does not exist): even if the
# guard were broken, write_file never creates files (no O_CREAT), so nothing happens.
NOWHERE = "/sys/kernel/mm/damon/admin/__damontui_guard_test__/state"


def test_guard_blocks_the_one_write_path(damon_write_guard):
    assert not os.path.exists(os.path.dirname(NOWHERE))
    with pytest.raises(RealDamonWriteBlocked):
        ksysfs.write_file(NOWHERE, "on")
    assert damon_write_guard.blocked == [(NOWHERE, "on")]
    damon_write_guard.blocked.clear()  # expected here: don't fail the test at teardown


def test_guard_blocks_real_sysfs_object_and_symlinks(damon_write_guard, tmp_path):
    with pytest.raises(RealDamonWriteBlocked):  # not swallowed into a SysfsWriteError
        RealSysfs().write(NOWHERE, "off")
    link = tmp_path / "innocent"
    link.symlink_to("/sys/kernel/mm/damon/admin")
    with pytest.raises(RealDamonWriteBlocked):
        RealSysfs().write(str(link / "__damontui_guard_test__/nr_kdamonds"), "1")
    assert len(damon_write_guard.blocked) == 2
    damon_write_guard.blocked.clear()


def test_guard_allows_in_vm(damon_write_guard, monkeypatch, tmp_path):
    # the VM guest: DAMONTUI_IN_VM=1 and the guest's marker file (here a stand-in)
    marker = tmp_path / "stage2"
    marker.write_text("")
    monkeypatch.setattr(conftest, "GUEST_MARKER", str(marker))
    monkeypatch.setenv("DAMONTUI_IN_VM", "1")
    with pytest.raises(FileNotFoundError):  # passed the guard, reached open(2)
        ksysfs.write_file(NOWHERE, "on")
    assert not damon_write_guard.blocked


def test_env_var_alone_does_not_disable_the_guard(damon_write_guard, monkeypatch, tmp_path):
    """DAMONTUI_IN_VM=1 set on the host (by mistake, or copied from the VM tier's
    command line) must not open the host's DAMON sysfs: the guest marker is missing."""
    monkeypatch.setenv("DAMONTUI_IN_VM", "1")
    monkeypatch.setattr(conftest, "GUEST_MARKER", str(tmp_path / "no-such-stage2"))
    assert not conftest.in_vm_guest()
    with pytest.raises(RealDamonWriteBlocked):
        ksysfs.write_file(NOWHERE, "on")
    with pytest.raises(RealDamonWriteBlocked):
        RealSysfs().write(NOWHERE, "off")
    assert len(damon_write_guard.blocked) == 2
    damon_write_guard.blocked.clear()


def test_guard_checks_the_marker_the_vm_tier_creates():
    """The same file vmkit.guest_problem() requires, and the one the VM harness's init
    puts into the guest's /run/damontui-vm."""
    assert conftest.GUEST_MARKER == str(vmkit.GUEST_MARKER) == "/run/damontui-vm/stage2"
    harness = (Path(__file__).parent / "vm/damontui_vm.py").read_text()
    assert "/newroot/run/damontui-vm/" in harness and "/vm/stage2" in harness
    if not Path(conftest.GUEST_MARKER).exists():  # the host
        assert not conftest.in_vm_guest()


def test_guard_lets_fake_trees_through(damon_write_guard, tmp_path):
    p = tmp_path / "file"
    p.write_text("0\n")
    ksysfs.write_file(str(p), "5")
    assert p.read_text() == "5"
    assert damon_write_guard.writes == [(str(p), "5")]
