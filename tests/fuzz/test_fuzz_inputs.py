"""Fuzzing the CLI value parsers, the config loader, the schemes TOML loader and the
editors' field readers: each returns something valid or raises a project error."""

from __future__ import annotations

import argparse
import contextlib
import io
import math
from pathlib import Path

from fuzz_harness import (
    FUZZ,
    TRIED,
    documents,
    hostile_text,
    mutated,
    only_project_errors,
    scalars,
    toml_text,
)
from hypothesis import given
from hypothesis import strategies as st

from damontui import cli, inputs
from damontui.config import REFRESH_RANGE_S, parse_config
from damontui.model import MonitoringAttrs
from damontui.model import serialize as ser

ROOT = Path(__file__).resolve().parents[2]
RANGES = {  # flag -> (attribute on args, low, high)
    "--sample": ("sample", 1, inputs.DAY_US),
    "--aggr": ("aggr", 1, inputs.DAY_US),
    "--update": ("update", 1, inputs.DAY_US),
    "--min-regions": ("min_regions", 3, 2**32 - 1),
    "--max-regions": ("max_regions", 3, 2**32 - 1),
    "--refresh": ("refresh", 0.05, 3600),
    "--delay": ("delay", 0, 86_400),
    "--count": ("count", 0, 10**9),
    "--limit": ("limit", 1, 10**9),
    "--pid": ("pid", 1, inputs.PID_MAX),
    "--seed": ("seed", 0, 2**64 - 1),
    "--kdamond": ("kdamond", 0, 65_535),
}


@FUZZ
@given(st.sampled_from(sorted(RANGES)), hostile_text())
def test_cli_flag_values(flag: str, text: str) -> None:
    TRIED["cli flags"] += 1
    parser = cli.build_parser()
    with contextlib.redirect_stderr(io.StringIO()) as err:
        try:
            args = parser.parse_args([f"{flag}={text}"])
        except SystemExit as exc:
            assert exc.code == 2
            assert f"argument {flag}" in err.getvalue() and "Traceback" not in err.getvalue()
            return
    name, low, high = RANGES[flag]
    value = getattr(args, name)
    assert isinstance(value, (int, float)) and math.isfinite(value)
    assert low <= value <= high, (flag, text, value)
    only_project_errors("cli attrs", cli._attrs, args, None)


@FUZZ
@given(st.lists(st.sampled_from(["--sample", "--aggr", "--update", "--min-regions",
                                 "--max-regions"]), min_size=1, max_size=5, unique=True),
       st.lists(st.sampled_from(["1", "3", "5ms", "20ms", "100ms", "1s", "60s", "1h", "1d",
                                 "1000", "7"]), min_size=5, max_size=5))  # fmt: skip
def test_cli_interval_combinations(flags: list[str], values: list[str]) -> None:
    TRIED["cli interval sets"] += 1
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            args = cli.build_parser().parse_args(
                [f"{f}={v}" for f, v in zip(flags, values, strict=False)]
            )
        except SystemExit as exc:  # e.g. --min-regions=5ms
            assert exc.code == 2
            return
    attrs = only_project_errors("cli attrs", cli._attrs, args, None)
    if attrs is not None:
        inputs.check_attrs(attrs)


CONFIG_KEYS = ("backend", "source", "synthetic_pattern", "seed", "refresh", "theme",
               "schemes_file", "intervals", "temperature_weights", "keymap", "schemes",
               "sample", "aggr", "update", "sample_us", "aggr_us", "update_us",
               "min_nr_regions", "max_nr_regions", "intervals_goal", "access_bp", "size",
               "access_rate", "age", "action", "access_pattern", "sz", "nr_accesses",
               "quotas", "watermarks", "filters", "ms", "bytes", "goals", "metric", "type",
               "min", "max")  # fmt: skip
README_TOML = [b.text for b in __import__("test_readme").ALL if b.lang == "toml"] or [""]


