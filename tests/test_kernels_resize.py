"""The region kernels resize their arrays in place, and never under a view.

The compiled merge and split resize the six region arrays in C when no buffer of them
is exported (a Python-level resize per array cost more than the kernel itself); with a
view held, moving the memory would leave that view dangling, so they raise BufferError
as the Python-level resize (and the pure-Python twin) does.
"""

from __future__ import annotations

from types import ModuleType

import pytest
from test_kernels import PAGE, compiled_or_skip, regions

from damontui.backends.engine.regionset import Regions, make_rng
from damontui.kernels import kernels_py


@pytest.fixture(params=["python", "cython"])
def k(request: pytest.FixtureRequest) -> ModuleType:
    return kernels_py if request.param == "python" else compiled_or_skip()


def test_merge_shrinks_the_arrays_unless_one_is_viewed(k: ModuleType) -> None:
    r = regions((0, 10, 1, 1), (10, 20, 1, 1), (20, 30, 9, 9))
    view = memoryview(r.ends)
    with pytest.raises(BufferError):
        k.merge(r, 2, 2**64)
    view.release()
    r = regions((0, 10, 1, 1), (10, 20, 1, 1), (20, 30, 9, 9))
    k.merge(r, 2, 2**64)
    assert r.to_tuples() == [(0, 20 * PAGE, 1, 2), (20 * PAGE, 30 * PAGE, 9, 0)]
    assert all(len(a) == 2 for a in r.arrays())


def test_split_grows_the_arrays_zeroed_unless_one_is_viewed(k: ModuleType) -> None:
    r = Regions.from_ranges([(0, 1000 * PAGE)], 1)
    view = memoryview(r.sample_addrs)
    with pytest.raises(BufferError):
        k.split(r, 3, PAGE, make_rng(1))
    view.release()
    for n in (1, 2, 4, 8, 16):  # grows past the spare capacity several times
        r = Regions.from_ranges([(0, 100_000 * PAGE)], n)
        k.split(r, 3, PAGE, make_rng(n))
        assert all(len(a) == len(r) for a in r.arrays()) and len(r) > n
        assert set(r.nr_accesses) == {0} and set(r.age) == {0}
        r.validate(PAGE)
