"""Schemes TOML and the 7.x fields: each one round-trips, bad values get the loader's
named message (key path, value, allowed values; file:line where a file is read), and
files written before these fields existed load exactly as before."""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

import pytest

from damontui.config import key_line, parse_config
from damontui.model import (
    AccessPattern,
    Action,
    Dest,
    GoalMetric,
    GoalTuner,
    MonitoringAttrs,
    Probe,
    ProbeFilter,
    ProbeFilterType,
    ProbePrep,
    QuotaGoal,
    Quotas,
    Range,
    Scheme,
    ValidationError,
)
from damontui.model.serialize import (
    attrs_from_dict,
    attrs_to_dict,
    schemes_from_toml,
    schemes_to_toml,
    to_toml,
)
from damontui.model.units import U32_MAX

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

QUOTAS = Quotas(ms=10, reset_interval_ms=1000)
BASE = Scheme(Action.PAGEOUT, quotas=QUOTAS)

# One scheme per 7.x field, so a field the writer drops fails on its own line.
ONE_FIELD = {
    "dests": dataclasses.replace(
        BASE, action=Action.MIGRATE_COLD, dests=(Dest(0, 700), Dest(3, 300))
    ),
    "max_nr_snapshots": dataclasses.replace(BASE, max_nr_snapshots=12),
    "goal_tuner": dataclasses.replace(
        BASE, quotas=dataclasses.replace(QUOTAS, goal_tuner=GoalTuner.TEMPORAL)
    ),
    "fail_charge": dataclasses.replace(
        BASE, quotas=dataclasses.replace(QUOTAS, fail_charge_num=1, fail_charge_denom=4)
    ),
    "complement": dataclasses.replace(
        BASE,
        quotas=dataclasses.replace(
            QUOTAS, goals=(QuotaGoal(GoalMetric.NODE_MEM_FREE_BP, 2000, nid=1, complement=True),)
        ),
    ),
    "path_and_nid": dataclasses.replace(
        BASE,
        quotas=dataclasses.replace(
            QUOTAS, goals=(QuotaGoal(GoalMetric.NODE_MEMCG_FREE_BP, 2000, nid=2, path="/db"),)
        ),
    ),
    **{
        f"metric_{metric.value}": dataclasses.replace(
            BASE,
            quotas=dataclasses.replace(
                QUOTAS,
                goals=(QuotaGoal(metric, 3000, nid=1, path="/a" if metric.needs_path else ""),),
            ),
        )
        for metric in (
            GoalMetric.NODE_ELIGIBLE_MEM_BP,
            GoalMetric.NODE_MEMCG_USED_BP,
            GoalMetric.NODE_MEMCG_FREE_BP,
            GoalMetric.ACTIVE_MEM_BP,
            GoalMetric.INACTIVE_MEM_BP,
        )
    },
}


@pytest.mark.parametrize("name", sorted(ONE_FIELD))
def test_each_7x_field_round_trips(name: str) -> None:
    scheme = ONE_FIELD[name].validate()
    text = schemes_to_toml([scheme], MonitoringAttrs())
    loaded = schemes_from_toml(text)
    assert loaded == [scheme]
    assert schemes_to_toml(loaded, MonitoringAttrs()) == text  # load -> save is stable
    assert scheme != BASE  # the field is really set


def test_all_7x_fields_in_one_file() -> None:
    text = """
[[schemes]]
action = "migrate_hot"
max_nr_snapshots = 3
access_pattern = { access_rate = ["5%", "100%"] }
dests = [{ id = 0, weight = 600 }, { id = 1, weight = 400 }]

[schemes.quotas]
ms = 20
reset_interval_ms = "1s"
goal_tuner = "temporal"
fail_charge_num = 1
fail_charge_denom = 2

[[schemes.quotas.goals]]
metric = "node_memcg_used_bp"
target_value = "40%"
nid = 1
path = "/workload"
complement = true
"""
    (scheme,) = schemes_from_toml(text)
    assert scheme.dests == (Dest(0, 600), Dest(1, 400))
    assert scheme.max_nr_snapshots == 3
    assert scheme.quotas.goal_tuner is GoalTuner.TEMPORAL
    assert (scheme.quotas.fail_charge_num, scheme.quotas.fail_charge_denom) == (1, 2)
    assert scheme.quotas.goals == (
        QuotaGoal(GoalMetric.NODE_MEMCG_USED_BP, 4000, nid=1, path="/workload", complement=True),
    )
    assert schemes_from_toml(schemes_to_toml([scheme])) == [scheme]


