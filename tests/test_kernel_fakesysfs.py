"""The fake sysfs reacts to writes like the kernel (the other kernel tests rely on it)."""

from __future__ import annotations

import errno
import os

import pytest
from fakesysfs import FakeSysfs, host_like_kdamond

from damontui.backends.kernel.sysfs import SysfsWriteError


def test_nr_kdamonds_creates_version_specific_dirs(tmp_path):
    old = FakeSysfs.build(tmp_path, (5, 18))
    new = FakeSysfs.build(tmp_path, (6, 18))
    for fake in (old, new):
        fake.write(fake.path("kdamonds/nr_kdamonds"), 1)
        fake.write(fake.path("kdamonds/0/contexts/nr_contexts"), 1)
        fake.write(fake.path("kdamonds/0/contexts/0/schemes/nr_schemes"), 1)
    assert not os.path.exists(old.path("kdamonds/0/refresh_ms"))
    assert not os.path.exists(old.path("kdamonds/0/contexts/0/avail_operations"))
    assert not os.path.exists(old.path("kdamonds/0/contexts/0/schemes/0/tried_regions"))
    assert os.path.exists(new.path("kdamonds/0/refresh_ms"))
    assert os.path.exists(new.path("kdamonds/0/contexts/0/schemes/0/core_filters/nr_filters"))
    assert new.value("kdamonds/0/pid") == "-1"
    # a fresh scheme matches nothing: every range is 0..0
    assert new.value("kdamonds/0/contexts/0/schemes/0/access_pattern/sz/max") == "0"


def test_nr_write_recreates_children_with_defaults(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    fake.write(fake.path("kdamonds/nr_kdamonds"), 1)
    fake.write(fake.path("kdamonds/0/contexts/nr_contexts"), 1)
    ctx = "kdamonds/0/contexts/0"
    fake.write(fake.path(f"{ctx}/schemes/nr_schemes"), 1)
    fake.write(fake.path(f"{ctx}/schemes/0/action"), "pageout")
    fake.write(fake.path(f"{ctx}/schemes/nr_schemes"), 2)
    assert fake.value(f"{ctx}/schemes/0/action") == "stat"


def test_state_and_ebusy(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    host_like_kdamond(fake, pid=71)
    assert fake.value("kdamonds/0/state") == "on"
    assert fake.value("kdamonds/0/pid") == "71"
    with pytest.raises(SysfsWriteError) as e:
        fake.write(fake.path("kdamonds/nr_kdamonds"), 2)
    assert e.value.errno == errno.EBUSY


def test_injection_and_readonly(tmp_path):
    fake = FakeSysfs.build(tmp_path)
    fake.inject("kdamonds/nr_kdamonds", errno.ENOMEM)
    with pytest.raises(SysfsWriteError) as e:
        fake.write(fake.path("kdamonds/nr_kdamonds"), 1)
    assert e.value.errno == errno.ENOMEM
    fake.write(fake.path("kdamonds/nr_kdamonds"), 1)  # only once
    with pytest.raises(SysfsWriteError) as e:
        fake.write(fake.path("kdamonds/0/pid"), 5)
    assert e.value.errno == errno.EACCES


def test_unknown_command_and_stopped_command(tmp_path):
    fake = FakeSysfs.build(tmp_path, (6, 2))
    host_like_kdamond(fake, running=False)
    for cmd, err in (
        ("commit_schemes_quota_goals", errno.EINVAL),
        ("commit", errno.EINVAL),
        ("bogus", errno.EINVAL),
    ):
        with pytest.raises(SysfsWriteError) as e:
            fake.write(fake.path("kdamonds/0/state"), cmd)
        assert e.value.errno == err
