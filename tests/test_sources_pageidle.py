"""Idle-page access source on a fake pagemap and a fake idle bitmap file."""

from __future__ import annotations

import os
import struct
from array import array
from pathlib import Path

import pytest

from damontui.backends.engine.sources.base import SourceError, TargetGone
from damontui.backends.engine.sources.pageidle import DEFAULT_BITMAP, PageIdleSource

PS = 4096
PRESENT = 1 << 63
SOFT_DIRTY = 1 << 55  # must not leak into the PFN


def fake_proc(tmp_path: Path, pid: int, entries: dict[int, int]) -> str:
    d = tmp_path / "proc" / str(pid)
    d.mkdir(parents=True)
    words = [0] * (max(entries) + 1)
    for page, value in entries.items():
        words[page] = value
    (d / "pagemap").write_bytes(struct.pack(f"<{len(words)}Q", *words))
    (d / "comm").write_text("fake\n")
    (d / "stat").write_text(f"{pid} (fake) S 1 1 1\n")
    (d / "maps").write_text("1000-2000 r--p 0 0:0 0\n")
    return str(tmp_path / "proc")


def fake_bitmap(tmp_path: Path, nr_pfns: int = 4096) -> Path:
    path = tmp_path / "bitmap"
    path.write_bytes(bytes(nr_pfns // 8))
    return path


def bit(path: Path, pfn: int) -> int:
    data = path.read_bytes()
    return (data[pfn // 8] >> (pfn % 8)) & 1  # little-endian words: byte order = bit order


def touch(path: Path, pfn: int) -> None:
    """What the kernel does on access: clear the idle bit."""
    data = bytearray(path.read_bytes())
    data[pfn // 8] &= ~(1 << (pfn % 8)) & 0xFF
    path.write_bytes(bytes(data))


def test_virtual_mode(tmp_path: Path) -> None:
    # Pages 1..4 present at PFNs 100, 101, 300, 2000; page 5 not present.
    entries = {
        1: PRESENT | 100,
        2: PRESENT | SOFT_DIRTY | 101,
        3: PRESENT | 300,
        4: PRESENT | 2000,
        5: 0,
    }
    root = fake_proc(tmp_path, 77, entries)
    bitmap = fake_bitmap(tmp_path)
    addrs = array("Q", [p * PS + 16 for p in (1, 2, 3, 4, 5)])
    with PageIdleSource(77, proc_root=root, page_idle_path=str(bitmap)) as src:
        src.prepare(addrs)
        assert [bit(bitmap, p) for p in (100, 101, 300, 2000)] == [1, 1, 1, 1]
        assert src.check(addrs) == bytearray(5)  # nothing accessed yet
        touch(bitmap, 101)
        touch(bitmap, 2000)
        assert src.check(addrs) == bytearray([0, 1, 0, 1, 0])
        # Order and duplicates do not matter.
        assert src.check(array("Q", [4 * PS, 1 * PS, 4 * PS + 8])) == bytearray([1, 0, 1])
        assert src.target_ranges() == [(0x1000, 0x2000)]
        assert src.describe() == "pageidle (page granularity, reads+writes) pid 77 (fake)"
        assert (src.granularity, src.sees) == ("page", "reads+writes")


def test_zero_pfns_mean_no_privilege(tmp_path: Path) -> None:
    root = fake_proc(tmp_path, 5, {1: PRESENT, 2: PRESENT})
    src = PageIdleSource(5, proc_root=root, page_idle_path=str(fake_bitmap(tmp_path)))
    with pytest.raises(SourceError, match="CAP_SYS_ADMIN"):
        src.prepare(array("Q", [PS, 2 * PS]))
    src.close()


def test_physical_mode(tmp_path: Path) -> None:
    iomem = tmp_path / "iomem"
    iomem.write_text(
        "00000000-00000fff : Reserved\n"
        "00001000-0009fbff : System RAM\n"
        "00100000-00ffffff : System RAM\n"
        "  01000000-01ffffff : Kernel code\n"
    )
    bitmap = fake_bitmap(tmp_path)
    src = PageIdleSource(page_idle_path=str(bitmap), iomem_path=str(iomem))
    assert src.target_ranges() == [(0x1000, 0x9FC00), (0x100000, 0x1000000)]
    addrs = array("Q", [0x100000, 0x101000, 0x1000])
    src.prepare(addrs)
    assert [bit(bitmap, p) for p in (0x100, 0x101, 1)] == [1, 1, 1]
    touch(bitmap, 0x101)
    assert src.check(addrs) == bytearray([0, 1, 0])
    assert "physical" in src.describe()
    src.close()


def test_target_gone(tmp_path: Path) -> None:
    root = fake_proc(tmp_path, 6, {1: PRESENT | 10})
    bitmap = str(fake_bitmap(tmp_path))
    src = PageIdleSource(6, proc_root=root, page_idle_path=bitmap)
    (Path(root) / "6" / "stat").write_text("6 (fake) Z 1 1 1\n")
    with pytest.raises(TargetGone, match="pid 6"):
        src.check(array("Q", [PS]))
    with pytest.raises(TargetGone, match="pid 7"):
        PageIdleSource(7, proc_root=root, page_idle_path=bitmap)


def test_missing_bitmap_is_source_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope")
    with pytest.raises(SourceError, match="nope"):
        PageIdleSource(page_idle_path=missing)


def test_probe_with_fake_files(tmp_path: Path) -> None:
    root = fake_proc(tmp_path, 5, {1: PRESENT | 10})
    bitmap = str(fake_bitmap(tmp_path))
    if os.geteuid() == 0:
        assert PageIdleSource.probe(page_idle_path=bitmap).available
        assert PageIdleSource.probe(page_idle_path=bitmap, pid=5, proc_root=root).available
        gone = PageIdleSource.probe(page_idle_path=bitmap, pid=6, proc_root=root)
        assert not gone.available and "pid 6" in gone.reason
    else:
        res = PageIdleSource.probe(page_idle_path=bitmap)
        assert not res.available and "root" in res.reason
    missing = PageIdleSource.probe(
        page_idle_path=str(tmp_path / "nope"), config_path=str(tmp_path / "no-config")
    )
    assert not missing.available
    assert str(tmp_path / "nope") in missing.reason
    assert "CONFIG_IDLE_PAGE_TRACKING" in missing.reason


@pytest.mark.skipif(os.path.exists(DEFAULT_BITMAP), reason="this kernel has page idle tracking")
def test_probe_on_this_machine() -> None:
    # machine.md: this kernel is built without CONFIG_IDLE_PAGE_TRACKING.
    res = PageIdleSource.probe()
    assert not res.available
    assert res.reason.startswith("page idle tracking unavailable: " + DEFAULT_BITMAP)
    assert "CONFIG_IDLE_PAGE_TRACKING" in res.reason


def test_zero_page_pfn_is_found_and_stable() -> None:
    """Reading untouched anonymous memory maps the shared zero page: its PFN is the
    same every time (0 without CAP_SYS_ADMIN, which hides PFNs)."""
    from damontui.backends.engine.sources.pageidle import zero_page_pfn

    first = zero_page_pfn()
    assert first == zero_page_pfn() >= 0
    if os.geteuid() == 0:
        assert first > 0
