"""Tests of tests/vm/pageidle/ run only in the page-idle guest (see guestkit)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import guestkit  # noqa: E402


@pytest.fixture(autouse=True)
def _only_in_pageidle_guest() -> None:
    problem = guestkit.guest_problem()
    if problem:
        pytest.skip(problem)


@pytest.fixture
def thp():  # noqa: ANN201 - a setter
    """Set the THP mode for one test and restore it afterwards."""
    old: list[str] = []

    def set_mode(mode: str) -> None:
        old.append(guestkit.set_thp(mode))

    yield set_mode
    if old:
        guestkit.set_thp(old[0])
