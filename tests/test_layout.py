"""Address layout helpers: maps parsing, DAMON's three regions, System RAM from iomem."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from damontui.backends.engine.layout import (
    merge_ranges,
    parse_maps,
    read_system_ram,
    read_three_regions,
    system_ram_ranges,
    three_regions,
)
from damontui.backends.engine.sources.base import SourceError, TargetGone

MAPS = """\
55d0c0a00000-55d0c0a2c000 r--p 00000000 fe:00 1234   /usr/bin/python3
55d0c0a2c000-55d0c0b00000 r-xp 0002c000 fe:00 1234   /usr/bin/python3
55d0c2000000-55d0c2400000 rw-p 00000000 00:00 0      [heap]
7f1000000000-7f1000100000 rw-p 00000000 00:00 0
7f1000200000-7f1000300000 r--p 00000000 fe:00 99     /usr/lib/libc.so.6
7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0      [stack]
7ffc00100000-7ffc00102000 r-xp 00000000 00:00 0      [vdso]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]
"""


def test_parse_maps_skips_vsyscall_and_junk() -> None:
    ranges = parse_maps(MAPS + "\nnot a line\nSize: 4 kB\n")
    assert ranges[0] == (0x55D0C0A00000, 0x55D0C0A2C000)
    assert len(ranges) == 7
    assert all(end < 0xFFFFFFFFFF600000 for _, end in ranges)


def test_three_regions_heap_mmap_stack() -> None:
    assert three_regions(parse_maps(MAPS)) == [
        (0x55D0C0A00000, 0x55D0C2400000),  # binary + heap
        (0x7F1000000000, 0x7F1000300000),  # mmap area
        (0x7FFC00000000, 0x7FFC00102000),  # stack + vdso
    ]


def test_three_regions_gaps_in_address_order() -> None:
    # Biggest gap is the upper one; the result must still be in address order.
    ranges = [(0, 10), (20, 30), (1000, 1010), (1012, 1020)]
    assert three_regions(ranges) == [(0, 10), (20, 30), (1000, 1020)]
    ranges = [(0, 10), (500, 510), (520, 530), (540, 550)]
    assert three_regions(ranges) == [(0, 10), (500, 510), (520, 550)]


def test_three_regions_unsorted_overlapping_and_ties() -> None:
    ranges = [(300, 310), (0, 10), (5, 20), (100, 110)]  # gaps 80 and 190
    assert three_regions(ranges) == [(0, 20), (100, 110), (300, 310)]
    # Equal gaps: the lower ones are cut out.
    assert three_regions([(0, 10), (20, 30), (40, 50), (60, 70)]) == [
        (0, 10),
        (20, 30),
        (40, 70),
    ]


def test_three_regions_few_mappings() -> None:
    assert three_regions([]) == []
    assert three_regions([(10, 20)]) == [(10, 20)]
    assert three_regions([(30, 40), (10, 20)]) == [(10, 20), (30, 40)]
    # Touching mappings count as one.
    assert three_regions([(0, 10), (10, 20), (20, 30), (50, 60)]) == [(0, 30), (50, 60)]
    assert merge_ranges([(5, 6), (0, 10), (10, 12)]) == [(0, 12)]


IOMEM = """\
00000000-00000fff : Reserved
00001000-0009fbff : System RAM
0009fc00-000fffff : Reserved
  000f0000-000fffff : System ROM
00100000-bfffffff : System RAM
  01000000-02276f47 : Kernel code
  03000000-0327c17f : System RAM
100000000-63fffffff : System RAM
4000000000-7fffffffff : PCI Bus 0000:00
"""


def test_system_ram_ranges() -> None:
    assert system_ram_ranges(IOMEM) == [
        (0x1000, 0x9FC00),
        (0x100000, 0xC0000000),
        (0x100000000, 0x640000000),
    ]


def test_system_ram_zero_addresses_without_root() -> None:
    hidden = "00000000-00000000 : Reserved\n00000000-00000000 : System RAM\n"
    with pytest.raises(ValueError, match="CAP_SYS_ADMIN"):
        system_ram_ranges(hidden)


def test_read_system_ram_errors_name_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="iomem-missing"):
        read_system_ram(str(tmp_path / "iomem-missing"))
    empty = tmp_path / "iomem-empty"
    empty.write_text("00000000-00000fff : Reserved\n")
    with pytest.raises(SourceError, match="iomem-empty"):
        read_system_ram(str(empty))
    hidden = tmp_path / "iomem-hidden"
    hidden.write_text("00000000-00000000 : System RAM\n")
    with pytest.raises(SourceError, match="iomem-hidden.*read as 0"):
        read_system_ram(str(hidden))


@pytest.mark.skipif(os.geteuid() != 0, reason="iomem addresses need root")
def test_read_system_ram_real() -> None:
    ranges = read_system_ram()
    assert ranges and all(s < e for s, e in ranges)
    assert sum(e - s for s, e in ranges) > 64 << 20


def test_read_three_regions_real_and_fake(tmp_path: Path) -> None:
    regions = read_three_regions(os.getpid())
    assert len(regions) == 3
    assert regions == sorted(regions)
    here = id(object())  # our heap or mmap area
    assert any(s <= here < e for s, e in regions)

    d = tmp_path / "proc" / "5"
    d.mkdir(parents=True)
    (d / "maps").write_text(MAPS)
    (d / "stat").write_text("5 (x) S 1\n")
    assert read_three_regions(5, str(tmp_path / "proc")) == three_regions(parse_maps(MAPS))
    (d / "maps").write_text("")  # kernel thread: alive but no mappings
    with pytest.raises(SourceError, match="5/maps"):
        read_three_regions(5, str(tmp_path / "proc"))
    (d / "stat").write_text("5 (x) Z 1\n")  # zombie
    with pytest.raises(TargetGone, match="pid 5"):
        read_three_regions(5, str(tmp_path / "proc"))
    with pytest.raises(TargetGone, match="pid 6"):
        read_three_regions(6, str(tmp_path / "proc"))


def test_read_mapped_for_the_samplers_leaves_out_vdso_and_vvar(tmp_path: Path) -> None:
    from damontui.backends.engine.layout import read_mapped

    d = tmp_path / "proc" / "5"
    d.mkdir(parents=True)
    special = (
        "7ffc000f0000-7ffc000f4000 r--p 00000000 00:00 0 [vvar]\n"
        "7ffc000f4000-7ffc000f5000 r--p 00000000 00:00 0 [vvar_vclock]\n"
    )
    (d / "maps").write_text(MAPS + special)
    (d / "stat").write_text("5 (x) S 1\n")
    root = str(tmp_path / "proc")
    everything = read_mapped(5, root)
    trackable = read_mapped(5, root, trackable=True)
    assert (0x7FFC00100000, 0x7FFC00102000) in everything  # the vDSO, for three regions
    assert (0x7FFC000F0000, 0x7FFC000F5000) in everything
    assert all(not (s < 0x7FFC00102000 and e > 0x7FFC000F0000) for s, e in trackable)
    assert set(trackable) <= set(everything) and len(trackable) == len(everything) - 2
    assert read_three_regions(5, root) == three_regions(parse_maps(MAPS + special))