def test_probes_round_trip_in_intervals() -> None:
    attrs = MonitoringAttrs(
        probes=(
            Probe(
                filters=(
                    ProbeFilter(ProbeFilterType.MEMCG, path="/db"),
                    ProbeFilter(
                        ProbeFilterType.HUGEPAGE_SIZE, False, True, min=2 << 20, max=1 << 30
                    ),
                ),
                weight=5,
                preps=(ProbePrep.SET_PGIDLE,),
            ),
            Probe(weight=1),
        )
    )
    text = to_toml({"intervals": attrs_to_dict(attrs)})
    assert 'preps = ["set_pgidle"]' in text
    assert attrs_from_dict(tomllib.loads(text)["intervals"]) == attrs


OLD_FILE = """# damontui DAMOS schemes (written before 7.x)
[[schemes]]
name = "cold"
action = "pageout"
access_pattern = { nr_accesses = [0, 0], age = [50, "max"] }

[schemes.quotas]
ms = 10
bytes = "128MiB"
reset_interval_ms = 1000

[[schemes.quotas.goals]]
metric = "some_mem_psi_us"
target_value = 1000
"""


def test_older_files_load_unchanged_and_save_without_new_keys() -> None:
    (scheme,) = schemes_from_toml(OLD_FILE)
    assert scheme == Scheme(
        Action.PAGEOUT,
        AccessPattern(nr_accesses=Range(0, 0), age=Range(50, U32_MAX)),
        Quotas(10, 128 << 20, 1000, goals=(QuotaGoal(GoalMetric.SOME_MEM_PSI_US, 1000),)),
        name="cold",
    )
    text = schemes_to_toml([scheme])
    for key in ("dests", "max_nr_snapshots", "goal_tuner", "fail_charge", "complement", "probes"):
        assert key not in text  # a file without 7.x settings stays readable by older damontui
    attrs = attrs_from_dict({"sample_us": "5ms", "aggr_us": "100ms"})
    assert attrs.probes == () and "probes" not in attrs_to_dict(attrs)


def _error(text: str) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        schemes_from_toml(text)
    return info.value


QUOTA_HEAD = '[[schemes]]\naction = "pageout"\n[schemes.quotas]\nms = 1\nreset_interval_ms = 100\n'
BAD = [
    # (file text, key path, the value as shown, a piece of the allowed values)
    (
        QUOTA_HEAD + 'goal_tuner = "fast"\n',
        "schemes[0].quotas.goal_tuner",
        "'fast'",
        "one of consist, temporal",
    ),
    (
        QUOTA_HEAD + "fail_charge_num = -1\nfail_charge_denom = 2\n",
        "schemes[0].quotas.fail_charge_num",
        "-1",
        "a whole number >= 0",
    ),
    (
        QUOTA_HEAD + "fail_charge_num = 1\n",
        "schemes[0].quotas.fail_charge_denom",
        "0",
        ">= 1 when fail_charge_num is set",
    ),
    (
        QUOTA_HEAD + '[[schemes.quotas.goals]]\nmetric = "node_free_bp"\nnid = 0\n',
        "schemes[0].quotas.goals[0].metric",
        "'node_free_bp'",
        "node_eligible_mem_bp",
    ),
    (
        QUOTA_HEAD + '[[schemes.quotas.goals]]\nmetric = "user_input"\ncomplement = "maybe"\n',
        "schemes[0].quotas.goals[0].complement",
        "'maybe'",
        "true/false",
    ),
    (
        QUOTA_HEAD + '[[schemes.quotas.goals]]\nmetric = "node_memcg_used_bp"\nnid = 0\n',
        "schemes[0].quotas.goals[0].path",
        "''",
        "a memcg path is required",
    ),
    (
        '[[schemes]]\naction = "migrate_cold"\n[[schemes.dests]]\nweight = 1\n',
        "schemes[0].dests[0].id",
        "None",
        "required: a NUMA node id",
    ),
    (
        '[[schemes]]\naction = "migrate_cold"\n[[schemes.dests]]\nid = -2\n',
        "schemes[0].dests[0].id",
        "-2",
        "a NUMA node id (>= 0)",
    ),
    (
        '[[schemes]]\naction = "migrate_cold"\n[[schemes.dests]]\nid = 0\nnode = 1\n',
        "schemes[0].dests[0].node",
        "",
        "unknown key; known: id, weight",
    ),
    (
        '[[schemes]]\naction = "migrate_cold"\ndests = 3\n',
        "schemes[0].dests",
        "3",
        "a list of tables",
    ),
    (
        '[[schemes]]\naction = "stat"\nmax_nr_snapshots = "often"\n',
        "schemes[0].max_nr_snapshots",
        "'often'",
        "a whole number >= 0 or 'max'",
    ),
]


