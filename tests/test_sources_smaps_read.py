"""How the smaps source reads: the whole file through one reused buffer (grown when a
smaps outgrows it), errors naming the file; and kernels.read_to_end on both
implementations."""

from __future__ import annotations

import os
import tempfile
from array import array
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_kernels import compiled_or_skip
from test_sources_smaps import fake_proc

from damontui.backends.engine.regionset import Regions
from damontui.backends.engine.sources import smaps as smaps_mod
from damontui.backends.engine.sources.base import SourceError
from damontui.backends.engine.sources.smaps import SmapsSource
from damontui.kernels import kernels_py

MB = 1 << 20
VMAS = [(0x10000000 + i * 2 * MB, 0x10000000 + i * 2 * MB + MB, 1024 * (i % 2)) for i in range(40)]


@pytest.fixture(params=["python", "cython"])
def k(request: pytest.FixtureRequest) -> ModuleType:
    return kernels_py if request.param == "python" else compiled_or_skip()


def test_a_smaps_larger_than_the_buffer_is_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(smaps_mod, "READ_BUFFER", 100)  # a few records per buffer
    root = fake_proc(tmp_path, 31, VMAS)
    src = SmapsSource(31, proc_root=root)
    whole = (Path(root) / "31" / "smaps").read_bytes()
    assert len(whole) > 64 * 100
    assert src._read() == whole
    assert len(src._buf) >= len(whole)  # grown once, kept for the next reads
    assert src._read() == whole
    r = Regions.from_ranges([(s, e) for s, e, _ in VMAS], len(VMAS), 4096)
    got = src.aggregation_accesses(r, 20)
    assert list(got) == [20 * (i % 2) for i in range(len(VMAS))]


def test_malformed_smaps_is_a_source_error_naming_the_file(tmp_path: Path) -> None:
    root = fake_proc(tmp_path, 32, VMAS[:3])
    src = SmapsSource(32, proc_root=root)
    smaps = Path(root) / "32" / "smaps"
    smaps.write_bytes(smaps.read_bytes().replace(b"Referenced:", b"Referenced:x", 1))
    r = Regions.from_ranges([(s, e) for s, e, _ in VMAS[:3]], 3, 4096)
    with pytest.raises(SourceError, match=r"32/smaps: smaps line 6: malformed Referenced:"):
        src.aggregation_accesses(r, 20)


def test_unreadable_smaps_is_a_source_error_at_aggregation(tmp_path: Path) -> None:
    root = fake_proc(tmp_path, 33, VMAS[:1])
    src = SmapsSource(33, proc_root=root)
    smaps = Path(root) / "33" / "smaps"
    smaps.unlink()
    smaps.mkdir()  # reading a directory fails with EISDIR
    r = Regions.from_ranges([(s, e) for s, e, _ in VMAS[:1]], 1, 4096)
    with pytest.raises(SourceError, match="cannot read .*33/smaps: Is a directory"):
        src.aggregation_accesses(r, 20)


def test_read_to_end_fills_until_eof_or_full(k: ModuleType) -> None:
    with tempfile.TemporaryFile() as f:
        f.write(b"0123456789")
        f.flush()
        f.seek(0)
        buf = bytearray(b"ab") + bytearray(4)
        assert k.read_to_end(f.fileno(), buf, 2) == 6  # full
        assert buf == b"ab0123"
        assert k.read_to_end(f.fileno(), buf, 6) == 6  # no room: nothing read
        buf += bytearray(10)
        assert k.read_to_end(f.fileno(), buf, 6) == 12  # the rest, then end of file
        assert buf[:12] == b"ab0123456789"
        with pytest.raises(ValueError, match="offset must be in"):
            k.read_to_end(f.fileno(), buf, len(buf) + 1)
    r, w = os.pipe()
    os.close(w)
    with pytest.raises(OSError) as info:
        k.read_to_end(-1, bytearray(4), 0)
    assert info.value.errno == 9  # EBADF
    assert k.read_to_end(r, bytearray(4), 0) == 0
    os.close(r)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=3000), st.integers(0, 4000), st.integers(0, 50))
def test_read_to_end_compiled_agrees_with_twin(content: bytes, size: int, offset: int) -> None:
    cy = compiled_or_skip()
    offset = min(offset, size)
    results = []
    for impl in (cy, kernels_py):
        with tempfile.TemporaryFile() as f:
            f.write(content)
            f.seek(0)
            buf = bytearray(b"x" * size)
            results.append((impl.read_to_end(f.fileno(), buf, offset), buf))
    assert results[0] == results[1]
    n, buf = results[0]
    assert n == min(size, offset + len(content))
    assert buf[offset:n] == content[: n - offset]


def test_aggregation_reads_with_few_large_asks(tmp_path: Path) -> None:
    """One read per buffer-full plus the one that sees the end (a regular file here)."""
    root = fake_proc(tmp_path, 34, VMAS)
    src = SmapsSource(34, proc_root=root)
    calls: list[int] = []
    real = smaps_mod.kernels.read_to_end

    def counting(fd: int, buf: bytearray, offset: int) -> int:
        calls.append(len(buf) - offset)
        return real(fd, buf, offset)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(smaps_mod.kernels, "read_to_end", counting)
        r = Regions.from_ranges([(s, e) for s, e, _ in VMAS], len(VMAS), 4096)
        src.aggregation_accesses(r, 20)
    assert calls == [smaps_mod.READ_BUFFER]
    assert array("I", src.aggregation_accesses(r, 20)) == array(
        "I", [20 * (i % 2) for i in range(len(VMAS))]
    )
