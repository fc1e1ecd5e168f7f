"""Fuzzing damo's kdamonds JSON reader (owned by the damo work; the harness is shared):
it returns kdamonds or raises its own DamoJsonError / a project error, nothing else."""

from __future__ import annotations

import importlib

import pytest
from fuzz_harness import FUZZ, TRIED, documents, json_text, mutated, only_project_errors
from hypothesis import given
from hypothesis import strategies as st


def _module():  # the reader moves to damontui/formats/ (issue 7); take whichever exists
    for name in ("damontui.formats.damo_json", "damontui.backends.kernel.damo_json"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    pytest.skip("no damo JSON reader in this tree")


DAMO = _module()
KEYS = ("kdamonds", "contexts", "ops", "targets", "pid", "regions", "start", "end",
        "monitoring_attrs", "intervals", "sample_us", "aggr_us", "ops_update_us",
        "nr_regions", "min", "max", "schemes", "action", "access_pattern", "sz_bytes",
        "nr_acc_min_max", "age_min_max", "percent", "samples", "aggr_intervals", "quotas",
        "time_ms", "sz_bytes", "reset_interval_ms", "weights", "goals", "watermarks",
        "filters", "state", "refresh_ms", "apply_interval_us")  # fmt: skip
SEED = ('{"kdamonds": [{"state": "on", "pid": 1, "contexts": [{"ops": "paddr", '
        '"targets": [{"pid": null, "regions": [{"start": "4096", "end": "8192"}]}], '
        '"intervals": {"sample_us": "5 ms", "aggr_us": "100 ms", "ops_update_us": "1 s"}, '
        '"nr_regions": {"min": "10", "max": "1,000"}, "schemes": [{"action": "stat", '
        '"access_pattern": {"sz_bytes": {"min": "0 B", "max": "max"}, '
        '"nr_accesses": {"min": "0 %", "max": "100 %"}, "age": {"min": "0 ns", '
        '"max": "max"}}}]}]}]}')  # fmt: skip


def check(text: str) -> None:
    TRIED["damo json"] += 1
    only_project_errors("damo json", DAMO.load_damo, text, errors=(DAMO.DamoJsonError,))


@FUZZ
@given(json_text(st.dictionaries(st.sampled_from(KEYS), documents(KEYS), max_size=4)))
def test_damo_json_structured(text: str) -> None:
    check(text)


@FUZZ
@given(mutated([SEED]))
def test_damo_json_text(text: str) -> None:
    check(text)
