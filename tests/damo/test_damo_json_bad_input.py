"""Bad damo JSON: always DamoJsonError naming the file and the key path, never another
exception; a hypothesis fuzz over mutated damo-generated files."""
# ruff: noqa: E501  (the table of key paths reads best one case per line)

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from damontui.formats.damo_json import DamoJsonError, dumps, load_damo

from . import peer

FILE = "conf.json"


@pytest.fixture(scope="module")
def damo_doc() -> dict:
    out = peer.damo("args", "damon", "--format", "json", "--damos_action", "pageout",
                    "--damos_quotas", "10ms", "1G", "1s", "--damos_quota_goal", "user_input",
                    "5000", "100", "--damos_filter", "reject", "anon",
                    "--damos_wmarks", "free_mem_rate", "1s", "50%", "40%", "10%")  # fmt: skip
    return json.loads(out)


def _error(data: Any) -> DamoJsonError:
    with pytest.raises(DamoJsonError) as e:
        load_damo(data, file=FILE)
    assert str(e.value).startswith(f"{FILE}: "), str(e.value)
    return e.value


@pytest.mark.parametrize(("text", "what"), [
    (b'{"kdamonds": [\xff]}', "UTF-8"),
    ('{"kdamonds": [{"refresh_ms": NaN, "contexts": []}]}', "NaN"),
    ('{"kdamonds": [{"refresh_ms": Infinity, "contexts": []}]}', "Infinity"),
    ('{"kdamonds": [{"refresh_ms": -Infinity, "contexts": []}]}', "Infinity"),
    ('{"kdamonds": [{"refresh_ms": 1e999, "contexts": []}]}', "out of range"),
    ("[" * 100_000 + "]" * 100_000, "nested"),
    ("{nope", "not JSON"),
])  # fmt: skip
def test_undecodable_input(text: str | bytes, what: str) -> None:
    assert what in str(_error(text))


CTX = "kdamonds[0].contexts[0]"
SCHEME = f"{CTX}.schemes[0]"


@pytest.mark.parametrize(("where", "value", "path"), [
    (["kdamonds"], {"a": 1}, "kdamonds"),
    (["kdamonds", 0], "x", "kdamonds[0]"),
    (["kdamonds", 0, "contexts", 0, "ops"], ["paddr"], f"{CTX}.ops"),
    (["kdamonds", 0, "contexts", 0, "intervals", "sample_us"], "5 parsecs", f"{CTX}.intervals.sample_us"),
    (["kdamonds", 0, "contexts", 0, "intervals", "aggr_us"], "1e999 us", f"{CTX}.intervals.aggr_us"),
    (["kdamonds", 0, "contexts", 0, "targets", 0, "pid"], "abc", f"{CTX}.targets[0].pid"),
    (["kdamonds", 0, "contexts", 0, "targets", 0, "regions"], {}, f"{CTX}.targets[0].regions"),
    (["kdamonds", 0, "contexts", 0, "schemes", 0, "action"], "explode", f"{SCHEME}.action"),
    (["kdamonds", 0, "contexts", 0, "schemes", 0, "quotas", "sz_bytes"], "9 XB", f"{SCHEME}.quotas.sz_bytes"),
    (["kdamonds", 0, "contexts", 0, "schemes", 0, "quotas", "goals", 0, "metric"], 3, f"{SCHEME}.quotas.goals[0].metric"),
    (["kdamonds", 0, "contexts", 0, "schemes", 0, "quotas", "goal_tuner"], "fast", f"{SCHEME}.quotas.goal_tuner"),
    (["kdamonds", 0, "contexts", 0, "schemes", 0, "filters", 0, "matching"], "maybe", f"{SCHEME}.filters[0].matching"),
    (["kdamonds", 0, "contexts", 0, "schemes", 0, "access_pattern", "nr_accesses", "max"], "7 furlongs", f"{SCHEME}.access_pattern.nr_accesses.max"),
    (["kdamonds", 0, "contexts", 0, "schemes", 0, "access_pattern", "age", "min"], -5, f"{SCHEME}.access_pattern.age"),
    (["kdamonds", 0, "contexts", 0, "schemes", 0, "watermarks", "high_permil"], True, f"{SCHEME}.watermarks.high_permil"),
    (["kdamonds", 0, "contexts", 0, "pause"], "sometimes", f"{CTX}.pause"),
])  # fmt: skip
def test_wrong_types_name_the_key_path(damo_doc: dict, where: list, value: Any, path: str) -> None:
    doc = copy.deepcopy(damo_doc)
    node = doc
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    err = _error(doc)
    assert err.path.startswith(path), (err.path, path)
    assert str(err).startswith(f"{FILE}: {err.path}: ")


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
    | st.sampled_from(["max", "min", "5 ms", "1,000", "12.5 %", "3 samples", "1 B", "s", "%"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzz_mutated_damo_files(damo_doc: dict, data: st.DataObject) -> None:
    doc = copy.deepcopy(damo_doc)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(json_values)
    text = json.dumps(doc)
    try:
        kdamonds = load_damo(text, file=FILE)
    except DamoJsonError as e:
        assert str(e).startswith(f"{FILE}: ")
        return
    json.loads(dumps(kdamonds))  # whatever loads also writes
    json.loads(dumps(kdamonds, raw=True))