@pytest.mark.parametrize(("text", "key", "shown", "allowed"), BAD, ids=[b[1] for b in BAD])
def test_bad_7x_values_name_key_value_and_allowed(
    text: str, key: str, shown: str, allowed: str
) -> None:
    error = _error(text)
    assert error.field == key
    message = str(error)
    assert message.startswith(f"{key}: ") and shown in message and allowed in message
    line = key_line(text, error.field)  # what the scheme panel's F3 puts before the message
    assert line is not None
    last = key.rsplit(".", 1)[-1]
    # the line found holds the key, or the table the key is missing from
    assert last in text.splitlines()[line - 1] or "[" in text.splitlines()[line - 1]


@pytest.mark.parametrize(
    ("probes", "key", "allowed"),
    [
        ('[[intervals.probes]]\npreps = ["clear"]\n', "intervals.probes[0].preps[0]", "set_pgidle"),
        (
            '[[intervals.probes]]\n[[intervals.probes.filters]]\ntype = "young"\n',
            "intervals.probes[0].filters[0].type",
            "anon, memcg, pgidle_unset",
        ),
        ("[[intervals.probes]]\nweight = -1\n", "intervals.probes[0].weight", ">= 0"),
        ("[[intervals.probes]]\nbias = 1\n", "intervals.probes[0].bias", "known: filters, preps"),
    ],
)
def test_config_bad_probe_warns_with_file_line_and_keeps_the_rest(
    probes: str, key: str, allowed: str
) -> None:
    text = '[intervals]\nsample_us = "10ms"\naggr_us = "200ms"\n' + probes
    config, errors = parse_config(text, Path("cfg.toml"))
    assert len(errors) == 1, errors
    match = re.match(r"cfg\.toml:(\d+): (.*)", errors[0])
    assert match, errors[0]
    assert int(match.group(1)) >= 4  # at the probe, not the top of the file
    assert key in match.group(2) and allowed in match.group(2)
    assert errors[0].endswith("using the default")
    # the good keys still apply; only the bad probes fall back (to none)
    assert (config.intervals.sample_us, config.intervals.aggr_us) == (10_000, 200_000)
    assert config.intervals.probes == ()


def test_config_bad_7x_scheme_is_skipped_with_file_and_line() -> None:
    text = '[[schemes]]\naction = "stat"\n\n[[schemes]]\naction = "pageout"\n' + (
        '[schemes.quotas]\nms = 1\nreset_interval_ms = 100\ngoal_tuner = "fast"\n'
    )
    config, errors = parse_config(text, Path("cfg.toml"))
    assert [s.action for s in config.schemes] == [Action.STAT]
    assert errors == [
        "cfg.toml:9: schemes[1].quotas.goal_tuner: 'fast' is invalid; one of consist, temporal; "
        "scheme 1 skipped"
    ]


def test_an_age_given_as_a_time_is_saved_as_that_time() -> None:
    attrs = MonitoringAttrs(sample_us=10_000, aggr_us=200_000)
    text = '[[schemes]]\naction = "pageout"\naccess_pattern = { age = ["30s", "max"] }\n'
    (scheme,) = schemes_from_toml(text, attrs)
    assert scheme.access_pattern.age == Range(150, U32_MAX)
    assert scheme.access_pattern.age_us == (30_000_000, -1)
    saved = schemes_to_toml([scheme], attrs)
    assert 'age = ["30s", "max"]' in saved
    assert schemes_from_toml(saved, attrs) == [scheme]
