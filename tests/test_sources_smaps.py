"""smaps access source: parsing and behaviour on fake /proc trees, then on a real child."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
import time
from array import array
from collections.abc import Iterator
from pathlib import Path

import pytest

from damontui.backends.engine.sources import smaps as smaps_mod
from damontui.backends.engine.sources.base import SourceError, TargetGone
from damontui.backends.engine.sources.smaps import SmapsSource, parse_smaps

KB = 1024


def vma_text(start: int, end: int, referenced_kb: int, rss_kb: int | None = None) -> str:
    size_kb = (end - start) // KB
    rss = size_kb if rss_kb is None else rss_kb
    return (
        f"{start:x}-{end:x} rw-p 00000000 00:00 0 \n"
        f"Size:           {size_kb:8d} kB\n"
        f"KernelPageSize:        4 kB\n"
        f"Rss:            {rss:8d} kB\n"
        f"Pss:            {rss:8d} kB\n"
        f"Referenced:     {referenced_kb:8d} kB\n"
        f"Anonymous:      {rss:8d} kB\n"
        f"VmFlags: rd wr mr mw me ac \n"
    )


def fake_proc(tmp_path: Path, pid: int, vmas: list[tuple[int, int, int]], state: str = "S") -> str:
    root = tmp_path / "proc"
    d = root / str(pid)
    d.mkdir(parents=True)
    (d / "smaps").write_text("".join(vma_text(s, e, r) for s, e, r in vmas))
    (d / "maps").write_text("".join(f"{s:x}-{e:x} rw-p 00000000 00:00 0 \n" for s, e, _ in vmas))
    (d / "clear_refs").write_text("")
    (d / "comm").write_text("fake\n")
    (d / "stat").write_text(f"{pid} (fake) {state} 1 1 1 0 -1\n")
    return str(root)


# --- parsing and fake /proc --------------------------------------------------------


def test_parse_smaps_fields() -> None:
    text = vma_text(0x1000, 0x5000, 8, rss_kb=12) + vma_text(0x10000, 0x20000, 0)
    vmas = parse_smaps(text.encode())
    assert [(v.start, v.end, v.rss, v.referenced) for v in vmas] == [
        (0x1000, 0x5000, 12 * KB, 8 * KB),
        (0x10000, 0x20000, 64 * KB, 0),
    ]


def test_parse_smaps_rejects_truncated() -> None:
    text = vma_text(0x1000, 0x5000, 8) + "6000-7000 rw-p 00000000 00:00 0\nSize: 4 kB\n"
    with pytest.raises(ValueError, match="Referenced"):
        parse_smaps(text.encode())


def test_check_uses_referenced_share(tmp_path: Path) -> None:
    # VMA A fully referenced, B a quarter referenced, C never referenced.
    a, b, c = (0x100000, 0x200000), (0x400000, 0x500000), (0x800000, 0x900000)
    vmas = [(*a, 1024), (*b, 256), (*c, 0)]
    src = SmapsSource(4242, proc_root=fake_proc(tmp_path, 4242, vmas), seed=7)
    n = 4000
    addrs = array("Q", [a[0] + i * 64 for i in range(n)])
    addrs += array("Q", [b[0] + i * 64 for i in range(n)])
    addrs += array("Q", [c[0] + i * 64 for i in range(n)])
    addrs.append(0x300000)  # between VMAs: never accessed
    got = src.check(addrs)
    assert len(got) == 3 * n + 1
    assert sum(got[:n]) == n
    assert abs(sum(got[n : 2 * n]) / n - 0.25) < 0.03
    assert sum(got[2 * n : 3 * n]) == 0
    assert got[-1] == 0


def test_check_deterministic_by_seed(tmp_path: Path) -> None:
    root = fake_proc(tmp_path, 7, [(0x100000, 0x200000, 512)])
    addrs = array("Q", [0x100000 + i * 4096 for i in range(256)])
    first = SmapsSource(7, proc_root=root, seed=1).check(addrs)
    assert SmapsSource(7, proc_root=root, seed=1).check(addrs) == first
    assert SmapsSource(7, proc_root=root, seed=2).check(addrs) != first


def test_prepare_writes_clear_refs_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = fake_proc(tmp_path, 5, [(0x100000, 0x200000, 0)])
    src = SmapsSource(5, proc_root=root)
    src.prepare(array("Q", range(0x100000, 0x200000, 4096)))
    assert (Path(root) / "5" / "clear_refs").read_bytes() == b"1"
    calls: list[bytes] = []
    monkeypatch.setattr(smaps_mod, "write_clear_refs", lambda r, p, v: calls.append(v))
    src.prepare(array("Q", range(0x100000, 0x200000, 4096)))
    src.prepare(array("Q", [0x100000]))
    src.prepare(array("Q"))  # nothing to reset
    assert calls == [b"1", b"1"]


def test_target_ranges_and_describe(tmp_path: Path) -> None:
    vmas = [(0x1000, 0x2000, 0), (0x100000, 0x101000, 0), (0x7000000, 0x7001000, 0)]
    vmas.append((0x7002000, 0x7003000, 0))
    src = SmapsSource(9, proc_root=fake_proc(tmp_path, 9, vmas))
    assert src.target_ranges() == [(0x1000, 0x2000), (0x100000, 0x101000), (0x7000000, 0x7003000)]
    assert src.describe() == "smaps (VMA granularity, reads+writes) pid 9 (fake)"
    assert (src.name, src.granularity, src.sees) == ("smaps", "vma", "reads+writes")


def test_zombie_or_missing_pid_is_target_gone(tmp_path: Path) -> None:
    root = fake_proc(tmp_path, 11, [(0x1000, 0x2000, 4)])
    src = SmapsSource(11, proc_root=root)
    (Path(root) / "11" / "smaps").write_text("")  # what a zombie's smaps reads
    (Path(root) / "11" / "stat").write_text("11 (fake) Z 1 1 1 0 -1\n")
    with pytest.raises(TargetGone, match="pid 11"):
        src.check(array("Q", [0x1000]))
    with pytest.raises(TargetGone, match="pid 12"):
        SmapsSource(12, proc_root=root)


def test_unreadable_smaps_is_source_error(tmp_path: Path) -> None:
    root = fake_proc(tmp_path, 13, [(0x1000, 0x2000, 4)])
    src = SmapsSource(13, proc_root=root)
    smaps = Path(root) / "13" / "smaps"
    smaps.unlink()
    smaps.mkdir()  # reading a directory fails with EISDIR
    with pytest.raises(SourceError, match="13/smaps"):
        src.check(array("Q", [0x1000]))


def test_probe(tmp_path: Path) -> None:
    root = fake_proc(tmp_path, 21, [(0x1000, 0x2000, 4)])
    assert SmapsSource.probe(pid=21, proc_root=root).available
    gone = SmapsSource.probe(pid=22, proc_root=root)
    assert not gone.available and "pid 22" in gone.reason
    (Path(root) / "21" / "clear_refs").unlink()
    missing = SmapsSource.probe(pid=21, proc_root=root)
    assert not missing.available and "21/clear_refs" in missing.reason
    assert SmapsSource.probe().available  # this kernel: smaps + clear_refs via /proc/self
    assert SmapsSource.probe(pid=os.getpid()).available


# --- the real kernel ---------------------------------------------------------------

AREA = 32 << 20
CHILD = textwrap.dedent(
    """
    import ctypes, mmap, sys
    size = int(sys.argv[1])
    # MAP_SHARED anonymous areas each get their own backing object, so the kernel
    # never merges them into one VMA.
    hot, cold = mmap.mmap(-1, size), mmap.mmap(-1, size)
    for m in (hot, cold):
        for off in range(0, size, 4096):
            m[off] = 1
    addr = lambda m: ctypes.addressof(ctypes.c_char.from_buffer(m))
    print(addr(hot), addr(cold), flush=True)
    while True:
        for off in range(0, size, 4096):
            hot[off] = 2
    """
)


@pytest.fixture
def child() -> Iterator[tuple[subprocess.Popen[str], int, int]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(AREA)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        hot, cold = map(int, proc.stdout.readline().split())
        yield proc, hot, cold
    finally:
        proc.kill()
        proc.wait()


def test_real_child_hot_and_cold(child: tuple[subprocess.Popen[str], int, int]) -> None:
    proc, hot, cold = child
    assert SmapsSource.probe(pid=proc.pid).available
    src = SmapsSource(proc.pid, seed=3)
    ranges = src.target_ranges()
    assert len(ranges) == 3
    for area in (hot, cold):  # both areas lie inside the monitored regions
        assert any(s <= area and area + AREA <= e for s, e in ranges)
    rnd = random.Random(0)
    n = 200
    hits_hot = hits_cold = 0
    rounds = 8
    prev = array("Q")
    for _ in range(rounds + 1):
        addrs = array("Q", [hot + rnd.randrange(AREA // 4096) * 4096 for _ in range(n)])
        addrs += array("Q", [cold + rnd.randrange(AREA // 4096) * 4096 for _ in range(n)])
        if prev:
            got = src.check(prev)
            hits_hot += sum(got[:n])
            hits_cold += sum(got[n:])
        src.prepare(addrs)
        prev = addrs
        time.sleep(0.05)
    assert hits_hot / (rounds * n) > 0.8
    assert hits_cold / (rounds * n) < 0.05
    assert f"pid {proc.pid}" in src.describe()


def test_real_child_exit_raises_target_gone(child: tuple[subprocess.Popen[str], int, int]) -> None:
    proc, hot, _ = child
    src = SmapsSource(proc.pid)
    src.prepare(array("Q", [hot]))
    proc.kill()
    proc.wait()  # reaped: /proc/PID is gone
    with pytest.raises(TargetGone, match=f"pid {proc.pid}"):
        src.check(array("Q", [hot]))
    with pytest.raises(TargetGone, match=f"pid {proc.pid}"):
        src.prepare(array("Q", [hot]))
    with pytest.raises(TargetGone, match=f"pid {proc.pid}"):
        src.target_ranges()


def test_real_zombie_raises_target_gone() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        src = SmapsSource(proc.pid)
    except TargetGone:  # exited before we looked: nothing left to test
        proc.wait()
        pytest.skip("child exited before the source was built")
    deadline = time.monotonic() + 10
    while smaps_mod.pid_alive(proc.pid, "/proc") and time.monotonic() < deadline:
        time.sleep(0.01)  # exited but not reaped: a zombie
    try:
        with pytest.raises(TargetGone, match=f"pid {proc.pid}"):
            src.check(array("Q", [0x1000]))
    finally:
        proc.wait()