def check_config(text: str) -> None:
    TRIED["config"] += 1
    config, errors = parse_config(text, Path("fuzz.toml"))  # must never raise
    assert all(isinstance(e, str) and e.startswith("fuzz.toml") for e in errors)
    low, high = REFRESH_RANGE_S
    assert low <= config.refresh_s <= high
    inputs.check_attrs(config.intervals)
    for scheme in config.schemes:
        scheme.validate()


@FUZZ
@given(st.dictionaries(st.sampled_from(CONFIG_KEYS), documents(CONFIG_KEYS), max_size=8))
def test_config_structured(table: dict) -> None:
    check_config(toml_text(table))


@FUZZ
@given(st.one_of(mutated(README_TOML), st.text(max_size=200)))
def test_config_text(text: str) -> None:
    check_config(text)


SCHEME_KEYS = ("action", "access_pattern", "sz", "nr_accesses", "access_rate", "age", "min",
               "max", "quotas", "ms", "bytes", "reset_interval_ms", "weights", "sz_permil",
               "goals", "metric", "target_value", "watermarks", "interval_us", "high", "mid",
               "low", "filters", "type", "matching", "allow", "memcg_path", "addr_start",
               "addr_end", "target_idx", "apply_interval_us", "target_nid", "name")  # fmt: skip


def check_schemes(text: str) -> None:
    TRIED["schemes file"] += 1
    schemes = only_project_errors("schemes file", inputs.load_schemes_text, text, "fuzz.toml",
                                  MonitoringAttrs())  # fmt: skip
    for scheme in schemes or ():
        scheme.validate()


@FUZZ
@given(st.lists(st.dictionaries(st.sampled_from(SCHEME_KEYS), documents(SCHEME_KEYS),
                                max_size=6), max_size=3))  # fmt: skip
def test_schemes_structured(items: list) -> None:
    check_schemes(toml_text({"schemes": items}) if items else "")


SCHEME_SEEDS = [
    '[[schemes]]\naction = "pageout"\naccess_rate = ["0%", "0%"]\nage = ["30s", "max"]\n',
    '[[schemes]]\naction = "stat"\n[schemes.quotas]\nms = 10\nbytes = "128MiB"\n'
    'reset_interval_ms = "1s"\n[schemes.watermarks]\nmetric = "free_mem_rate"\nhigh = 500\n'
    'mid = 400\nlow = 200\n[[schemes.filters]]\ntype = "addr"\naddr_start = "0x1000"\n'
    'addr_end = "0x2000"\n',
]


@FUZZ
@given(st.one_of(mutated(SCHEME_SEEDS), st.text(max_size=200)))
def test_schemes_text(text: str) -> None:
    check_schemes(text)


READERS = [ser.read_size, ser.read_duration_us, ser.read_duration_ms, ser.read_count,
           ser.read_permil, ser.read_bp, ser.read_signed, ser.read_bool]  # fmt: skip
PATTERN_READERS = [ser.read_rate, ser.read_accesses, ser.read_age]


@FUZZ
@given(st.sampled_from(READERS + PATTERN_READERS), scalars())
def test_editor_field_readers(read, value) -> None:  # noqa: ANN001
    TRIED["editor fields"] += 1
    if read in PATTERN_READERS:
        result = only_project_errors("editor fields", read, value, "field", MonitoringAttrs())
    else:
        result = only_project_errors("editor fields", read, value, "field")
    assert result is None or isinstance(result, (int, bool))


@FUZZ
@given(st.sampled_from(list(inputs.ATTR_RANGES)), scalars())
def test_attribute_values(key: str, value) -> None:  # noqa: ANN001
    TRIED["attribute values"] += 1
    result = only_project_errors("attribute values", inputs.attr_value, key, value, key)
    if result is not None:
        low, high = inputs.ATTR_RANGES[key]
        assert low <= result <= high


def test_harness_counts() -> None:
    before = sum(TRIED.values())
    check_config("refresh = 1")
    assert sum(TRIED.values()) == before + 1
    assert argparse  # the CLI tests parse with argparse's exit-2 path
