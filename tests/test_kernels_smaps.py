"""smaps_region_accesses: semantics on both implementations, then compiled == twin on
generated (and broken) smaps texts, then both == the source's Python path
(parse_smaps + region_accesses) on valid texts and on this kernel's own smaps."""

from __future__ import annotations

import os
import re
from array import array
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_kernels import compiled_or_skip
from test_sources_smaps import vma_text

from damontui.backends.engine.sources.smaps import parse_smaps, region_accesses
from damontui.kernels import kernels_py

MB = 1 << 20
PAGE = 4096
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(params=["python", "cython"])
def k(request: pytest.FixtureRequest) -> ModuleType:
    return kernels_py if request.param == "python" else compiled_or_skip()


def smaps(*vmas: tuple[int, int, int]) -> bytes:
    return "".join(vma_text(s, e, r) for s, e, r in vmas).encode()


def no_referenced(start: int, end: int) -> bytes:
    lines = vma_text(start, end, 0).splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith("Referenced:")).encode()


def regions(*bounds: tuple[int, int]) -> tuple[array, array]:
    return array("Q", [s for s, _ in bounds]), array("Q", [e for _, e in bounds])


# --- semantics (both implementations) -----------------------------------------------


def test_overlap_weighted_shares(k: ModuleType) -> None:
    text = smaps((0, 4 * MB, 4096), (4 * MB, 8 * MB, 1024), (12 * MB, 16 * MB, 0))
    starts, ends = regions(
        (0, 2 * MB), (2 * MB, 6 * MB), (6 * MB, 8 * MB), (8 * MB, 10 * MB), (10 * MB, 20 * MB)
    )
    got = k.smaps_region_accesses(text, starts, ends, 20)
    # half all-referenced + half a quarter -> 12.5 -> 12 (half to even); gaps count 0
    assert got.typecode == "I" and list(got) == [20, 12, 5, 0, 0]
    for data in (bytearray(text), memoryview(text)):  # any bytes-like text
        assert k.smaps_region_accesses(data, starts, ends, 20) == got


def test_rounding_is_half_to_even_like_round(k: ModuleType) -> None:
    text = smaps((0, 4 * MB, 2048))  # exactly half referenced
    starts, ends = regions((0, 4 * MB))
    for max_nr in range(12):
        assert list(k.smaps_region_accesses(text, starts, ends, max_nr)) == [round(max_nr / 2)]


def test_referenced_beyond_size_counts_as_all(k: ModuleType) -> None:
    text = smaps((0, 1 * MB, 5000))
    assert list(k.smaps_region_accesses(text, *regions((0, 2 * MB)), 20)) == [10]


def test_no_vmas_and_no_regions(k: ModuleType) -> None:
    assert list(k.smaps_region_accesses(b"", *regions((0, PAGE), (PAGE, 2 * PAGE)), 9)) == [0, 0]
    assert list(k.smaps_region_accesses(smaps((0, MB, 4)), array("Q"), array("Q"), 9)) == []


BAD = [
    (smaps((0, MB, 4))[:-60], "smaps line 6: malformed Referenced: line"),
    (b"Referenced: 4 kB\n" + smaps((0, MB, 4)), "smaps line 1: Referenced: line before any"),
    (smaps((0, MB, 4)) + b"Referenced: 4 kB\n",
     "smaps line 9: second Referenced: line in VMA 0-100000"),
    (b"1000-0 rw-p\nReferenced: 0 kB\n", "smaps line 1: VMA 1000-0 is empty or reversed"),
    (b"10-zz \n", "smaps line 1: malformed VMA header"),
    (b"1000-2000\n", "smaps line 1: malformed VMA header"),
    (b"10000000000000000-20000000000000000 x\n", "smaps line 1: VMA address longer than 16"),
    (smaps((0, MB, 4)) + no_referenced(2 * MB, 3 * MB),
     "smaps line 9: VMA 200000-300000 has no Referenced: line"),
    (no_referenced(0, MB) + smaps((2 * MB, 3 * MB, 0)),
     "smaps line 1: VMA 0-100000 has no Referenced: line"),
    (smaps((2 * MB, 3 * MB, 0), (0, MB, 4)),
     "smaps line 9: VMA 0-100000 starts before the previous one ends (300000)"),
    (b"0-1000 x\nReferenced: 18014398509481984 kB\n", "smaps line 2: Referenced: value too large"),
    (b"0-1000 x\nReferenced: 0000000000000000001 kB\n", "smaps line 2: Referenced: value too"),
    (b"0-1000 x\nReferenced: 4 kB extra\n", "smaps line 2: malformed Referenced: line"),
    (b"0-1000 x\nReferenced:4 kB\n", "smaps line 2: malformed Referenced: line"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), BAD, ids=range(len(BAD)))
