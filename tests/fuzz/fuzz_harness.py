"""Shared fuzzing harness: hostile values, TOML/JSON documents built from them, and the
one property every input surface has: it returns, or raises one of the project's own
error types (never a Python exception, never a hang).

Short in CI (`FUZZ` runs few examples); `DAMONTUI_FUZZ_LONG=1` (or bench/fuzz_long.py,
which loops the same tests for minutes) runs many. Reuse for another loader::

    from fuzz_harness import FUZZ, documents, json_text, only_project_errors

    @FUZZ
    @given(json_text(documents(keys=("kdamonds", "contexts", "schemes"))))
    def test_damo_json(text):
        TRIED["damo json"] += 1
        only_project_errors("damo json", load_damo, text, errors=(DamoJsonError,))
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from damontui.backends.base import BackendError
from damontui.model import ValidationError

_T = TypeVar("_T")

LONG = os.environ.get("DAMONTUI_FUZZ_LONG") == "1"
EXAMPLES = int(os.environ.get("DAMONTUI_FUZZ_EXAMPLES", "5000" if LONG else "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # the machine is shared: no timing in tests
    database=None,  # every run explores afresh; failures print their input
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],  # fmt: skip
)
TRIED: Counter[str] = Counter()  # inputs tried per surface (bench/fuzz_long.py prints it)
PROJECT_ERRORS: tuple[type[BaseException], ...] = (ValidationError, BackendError)


def only_project_errors(surface: str, call: Callable[..., _T], *args: Any,
                        errors: tuple[type[BaseException], ...] = ()) -> _T | None:  # fmt: skip
    """call(*args); None if it raised a project error (or one of `errors`, a format's own
    error type); anything else fails the test. Count inputs with TRIED[surface] += 1."""
    try:
        return call(*args)
    except PROJECT_ERRORS + errors:
        return None


# --- hostile scalars ---------------------------------------------------------------------

UNITS = ["", "us", "ms", "s", "m", "min", "h", "d", "ns", "µs", "%", "‰", "B", "K", "KiB",
         "MiB", "G", "GiB", "TiB", "PiB", "parsecs"]  # fmt: skip
WORDS = ["max", "inf", "-inf", "nan", "unlimited", "MAX", "0", "-0", "-1", "1e400", "0x",
         "0x7f00", "0xffffffffffffffffffff", "~", "~nosuchuser/x", "~/x", "", " ", "1,000",
         "1_000", "5 ms", "1.5", ".5", "5.", "1e3", "+5", "--5", "\x00", "\u202e", "²", "١٢",
         "💥"]  # fmt: skip


@st.composite
def number_text(draw: st.DrawFn) -> str:
    digits = draw(st.integers(1, 450).flatmap(lambda n: st.text("0123456789", min_size=n,
                                                                 max_size=n)))  # fmt: skip
    sign = draw(st.sampled_from(["", "", "-", "+"]))
    frac = draw(st.sampled_from(["", "", ".5", ".000001", "." + "9" * 30]))
    space = draw(st.sampled_from(["", " ", "\t"]))
    return f"{sign}{digits}{frac}{space}{draw(st.sampled_from(UNITS))}"


def hostile_text() -> st.SearchStrategy[str]:
    return st.one_of(number_text(), st.sampled_from(WORDS), st.text(max_size=40))


def scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        hostile_text(),
        st.integers(),
        st.integers(-(1 << 70), 1 << 70),
        st.sampled_from([0, 1, 3, 2**32 - 1, 2**32, 2**63 - 1, 2**64 - 1, 2**64, -1]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
    )


def documents(keys: Sequence[str] = (), max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Nested tables/arrays whose keys are mostly `keys` (so loaders go deep)."""
    key = st.one_of(st.sampled_from(list(keys) or ["k"]), st.text(min_size=1, max_size=12))
    return st.recursive(
        scalars(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(key, inner, max_size=6)
        ),  # fmt: skip
        max_leaves=max_leaves,
    )


# --- documents as text ------------------------------------------------------------------


def _toml_string(text: str) -> str:
    body = json.dumps(text, ensure_ascii=False)[1:-1].replace("\x7f", "\\u007f")
    return f'"{body}"'


def _toml_key(key: str) -> str:
    return key if key and all(c.isalnum() and c.isascii() or c in "_-" for c in key) else (
        _toml_string(key))  # fmt: skip


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def toml_text(table: dict[str, Any]) -> str:
    """TOML for a top-level table: sub-tables as [sections], lists of tables as [[arrays]]."""
    lines: list[str] = []
    later: list[str] = []
    for key, value in table.items():
        if isinstance(value, dict):
            later.append(f"\n[{_toml_key(key)}]")
            later.extend(f"{_toml_key(k)} = {toml_value(v)}" for k, v in value.items())
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                later.append(f"\n[[{_toml_key(key)}]]")
                later.extend(f"{_toml_key(k)} = {toml_value(v)}" for k, v in item.items())
        else:
            lines.append(f"{_toml_key(key)} = {toml_value(value)}")
    return "\n".join(lines + later) + "\n"


def json_text(values: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    """JSON text (with NaN/Infinity, as Python's json writes them) of `values`."""
    return values.map(lambda v: json.dumps(v, ensure_ascii=False))


@st.composite
def mutated(draw: st.DrawFn, seeds: Sequence[str]) -> str:
    """A seed document with a few characters replaced, inserted or deleted."""
    text = draw(st.sampled_from(list(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        if not text:
            break
        at = draw(st.integers(0, len(text) - 1))
        syntax = st.sampled_from(["[", "]", "{", "}", "=", '"', "\n", "#", ".", ",", ""])
        what = draw(st.one_of(hostile_text(), syntax))
        cut = draw(st.integers(0, 3))
        text = text[:at] + what + text[at + cut :]
    return text
