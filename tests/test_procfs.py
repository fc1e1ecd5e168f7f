"""damontui.procfs: the /proc readers both backends share, on fake /proc trees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from damontui import procfs


def fake_proc(
    root: Path,
    pid: int,
    state: str = "S",
    comm: str = "worker (1)",
    start: int = 4242,
    utime: int = 7,
    stime: int = 5,
) -> None:
    d = root / str(pid)
    d.mkdir(parents=True)
    (d / "comm").write_text(comm + "\n")
    # fields after the comm: state ppid pgrp session tty tpgid flags minflt cminflt
    # majflt cmajflt utime stime cutime cstime priority nice threads itreal starttime
    after = [
        state,
        "1",
        "1",
        "1",
        "0",
        "-1",
        "0",
        "0",
        "0",
        "0",
        "0",
        str(utime),
        str(stime),
        "0",
        "0",
        "20",
        "0",
        "1",
        "0",
        str(start),
        "0",
    ]
    (d / "stat").write_text(f"{pid} ({comm}) " + " ".join(after) + "\n")


def test_comm_default_when_missing(tmp_path: Path) -> None:
    fake_proc(tmp_path, 10, comm="a (b) c")
    assert procfs.proc_comm(10, str(tmp_path)) == "a (b) c"
    assert procfs.proc_comm(11, str(tmp_path)) == ""
    assert procfs.proc_comm(11, str(tmp_path), missing="?") == "?"
    assert procfs.proc_comm(None, str(tmp_path), missing="?") == "?"


@pytest.mark.parametrize("state", ["Z", "X", "x"])
def test_zombie_exists_but_is_not_alive(tmp_path: Path, state: str) -> None:
    """The engine needs an address space (zombies have none); ownership records only
    need the pid not to be reusable yet (a zombie's is not)."""
    fake_proc(tmp_path, 20, state=state, comm="z) R (")
    assert not procfs.pid_alive(20, str(tmp_path))
    assert procfs.pid_exists(20, str(tmp_path))


def test_alive_and_gone(tmp_path: Path) -> None:
    fake_proc(tmp_path, 30, state="R", comm="Z")  # a comm of 'Z' is not a state
    assert procfs.pid_alive(30, str(tmp_path)) and procfs.pid_exists(30, str(tmp_path))
    assert not procfs.pid_alive(31, str(tmp_path)) and not procfs.pid_exists(31, str(tmp_path))
    assert not procfs.pid_exists(0, str(tmp_path)) and not procfs.pid_exists(None)


def test_stat_fields_and_ticks(tmp_path: Path) -> None:
    fake_proc(tmp_path, 40, comm="x) 1 2 (y", start=987, utime=11, stime=4)
    assert procfs.stat_fields(40, str(tmp_path))[0] == "S"
    assert procfs.start_ticks(40, str(tmp_path)) == 987
    assert procfs.cpu_ticks(40, str(tmp_path)) == 15
    assert procfs.start_ticks(41, str(tmp_path)) is None
    assert procfs.cpu_ticks(41, str(tmp_path)) is None
    with pytest.raises(OSError):
        procfs.stat_fields(41, str(tmp_path))


def test_real_self() -> None:
    me = os.getpid()
    assert procfs.pid_alive(me) and procfs.pid_exists(me)
    assert procfs.proc_comm(me)
    assert procfs.start_ticks(me) is not None
    assert (procfs.uptime_s() or 0) > 0


def test_uptime_unreadable(tmp_path: Path) -> None:
    assert procfs.uptime_s(str(tmp_path)) is None
    (tmp_path / "uptime").write_text("123.5 456.0\n")
    assert procfs.uptime_s(str(tmp_path)) == 123.5


def test_memcg_mounts_prefers_v1_memory(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n"
        "cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n"
        "cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\nshort line\n"
    )
    assert procfs.memcg_mounts(str(mounts)) == ["/sys/fs/cgroup/memory"]
    mounts.write_text("cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n")
    assert procfs.memcg_mounts(str(mounts)) == ["/sys/fs/cgroup"]
    assert procfs.memcg_mounts(str(tmp_path / "none")) == []


def test_system_ram_is_one_parser_for_both_backends(tmp_path: Path) -> None:
    from damontui.backends.engine import layout
    from damontui.backends.kernel import read_system_ram

    iomem = tmp_path / "iomem"
    iomem.write_text(
        "00001000-0009ffff : System RAM\n"
        "00100000-3fffffff : System RAM\n  01000000-01ffffff : Kernel code\n"
        "fee00000-fee00fff : Local APIC\n"
    )
    want = [(0x1000, 0xA0000), (0x100000, 0x40000000)]
    assert procfs.system_ram_ranges(iomem.read_text()) == want
    assert layout.system_ram_ranges is procfs.system_ram_ranges
    assert layout.read_system_ram(str(iomem)) == want
    assert read_system_ram(str(iomem)) == want


def test_select_names_engine_sources_and_patterns() -> None:
    from damontui.backends import select

    assert "synthetic" in select.engine_sources()
    assert "hotcold" in select.synthetic_patterns()