def test_malformed_text_names_the_line(k: ModuleType, text: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        k.smaps_region_accesses(text, *regions((0, PAGE)), 20)


def test_bad_arguments(k: ModuleType) -> None:
    text = smaps((0, MB, 4))
    with pytest.raises(ValueError, match="differ in length"):
        k.smaps_region_accesses(text, array("Q", [0]), array("Q"), 20)
    with pytest.raises(ValueError, match="max_nr must be in"):
        k.smaps_region_accesses(text, *regions((0, PAGE)), -1)
    with pytest.raises(ValueError, match="max_nr must be in"):
        k.smaps_region_accesses(text, *regions((0, PAGE)), 2**32)
    with pytest.raises(ValueError, match=r"^region 1 \[0x2000, 0x2000\) is empty"):
        k.smaps_region_accesses(text, *regions((0, PAGE), (2 * PAGE, 2 * PAGE)), 20)


# --- compiled == twin on generated texts ---------------------------------------------

TRICKY_LINES = [
    b"",
    b"Referenced: 5kB",
    b"Referenced:\t7 kB",
    b"Referenced: 7 kB ",
    b"Referenced:  99999999999999999999 kB",
    b"Referenced: 18014398509481983 kB",
    b"Referenced:",
    b"Referenced",
    b"abc",
    b"1-2",
    b"1-2 ",
    b"ffff-1 x",
    b"7f00-7f10 r--p 00000000 00:00 0 /a b-c 12-34 ",
    b"Rss: 4 kB",
    b" 10-20 ",
]


@st.composite
def smaps_texts(draw: st.DrawFn) -> tuple[bytes, array, array, bool]:
    """A valid smaps text of random VMAs, maybe broken (then the last item is False),
    and regions over its span."""
    addr = draw(st.integers(0, 2**36)) * PAGE
    vmas = []
    for gap, pages in draw(
        st.lists(st.tuples(st.integers(0, 3), st.integers(1, 2**20)), max_size=12)
    ):
        start = addr + gap * PAGE
        addr = start + pages * PAGE
        size_kb = pages * PAGE // 1024
        ref_kb = draw(
            st.one_of(st.sampled_from([0, size_kb, size_kb + 4]), st.integers(0, size_kb))
        )
        vmas.append((start, addr, ref_kb))
    lines = smaps(*vmas).split(b"\n")
    for op, pos, extra in draw(
        st.lists(
            st.tuples(st.integers(0, 3), st.integers(0, 10**6), st.sampled_from(TRICKY_LINES)),
            max_size=2,
        )
    ):
        i = pos % (len(lines) + 1)
        if op == 0:
            lines.insert(i, extra)
        elif op == 1 and i < len(lines):
            del lines[i]
        elif op == 2 and i < len(lines):
            lines.insert(i, lines[i])
    text = b"\n".join(lines)
    if draw(st.booleans()) and text:
        text = text[: draw(st.integers(0, len(text)))]
    pristine = text == smaps(*vmas)
    lo = vmas[0][0] if vmas else 0
    hi = max(addr, lo + PAGE)
    cuts = sorted(set(draw(st.lists(st.integers(lo // PAGE, hi // PAGE + 8), max_size=30))))
    if draw(st.integers(0, 9)) == 0 and cuts:
        cuts.insert(1, cuts[0])  # an empty region
    starts = array("Q", [c * PAGE for c in cuts[:-1]])
    return text, starts, array("Q", [c * PAGE for c in cuts[1:]]), pristine


def outcome(impl: ModuleType, text: bytes, starts: array, ends: array, max_nr: int) -> object:
    try:
        return list(impl.smaps_region_accesses(text, starts, ends, max_nr))
    except ValueError as e:
        return f"ValueError: {e}"


@SETTINGS
@given(smaps_texts(), st.sampled_from([0, 1, 3, 20, 100, 2**32 - 1]))
def test_compiled_agrees_with_twin(case: tuple[bytes, array, array, bool], max_nr: int) -> None:
    cy = compiled_or_skip()
    text, starts, ends, _ = case
    assert outcome(cy, text, starts, ends, max_nr) == outcome(
        kernels_py, text, starts, ends, max_nr
    )


@SETTINGS
@given(smaps_texts(), st.sampled_from([1, 3, 20, 100]))
def test_valid_texts_agree_with_the_source_python_path(
    case: tuple[bytes, array, array, bool], max_nr: int
) -> None:
    """Unbroken texts: the kernel gives what parse_smaps + region_accesses give."""
    text, starts, ends, pristine = case
    if not pristine or any(e <= s for s, e in zip(starts, ends, strict=True)):
        return  # broken text or an empty region: the errors are checked above
    want = list(region_accesses(starts, ends, parse_smaps(text), max_nr))
    assert outcome(kernels_py, text, starts, ends, max_nr) == want


def test_this_kernels_smaps(k: ModuleType) -> None:
    with open(f"/proc/{os.getpid()}/smaps", "rb") as f:
        text = f.read()
    vmas = parse_smaps(text)
    assert vmas
    mids = [(v.start + v.end) // 2 // PAGE * PAGE for v in vmas]
    # every VMA's halves and the gaps between; then regions across VMA edges
    for cuts in (sorted({a for v in vmas for a in (v.start, v.end)} | set(mids)), mids):
        starts, ends = array("Q", cuts[:-1]), array("Q", cuts[1:])
        got = k.smaps_region_accesses(text, starts, ends, 20)
        assert list(got) == list(region_accesses(starts, ends, vmas, 20))
    assert any(got)  # this process referenced some of its memory
