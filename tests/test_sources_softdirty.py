"""soft-dirty access source on fake /proc trees, and its probe on this machine."""

from __future__ import annotations

import gzip
import os
import struct
from array import array
from pathlib import Path

import pytest

from damontui.backends.engine.sources.base import SourceError, TargetGone
from damontui.backends.engine.sources.softdirty import (
    PM_SOFT_DIRTY,
    SoftDirtySource,
    soft_dirty_bits,
)

PS = 4096
PRESENT = 1 << 63


def fake_proc(tmp_path: Path, pid: int, entries: dict[int, int]) -> str:
    """A /proc/PID with a pagemap holding ``entries`` (page index -> u64)."""
    d = tmp_path / "proc" / str(pid)
    d.mkdir(parents=True)
    words = [0] * (max(entries) + 1)
    for page, value in entries.items():
        words[page] = value
    (d / "pagemap").write_bytes(struct.pack(f"<{len(words)}Q", *words))
    (d / "clear_refs").write_text("")
    (d / "comm").write_text("fake\n")
    (d / "stat").write_text(f"{pid} (fa) ke) S 1 1 1\n")  # comm with ')' must parse
    (d / "maps").write_text("10000-20000 rw-p 00000000 00:00 0\n")
    return str(tmp_path / "proc")


def test_soft_dirty_bits() -> None:
    entries = array("Q", [0, PM_SOFT_DIRTY, PRESENT, PRESENT | PM_SOFT_DIRTY | 0x1234, (1 << 54)])
    assert soft_dirty_bits(entries) == bytearray([0, 1, 0, 1, 0])


def test_check_reads_bit_55(tmp_path: Path) -> None:
    entries = {0x10: PRESENT | PM_SOFT_DIRTY | 5, 0x11: PRESENT | 6, 0x13: PM_SOFT_DIRTY}
    root = fake_proc(tmp_path, 3, entries)
    with SoftDirtySource(3, proc_root=root) as src:
        addrs = array("Q", [0x13 * PS + 8, 0x10 * PS, 0x11 * PS + 100, 0x12 * PS, 0x4000 * PS])
        assert src.check(addrs) == bytearray([1, 1, 0, 0, 0])  # past EOF: not written
        assert src.target_ranges() == [(0x10000, 0x20000)]
        assert src.describe() == "softdirty (page granularity, writes) pid 3 (fake)"
        assert (src.granularity, src.sees) == ("page", "writes")


def test_prepare_writes_4_once(tmp_path: Path) -> None:
    root = fake_proc(tmp_path, 3, {0: 0})
    src = SoftDirtySource(3, proc_root=root)
    src.prepare(array("Q", range(0, 100 * PS, PS)))
    assert (Path(root) / "3" / "clear_refs").read_bytes() == b"4"
    src.close()
    with pytest.raises(SourceError, match="closed"):
        src.check(array("Q", [0]))


def test_target_gone(tmp_path: Path) -> None:
    root = fake_proc(tmp_path, 8, {0: 0})
    src = SoftDirtySource(8, proc_root=root)
    (Path(root) / "8" / "stat").write_text("8 (x) Z 1 1 1\n")
    with pytest.raises(TargetGone, match="pid 8"):
        src.check(array("Q", [0]))
    with pytest.raises(TargetGone, match="pid 9"):
        SoftDirtySource(9, proc_root=root)


def write_config(path: Path, line: str) -> str:
    with gzip.open(path, "wt") as f:
        f.write(f"CONFIG_MMU=y\n{line}\nCONFIG_X=y\n")
    return str(path)


def test_probe_reads_config(tmp_path: Path) -> None:
    root = fake_proc(tmp_path, 3, {0: 0})
    yes = write_config(tmp_path / "yes.gz", "CONFIG_MEM_SOFT_DIRTY=y")
    no = write_config(tmp_path / "no.gz", "# CONFIG_MEM_SOFT_DIRTY is not set")
    assert SoftDirtySource.probe(pid=3, proc_root=root, config_path=yes).available
    off = SoftDirtySource.probe(pid=3, proc_root=root, config_path=no)
    assert not off.available
    assert "CONFIG_MEM_SOFT_DIRTY is not set" in off.reason and "no.gz" in off.reason
    unknown = SoftDirtySource.probe(pid=3, proc_root=root, config_path=str(tmp_path / "none"))
    assert unknown.available and "unknown" in unknown.reason
    gone = SoftDirtySource.probe(pid=4, proc_root=root, config_path=yes)
    assert not gone.available and "pid 4" in gone.reason


@pytest.mark.skipif(not os.access("/proc/config.gz", os.R_OK), reason="no /proc/config.gz")
def test_probe_on_this_machine() -> None:
    # machine.md: this kernel is built without CONFIG_MEM_SOFT_DIRTY.
    with gzip.open("/proc/config.gz", "rt") as f:
        enabled = "CONFIG_MEM_SOFT_DIRTY=y" in f.read()
    res = SoftDirtySource.probe()
    if enabled:
        assert res.available
    else:
        assert not res.available
        assert "CONFIG_MEM_SOFT_DIRTY" in res.reason and "/proc/config.gz" in res.reason


def test_real_pagemap_reads() -> None:
    # On any kernel the real pagemap of this process is readable through the source.
    with SoftDirtySource(os.getpid()) as src:
        buf = bytearray(PS * 4)
        addr = id(buf)  # some mapped address of ours
        got = src.check(array("Q", [addr - addr % PS]))
        assert len(got) == 1
